//! Wiring: configuration in, a running HTTP server out. The only crate that
//! names concrete adapters.

pub mod cli;
pub mod config;
pub mod startup;
pub mod telemetry;
pub mod upkeep;
