//! A line of a scraped catalog's failure log (`failures.jsonl`): what the scraper writes and the
//! catalog report reads back.

use serde::{Deserialize, Serialize};

/// A request or image that did not make it into the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub url: String,
    /// `"page"`, `"sitemap"`, `"image"` or `"robots"`.
    pub stage: String,
    pub label: Option<String>,
    pub view: Option<u32>,
    /// Stable code of the reason (the scraper's error kind, e.g. `http_status`, `too_small`).
    pub kind: String,
    pub detail: String,
    pub attempts: u32,
    /// Whether the next run tries again (network trouble, 5xx, 429).
    pub transient: bool,
    pub at: String,
}
