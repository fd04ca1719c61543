//! The crawl's memory across runs: an append-only JSON-lines file in `OUT/.scrape/`, each
//! line fsynced before the work it records is considered done. A run killed at any instant
//! leaves at worst a torn last line, which the next run cuts off and redoes.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sneaker_catalog::{Failure, ImageRecord, Product};

use crate::error::{Result, ScrapeError};
use crate::sitemap::{SitemapPage, SitemapRef};

/// Folder of crawl state inside OUT; hidden so catalog readers skip it.
pub const STATE_DIR: &str = ".scrape";
const JOURNAL: &str = "journal.jsonl";
const LOCK: &str = "lock";

/// An image a product wants: where it is and which view it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageJob {
    pub url: String,
    pub view: Option<u32>,
    pub angle: Option<f32>,
}

/// One fact the crawl learned, in the order learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant, reason = "entries live for one journal line or one replay; boxing buys nothing")]
pub enum Entry {
    /// A listing page was read: its links and pagination, so a resumed run need not refetch.
    Listing {
        url: String,
        links: Vec<String>,
        next: Vec<String>,
        /// Those of `links` that looked like product pages.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        product_links: Vec<String>,
    },
    /// A product was recorded under `product.label`, with the images it wants.
    Product {
        page: String,
        key: String,
        product: Product,
        images: Vec<ImageJob>,
    },
    /// A sitemap was read: the sitemaps it names and the pages it lists.
    Sitemap {
        url: String,
        sitemaps: Vec<SitemapRef>,
        pages: Vec<SitemapPage>,
    },
    /// A page or sitemap was fetched at `at` (RFC 3339) with these validators, for
    /// `--refresh`'s conditional requests and `lastmod` comparisons.
    Seen {
        url: String,
        etag: Option<String>,
        last_modified: Option<String>,
        at: String,
    },
    /// A page that turned out to repeat a product already recorded under `key`.
    SamePage {
        page: String,
        key: String,
    },
    /// An image is on disk (renamed into place and fsynced) as `record.file`.
    Image {
        record: ImageRecord,
    },
    /// An image whose bytes equal a kept file; nothing was written.
    Duplicate {
        url: String,
        label: String,
        view: Option<u32>,
        sha256: String,
        same_as: String,
    },
    Failure(Failure),
}

/// The open journal of one OUT folder, locked against a second concurrent scrape.
pub struct Journal {
    file: Mutex<File>,
    path: PathBuf,
    _lock: File,
}

impl Journal {
    /// Opens (creating) the journal in `out`, returns it and the entries of earlier runs.
    pub fn open(out: &Path) -> Result<(Journal, Vec<Entry>)> {
        let dir = out.join(STATE_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| ScrapeError::io(&dir, e))?;
        let lock_path = dir.join(LOCK);
        let lock = File::create(&lock_path).map_err(|e| ScrapeError::io(&lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(ScrapeError::Locked { path: out.to_path_buf() });
        }
        let path = dir.join(JOURNAL);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| ScrapeError::io(&path, e))?;
        let (entries, good_len) = replay(&mut file).map_err(|e| ScrapeError::io(&path, e))?;
        let len = file.metadata().map_err(|e| ScrapeError::io(&path, e))?.len();
        if good_len < len {
            tracing::warn!(path = %path.display(), cut = len - good_len, "cutting a torn last journal line");
            file.set_len(good_len).and_then(|_| file.sync_all()).map_err(|e| ScrapeError::io(&path, e))?;
        }
        sneaker_files::sync_dir(&dir).map_err(|e| ScrapeError::io(&dir, e))?;
        Ok((Journal { file: Mutex::new(file), path, _lock: lock }, entries))
    }

    /// Appends `entry` and waits until it is on disk.
    pub fn append(&self, entry: &Entry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).expect("journal entries always serialise");
        line.push(b'\n');
        let file = self.file.lock().expect("journal lock is never held across a panic");
        // One write call per line, so concurrent appends never interleave inside a line.
        (&*file).write_all(&line).and_then(|_| file.sync_data()).map_err(|e| ScrapeError::io(&self.path, e))
    }
}

/// Reads every complete, parsable line; returns them and the byte length they span.
fn replay(file: &mut File) -> std::io::Result<(Vec<Entry>, u64)> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&*file);
    let mut entries = Vec::new();
    let (mut offset, mut good_len) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
        let complete = line.ends_with(b"\n");
        match serde_json::from_slice::<Entry>(&line) {
            Ok(entry) if complete => {
                entries.push(entry);
                good_len = offset;
            }
            _ if !complete => break,
            Err(e) => {
                // A complete but unreadable line (hand edit, older format): skip, keep going.
                tracing::warn!(offset, error = %e, "skipping unreadable journal line");
                good_len = offset;
            }
            Ok(_) => unreachable!("the first arm takes complete lines"),
        }
    }
    Ok((entries, good_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(n: u32) -> Entry {
        Entry::Listing { url: format!("https://x/{n}"), links: vec![], next: vec![], product_links: vec![] }
    }

    #[test]
    fn replays_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let (journal, old) = Journal::open(dir.path()).expect("open");
            assert!(old.is_empty());
            journal.append(&listing(1)).expect("append");
            journal.append(&listing(2)).expect("append");
        }
        let path = dir.path().join(STATE_DIR).join(JOURNAL);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open raw");
        f.write_all(br#"{"t":"listing","url":"https://x/3","li"#).expect("torn write");
        drop(f);
        let (journal, old) = Journal::open(dir.path()).expect("reopen");
        assert_eq!(old, vec![listing(1), listing(2)]);
        journal.append(&listing(4)).expect("append after cut");
        drop(journal);
        let (_, old) = Journal::open(dir.path()).expect("reopen");
        assert_eq!(old, vec![listing(1), listing(2), listing(4)]);
    }

    #[test]
    fn a_second_scrape_of_the_same_folder_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_held, _) = Journal::open(dir.path()).expect("open");
        assert!(matches!(Journal::open(dir.path()), Err(ScrapeError::Locked { .. })));
    }
}
