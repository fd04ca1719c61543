//! `sneaker-id`: the command line. It parses arguments and calls the library crates; no logic here.
//!
//! Two binaries share this crate. `sneaker-id` is built without burn by `make run` (minutes, not
//! the half hour burn takes on two cores); `sneaker-id-train` is built with it, on first use. Both
//! parse the same [`Cli`], so every command is checked the same way in either; the serving binary
//! hands `train`, `evaluate` and `report` to the training one ([`training`]).

mod commands;
pub mod training;

use clap::{Parser, Subcommand};

/// Tells which sneaker is in a photo.
#[derive(Parser)]
#[command(name = "sneaker-id", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Identify the shoe in one or more photos (files or folders).
    Predict(commands::predict::Args),
    /// Start the web page and HTTP API (pretrained network, or a trained run with --model).
    Serve(commands::serve::Args),
    /// Build a catalog from a products CSV + spin template and/or marketplace listing pages.
    Scrape(commands::scrape::Args),
    /// Choose the "not footwear" / "unknown sneaker" thresholds from held-out photos.
    Calibrate(commands::calibrate::Args),
    /// Few-shot check: enroll K photos per product, identify their other photos (K = 1, 3, 5);
    /// retrieval recall@1/5 and mAP.
    Fewshot(commands::fewshot::Args),
    /// Look at a catalog folder (`catalog report DIR`: charts and Markdown).
    Catalog(commands::catalog::Args),
    /// Gallery of enrolled product photos: build from a catalog, add a product, search by photo.
    Gallery(commands::gallery::Args),
    /// Train the best classifier on a catalog into a run folder (bottleneck, finetune, calibrate),
    /// or one model kind with --model (random, scratch, bottleneck, finetune, embedding).
    Train(commands::train::Args),
    /// Score a trained run on a labelled folder (top-1/5, log-loss, per class, confusion).
    Evaluate(commands::evaluate::Args),
    /// Compare training runs: Markdown table and PNG chart.
    Report(commands::report::Args),
}

/// Both binaries' `main`: parse, run, print the error chain once and exit non-zero on failure.
pub fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // Warnings, and the server's access log (one line per request).
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,access=info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Predict(args) => commands::predict::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Scrape(args) => commands::scrape::run(args),
        Command::Calibrate(args) => commands::calibrate::run(args),
        Command::Catalog(args) => commands::catalog::run(args),
        Command::Fewshot(args) => commands::fewshot::run(args),
        Command::Gallery(args) => commands::gallery::run(args),
        #[cfg(feature = "train")]
        Command::Train(args) => commands::train::run(args),
        #[cfg(feature = "train")]
        Command::Evaluate(args) => commands::evaluate::run(args),
        #[cfg(feature = "train")]
        Command::Report(args) => commands::report::run(args),
        #[cfg(not(feature = "train"))]
        Command::Train(_) | Command::Evaluate(_) | Command::Report(_) => training::hand_over(),
    }
}
