//! The one error type of `sneaker-scrape`: why a page, an image or the whole crawl failed.

use std::path::PathBuf;

/// Why a fetch, a validation or the crawl itself failed. Messages name the URL or file.
///
/// [`ScrapeError::kind`] is the stable short code written to the failure log.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// Arguments or inputs that cannot work (no start URL, bad template, bad CSV header).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The URL's host is not in the allowed list.
    #[error("{url}: host not allowed")]
    HostNotAllowed { url: String },

    /// robots.txt disallows the URL for our user agent (or the host's robots.txt is
    /// unreachable, which RFC 9309 §2.3.1.4 says means "disallow everything").
    #[error("{url}: disallowed by robots.txt")]
    Disallowed { url: String },

    /// A non-retryable status, or a retryable one after the last try.
    #[error("{url}: HTTP {status} after {attempts} attempt(s)")]
    Status { url: String, status: u16, attempts: u32 },

    /// Connection, timeout or body error after the last try.
    #[error("{url}: {detail} after {attempts} attempt(s)")]
    Network { url: String, detail: String, attempts: u32 },

    /// The body exceeded the size limit; nothing more was read.
    #[error("{url}: body larger than the {limit}-byte limit")]
    TooLarge { url: String, limit: u64 },

    /// More redirects than allowed, or a redirect without a usable Location.
    #[error("{url}: {detail}")]
    Redirect { url: String, detail: String },

    /// The bytes are not an image we keep (decode error, too small, too large).
    #[error("{url}: {detail}")]
    Invalid { url: String, kind: &'static str, detail: String },

    /// A page reached as a product link (or a sitemap) gave nothing usable; `kind` is
    /// `no_product`, `soft_404` or `parse_error`.
    #[error("{url}: {detail}")]
    Content { url: String, kind: &'static str, detail: String },

    /// The catalog or journal could not be read or written.
    #[error(transparent)]
    Catalog(#[from] sneaker_catalog::CatalogError),

    /// A file of the crawl state could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Another scrape is writing to the same output folder.
    #[error("{path}: another scrape is already writing to this folder")]
    Locked { path: PathBuf },
}

/// `Result` with [`ScrapeError`].
pub type Result<T> = std::result::Result<T, ScrapeError>;

impl ScrapeError {
    /// Stable short code for the failure log.
    pub fn kind(&self) -> &'static str {
        match self {
            ScrapeError::Config(_) => "config",
            ScrapeError::HostNotAllowed { .. } => "host_not_allowed",
            ScrapeError::Disallowed { .. } => "robots",
            ScrapeError::Status { .. } => "http_status",
            ScrapeError::Network { .. } => "network",
            ScrapeError::TooLarge { .. } => "too_large",
            ScrapeError::Redirect { .. } => "redirect",
            ScrapeError::Invalid { kind, .. } | ScrapeError::Content { kind, .. } => kind,
            ScrapeError::Catalog(_) => "catalog",
            ScrapeError::Io { .. } => "io",
            ScrapeError::Locked { .. } => "locked",
        }
    }

    /// Whether a later run may succeed where this one failed (network trouble, 5xx, 429),
    /// as opposed to a verdict about the content (robots, 404, not an image).
    pub fn is_transient(&self) -> bool {
        match self {
            ScrapeError::Network { .. } => true,
            ScrapeError::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ScrapeError::Io { path: path.into(), source }
    }
}
