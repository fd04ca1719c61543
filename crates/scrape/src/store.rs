//! Where fetched images become catalog files: content-hash dedup, validation with the
//! shared decoder (same limits as predict), atomic write (temp file, fsync, rename, fsync
//! folder), and only then the journal line and the CSV row.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use sneaker_catalog::{DUPLICATES_CSV, FAILURES_JSONL, Failure, IMAGES_DIR, ImageRecord, Product};
use sneaker_vision::DecodeLimits;

use crate::error::{Result, ScrapeError};
use crate::journal::{Entry, ImageJob, Journal};
use crate::sanitize::LabelBook;

/// What became of one image.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    Saved(ImageRecord),
    Duplicate { same_as: String },
}

/// A 128-bit digest of a URL: collisions are out of reach for any crawl size.
pub(crate) type UrlKey = [u8; 16];

pub(crate) fn url_key(url: &str) -> UrlKey {
    let digest = Sha256::digest(url.as_bytes());
    digest[..16].try_into().expect("a SHA-256 digest has 32 bytes")
}

enum Slot {
    Kept(usize),
    /// Being validated and written as this file stem by another task.
    Pending(String),
}

#[derive(Default)]
struct State {
    products: BTreeMap<String, Product>,
    labels: LabelBook,
    images: Vec<ImageRecord>,
    /// Image URLs with a final outcome (kept, duplicate, permanent failure), as digests so
    /// the set costs 16 bytes per URL however long the URLs are.
    done: HashSet<UrlKey>,
    /// Content hash -> the kept image (index into `images`) or a save in progress.
    by_hash: HashMap<[u8; 32], Slot>,
    duplicates: Vec<[String; 5]>,
    failures: BTreeMap<String, Failure>,
    dirty: bool,
}

/// The catalog being built in OUT, shared by all download tasks.
pub struct Store {
    out: PathBuf,
    journal: Journal,
    state: Mutex<State>,
    /// Serialises flushes so an older snapshot can never be renamed over a newer one.
    flush_lock: Mutex<()>,
    limits: DecodeLimits,
    min_side: u32,
}

impl Store {
    /// Opens OUT, replays earlier runs' journal into memory, removes temp files a killed
    /// run left behind. Returns the store and the replayed entries for the crawler.
    pub fn open(out: &Path, min_side: u32, max_bytes: u64) -> Result<(Store, Vec<Entry>)> {
        let images_dir = out.join(IMAGES_DIR);
        std::fs::create_dir_all(&images_dir).map_err(|e| ScrapeError::io(&images_dir, e))?;
        let (journal, entries) = Journal::open(out)?;
        remove_temp_files(out);
        let mut state = State::default();
        for entry in &entries {
            state.apply(entry);
        }
        state.dirty = true;
        let limits = DecodeLimits { max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX), ..Default::default() };
        let store = Store {
            out: out.to_path_buf(),
            journal,
            state: Mutex::new(state),
            flush_lock: Mutex::new(()),
            limits,
            min_side,
        };
        Ok((store, entries))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("store lock is never held across a panic")
    }

    /// Whether the image at `url` already has a final outcome.
    pub fn is_done(&self, url: &str) -> bool {
        self.state().done.contains(&url_key(url))
    }

    /// The label product `key` gets for the sanitised name `wanted`.
    pub fn assign_label(&self, key: &str, wanted: &str) -> String {
        self.state().labels.assign(key, wanted)
    }

    /// Records a product and the images it wants.
    pub fn add_product(&self, page: &str, key: &str, product: Product, images: Vec<ImageJob>) -> Result<()> {
        let entry = Entry::Product { page: page.to_owned(), key: key.to_owned(), product, images };
        self.record(entry)
    }

    /// Journals `entry` and applies it to the in-memory catalog.
    pub fn record(&self, entry: Entry) -> Result<()> {
        self.journal.append(&entry)?;
        self.state().apply(&entry);
        Ok(())
    }

    /// If a killed run renamed this image into place but died before journaling it, adopt
    /// the file instead of downloading it again.
    pub fn adopt(&self, label: &str, job: &ImageJob) -> Result<Option<Kept>> {
        let dir = self.out.join(IMAGES_DIR).join(label);
        let stem = stem(job);
        let Some(path) =
            sneaker_catalog::IMAGE_EXTENSIONS.iter().map(|ext| dir.join(format!("{stem}.{ext}"))).find(|p| p.is_file())
        else {
            return Ok(None);
        };
        let bytes = std::fs::read(&path).map_err(|e| ScrapeError::io(&path, e))?;
        tracing::info!(file = %path.display(), "adopting an image saved by a killed run");
        let kept = self.keep(label, job, &bytes);
        if matches!(kept, Ok(Kept::Duplicate { .. }) | Err(ScrapeError::Invalid { .. })) {
            // Not part of the catalog: do not leave it where folder readers would see it.
            std::fs::remove_file(&path).map_err(|e| ScrapeError::io(&path, e))?;
        }
        kept.map(Some)
    }

    /// Validates `bytes` and saves them as the `job` view of `label`, unless the same
    /// bytes are already kept. Blocking: call from `spawn_blocking`.
    pub fn keep(&self, label: &str, job: &ImageJob, bytes: &[u8]) -> Result<Kept> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let sha256 = hex::encode(digest);
        let file = format!("{IMAGES_DIR}/{label}/{}", stem(job));
        {
            let mut state = self.state();
            let existing = state.by_hash.get(&digest).map(|slot| match slot {
                Slot::Kept(i) => state.images[*i].file.clone(),
                Slot::Pending(f) => f.clone(),
            });
            if let Some(same_as) = existing {
                // The same view adopted again is not a duplicate of itself.
                if same_as.rsplit_once('.').map_or(same_as.as_str(), |(stem, _)| stem) != file {
                    drop(state);
                    let entry = Entry::Duplicate {
                        url: job.url.clone(),
                        label: label.to_owned(),
                        view: job.view,
                        sha256,
                        same_as: same_as.clone(),
                    };
                    self.record(entry)?;
                    return Ok(Kept::Duplicate { same_as });
                }
            }
            // Reserve the hash so a concurrent download of the same bytes counts as a duplicate.
            state.by_hash.insert(digest, Slot::Pending(file.clone()));
        }
        let result = self.validate_and_write(label, job, bytes, &file, &sha256);
        if result.is_err() {
            self.state().by_hash.remove(&digest);
        }
        let record = result?;
        self.record(Entry::Image { record: record.clone() })?;
        Ok(Kept::Saved(record))
    }

    fn validate_and_write(
        &self,
        label: &str,
        job: &ImageJob,
        bytes: &[u8],
        file: &str,
        sha256: &str,
    ) -> Result<ImageRecord> {
        let invalid = |kind: &'static str, detail: String| ScrapeError::Invalid { url: job.url.clone(), kind, detail };
        let img =
            sneaker_vision::decode_bytes(bytes, file, &self.limits).map_err(|e| invalid(e.kind(), e.to_string()))?;
        let (width, height) = img.dimensions();
        if width.min(height) < self.min_side {
            return Err(invalid("too_small", format!("{width}x{height} px, shorter side below {} px", self.min_side)));
        }
        // Named by what the bytes are (an iPhone photo is `.heic` whatever its URL says).
        let ext = sneaker_vision::image_extension(bytes)
            .ok_or_else(|| invalid("unsupported_format", "unknown image format".into()))?;
        let file = format!("{file}.{ext}");
        let dir = self.out.join(IMAGES_DIR).join(label);
        std::fs::create_dir_all(&dir).map_err(|e| ScrapeError::io(&dir, e))?;
        let path = self.out.join(&file);
        sneaker_files::write_atomic(&path, bytes).map_err(|e| ScrapeError::io(&path, e))?;
        Ok(ImageRecord {
            file,
            label: label.to_owned(),
            view: job.view,
            angle: job.angle,
            source_url: Some(job.url.clone()),
            sha256: Some(sha256.to_owned()),
            width: Some(width),
            height: Some(height),
            bytes: Some(bytes.len() as u64),
            fetched_at: Some(crate::now()),
            // A product's spin or gallery: every view shows the same physical shoe.
            group: label.to_owned(),
            view_name: None,
        })
    }

    /// Rewrites products.csv, images.csv, duplicates.csv and failures.jsonl if anything
    /// changed. Only products with at least one kept image are listed.
    pub fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.flush_lock.lock().expect("flush lock is never held across a panic");
        // Written while holding the state: copying every row out first would double the
        // memory of a large crawl at each flush; downloads wait a few ms instead.
        let mut s = self.state();
        if !s.dirty {
            return Ok(());
        }
        s.dirty = false;
        let with_images: HashSet<&str> = s.images.iter().map(|i| i.label.as_str()).collect();
        let products: Vec<Product> =
            s.products.values().filter(|p| with_images.contains(p.label.as_str())).cloned().collect();
        let mut images: Vec<&ImageRecord> = s.images.iter().collect();
        images.sort_by(|a, b| a.file.cmp(&b.file));
        let (dups, failures) = (&s.duplicates, s.failures.values().collect::<Vec<_>>());
        sneaker_catalog::write_products(&self.out, &products)?;
        sneaker_catalog::write_images(&self.out, images.iter().copied())?;
        write_folder_annotations(&self.out, &images, &products)?;
        crate::write_atomic_with(&self.out.join(DUPLICATES_CSV), |w| {
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(["url", "label", "view", "sha256", "same_as"])?;
            for row in dups {
                csv.write_record(row)?;
            }
            csv.flush()
        })?;
        crate::write_atomic_with(&self.out.join(FAILURES_JSONL), |w| {
            for f in &failures {
                serde_json::to_writer(&mut *w, f)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

impl Store {
    /// Kept images, products with at least one kept image, and open failures.
    pub fn totals(&self) -> (usize, usize, usize) {
        let s = self.state();
        let labels: HashSet<&str> = s.images.iter().map(|i| i.label.as_str()).collect();
        (s.images.len(), labels.len(), s.failures.len())
    }

    /// Open failures by reason, for the end-of-crawl summary.
    pub fn failure_kinds(&self) -> BTreeMap<String, usize> {
        let mut kinds = BTreeMap::new();
        for f in self.state().failures.values() {
            *kinds.entry(f.kind.clone()).or_default() += 1;
        }
        kinds
    }
}

impl State {
    fn apply(&mut self, entry: &Entry) {
        self.dirty = true;
        match entry {
            Entry::Listing { .. } | Entry::SamePage { .. } | Entry::Sitemap { .. } | Entry::Seen { .. } => {}
            Entry::Product { key, product, .. } => {
                self.labels.insert(&product.label, key);
                self.products.insert(product.label.clone(), product.clone());
            }
            Entry::Image { record } => {
                if let Some(url) = &record.source_url {
                    self.done.insert(url_key(url));
                    self.failures.remove(url);
                }
                let mut digest = [0u8; 32];
                if let Some(sha) = &record.sha256
                    && hex::decode_to_slice(sha, &mut digest).is_ok()
                {
                    self.by_hash.insert(digest, Slot::Kept(self.images.len()));
                }
                self.images.push(record.clone());
            }
            Entry::Duplicate { url, label, view, sha256, same_as } => {
                self.done.insert(url_key(url));
                self.failures.remove(url);
                let view = view.map(|v| v.to_string()).unwrap_or_default();
                self.duplicates.push([url.clone(), label.clone(), view, sha256.clone(), same_as.clone()]);
            }
            Entry::Failure(f) => {
                if !f.transient {
                    self.done.insert(url_key(&f.url));
                }
                self.failures.insert(f.url.clone(), f.clone());
            }
        }
    }
}

/// `images/annotations.csv`, so that `OUT/images` alone is also a plain label-folder catalog
/// (`<label>/<file>` + annotations) for tools that read only that layout.
fn write_folder_annotations(out: &Path, images: &[&ImageRecord], products: &[Product]) -> Result<()> {
    let by_label: HashMap<&str, &Product> = products.iter().map(|p| (p.label.as_str(), p)).collect();
    let path = out.join(IMAGES_DIR).join(sneaker_catalog::ANNOTATIONS_CSV);
    crate::write_atomic_with(&path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record([
            "file",
            "label",
            "brand",
            "model",
            "colorway",
            "view",
            "angle",
            "width",
            "height",
            "sha256",
            "source_url",
            "group",
        ])?;
        let text = |v: Option<&String>| v.cloned().unwrap_or_default();
        let num = |v: Option<String>| v.unwrap_or_default();
        for img in images {
            let product = by_label.get(img.label.as_str());
            let file = img.file.strip_prefix(&format!("{IMAGES_DIR}/")).unwrap_or(&img.file);
            csv.write_record([
                file.to_owned(),
                img.label.clone(),
                text(product.and_then(|p| p.brand.as_ref())),
                text(product.and_then(|p| p.name.as_ref())),
                text(product.and_then(|p| p.colorway.as_ref())),
                num(img.view.map(|v| v.to_string())),
                num(img.angle.map(|v| v.to_string())),
                num(img.width.map(|v| v.to_string())),
                num(img.height.map(|v| v.to_string())),
                text(img.sha256.as_ref()),
                text(img.source_url.as_ref()),
                img.group.clone(),
            ])?;
        }
        csv.flush()
    })?;
    Ok(())
}

/// File stem of a view: `01` for view 1 (the reference's `img01`), or `00` when unknown.
fn stem(job: &ImageJob) -> String {
    format!("{:02}", job.view.unwrap_or(0))
}

/// Removes `.tmp-*` files a killed run left in OUT, OUT/images or a label folder.
fn remove_temp_files(out: &Path) {
    for entry in walkdir::WalkDir::new(out).max_depth(3).into_iter().flatten() {
        if entry.file_type().is_file() && entry.file_name().to_string_lossy().starts_with(".tmp-") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(file = %entry.path().display(), "removed a killed run's temp file"),
                Err(e) => tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove temp file"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(shade: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([shade, x as u8, y as u8]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Jpeg).expect("encode");
        out.into_inner()
    }

    fn job(url: &str, view: u32) -> ImageJob {
        ImageJob { url: url.into(), view: Some(view), angle: None }
    }

    #[test]
    fn keeps_dedups_rejects_and_adopts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = Store::open(dir.path(), 32, 1 << 20).expect("open");
        let a = jpeg(10);
        let Kept::Saved(rec) = store.keep("shoe", &job("http://x/1.jpg", 1), &a).expect("keep") else {
            panic!("not saved")
        };
        assert_eq!(rec.file, "images/shoe/01.jpg");
        assert_eq!((rec.width, rec.height), (Some(48), Some(40)));
        assert_eq!(std::fs::read(dir.path().join(&rec.file)).expect("on disk"), a);
        let dup = store.keep("other", &job("http://y/copy.jpg", 3), &a).expect("dup");
        assert_eq!(dup, Kept::Duplicate { same_as: "images/shoe/01.jpg".into() });
        assert!(!dir.path().join("images/other/03.jpg").exists());
        let bad = store.keep("shoe", &job("http://x/2.jpg", 2), b"<html>").expect_err("not an image");
        assert_eq!(bad.kind(), "unsupported_format");
        assert!(!dir.path().join("images/shoe/02.jpg").exists());

        // A killed run renamed view 2 into place but never journaled it: adopted, not refetched.
        let b = jpeg(200);
        std::fs::write(dir.path().join("images/shoe/02.jpg"), &b).expect("orphan");
        std::fs::write(dir.path().join("images/shoe/.tmp-half"), &b[..10]).expect("temp");
        drop(store);
        let (store, entries) = Store::open(dir.path(), 32, 1 << 20).expect("reopen");
        assert!(!dir.path().join("images/shoe/.tmp-half").exists(), "temp files are removed on open");
        // The rejection is journaled by the download worker, not by `keep`.
        assert_eq!(entries.len(), 2, "image, duplicate");
        assert!(store.is_done("http://x/1.jpg") && store.is_done("http://y/copy.jpg"));
        let adopted = store.adopt("shoe", &job("http://x/2b.jpg", 2)).expect("adopt").expect("file found");
        assert!(matches!(adopted, Kept::Saved(ref r) if r.sha256 == Some(hex::encode(Sha256::digest(&b)))));
        assert_eq!(store.totals(), (2, 1, 0));
    }

    #[test]
    fn truncated_and_corrupt_images_are_rejected_with_the_reason() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = Store::open(dir.path(), 32, 1 << 20).expect("open");
        // A 320×240 JPEG cut to its first third: the decoder alone would pad it with grey.
        let img = image::RgbImage::from_fn(320, 240, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 7]));
        let mut full = std::io::Cursor::new(Vec::new());
        img.write_to(&mut full, image::ImageFormat::Jpeg).expect("encode");
        let full = full.into_inner();
        let err = store.keep("shoe", &job("http://x/cut.jpg", 1), &full[..full.len() / 3]).expect_err("cut off");
        assert_eq!(err.kind(), "corrupt", "{err}");
        let failure = crate::images::failure("image", "http://x/cut.jpg", Some("shoe"), Some(1), &err);
        assert_eq!(failure.kind, "corrupt");
        assert!(failure.detail.contains("end-of-image marker"), "{}", failure.detail);
        assert!(!dir.path().join("images/shoe/01.jpg").exists(), "nothing kept");

        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).expect("encode");
        let mut png = png.into_inner();
        let idat = png.windows(4).position(|w| w == b"IDAT").expect("IDAT");
        png[idat + 40] ^= 0xFF;
        let err = store.keep("shoe", &job("http://x/bad.png", 2), &png).expect_err("corrupt");
        assert_eq!(err.kind(), "corrupt", "{err}");
        assert_eq!(store.totals(), (0, 0, 0));
    }
}
