use std::{io::BufRead, process::ExitCode};

use adapters_crypto::{JwtAlgorithm, SigningKeys};
use app::{
    cli::{Cli, Command},
    config::{Settings, random_key},
    startup::{Application, wire},
    telemetry,
};
use clap::Parser;
use domain::{
    Actor, AdminError, CreateUserRequest, Origin, Password, RegisterError, RegisterRequest,
    UserDetails, Username,
};

/// mimalloc instead of glibc's malloc: every request allocates (headers,
/// the body, the log line), and under load glibc's free list was about a
/// tenth of the instructions (callgrind).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command();
    if let Command::NewKey { algorithm } = command {
        return new_key(algorithm);
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
        Command::CreateUser {
            username,
            inactive,
            superuser,
        } => create_user(&settings, username, !inactive, superuser),
        Command::Grant { username, scopes } => grant(&settings, &username, &scopes),
        Command::NewKey { .. } => unreachable!("handled before the configuration is read"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("zentra: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `zentra new-key`: a secret for HS*, a private JWK for the others. Reads
/// no configuration: a broken one must not stop making the key that fixes it.
fn new_key(algorithm: Option<JwtAlgorithm>) -> ExitCode {
    match algorithm {
        Some(algorithm) if !algorithm.is_hmac() => match SigningKeys::generate(algorithm) {
            Ok(jwk) => println!("{jwk}"),
            Err(error) => {
                eprintln!("zentra: {error}");
                return ExitCode::FAILURE;
            }
        },
        _ => println!("{}", random_key()),
    }
    ExitCode::SUCCESS
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
    let pool = adapters_db::build_pool_with(
        &settings.database_url,
        1,
        adapters_db::DEFAULT_CONNECTION_TIMEOUT,
        settings.sqlite,
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

fn create_user(
    settings: &Settings,
    username: String,
    is_active: bool,
    superuser: bool,
) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin().lock().read_line(&mut password)?;
    let password = password.trim_end_matches(['\n', '\r']);
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!("username: {e}"))?;
    let password = Password::parse(password).map_err(|e| anyhow::anyhow!("password: {e}"))?;
    let wired = wire(settings)?;
    let created = if superuser {
        let request = CreateUserRequest {
            username,
            password,
            is_active,
            is_superuser: true,
            scopes: None,
            details: UserDetails::default(),
        };
        wired
            .admin
            .create_user(&Actor::system(), request)
            .map_err(admin_error)?
    } else {
        let request = RegisterRequest {
            username,
            password,
            is_active,
            origin: Origin::default(),
        };
        match wired.service.register(request) {
            Ok(user) => user,
            Err(RegisterError::UsernameTaken) => anyhow::bail!("User already registered."),
            Err(error) => return Err(error.into()),
        }
    };
    println!(
        "created {} {} (scopes: {})",
        if created.is_superuser {
            "superuser"
        } else {
            "user"
        },
        created.username,
        created.scopes
    );
    Ok(())
}

fn grant(settings: &Settings, username: &str, scopes: &[String]) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!("username: {e}"))?;
    let scopes = settings.scopes.parse(&scopes.join(" ")).map_err(|_| {
        anyhow::anyhow!(
            "unknown scope: the known ones are {}",
            settings.scopes.known()
        )
    })?;
    let wired = wire(settings)?;
    let user = wired
        .admin
        .grant(&Actor::system(), &username, &scopes)
        .map_err(admin_error)?;
    println!("{} now holds: {}", user.username, user.scopes);
    Ok(())
}

/// An administrator's refusal as one line for the operator.
fn admin_error(error: AdminError) -> anyhow::Error {
    match error {
        AdminError::Infra(infra) => infra.into(),
        AdminError::UsernameTaken => anyhow::anyhow!("User already registered."),
        AdminError::NotFound => anyhow::anyhow!("User not found."),
        other => anyhow::anyhow!("{other}"),
    }
}
