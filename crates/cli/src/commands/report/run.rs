//! `sneaker-id report`, the work: needs the training crate (feature `train`).

use super::Args;

pub fn run(args: Args) -> anyhow::Result<()> {
    let rows = args.runs.iter().map(|r| sneaker_train::report::read_run(r)).collect::<Result<Vec<_>, _>>()?;
    print!("{}", sneaker_train::report::markdown(&rows));
    sneaker_train::report::chart(&rows, &args.png)?;
    eprintln!("chart: {}", args.png.display());
    Ok(())
}
