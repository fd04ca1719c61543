//! Polite, resumable crawler that builds a sneaker-id catalog (see `sneaker-catalog`, which also
//! reads it back and draws its report) from a products CSV with a spin URL template and/or
//! marketplace listing pages.
//!
//! Entry point: [`run`] with a [`ScrapeConfig`]; progress is read from the shared
//! [`Progress`] counters while it runs.

mod charset;
mod config;
mod crawl;
mod error;
mod extract;
mod fetch;
mod images;
mod imgsrc;
mod input;
mod journal;
mod jsonld;
mod lenient;
mod microdata;
mod pages;
mod product;
mod progress;
mod replay;
mod robots;
mod sanitize;
pub mod sitemap;
mod store;

pub use charset::decode_page;
pub use config::ScrapeConfig;
pub use crawl::run;
pub use error::{Result, ScrapeError};
pub use extract::{NoProduct, PageInfo, PageProduct, parse_page};
pub use input::{CsvProduct, expand, read_products};
pub use journal::{Entry, ImageJob, STATE_DIR};
pub use progress::{Planned, Progress, Snapshot, Summary};
pub use sanitize::{LabelBook, label_from, url_slug};
/// The failure log and duplicates list a scrape writes are part of the catalog's layout.
pub use sneaker_catalog::{DUPLICATES_CSV, FAILURES_JSONL, Failure};

/// Current UTC time as RFC 3339 with seconds, for `fetched_at` columns and the failure log.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Replaces `path` atomically with what `write` writes (see `sneaker_files::atomic`).
pub(crate) fn write_atomic_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::result::Result<(), ScrapeError> {
    sneaker_files::write_atomic_with(path, write).map_err(|e| ScrapeError::io(path, e))
}
