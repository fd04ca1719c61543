//! `sneaker-id report`: comparison table (Markdown + PNG) of several training runs.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Run folders to compare.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write the bar chart.
    #[arg(long, default_value = "report.png")]
    pub png: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rows = args.runs.iter().map(|r| sneaker_train::report::read_run(r)).collect::<Result<Vec<_>, _>>()?;
    print!("{}", sneaker_train::report::markdown(&rows));
    sneaker_train::report::chart(&rows, &args.png)?;
    eprintln!("chart: {}", args.png.display());
    Ok(())
}
