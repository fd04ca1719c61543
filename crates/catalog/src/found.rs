//! What reading one layout gives: the rows kept, and every input that yielded nothing, each with
//! its reason, so a catalog never loses a photo or a row silently.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::records::{ImageRecord, Product};

/// An input of the catalog that was left out or only partly used: a listed file that is
/// missing, an annotation row without a photo, a value that is not a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// The CSV file of the row, or the photo itself.
    pub path: PathBuf,
    /// 1-based line of the row in `path` (the header is line 1), when it is a row.
    pub line: Option<u64>,
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {line}: {}", self.path.display(), self.reason),
            None => write!(f, "{}: {}", self.path.display(), self.reason),
        }
    }
}

/// One layout's reading, before it becomes a [`crate::Catalog`].
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub images: Vec<ImageRecord>,
    pub products: BTreeMap<String, Product>,
    pub skipped: Vec<Skipped>,
}

impl Found {
    /// Notes an input that yielded nothing (or less than it should), and warns about it.
    pub fn skip(&mut self, path: impl Into<PathBuf>, line: Option<u64>, reason: String) {
        let skipped = Skipped { path: path.into(), line, reason };
        tracing::warn!("catalog: skipped {skipped}");
        self.skipped.push(skipped);
    }
}
