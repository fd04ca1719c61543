//! The image download workers: take (label, view) jobs from a bounded channel, skip what an
//! earlier run finished, fetch politely, keep or reject through the [`Store`].

use std::sync::Arc;

use reqwest::Url;
use sneaker_catalog::Failure;
use tokio::sync::{Mutex, mpsc};

use crate::error::ScrapeError;
use crate::fetch::{Fetcher, Kind};
use crate::journal::{Entry, ImageJob};
use crate::progress::Progress;
use crate::store::{Kept, Store};

/// One image to fetch for a label.
pub type Job = (String, ImageJob);

/// Runs until the channel closes. Several run side by side on one shared receiver.
pub async fn worker(
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    fetcher: Arc<Fetcher>,
    store: Arc<Store>,
    progress: Arc<Progress>,
) {
    loop {
        let job = rx.lock().await.recv().await;
        let Some((label, job)) = job else { break };
        if store.is_done(&job.url) {
            Progress::add(&progress.skipped_images, 1);
            continue;
        }
        let outcome = fetch_and_keep(&label, &job, &fetcher, &store, &progress).await;
        let error = match outcome {
            Ok(Kept::Saved(_)) => {
                Progress::add(&progress.images_saved, 1);
                continue;
            }
            Ok(Kept::Duplicate { .. }) => {
                Progress::add(&progress.duplicates, 1);
                continue;
            }
            Err(e) => e,
        };
        let counter = if matches!(error, ScrapeError::Invalid { .. }) { &progress.rejected } else { &progress.failed };
        Progress::add(counter, 1);
        tracing::info!(%label, url = %job.url, %error, "image not kept");
        let failure = failure("image", &job.url, Some(&label), job.view, &error);
        if let Err(e) = store.record(Entry::Failure(failure)) {
            tracing::error!(error = %e, "cannot journal a failure");
        }
    }
}

/// Work on the store, run off the async runtime (it hashes, decodes and writes files).
type StoreTask = Box<dyn FnOnce(&Store) -> Result<Option<Kept>, ScrapeError> + Send>;

async fn fetch_and_keep(
    label: &str,
    job: &ImageJob,
    fetcher: &Fetcher,
    store: &Arc<Store>,
    progress: &Progress,
) -> Result<Kept, ScrapeError> {
    let blocking = |f: StoreTask| {
        let store = store.clone();
        async move {
            tokio::task::spawn_blocking(move || f(&store))
                .await
                .unwrap_or_else(|e| Err(ScrapeError::Config(format!("image task panicked: {e}"))))
        }
    };
    let (l, j) = (label.to_owned(), job.clone());
    if let Some(kept) = blocking(Box::new(move |s| s.adopt(&l, &j))).await? {
        return Ok(kept);
    }
    let url = Url::parse(&job.url).map_err(|e| ScrapeError::Invalid {
        url: job.url.clone(),
        kind: "bad_url",
        detail: e.to_string(),
    })?;
    let fetched = fetcher.fetch(&url, Kind::Image).await;
    if let Ok(f) = &fetched {
        Progress::add(&progress.requests, u64::from(f.requests));
        Progress::add(&progress.bytes, f.bytes.len() as u64);
    }
    let bytes = fetched?.bytes;
    let (l, j) = (label.to_owned(), job.clone());
    let kept = blocking(Box::new(move |s| s.keep(&l, &j, &bytes).map(Some))).await?;
    Ok(kept.expect("keep always returns an outcome"))
}

/// A failure-log line for `error` at `url`.
pub fn failure(stage: &str, url: &str, label: Option<&str>, view: Option<u32>, error: &ScrapeError) -> Failure {
    let attempts = match error {
        ScrapeError::Status { attempts, .. } | ScrapeError::Network { attempts, .. } => *attempts,
        _ => 1,
    };
    Failure {
        url: url.to_owned(),
        stage: stage.to_owned(),
        label: label.map(str::to_owned),
        view,
        kind: error.kind().to_owned(),
        detail: error.to_string(),
        attempts,
        transient: error.is_transient(),
        at: crate::now(),
    }
}
