//! What robots.txt lets us fetch on one origin, following RFC 9309 through the
//! `texting_robots` parser (matching, longest-match precedence and Crawl-delay are its job).

use std::time::Duration;

use reqwest::Url;
use texting_robots::Robot;

use crate::error::ScrapeError;

/// The rules of one origin.
pub enum Robots {
    /// No robots.txt (RFC 9309 §2.3.1.3: 4xx means no restrictions).
    AllowAll,
    /// robots.txt unreachable (RFC 9309 §2.3.1.4: 5xx or network errors mean complete
    /// disallow) or unparsable.
    DisallowAll {
        why: String,
    },
    Rules(Robot),
}

impl std::fmt::Debug for Robots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Robots::AllowAll => f.write_str("allow all"),
            Robots::DisallowAll { why } => write!(f, "disallow all ({why})"),
            Robots::Rules(r) => write!(f, "rules, crawl-delay {:?}", r.delay),
        }
    }
}

impl Robots {
    pub fn allow_all() -> Robots {
        Robots::AllowAll
    }

    /// Rules for `agent` from a robots.txt body.
    pub fn parse(agent: &str, body: &[u8]) -> Robots {
        match Robot::new(agent, body) {
            Ok(robot) => Robots::Rules(robot),
            Err(e) => Robots::DisallowAll { why: format!("unparsable robots.txt: {e}") },
        }
    }

    /// Rules after the robots.txt fetch failed with `error`.
    pub fn from_failure(error: &ScrapeError) -> Robots {
        match error {
            ScrapeError::Status { status, .. } if (400..500).contains(status) => Robots::AllowAll,
            other => Robots::DisallowAll { why: other.to_string() },
        }
    }

    pub fn allowed(&self, url: &Url) -> bool {
        match self {
            Robots::AllowAll => true,
            Robots::DisallowAll { .. } => false,
            Robots::Rules(robot) => robot.allowed(url.as_str()),
        }
    }

    /// The file's `Sitemap:` lines (they apply to every agent).
    pub fn sitemaps(&self) -> Vec<String> {
        match self {
            Robots::Rules(r) => r.sitemaps.clone(),
            _ => Vec::new(),
        }
    }

    /// Crawl-delay for our agent, when the file sets a sane one.
    pub fn crawl_delay(&self) -> Option<Duration> {
        match self {
            Robots::Rules(r) => r.delay.filter(|d| d.is_finite() && *d >= 0.0).map(Duration::from_secs_f32),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    #[test]
    fn rules_for_our_agent_and_crawl_delay() {
        let txt = b"User-agent: *\nDisallow: /private/\nAllow: /private/ok\nCrawl-delay: 0.5\nSitemap: https://x/sitemap_index.xml\n\n\
                    User-agent: badbot\nDisallow: /\n";
        let r = Robots::parse("sneaker-id", txt);
        assert!(r.allowed(&url("http://x/p/a")));
        assert!(!r.allowed(&url("http://x/private/secret")));
        // RFC 9309 §2.2.2: the longest match wins.
        assert!(r.allowed(&url("http://x/private/ok")));
        assert_eq!(r.crawl_delay(), Some(Duration::from_millis(500)));
        assert_eq!(r.sitemaps(), ["https://x/sitemap_index.xml"]);
        assert!(!Robots::parse("badbot", txt).allowed(&url("http://x/p/a")));
    }

    #[test]
    fn fetch_failures_follow_rfc_9309() {
        let not_found = ScrapeError::Status { url: "u".into(), status: 404, attempts: 1 };
        let server = ScrapeError::Status { url: "u".into(), status: 503, attempts: 4 };
        let net = ScrapeError::Network { url: "u".into(), detail: "refused".into(), attempts: 4 };
        assert!(Robots::from_failure(&not_found).allowed(&url("http://x/a")));
        assert!(!Robots::from_failure(&server).allowed(&url("http://x/a")));
        assert!(!Robots::from_failure(&net).allowed(&url("http://x/a")));
    }
}
