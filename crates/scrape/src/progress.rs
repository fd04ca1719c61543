//! Crawl progress as shared counters the caller polls (the CLI draws its bar from them),
//! and the end-of-run summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Counters of the current run, updated by the crawler tasks.
#[derive(Debug, Default)]
pub struct Progress {
    pub pages: AtomicU64,
    pub products: AtomicU64,
    pub images_planned: AtomicU64,
    pub images_saved: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: AtomicU64,
    pub requests: AtomicU64,
    pub sitemaps: AtomicU64,
    /// Pages and sitemaps an earlier run read, not fetched again.
    pub skipped_pages: AtomicU64,
    /// Images an earlier run finished (kept, duplicate or failed for good), not fetched again.
    pub skipped_images: AtomicU64,
    /// Conditional requests answered 304 Not Modified (`--refresh`).
    pub unchanged: AtomicU64,
    /// Products recorded again with changed details or new images (`--refresh`).
    pub updated: AtomicU64,
}

/// A consistent-enough copy of [`Progress`] for display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub pages: u64,
    pub products: u64,
    pub images_planned: u64,
    pub images_saved: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub failed: u64,
    pub bytes: u64,
    pub requests: u64,
    pub sitemaps: u64,
    pub skipped_pages: u64,
    pub skipped_images: u64,
    pub unchanged: u64,
    pub updated: u64,
}

impl Progress {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            pages: get(&self.pages),
            products: get(&self.products),
            images_planned: get(&self.images_planned),
            images_saved: get(&self.images_saved),
            duplicates: get(&self.duplicates),
            rejected: get(&self.rejected),
            failed: get(&self.failed),
            bytes: get(&self.bytes),
            requests: get(&self.requests),
            sitemaps: get(&self.sitemaps),
            skipped_pages: get(&self.skipped_pages),
            skipped_images: get(&self.skipped_images),
            unchanged: get(&self.unchanged),
            updated: get(&self.updated),
        }
    }
}

/// A product found in a dry run, with how many images would be fetched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub label: String,
    pub name: Option<String>,
    pub url: Option<String>,
    pub images: usize,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// This run's counters.
    pub run: Snapshot,
    /// Whole catalog after the run (earlier runs included).
    pub catalog_images: usize,
    pub catalog_products: usize,
    /// Open entries of the failure log.
    pub failures: usize,
    /// Open entries of the failure log by reason (`no_product`, `http_status`, `corrupt`, ...).
    pub failure_kinds: std::collections::BTreeMap<String, usize>,
    /// Whether listings and sitemaps were revisited (`--refresh`).
    pub refresh: bool,
    pub elapsed: Duration,
    pub dry_run: bool,
    /// Dry run only: what would be downloaded.
    pub planned: Vec<Planned>,
}
