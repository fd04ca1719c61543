//! The polite HTTP client every request of a crawl goes through: allowed hosts, robots.txt
//! (RFC 9309, via `texting_robots`), per-host concurrency and spacing (Crawl-delay),
//! retries with exponential backoff and jitter honouring Retry-After, redirects checked
//! hop by hop, and body size limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::{StatusCode, Url, header};
use tokio::sync::{OnceCell, Semaphore};

use crate::config::ScrapeConfig;
use crate::error::{Result, ScrapeError};
use crate::robots::Robots;

/// RFC 9309 §2.3.1.2: follow at least five redirects; we use the same bound for pages.
const MAX_REDIRECTS: usize = 5;
/// RFC 9309 §2.5: parse at least 500 KiB of robots.txt; we read no more.
const MAX_ROBOTS_BYTES: u64 = 500 * 1024;

/// What is being fetched, which decides the size limit and whether robots.txt applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Page,
    /// A sitemap: robots.txt applies, with the protocol's larger size limit.
    Sitemap,
    Image,
    Robots,
}

/// What an earlier fetch of a URL said about its version (RFC 9110 §8.8), sent back as
/// `If-None-Match` / `If-Modified-Since` so an unchanged page costs a 304 and no body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// A successful response body.
#[derive(Debug)]
pub struct Fetched {
    /// Where the body came from after redirects.
    pub url: Url,
    /// Decoded from gzip/brotli/deflate when the server sent it so; empty on a 304.
    pub bytes: Vec<u8>,
    /// How many requests were sent, counting retries and redirect hops.
    pub requests: u32,
    /// The Content-Type header (for the page's charset).
    pub content_type: Option<String>,
    /// ETag / Last-Modified of this response, for the next conditional request.
    pub validators: Validators,
    /// The server answered 304 Not Modified to a conditional request.
    pub not_modified: bool,
}

struct Host {
    slots: Semaphore,
    next_start: Mutex<Instant>,
    robots: OnceCell<Arc<Robots>>,
}

/// Shared by all tasks of a crawl.
pub struct Fetcher {
    client: reqwest::Client,
    global: Semaphore,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    allowed: Vec<String>,
    cfg: ScrapeConfig,
}

enum Hop {
    Body { bytes: Vec<u8>, content_type: Option<String>, validators: Validators },
    NotModified,
    Redirect(Url),
}

enum Attempt {
    Retry { error: ScrapeError, retry_after: Option<Duration> },
    Fatal(ScrapeError),
}

impl Fetcher {
    /// A client for `cfg`, allowed to talk to `allowed` hosts (and their sub-domains).
    pub fn new(cfg: &ScrapeConfig, allowed: Vec<String>) -> Result<Fetcher> {
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            // Redirects are followed by hand so every hop meets the host and robots checks.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.request_timeout())
            .connect_timeout(cfg.request_timeout().min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ScrapeError::Config(format!("HTTP client: {e}")))?;
        Ok(Fetcher {
            client,
            global: Semaphore::new(cfg.concurrency),
            hosts: Mutex::new(HashMap::new()),
            allowed: allowed.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            cfg: cfg.clone(),
        })
    }

    /// Whether `url`'s host is allowed (exact host or a sub-domain of an allowed one).
    pub fn host_allowed(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else { return false };
        matches!(url.scheme(), "http" | "https")
            && self.allowed.iter().any(|a| host == *a || host.ends_with(&format!(".{a}")))
    }

    /// Fetches `url`, following redirects, after checking host and robots.txt at every hop.
    pub async fn fetch(&self, url: &Url, kind: Kind) -> Result<Fetched> {
        self.fetch_if_changed(url, kind, &Validators::default()).await
    }

    /// [`Fetcher::fetch`] as a conditional request when `known` has validators.
    pub async fn fetch_if_changed(&self, url: &Url, kind: Kind, known: &Validators) -> Result<Fetched> {
        let mut current = url.clone();
        let mut requests = 0;
        for _ in 0..=MAX_REDIRECTS {
            if !self.host_allowed(&current) {
                return Err(ScrapeError::HostNotAllowed { url: current.to_string() });
            }
            let host = self.host(&current);
            if kind != Kind::Robots {
                let robots = host.robots.get_or_init(|| self.load_robots(&current)).await;
                if !robots.allowed(&current) {
                    return Err(ScrapeError::Disallowed { url: current.to_string() });
                }
            }
            let (hop, sent) = self.send_with_retries(&host, &current, kind, known).await?;
            requests += sent;
            match hop {
                Hop::Body { bytes, content_type, validators } => {
                    return Ok(Fetched {
                        url: current,
                        bytes,
                        requests,
                        content_type,
                        validators,
                        not_modified: false,
                    });
                }
                Hop::NotModified => {
                    let validators = known.clone();
                    return Ok(Fetched {
                        url: current,
                        bytes: Vec::new(),
                        requests,
                        content_type: None,
                        validators,
                        not_modified: true,
                    });
                }
                Hop::Redirect(next) => {
                    tracing::debug!(from = %current, to = %next, "redirect");
                    current = next;
                }
            }
        }
        Err(ScrapeError::Redirect { url: url.to_string(), detail: format!("more than {MAX_REDIRECTS} redirects") })
    }

    fn host(&self, url: &Url) -> Arc<Host> {
        let origin = url.origin().ascii_serialization();
        let mut hosts = self.hosts.lock().expect("host table lock is never held across a panic");
        hosts
            .entry(origin)
            .or_insert_with(|| {
                Arc::new(Host {
                    slots: Semaphore::new(self.cfg.per_host_concurrency),
                    next_start: Mutex::new(Instant::now()),
                    robots: OnceCell::new(),
                })
            })
            .clone()
    }

    /// The `Sitemap:` lines of `url`'s host's robots.txt (fetched once per host).
    pub async fn sitemaps(&self, url: &Url) -> Vec<String> {
        if !self.host_allowed(url) {
            return Vec::new();
        }
        let host = self.host(url);
        host.robots.get_or_init(|| self.load_robots(url)).await.sitemaps()
    }

    async fn load_robots(&self, url: &Url) -> Arc<Robots> {
        let Ok(robots_url) = url.join("/robots.txt") else { return Arc::new(Robots::allow_all()) };
        let robots = match Box::pin(self.fetch(&robots_url, Kind::Robots)).await {
            Ok(f) => Robots::parse(&self.cfg.robots_agent, &f.bytes),
            Err(e) => Robots::from_failure(&e),
        };
        tracing::info!(url = %robots_url, ?robots, "robots.txt");
        Arc::new(robots)
    }

    /// Time between request starts on `host`: our floor or its Crawl-delay, whichever is longer.
    fn interval(&self, host: &Host) -> Duration {
        let crawl_delay = host.robots.get().and_then(|r| r.crawl_delay()).unwrap_or_default();
        let crawl_delay = crawl_delay.min(Duration::from_millis(self.cfg.max_crawl_delay_ms));
        Duration::from_millis(self.cfg.min_delay_ms).max(crawl_delay)
    }

    async fn send_with_retries(&self, host: &Host, url: &Url, kind: Kind, known: &Validators) -> Result<(Hop, u32)> {
        let limit = match kind {
            Kind::Page => self.cfg.max_page_bytes,
            Kind::Sitemap => self.cfg.max_sitemap_bytes,
            Kind::Image => self.cfg.max_image_bytes,
            Kind::Robots => MAX_ROBOTS_BYTES,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = {
                let _global = self.global.acquire().await.expect("semaphore is never closed");
                let _slot = host.slots.acquire().await.expect("semaphore is never closed");
                wait_turn(host, self.interval(host)).await;
                self.send_once(url, limit, attempt, known).await
            };
            match outcome {
                Ok(hop) => return Ok((hop, attempt)),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry { error, retry_after }) => {
                    let cap = Duration::from_millis(self.cfg.backoff_max_ms);
                    if attempt >= self.cfg.max_attempts || retry_after.is_some_and(|r| r > cap) {
                        return Err(error);
                    }
                    let wait = backoff(attempt, self.cfg.backoff_base_ms, cap).max(retry_after.unwrap_or_default());
                    if let Some(ra) = retry_after {
                        // The server asked the whole host to slow down, not just this request.
                        let mut next = host.next_start.lock().expect("lock is never held across a panic");
                        *next = (*next).max(Instant::now() + ra);
                    }
                    tracing::info!(%url, attempt, ?wait, %error, "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn send_once(
        &self,
        url: &Url,
        limit: u64,
        attempt: u32,
        known: &Validators,
    ) -> std::result::Result<Hop, Attempt> {
        let network = |e: reqwest::Error| Attempt::Retry {
            error: ScrapeError::Network { url: url.to_string(), detail: error_chain(&e), attempts: attempt },
            retry_after: None,
        };
        let mut request = self.client.get(url.clone());
        if let Some(etag) = &known.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = &known.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, date);
        }
        let mut response = request.send().await.map_err(network)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && !known.is_empty() {
            return Ok(Hop::NotModified);
        }
        if status.is_redirection() {
            let location = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok());
            let next = location.and_then(|l| url.join(l).ok()).ok_or_else(|| {
                Attempt::Fatal(ScrapeError::Redirect {
                    url: url.to_string(),
                    detail: format!("{status} without a usable Location"),
                })
            })?;
            return Ok(Hop::Redirect(next));
        }
        if !status.is_success() {
            let error = ScrapeError::Status { url: url.to_string(), status: status.as_u16(), attempts: attempt };
            return Err(if retryable(status) {
                Attempt::Retry { error, retry_after: retry_after(response.headers()) }
            } else {
                Attempt::Fatal(error)
            });
        }
        let text =
            |name: header::HeaderName| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type = text(header::CONTENT_TYPE);
        let validators = Validators { etag: text(header::ETAG), last_modified: text(header::LAST_MODIFIED) };
        let too_large = || Attempt::Fatal(ScrapeError::TooLarge { url: url.to_string(), limit });
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let capacity = response.content_length().unwrap_or(0).min(limit) as usize;
        let mut bytes = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Hop::Body { bytes, content_type, validators })
    }
}

/// Waits until `host` may start another request and books the next slot.
async fn wait_turn(host: &Host, interval: Duration) {
    let wait = {
        let mut next = host.next_start.lock().expect("lock is never held across a panic");
        let now = Instant::now();
        let start = (*next).max(now);
        *next = start + interval;
        start - now
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

fn retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or_default())
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped, then a uniform draw in
/// its upper half so that many clients retrying together spread out.
pub(crate) fn backoff(attempt: u32, base_ms: u64, cap: Duration) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(30));
    let full = Duration::from_millis(exp).min(cap);
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let cap = Duration::from_secs(10);
        for attempt in 1..=8u32 {
            let full = Duration::from_millis(100 * (1 << (attempt - 1))).min(cap);
            let d = backoff(attempt, 100, cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} vs {full:?}");
        }
        assert!(backoff(200, 100, cap) <= cap);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = header::HeaderMap::new();
        h.insert(header::RETRY_AFTER, header::HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(header::RETRY_AFTER, httpdate::fmt_http_date(later).parse().expect("valid header"));
        let d = retry_after(&h).expect("date parses");
        assert!(d > Duration::from_secs(100) && d <= Duration::from_secs(120), "{d:?}");
        h.insert(header::RETRY_AFTER, header::HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn allowed_hosts_include_subdomains_only() {
        let cfg = ScrapeConfig::default();
        let f = Fetcher::new(&cfg, vec!["Shop.test".into()]).expect("client");
        let ok = |u: &str| f.host_allowed(&Url::parse(u).expect("url"));
        assert!(ok("https://shop.test/a") && ok("http://img.shop.test/b.jpg"));
        assert!(!ok("https://evilshop.test/") && !ok("https://shop.test.evil/") && !ok("file:///etc/passwd"));
    }
}
