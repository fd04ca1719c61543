//! What a crawl may do: inputs, bounds, politeness and limits, with defaults that are
//! gentle on the sites crawled.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScrapeError};

/// Everything `sneaker-id scrape` needs; validated by [`ScrapeConfig::validate`] before any
/// request is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ScrapeConfig {
    /// Catalog folder to create or continue.
    pub out: PathBuf,
    /// Pages to start from (input b): a shop's root URL, listings, or sitemaps (`.xml`,
    /// `.xml.gz`); the `Sitemap:` lines of their hosts' robots.txt are followed too.
    pub start_urls: Vec<String>,
    /// Products CSV (input a), read with [`ScrapeConfig::image_template`].
    pub products_csv: Option<PathBuf>,
    /// Image URL template for spins: `{slug}`, `{label}`, `{index}`, `{index:02}`, `{n}`.
    pub image_template: Option<String>,
    /// Views per spin for the template (`{n}`); view `i` is at `(i-1)*360/n` degrees.
    pub views: u32,
    /// Hosts we may request; empty means the hosts of the start URLs and the template.
    pub allowed_hosts: Vec<String>,
    /// Sent with every request; identifies us and how to reach us.
    pub user_agent: String,
    /// Token matched against robots.txt `User-agent:` lines.
    pub robots_agent: String,
    /// Requests in flight overall.
    pub concurrency: usize,
    /// Requests in flight per host.
    pub per_host_concurrency: usize,
    /// Minimum time between two request starts on one host; robots.txt Crawl-delay wins
    /// when longer.
    pub min_delay_ms: u64,
    /// Longest Crawl-delay honoured (some sites ask for minutes).
    pub max_crawl_delay_ms: u64,
    /// Pages (listings and products) fetched at most.
    pub max_pages: usize,
    /// Link hops from a start URL (pagination does not count).
    pub max_depth: u32,
    /// Images kept per product at most.
    pub max_images_per_product: usize,
    /// Tries per request for timeouts, dropped connections, 408, 429 and 5xx.
    pub max_attempts: u32,
    /// First backoff; doubles each retry, with jitter.
    pub backoff_base_ms: u64,
    /// Longest wait between tries, also the cap on Retry-After.
    pub backoff_max_ms: u64,
    /// Whole-request timeout.
    pub request_timeout_ms: u64,
    /// Largest HTML page read.
    pub max_page_bytes: u64,
    /// Largest sitemap read, after gunzipping (the protocol's limit is 50 MB).
    pub max_sitemap_bytes: u64,
    /// Largest image read.
    pub max_image_bytes: u64,
    /// Images whose shorter side is below this are rejected as thumbnails or icons.
    pub min_image_side: u32,
    /// How often the CSV files are rewritten from the journal during a crawl.
    pub flush_interval_ms: u64,
    /// Discover and report what would be downloaded, write nothing.
    pub dry_run: bool,
    /// Revisit listings and sitemaps of a continued crawl (conditionally, when the server
    /// gave ETag/Last-Modified), and product pages whose sitemap `lastmod` is newer than
    /// our copy or that the server can answer with a 304; what is done stays done.
    pub refresh: bool,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            out: PathBuf::from("catalog"),
            start_urls: Vec::new(),
            products_csv: None,
            image_template: None,
            views: 36,
            allowed_hosts: Vec::new(),
            user_agent: format!(
                "sneaker-id/{} (catalog builder; +https://github.com/sneaker-id/sneaker-id)",
                env!("CARGO_PKG_VERSION")
            ),
            robots_agent: "sneaker-id".into(),
            concurrency: 8,
            per_host_concurrency: 2,
            min_delay_ms: 500,
            max_crawl_delay_ms: 30_000,
            max_pages: 10_000,
            max_depth: 3,
            max_images_per_product: 36,
            max_attempts: 4,
            backoff_base_ms: 500,
            backoff_max_ms: 60_000,
            request_timeout_ms: 30_000,
            max_page_bytes: 5 << 20,
            max_sitemap_bytes: 50 << 20,
            max_image_bytes: 20 << 20,
            min_image_side: 64,
            flush_interval_ms: 5_000,
            dry_run: false,
            refresh: false,
        }
    }
}

impl ScrapeConfig {
    /// Checks the combination of settings; the crawl starts only if this passes.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: &str| Err(ScrapeError::Config(msg.to_owned()));
        if self.start_urls.is_empty() && self.products_csv.is_none() {
            return fail("give start URLs, a products CSV, or both");
        }
        if self.products_csv.is_some() && self.image_template.is_none() {
            return fail("a products CSV needs an image URL template (--image-template)");
        }
        if let Some(t) = &self.image_template
            && !t.contains("{index")
        {
            return fail("the image template must contain {index} or {index:02}");
        }
        if self.views == 0 || self.concurrency == 0 || self.per_host_concurrency == 0 {
            return fail("views, concurrency and per-host concurrency must be at least 1");
        }
        if self.max_attempts == 0 {
            return fail("max attempts must be at least 1");
        }
        if self.user_agent.trim().is_empty() || self.robots_agent.trim().is_empty() {
            return fail("the user agent must not be empty");
        }
        for url in &self.start_urls {
            let parsed =
                reqwest::Url::parse(url).map_err(|e| ScrapeError::Config(format!("start URL {url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ScrapeError::Config(format!("start URL {url:?} is not http(s)")));
            }
        }
        Ok(())
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_an_input() {
        assert!(ScrapeConfig::default().validate().is_err());
        let cfg = ScrapeConfig { start_urls: vec!["https://shop.test/sneakers".into()], ..Default::default() };
        cfg.validate().expect("a start URL is enough");
    }

    #[test]
    fn rejects_bad_inputs() {
        let base = ScrapeConfig { start_urls: vec!["https://shop.test/".into()], ..Default::default() };
        for cfg in [
            ScrapeConfig { start_urls: vec!["ftp://x/".into()], ..base.clone() },
            ScrapeConfig { start_urls: vec!["not a url".into()], ..base.clone() },
            ScrapeConfig { concurrency: 0, ..base.clone() },
            ScrapeConfig { products_csv: Some("p.csv".into()), ..base.clone() },
            ScrapeConfig {
                products_csv: Some("p.csv".into()),
                image_template: Some("https://x/{slug}.jpg".into()),
                ..base.clone()
            },
        ] {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
    }
}
