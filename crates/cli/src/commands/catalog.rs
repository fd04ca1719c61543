//! `sneaker-id catalog`: look at a catalog folder (scraped, or label folders of your own).

use std::path::PathBuf;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(clap::Subcommand)]
pub enum CatalogCommand {
    /// PNG charts + Markdown: images per label, top products by pairs sold, views and
    /// angle coverage, duplicates and rejected files, and a scrape's failure log.
    Report {
        /// Catalog folder (scraped, or <label>/<image> folders with optional annotations.csv).
        dir: PathBuf,
        /// Where to write report.md and the PNGs.
        #[arg(long, short, default_value = "catalog-report")]
        out: PathBuf,
        /// Images whose shorter side is below this many pixels count as rejected.
        #[arg(long, default_value_t = 32)]
        min_side: u32,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        CatalogCommand::Report { dir, out, min_side } => {
            let stats = sneaker_catalog::report::write_report(&dir, &out, min_side)
                .with_context(|| format!("reporting on {}", dir.display()))?;
            println!(
                "{}: {} labels, {} images, {} duplicate groups, {} rejected, {} inputs skipped, {} scrape failures -> {}",
                dir.display(),
                stats.labels,
                stats.images,
                stats.duplicate_groups.len(),
                stats.rejected.len(),
                stats.skipped.len(),
                stats.failure_log.len(),
                out.join(sneaker_catalog::report::REPORT_MD).display()
            );
            Ok(())
        }
    }
}
