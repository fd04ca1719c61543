//! The page frontier of a crawl: start URLs, the sitemaps robots.txt names, listing pages,
//! product pages and sitemap files in breadth-first order, fetched concurrently and
//! processed in order (so labels are assigned deterministically), within the host, page
//! and depth limits. Pages an earlier run read are replayed from the journal; `--refresh`
//! revisits listings and sitemaps (conditionally) and product pages that changed.

use std::collections::{HashMap, HashSet, VecDeque};

use reqwest::Url;
use sneaker_catalog::Product;
use tokio::task::JoinHandle;

use crate::crawl::{Crawl, looks_like_file, spin_views};
use crate::error::{Result, ScrapeError};
use crate::extract::{PageProduct, looks_like_product, parse_page};
use crate::fetch::{Fetched, Kind};
use crate::images::failure;
use crate::journal::Entry;
use crate::progress::Progress;
use crate::sanitize::label_from;
use crate::sitemap::{SitemapPage, SitemapRef, epoch_seconds, looks_like_sitemap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Page,
    Sitemap,
}

/// What the routes that reached a page say about it.
#[derive(Debug, Clone, Default)]
struct Hints {
    /// Reached as a product link (product-like path or markup, or a sitemap entry).
    as_product: bool,
    lastmod: Option<String>,
    /// Images a sitemap lists for the page.
    images: Vec<String>,
}

/// A URL found on a page or in a sitemap.
struct Found {
    url: String,
    /// One link hop further (pagination is not).
    hop: bool,
    target: Target,
    hints: Hints,
}

type Task = Option<JoinHandle<Result<Fetched>>>;

impl Crawl {
    pub(crate) async fn pages(&mut self) -> Result<()> {
        let mut queue: VecDeque<(Url, u32, Target)> = VecDeque::new();
        let mut seen = HashSet::new();
        let mut hints: HashMap<String, Hints> = HashMap::new();
        let mut starts = Vec::new();
        for u in &self.cfg.start_urls {
            let url = Url::parse(u).map_err(|e| ScrapeError::Config(format!("{u}: {e}")))?;
            let target = if looks_like_sitemap(&url) { Target::Sitemap } else { Target::Page };
            if seen.insert(url.to_string()) {
                queue.push_back((url.clone(), 0, target));
            }
            starts.push(url);
        }
        for found in self.robots_sitemaps(&starts).await? {
            let Ok(url) = Url::parse(&found.url) else { continue };
            if self.fetcher.host_allowed(&url) && seen.insert(url.to_string()) {
                queue.push_back((url, 0, Target::Sitemap));
            }
        }
        let mut inflight: VecDeque<(Url, u32, Target, Task)> = VecDeque::new();
        let mut budget = self.cfg.max_pages;
        loop {
            while inflight.len() < self.cfg.concurrency {
                let Some((url, depth, target)) = queue.pop_front() else { break };
                let key = url.to_string();
                let replayable = self.replay.listings.contains_key(&key) || self.replay.sitemaps.contains_key(&key);
                if self.replay.done_pages.contains(&key) && !replayable {
                    Progress::add(&self.progress.skipped_pages, 1);
                    continue;
                }
                if budget == 0 {
                    tracing::info!(%url, "page budget used up; not fetched");
                    continue;
                }
                budget -= 1;
                let known = replayable || self.replay.page_keys.contains_key(&key);
                let fetch = !known || (self.cfg.refresh && (replayable || self.changed(&key, hints.get(&key))));
                let task = fetch.then(|| {
                    let f = self.fetcher.clone();
                    let (u, known) = (url.clone(), self.replay.seen.get(&key).cloned().unwrap_or_default());
                    let kind = if target == Target::Sitemap { Kind::Sitemap } else { Kind::Page };
                    tokio::spawn(async move { f.fetch_if_changed(&u, kind, &known).await })
                });
                inflight.push_back((url, depth, target, task));
            }
            let Some((url, depth, target, task)) = inflight.pop_front() else { break };
            let page_hints = hints.remove(url.as_str()).unwrap_or_default();
            let found = match task {
                None => self.replayed(&url, target).await?,
                Some(handle) => {
                    let fetched = handle.await.map_err(|e| ScrapeError::Config(format!("page task: {e}")))?;
                    self.fetched(&url, target, page_hints, fetched).await?
                }
            };
            for f in found {
                let Ok(link) = Url::parse(&f.url) else { continue };
                let d = depth + u32::from(f.hop);
                let file = f.target == Target::Page && looks_like_file(&link);
                if d > self.cfg.max_depth || !self.fetcher.host_allowed(&link) || file {
                    continue;
                }
                let key = link.to_string();
                if f.hints.as_product || f.hints.lastmod.is_some() || !f.hints.images.is_empty() {
                    let h = hints.entry(key.clone()).or_default();
                    h.as_product |= f.hints.as_product;
                    h.lastmod = h.lastmod.take().or(f.hints.lastmod);
                    h.images.extend(f.hints.images);
                }
                if seen.insert(key) {
                    queue.push_back((link, d, f.target));
                }
            }
        }
        Ok(())
    }

    /// The `Sitemap:` lines of the start hosts' robots.txt (journaled, so a resumed crawl
    /// need not read robots.txt again just for them).
    async fn robots_sitemaps(&mut self, starts: &[Url]) -> Result<Vec<Found>> {
        let mut out = Vec::new();
        let mut origins = HashSet::new();
        for url in starts {
            let Ok(robots) = url.join("/robots.txt") else { continue };
            if !origins.insert(robots.to_string()) {
                continue;
            }
            let key = robots.to_string();
            let refs = match self.replay.sitemaps.get(&key) {
                Some((refs, _)) if !self.cfg.refresh => refs.clone(),
                _ => {
                    let refs: Vec<SitemapRef> = self
                        .fetcher
                        .sitemaps(url)
                        .await
                        .into_iter()
                        .map(|loc| SitemapRef { loc, lastmod: None })
                        .collect();
                    self.journal(Entry::Sitemap { url: key, sitemaps: refs.clone(), pages: Vec::new() }).await?;
                    refs
                }
            };
            out.extend(refs.into_iter().map(|r| Found {
                url: r.loc,
                hop: false,
                target: Target::Sitemap,
                hints: Hints::default(),
            }));
        }
        Ok(out)
    }

    /// Under `--refresh`: whether a product page an earlier run read may have changed — its
    /// sitemap `lastmod` is newer than our copy, or (no `lastmod`) the server gave
    /// validators, so asking costs a 304 at most.
    fn changed(&self, page: &str, hints: Option<&Hints>) -> bool {
        let fetched_at =
            self.replay.page_keys.get(page).into_iter().flatten().filter_map(|k| self.replay.products.get(k));
        let fetched_at = fetched_at.filter_map(|(p, _)| p.fetched_at.as_deref().and_then(epoch_seconds)).min();
        match (hints.and_then(|h| h.lastmod.as_deref()).and_then(epoch_seconds), fetched_at) {
            (Some(lastmod), Some(at)) => lastmod > at,
            _ => self.replay.seen.get(page).is_some_and(|v| !v.is_empty()),
        }
    }

    /// A page or sitemap an earlier run read: what it led to, or its products re-queued.
    async fn replayed(&mut self, url: &Url, target: Target) -> Result<Vec<Found>> {
        let key = url.to_string();
        Progress::add(&self.progress.skipped_pages, 1);
        if target == Target::Sitemap
            && let Some((refs, pages)) = self.replay.sitemaps.get(&key)
        {
            return Ok(from_sitemap(&key, refs, pages));
        }
        if let Some((links, next, products)) = self.replay.listings.get(&key) {
            return Ok(from_listing(links, next, products));
        }
        for product_key in self.replay.page_keys.get(&key).cloned().unwrap_or_default() {
            // Only products the journal recorded; a repeat page's product is registered already.
            if self.replay.products.contains_key(&product_key) {
                self.register(&key, &product_key, "", Product::default(), Vec::new(), false).await?;
            }
        }
        Ok(Vec::new())
    }

    async fn fetched(
        &mut self,
        url: &Url,
        target: Target,
        hints: Hints,
        fetched: Result<Fetched>,
    ) -> Result<Vec<Found>> {
        let stage = if target == Target::Sitemap { "sitemap" } else { "page" };
        Progress::add(if target == Target::Sitemap { &self.progress.sitemaps } else { &self.progress.pages }, 1);
        let page = match fetched {
            Ok(page) => page,
            Err(e) => {
                tracing::info!(%url, error = %e, "{stage} not read");
                Progress::add(&self.progress.failed, 1);
                self.journal(Entry::Failure(failure(stage, url.as_str(), None, None, &e))).await?;
                return Ok(Vec::new());
            }
        };
        Progress::add(&self.progress.requests, u64::from(page.requests));
        Progress::add(&self.progress.bytes, page.bytes.len() as u64);
        if page.not_modified {
            Progress::add(&self.progress.unchanged, 1);
            return self.replayed(url, target).await;
        }
        if !page.validators.is_empty() {
            let v = page.validators.clone();
            let entry =
                Entry::Seen { url: url.to_string(), etag: v.etag, last_modified: v.last_modified, at: crate::now() };
            self.journal(entry).await?;
        }
        if target == Target::Sitemap {
            return match crate::sitemap::parse(&page.bytes, self.cfg.max_sitemap_bytes) {
                Ok(sm) => {
                    let found = from_sitemap(url.as_str(), &sm.sitemaps, &sm.pages);
                    self.journal(Entry::Sitemap { url: url.to_string(), sitemaps: sm.sitemaps, pages: sm.pages })
                        .await?;
                    Ok(found)
                }
                Err(detail) => {
                    let e = ScrapeError::Content { url: url.to_string(), kind: "parse_error", detail };
                    self.content_failure(stage, url, e).await?;
                    Ok(Vec::new())
                }
            };
        }
        let (text, _) = crate::charset::decode_page(&page.bytes, page.content_type.as_deref());
        let info = parse_page(&text, &page.url, hints.as_product);
        if !info.products.is_empty() {
            let single = info.products.len() == 1;
            for mut found in info.products {
                if single && !hints.images.is_empty() {
                    let extra = hints.images.iter().filter_map(|u| page.url.join(u).ok());
                    found.images = crate::imgsrc::merge_variants(found.images.into_iter().chain(extra).collect());
                }
                self.product_page(url, found).await?;
            }
            return Ok(Vec::new());
        }
        let strings = |v: &[Url]| v.iter().map(Url::to_string).collect::<Vec<_>>();
        let (links, next, products) = (strings(&info.links), strings(&info.next), strings(&info.product_links));
        let found = from_listing(&links, &next, &products);
        let entry = Entry::Listing { url: url.to_string(), links, next, product_links: products };
        self.journal(entry).await?;
        if let Some(why) = info.no_product {
            let e = ScrapeError::Content { url: url.to_string(), kind: why.kind, detail: why.detail };
            self.content_failure(stage, url, e).await?;
        }
        Ok(found)
    }

    async fn content_failure(&mut self, stage: &str, url: &Url, e: ScrapeError) -> Result<()> {
        tracing::info!(%url, error = %e, kind = e.kind(), "{stage} gave nothing");
        Progress::add(&self.progress.failed, 1);
        self.journal(Entry::Failure(failure(stage, url.as_str(), None, None, &e))).await
    }

    async fn product_page(&mut self, page: &Url, found: PageProduct) -> Result<()> {
        let key = found.key.clone();
        if self.registered_key(&key) {
            return self.journal(Entry::SamePage { page: page.to_string(), key }).await;
        }
        let wanted = label_from(found.name.as_deref().or(found.style_id.as_deref()).unwrap_or(&key));
        let images = spin_views(&found.images, self.cfg.max_images_per_product);
        let product = Product {
            label: String::new(),
            name: found.name,
            brand: found.brand,
            category: found.category,
            colorway: found.colorway,
            pairs_sold: found.pairs_sold,
            gender: found.gender,
            style_id: found.style_id,
            release_date: found.release_date,
            price: found.price,
            currency: found.currency,
            thumbnail_url: found.thumbnail_url,
            url: Some(found.url),
            source_url: Some(page.to_string()),
            fetched_at: Some(crate::now()),
        };
        self.register(page.as_str(), &key, &wanted, product, images, true).await
    }
}

fn from_listing(links: &[String], next: &[String], products: &[String]) -> Vec<Found> {
    let products: HashSet<&str> = products.iter().map(String::as_str).collect();
    let page = |url: &String, hop: bool| Found {
        url: url.clone(),
        hop,
        target: Target::Page,
        hints: Hints { as_product: hop && products.contains(url.as_str()), ..Default::default() },
    };
    next.iter().map(|u| page(u, false)).chain(links.iter().map(|u| page(u, true))).collect()
}

/// A sitemap's children and pages; a page counts as a product link when its path looks
/// like one, the sitemap lists images for it, or the sitemap is named for products.
fn from_sitemap(sitemap_url: &str, refs: &[SitemapRef], pages: &[SitemapPage]) -> Vec<Found> {
    let product_sitemap = sitemap_url.to_ascii_lowercase().contains("product");
    let children =
        refs.iter().map(|r| Found { url: r.loc.clone(), hop: true, target: Target::Sitemap, hints: Hints::default() });
    let pages = pages.iter().map(|p| {
        let as_product =
            product_sitemap || !p.images.is_empty() || Url::parse(&p.loc).is_ok_and(|u| looks_like_product(&u));
        let hints = Hints { as_product, lastmod: p.lastmod.clone(), images: p.images.clone() };
        Found { url: p.loc.clone(), hop: true, target: Target::Page, hints }
    });
    children.chain(pages).collect()
}
