use clap::{Parser, Subcommand};

/// Zentra: user authentication as a service.
#[derive(Debug, Parser)]
#[command(name = "zentra", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
}

impl Cli {
    #[must_use]
    pub fn command(&self) -> Command {
        self.command.unwrap_or(Command::Serve)
    }
}
