//! The one seam every gallery backend sits behind: what enrolment, catalog updates, `predict` and
//! `serve` ask of a gallery, whether it is the embedded one in a folder ([`Gallery`]) or the
//! PostgreSQL one several servers share (`PgGallery`, feature `pgvector`).
//!
//! Reads return `Result` because a database can fail where memory cannot; they also read the
//! storage itself, so a process sees what another one enrolled into a shared gallery.

use std::collections::BTreeMap;
use std::path::Path;

use sneaker_catalog::Product;

use crate::error::Result;
use crate::gallery::{Entry, Gallery, LabelScore, Match, label_scores};

/// Enrolled photo embeddings with their labels, products and source photos. See the module docs.
pub trait GalleryBackend: Send + Sync + std::fmt::Debug {
    /// The embedding network the stored vectors come from.
    fn model_id(&self) -> &str;
    /// Embedding width.
    fn dim(&self) -> usize;
    /// Where the gallery lives, for messages: a folder, or a database gallery's name and
    /// `user@host:port/db` (never a password).
    fn location(&self) -> String;
    /// The folder that keeps thumbnails of enrolled photos, if the backend has one.
    fn thumbnails_dir(&self) -> Option<&Path>;
    /// Enrolled photos.
    fn len(&self) -> Result<usize>;
    fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Distinct labels of the enrolled photos, sorted.
    fn labels(&self) -> Result<Vec<String>>;
    /// The product details shown for `label`, if any were recorded.
    fn product(&self, label: &str) -> Result<Option<Product>>;
    fn products(&self) -> Result<BTreeMap<String, Product>>;
    /// Records (or replaces) the product details shown for `product.label`.
    fn set_product(&mut self, product: Product) -> Result<()>;
    /// Whether a photo with this SHA-256 is already enrolled.
    fn contains_image(&self, sha256: &str) -> Result<bool>;
    /// The enrolled photo with this id (as in [`Match::id`]).
    fn entry(&self, id: u64) -> Result<Option<Entry>>;
    /// Enrolls one photo's embedding (any scale; normalised here) and returns its id. It is
    /// searchable at once.
    fn add(&mut self, entry: Entry, embedding: &[f32]) -> Result<u64>;
    /// Keeps only the entries `keep` accepts; returns how many were removed.
    fn retain(&mut self, keep: &mut dyn FnMut(&Entry) -> bool) -> Result<usize>;
    /// The `k` enrolled photos most similar to `embedding`, most similar first.
    fn search(&self, embedding: &[f32], k: usize) -> Result<Vec<Match>>;
    /// Per-label evidence among the `k` nearest neighbours (see [`label_scores`]).
    fn search_labels(&self, embedding: &[f32], k: usize) -> Result<Vec<LabelScore>> {
        Ok(label_scores(&self.search(embedding, k)?))
    }
    /// Makes enrolments durable and says whether they are: a folder gallery is written
    /// atomically (`false` for one kept in memory); a database commits every change as it
    /// happens, so there is nothing left to do.
    fn save(&self) -> Result<bool>;
}

/// What opening a gallery may do when there is none, or one already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Open the one there; [`crate::GalleryError::Missing`] when there is none.
    Existing,
    /// Open the one there, or start an empty one (`gallery add`, `serve`).
    Create,
    /// Start an empty one in its place (`gallery build`).
    Replace,
}

/// The embedded gallery: exact or HNSW search in memory, saved in its folder.
impl GalleryBackend for Gallery {
    fn model_id(&self) -> &str {
        Gallery::model_id(self)
    }

    fn dim(&self) -> usize {
        Gallery::dim(self)
    }

    fn location(&self) -> String {
        self.folder().map_or_else(|| "gallery (in memory)".to_owned(), |d| d.display().to_string())
    }

    fn thumbnails_dir(&self) -> Option<&Path> {
        self.folder()
    }

    fn len(&self) -> Result<usize> {
        Ok(Gallery::len(self))
    }

    fn labels(&self) -> Result<Vec<String>> {
        Ok(Gallery::labels(self).into_iter().map(str::to_owned).collect())
    }

    fn product(&self, label: &str) -> Result<Option<Product>> {
        Ok(Gallery::product(self, label).cloned())
    }

    fn products(&self) -> Result<BTreeMap<String, Product>> {
        Ok(Gallery::products(self).clone())
    }

    fn set_product(&mut self, product: Product) -> Result<()> {
        Gallery::set_product(self, product)
    }

    fn contains_image(&self, sha256: &str) -> Result<bool> {
        Ok(Gallery::contains_image(self, sha256))
    }

    fn entry(&self, id: u64) -> Result<Option<Entry>> {
        Ok(usize::try_from(id).ok().and_then(|i| self.entries().get(i)).cloned())
    }

    fn add(&mut self, entry: Entry, embedding: &[f32]) -> Result<u64> {
        Gallery::add(self, entry, embedding)
    }

    fn retain(&mut self, keep: &mut dyn FnMut(&Entry) -> bool) -> Result<usize> {
        Gallery::retain(self, keep)
    }

    fn search(&self, embedding: &[f32], k: usize) -> Result<Vec<Match>> {
        Gallery::search(self, embedding, k)
    }

    fn save(&self) -> Result<bool> {
        match self.folder() {
            Some(dir) => Gallery::save(self, dir).map(|_| true),
            None => Ok(false),
        }
    }
}
