use adapters_crypto::JwtAlgorithm;
use clap::{Parser, Subcommand};

/// Zentra: user authentication as a service.
///
/// Configuration comes from the environment and a `.env` file in the
/// working directory (see `zentra check-config`).
#[derive(Debug, Parser)]
#[command(name = "zentra", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a fresh random URL-safe secret for AUTH__SECRET_*_KEY, or
    /// with --algorithm ES256|EdDSA|RS256 a private JWK for
    /// AUTH__SIGNING_KEYS.
    NewKey {
        /// ES256, EdDSA or RS256: a private signing key (JWK, with its kid).
        /// HS256, HS384, HS512 or none: a secret.
        #[arg(long, value_parser = parse_algorithm)]
        algorithm: Option<JwtAlgorithm>,
    },
    /// Load and validate the configuration, print it with secrets masked.
    CheckConfig,
    /// Create a user; the password is read from the first line of stdin.
    CreateUser {
        /// The new user's username.
        #[arg(long)]
        username: String,
        /// Create the user deactivated.
        #[arg(long)]
        inactive: bool,
        /// Create a superuser, granted `me admin` (and the default scopes).
        #[arg(long)]
        superuser: bool,
    },
    /// Add scopes to a user's grants (`admin` only to a superuser).
    Grant {
        /// The user.
        username: String,
        /// The scopes to add (me, admin, introspect or one of AUTH__SCOPES).
        #[arg(required = true)]
        scopes: Vec<String>,
    },
}

impl Cli {
    #[must_use]
    pub fn command(&self) -> Command {
        self.command.clone().unwrap_or(Command::Serve)
    }
}

fn parse_algorithm(raw: &str) -> Result<JwtAlgorithm, String> {
    raw.parse()
}
