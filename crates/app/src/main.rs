use std::process::ExitCode;

use app::{
    cli::{Cli, Command},
    config::Settings,
    startup::Application,
    telemetry,
};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("zentra: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init();
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    match cli.command() {
        Command::Serve => serve(settings),
    }
}

fn serve(settings: Settings) -> ExitCode {
    let result = actix_web::rt::System::new().block_on(async move {
        let application = Application::build(settings).await?;
        // Tests and scripts read this line to learn the port (SERVER__PORT=0).
        println!("zentra listening on http://{}", application.address());
        tracing::info!(address = %application.address(), "listening");
        application.run().await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("zentra: {error:#}");
            ExitCode::FAILURE
        }
    }
}
