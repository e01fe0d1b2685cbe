use std::{io::BufRead, process::ExitCode};

use app::{
    cli::{Cli, Command},
    config::{Settings, random_key},
    startup::{Application, wire},
    telemetry,
};
use clap::Parser;
use domain::{Password, RegisterError, RegisterRequest, Username};

/// mimalloc instead of glibc's malloc: every request allocates (headers,
/// the body, the log line), and under load glibc's free list was about a
/// tenth of the instructions (callgrind).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command();
    if command == Command::NewKey {
        println!("{}", random_key());
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("zentra: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    let _log_writer = telemetry::init(settings.log_format);
    let result = match command {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::CheckConfig => {
            print!("{}", settings.describe());
            Ok(())
        }
        Command::CreateUser { username, inactive } => create_user(&settings, username, !inactive),
        Command::NewKey => unreachable!("handled before the configuration is read"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("zentra: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    actix_web::rt::System::new().block_on(async move {
        let application = Application::build(settings).await?;
        // Tests and scripts read this line to learn the port (SERVER__PORT=0).
        println!("zentra listening on http://{}", application.address());
        tracing::info!(address = %application.address(), "listening");
        application.run().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let pool = adapters_db::build_pool(
        &settings.database_url,
        1,
        adapters_db::DEFAULT_CONNECTION_TIMEOUT,
    )?;
    let mut connection = pool.get()?;
    let applied = adapters_db::run_migrations(&mut connection)?;
    if applied.is_empty() {
        println!("no pending migrations");
    }
    for version in applied {
        println!("applied {version}");
    }
    Ok(())
}

fn create_user(settings: &Settings, username: String, is_active: bool) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    let request = RegisterRequest {
        username: Username::parse(username).map_err(|e| anyhow::anyhow!("username: {e}"))?,
        password: Password::parse(password).map_err(|e| anyhow::anyhow!("password: {e}"))?,
        is_active,
    };
    let (service, _pool) = wire(settings)?;
    match service.register(request) {
        Ok(user) => {
            println!("created user {}", user.username);
            Ok(())
        }
        Err(RegisterError::UsernameTaken) => anyhow::bail!("User already registered."),
        Err(error) => Err(error.into()),
    }
}
