//! Black-box tests: the real binary, a fresh database per test, HTTP only.
//! Every test runs on SQLite and on Postgres (when `ZENTRA_TEST_POSTGRES_URL`
//! names a server; `.ci/run` makes that mandatory).

mod admin;
mod api_keys;
mod audit;
mod conformance;
mod devices;
mod docs;
mod errors;
mod faults;
mod hardening;
mod lifecycle;
mod metrics;
mod operations;
mod resource_server;
mod reuse_grace;
mod scopes;
mod security;
mod seed_flow;
mod sessions;
mod signing;
mod support;
