//! `sneaker-id catalog report`: the reference project's exploration of a catalog as PNG
//! charts and a Markdown page — images per label, top products by pairs sold, views per
//! product and angle coverage, duplicate and rejected files, inputs the catalog skipped, and a
//! scrape's failure log.
//!
//! `stats` gathers the figures; `charts` and `markdown` draw them.

mod charts;
mod markdown;
mod stats;

use std::path::Path;

pub use stats::{Rejected, Stats};

use crate::catalog::Catalog;
use crate::error::{CatalogError, Result};

/// Name of the Markdown page written next to the charts.
pub const REPORT_MD: &str = "report.md";

/// Reads the catalog in `dir`, checks every image, writes PNGs and `report.md` to `out`.
/// Images whose shorter side is below `min_side` count as rejected.
pub fn write_report(dir: &Path, out: &Path, min_side: u32) -> Result<Stats> {
    let catalog = Catalog::open(dir)?;
    std::fs::create_dir_all(out).map_err(|e| CatalogError::io(out, e))?;
    let stats = stats::gather(&catalog, min_side);
    charts::draw_all(&stats, out)?;
    let md = markdown::markdown(&stats, dir);
    let path = out.join(REPORT_MD);
    sneaker_files::write_atomic_with(&path, |w| w.write_all(md.as_bytes())).map_err(|e| CatalogError::io(&path, e))?;
    Ok(stats)
}
