//! One crawl from start to summary: products from the CSV input, then pages and sitemaps in
//! breadth-first order (see `pages`), image jobs streamed to the download workers through a
//! bounded channel (so memory stays flat however large the crawl), CSVs flushed periodically.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use sneaker_catalog::Product;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::ScrapeConfig;
use crate::error::{Result, ScrapeError};
use crate::fetch::Fetcher;
use crate::images::{Job, worker};
use crate::journal::{Entry, ImageJob};
use crate::progress::{Planned, Progress, Summary};
use crate::replay::Replay;
use crate::store::Store;

pub(crate) struct Crawl {
    pub(crate) cfg: ScrapeConfig,
    pub(crate) fetcher: Arc<Fetcher>,
    pub(crate) store: Option<Arc<Store>>,
    pub(crate) progress: Arc<Progress>,
    pub(crate) replay: Replay,
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
    let (catalog_images, catalog_products, failures, failure_kinds) = match &store {
        Some(s) => {
            let s2 = s.clone();
            tokio::task::spawn_blocking(move || s2.flush())
                .await
                .map_err(|e| ScrapeError::Config(format!("flush task: {e}")))??;
            let (images, products, failures) = s.totals();
            (images, products, failures, s.failure_kinds())
        }
        None => (0, 0, 0, Default::default()),
    };
    result?;
    Ok(Summary {
        run: progress.snapshot(),
        catalog_images,
        catalog_products,
        failures,
        failure_kinds,
        refresh: crawl.cfg.refresh,
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
            self.register(&page, &row.key, &row.wanted_label, row.product, row.images, false).await?;
        }
        Ok(())
    }

    /// Records a product (or finds it in the journal) and queues its images. `fresh`: the
    /// product was read from a page fetched in this run, so under `--refresh` a changed
    /// product is recorded again (same label, new images appended as new views).
    pub(crate) async fn register(
        &mut self,
        page: &str,
        key: &str,
        wanted: &str,
        mut product: Product,
        images: Vec<ImageJob>,
        fresh: bool,
    ) -> Result<()> {
        if !self.registered.insert(key.to_owned()) {
            tracing::debug!(%page, %key, "product already recorded under another page");
            return Ok(());
        }
        Progress::add(&self.progress.products, 1);
        let (label, images) = match (self.replay.products.get(key), &self.store) {
            (Some((old, old_images)), Some(store)) if fresh && self.cfg.refresh => {
                let (merged, added) = extend_views(old_images, &images);
                product.label.clone_from(&old.label);
                let label = old.label.clone();
                if added > 0 || !same_details(old, &product) {
                    tracing::info!(%page, %label, added, "product changed since the last crawl");
                    Progress::add(&self.progress.updated, 1);
                    let s = store.clone();
                    let (p, k, i) = (page.to_owned(), key.to_owned(), merged.clone());
                    tokio::task::spawn_blocking(move || s.add_product(&p, &k, product, i))
                        .await
                        .map_err(|e| ScrapeError::Config(format!("journal task: {e}")))??;
                }
                (label, merged)
            }
            (Some((old, images)), _) => (old.label.clone(), images.clone()),
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
                self.planned.push(Planned {
                    label: label.clone(),
                    name: product.name,
                    url: product.url,
                    images: images.len(),
                });
                (label, images)
            }
        };
        for job in images {
            if !self.queued_images.insert(crate::store::url_key(&job.url)) {
                continue;
            }
            Progress::add(&self.progress.images_planned, 1);
            if let Some(tx) = &self.tx
                && tx.send((label.clone(), job)).await.is_err()
            {
                return Err(ScrapeError::Config("image workers stopped early".into()));
            }
        }
        Ok(())
    }

    pub(crate) fn registered_key(&self, key: &str) -> bool {
        self.registered.contains(key)
    }

    pub(crate) async fn journal(&self, entry: Entry) -> Result<()> {
        let Some(store) = self.store.clone() else { return Ok(()) };
        tokio::task::spawn_blocking(move || store.record(entry))
            .await
            .map_err(|e| ScrapeError::Config(format!("journal task: {e}")))?
    }
}

/// A product's details apart from when and where they were read.
fn same_details(old: &Product, new: &Product) -> bool {
    let plain = |p: &Product| Product { fetched_at: None, source_url: None, label: String::new(), ..p.clone() };
    plain(old) == plain(new)
}

/// `old` views kept as they are (their files are named by view), images not among them
/// appended as views after the last one.
fn extend_views(old: &[ImageJob], new: &[ImageJob]) -> (Vec<ImageJob>, usize) {
    let known: HashSet<&str> = old.iter().map(|j| j.url.as_str()).collect();
    let mut next = old.iter().filter_map(|j| j.view).max().unwrap_or(0);
    let mut merged = old.to_vec();
    for job in new.iter().filter(|j| !known.contains(j.url.as_str())) {
        next += 1;
        merged.push(ImageJob { url: job.url.clone(), view: Some(next), angle: None });
    }
    let added = merged.len() - old.len();
    (merged, added)
}

/// Views of a product's images: a StockX-style spin (`.../img01.jpg` ... `imgNN.jpg`, all
/// present) gets view = NN and angle = (NN-1)·360/N; anything else is numbered in page order.
pub(crate) fn spin_views(images: &[Url], max: usize) -> Vec<ImageJob> {
    let numbers: Vec<Option<u32>> = images.iter().map(spin_number).collect();
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
            (true, Some(v)) => {
                ImageJob { url: url.to_string(), view: Some(v), angle: Some((v - 1) as f32 * 360.0 / n as f32) }
            }
            _ => ImageJob { url: url.to_string(), view: Some(i as u32 + 1), angle: None },
        })
        .collect()
}

fn spin_number(url: &Url) -> Option<u32> {
    let name = url.path_segments()?.next_back()?;
    let stem = name.split('.').next()?;
    stem.strip_prefix("img")?.parse().ok()
}

/// Links to images, archives and documents are not pages worth fetching as HTML. Image
/// extensions come from the decoder's one list, so an iPhone's `.heic` is never fetched as a page.
pub(crate) fn looks_like_file(url: &Url) -> bool {
    const OTHER_FILES: &[&str] = &["svg", "avif", "pdf", "zip", "css", "js", "mp4", "mov"];
    let path = url.path().to_ascii_lowercase();
    let Some((_, ext)) = path.rsplit_once('.') else { return false };
    !ext.contains('/') && (sneaker_vision::IMAGE_EXTENSIONS.contains(&ext) || OTHER_FILES.contains(&ext))
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

    #[test]
    fn image_and_document_links_are_not_pages() {
        for path in ["p/IMG_0042.HEIC", "a/b.jpeg", "x.webp", "cat.pdf", "v.mp4", "s.svg"] {
            assert!(looks_like_file(&urls(&[path])[0]), "{path} is a file");
        }
        for path in ["products/air-max-90", "p/nike.dunk/low", "shoes.html", ""] {
            assert!(!looks_like_file(&urls(&[path])[0]), "{path} is a page");
        }
    }
}
