//! One crawl from start to summary: products from the CSV input, then listing pages in
//! breadth-first order (fetched concurrently, processed in order so labels are assigned
//! deterministically), image jobs streamed to the download workers through a bounded
//! channel (so memory stays flat however large the crawl), CSVs flushed periodically.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use sneaker_catalog::Product;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::ScrapeConfig;
use crate::error::{Result, ScrapeError};
use crate::extract::{PageProduct, parse_page};
use crate::fetch::{Fetched, Fetcher, Kind};
use crate::images::{Job, failure, worker};
use crate::journal::{Entry, ImageJob};
use crate::progress::{Planned, Progress, Summary};
use crate::sanitize::label_from;
use crate::store::Store;

/// What earlier runs recorded, so a resumed crawl neither refetches nor relabels.
#[derive(Default)]
struct Replay {
    listings: HashMap<String, (Vec<String>, Vec<String>)>,
    page_keys: HashMap<String, String>,
    products: HashMap<String, (String, Vec<ImageJob>)>,
    done_pages: HashSet<String>,
}

impl Replay {
    fn from(entries: &[Entry]) -> Replay {
        let mut r = Replay::default();
        for e in entries {
            match e {
                Entry::Listing { url, links, next } => {
                    r.listings.insert(url.clone(), (links.clone(), next.clone()));
                }
                Entry::Product { page, key, product, images } => {
                    r.page_keys.insert(page.clone(), key.clone());
                    r.products.insert(key.clone(), (product.label.clone(), images.clone()));
                }
                Entry::SamePage { page, key } => {
                    r.page_keys.insert(page.clone(), key.clone());
                }
                Entry::Failure(f) if f.stage == "page" && !f.transient => {
                    r.done_pages.insert(f.url.clone());
                }
                _ => {}
            }
        }
        r
    }
}

struct Crawl {
    cfg: ScrapeConfig,
    fetcher: Arc<Fetcher>,
    store: Option<Arc<Store>>,
    progress: Arc<Progress>,
    replay: Replay,
    tx: Option<mpsc::Sender<Job>>,
    registered: HashSet<String>,
    queued_images: HashSet<crate::store::UrlKey>,
    planned: Vec<Planned>,
}

/// Runs a crawl with `cfg`, updating `progress` as it goes.
pub async fn run(cfg: ScrapeConfig, progress: Arc<Progress>) -> Result<Summary> {
    cfg.validate()?;
    let started = Instant::now();
    let fetcher = Arc::new(Fetcher::new(&cfg, allowed_hosts(&cfg))?);
    let (store, entries) = if cfg.dry_run {
        (None, Vec::new())
    } else {
        let (store, entries) = Store::open(&cfg.out, cfg.min_image_side, cfg.max_image_bytes)?;
        (Some(Arc::new(store)), entries)
    };
    let mut workers = Vec::new();
    let mut tx = None;
    if let Some(store) = &store {
        let (sender, rx) = mpsc::channel::<Job>(cfg.concurrency * 2);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..cfg.concurrency {
            workers.push(tokio::spawn(worker(rx.clone(), fetcher.clone(), store.clone(), progress.clone())));
        }
        tx = Some(sender);
    }
    let flusher = store.clone().map(|s| spawn_flusher(s, Duration::from_millis(cfg.flush_interval_ms)));
    let mut crawl = Crawl {
        replay: Replay::from(&entries),
        cfg,
        fetcher,
        store: store.clone(),
        progress: progress.clone(),
        tx,
        registered: HashSet::new(),
        queued_images: HashSet::new(),
        planned: Vec::new(),
    };
    drop(entries);
    let result = crawl.products_from_csv().await;
    let result = match result {
        Ok(()) => crawl.pages().await,
        Err(e) => Err(e),
    };
    crawl.tx = None;
    for w in workers {
        let _ = w.await;
    }
    if let Some(f) = flusher {
        f.abort();
    }
    let (catalog_images, catalog_products, failures) = match &store {
        Some(s) => {
            let s2 = s.clone();
            tokio::task::spawn_blocking(move || s2.flush())
                .await
                .map_err(|e| ScrapeError::Config(format!("flush task: {e}")))??;
            s.totals()
        }
        None => (0, 0, 0),
    };
    result?;
    Ok(Summary {
        run: progress.snapshot(),
        catalog_images,
        catalog_products,
        failures,
        elapsed: started.elapsed(),
        dry_run: crawl.cfg.dry_run,
        planned: std::mem::take(&mut crawl.planned),
    })
}

fn spawn_flusher(store: Arc<Store>, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let s = store.clone();
            match tokio::task::spawn_blocking(move || s.flush()).await {
                Ok(Err(e)) => tracing::error!(error = %e, "cannot write the catalog CSVs"),
                Err(e) => tracing::error!(error = %e, "flush task failed"),
                Ok(Ok(())) => {}
            }
        }
    })
}

/// Hosts given, else those of the start URLs and of the image template.
fn allowed_hosts(cfg: &ScrapeConfig) -> Vec<String> {
    if !cfg.allowed_hosts.is_empty() {
        return cfg.allowed_hosts.clone();
    }
    let template = cfg.image_template.as_deref().map(|t| crate::input::expand(t, "x", "x", 1, 1));
    cfg.start_urls
        .iter()
        .chain(template.iter())
        .filter_map(|u| Url::parse(u).ok()?.host_str().map(str::to_owned))
        .collect()
}

impl Crawl {
    async fn products_from_csv(&mut self) -> Result<()> {
        let (Some(path), Some(template)) = (&self.cfg.products_csv, &self.cfg.image_template) else { return Ok(()) };
        let rows = crate::input::read_products(path, template, self.cfg.views, self.cfg.max_images_per_product)?;
        for row in rows {
            let page = row.product.source_url.clone().unwrap_or_default();
            self.register(&page, &row.key, &row.wanted_label, row.product, row.images).await?;
        }
        Ok(())
    }

    /// Records a product (or finds it in the journal) and queues its images.
    async fn register(&mut self, page: &str, key: &str, wanted: &str, mut product: Product, images: Vec<ImageJob>) -> Result<()> {
        if !self.registered.insert(key.to_owned()) {
            tracing::debug!(%page, %key, "product already recorded under another page");
            return Ok(());
        }
        Progress::add(&self.progress.products, 1);
        let (label, images) = match (self.replay.products.get(key), &self.store) {
            (Some((label, images)), _) => (label.clone(), images.clone()),
            (None, Some(store)) => {
                product.label = store.assign_label(key, wanted);
                let label = product.label.clone();
                let s = store.clone();
                let (p, k, i) = (page.to_owned(), key.to_owned(), images.clone());
                tokio::task::spawn_blocking(move || s.add_product(&p, &k, product, i))
                    .await
                    .map_err(|e| ScrapeError::Config(format!("journal task: {e}")))??;
                (label, images)
            }
            (None, None) => {
                let label = wanted.to_owned();
                self.planned.push(Planned { label: label.clone(), name: product.name, url: product.url, images: images.len() });
                (label, images)
            }
        };
        for job in images {
            if !self.queued_images.insert(crate::store::url_key(&job.url)) {
                continue;
            }
            Progress::add(&self.progress.images_planned, 1);
            if let Some(tx) = &self.tx {
                if tx.send((label.clone(), job)).await.is_err() {
                    return Err(ScrapeError::Config("image workers stopped early".into()));
                }
            }
        }
        Ok(())
    }

    async fn pages(&mut self) -> Result<()> {
        let mut queue: VecDeque<(Url, u32)> = VecDeque::new();
        let mut seen = HashSet::new();
        for u in &self.cfg.start_urls {
            let url = Url::parse(u).map_err(|e| ScrapeError::Config(format!("{u}: {e}")))?;
            if seen.insert(url.to_string()) {
                queue.push_back((url, 0));
            }
        }
        let mut inflight: VecDeque<(Url, u32, Option<JoinHandle<Result<Fetched>>>)> = VecDeque::new();
        let mut budget = self.cfg.max_pages;
        loop {
            while inflight.len() < self.cfg.concurrency {
                let Some((url, depth)) = queue.pop_front() else { break };
                let key = url.to_string();
                if self.replay.done_pages.contains(&key) {
                    continue;
                }
                if budget == 0 {
                    tracing::info!(%url, "page budget used up; not fetched");
                    continue;
                }
                budget -= 1;
                let known = self.replay.listings.contains_key(&key) || self.replay.page_keys.contains_key(&key);
                let task = (!known).then(|| {
                    let f = self.fetcher.clone();
                    let u = url.clone();
                    tokio::spawn(async move { f.fetch(&u, Kind::Page).await })
                });
                inflight.push_back((url, depth, task));
            }
            let Some((url, depth, task)) = inflight.pop_front() else { break };
            let (links, next) = match task {
                None => self.replayed(&url).await?,
                Some(handle) => {
                    let fetched = handle.await.map_err(|e| ScrapeError::Config(format!("page task: {e}")))?;
                    self.fetched(&url, fetched).await?
                }
            };
            for (link, d) in next.into_iter().map(|u| (u, depth)).chain(links.into_iter().map(|u| (u, depth + 1))) {
                let Ok(link) = Url::parse(&link) else { continue };
                if d <= self.cfg.max_depth && self.fetcher.host_allowed(&link) && !looks_like_file(&link) && seen.insert(link.to_string()) {
                    queue.push_back((link, d));
                }
            }
        }
        Ok(())
    }

    /// A page an earlier run read: its links, or its product's images re-queued.
    async fn replayed(&mut self, url: &Url) -> Result<(Vec<String>, Vec<String>)> {
        let key = url.to_string();
        if let Some((links, next)) = self.replay.listings.get(&key) {
            return Ok((links.clone(), next.clone()));
        }
        if let Some(product_key) = self.replay.page_keys.get(&key).cloned() {
            // Only products the journal recorded; a repeat page's product is registered already.
            if self.replay.products.contains_key(&product_key) {
                self.register(&key, &product_key, "", Product::default(), Vec::new()).await?;
            }
        }
        Ok((Vec::new(), Vec::new()))
    }

    async fn fetched(&mut self, url: &Url, fetched: Result<Fetched>) -> Result<(Vec<String>, Vec<String>)> {
        Progress::add(&self.progress.pages, 1);
        let page = match fetched {
            Ok(page) => page,
            Err(e) => {
                tracing::info!(%url, error = %e, "page not read");
                Progress::add(&self.progress.failed, 1);
                self.journal(Entry::Failure(failure("page", url.as_str(), None, None, &e))).await?;
                return Ok((Vec::new(), Vec::new()));
            }
        };
        Progress::add(&self.progress.requests, u64::from(page.requests));
        let info = parse_page(&String::from_utf8_lossy(&page.bytes), &page.url);
        if let Some(found) = info.product {
            self.product_page(url, found).await?;
            return Ok((Vec::new(), Vec::new()));
        }
        let links: Vec<String> = info.links.iter().map(Url::to_string).collect();
        let next: Vec<String> = info.next.iter().map(Url::to_string).collect();
        self.journal(Entry::Listing { url: url.to_string(), links: links.clone(), next: next.clone() }).await?;
        Ok((links, next))
    }

    async fn product_page(&mut self, page: &Url, found: PageProduct) -> Result<()> {
        let key = found.url.clone();
        if self.registered.contains(&key) {
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
        self.register(page.as_str(), &key, &wanted, product, images).await
    }

    async fn journal(&self, entry: Entry) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        tokio::task::spawn_blocking(move || store.record(entry))
            .await
            .map_err(|e| ScrapeError::Config(format!("journal task: {e}")))?
    }
}

/// Views of a product's images: a StockX-style spin (`.../img01.jpg` ... `imgNN.jpg`, all
/// present) gets view = NN and angle = (NN-1)·360/N; anything else is numbered in page order.
fn spin_views(images: &[Url], max: usize) -> Vec<ImageJob> {
    let numbers: Vec<Option<u32>> = images.iter().map(|u| spin_number(u)).collect();
    let n = images.len() as u32;
    let mut sorted: Vec<u32> = numbers.iter().flatten().copied().collect();
    sorted.sort_unstable();
    let is_spin = n > 1 && sorted.len() == images.len() && sorted.iter().copied().eq(1..=n);
    images
        .iter()
        .zip(numbers)
        .enumerate()
        .take(max)
        .map(|(i, (url, number))| match (is_spin, number) {
            (true, Some(v)) => ImageJob { url: url.to_string(), view: Some(v), angle: Some((v - 1) as f32 * 360.0 / n as f32) },
            _ => ImageJob { url: url.to_string(), view: Some(i as u32 + 1), angle: None },
        })
        .collect()
}

fn spin_number(url: &Url) -> Option<u32> {
    let name = url.path_segments()?.next_back()?;
    let stem = name.split('.').next()?;
    stem.strip_prefix("img")?.parse().ok()
}

/// Links to images, archives and documents are not pages worth fetching as HTML.
fn looks_like_file(url: &Url) -> bool {
    let path = url.path().to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".svg", ".pdf", ".zip", ".css", ".js", ".mp4"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(paths: &[&str]) -> Vec<Url> {
        paths.iter().map(|p| Url::parse(&format!("https://img.test/{p}")).expect("url")).collect()
    }

    #[test]
    fn recognises_a_full_spin() {
        let paths: Vec<String> = (1..=36).rev().map(|i| format!("S/Lv2/img{i:02}.jpg")).collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let jobs = spin_views(&urls(&refs), 36);
        // img10 is the 27th listed (reversed); its angle is (10 - 1) * 360 / 36 = 90°.
        assert_eq!(jobs[26].view, Some(10));
        assert_eq!(jobs[26].angle, Some(90.0));
    }

    #[test]
    fn galleries_are_numbered_in_page_order() {
        let jobs = spin_views(&urls(&["a.jpg", "img02.jpg", "c.png"]), 2);
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].view, jobs[0].angle), (Some(1), None));
        assert_eq!((jobs[1].view, jobs[1].angle), (Some(2), None));
    }
}
