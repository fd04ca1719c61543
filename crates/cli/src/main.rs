//! `sneaker-id`: the command line. It parses arguments and calls the library crates; no logic here.

mod commands;

use clap::{Parser, Subcommand};

/// Tells which sneaker is in a photo.
#[derive(Parser)]
#[command(name = "sneaker-id", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Identify the shoe in one or more photos (files or folders).
    Predict(commands::predict::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Predict(args) => commands::predict::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
