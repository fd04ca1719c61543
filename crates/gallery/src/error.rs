//! The gallery crate's one error type: what went wrong, naming the file or vector at fault.

use std::path::PathBuf;

/// Everything that can go wrong while building, storing or searching a gallery.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// A vector whose length is not the index's dimension.
    #[error("vector has {got} values, the gallery stores {expected}-dimensional embeddings")]
    Dimension { expected: usize, got: usize },
    /// A vector with NaN/inf values or zero length, which has no direction to compare.
    #[error("vector is not a finite, non-zero embedding")]
    InvalidVector,
    /// An id handed to [`crate::VectorIndex::add`] that the index already holds.
    #[error("id {0} is already in the index")]
    DuplicateId(u64),
    /// Reading or writing gallery files.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A gallery file that does not parse or does not match its header.
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// A gallery embedded by another network than the one asked to search it: its vectors live
    /// in a different space, so similarities would be meaningless.
    /// `gallery` says where it is: a file's path, or a PostgreSQL gallery (never its password).
    #[error(
        "{gallery}: this gallery was built with embedding model {built_with}, but the model in use is {expected}; rebuild it with `sneaker-id gallery build`"
    )]
    ModelMismatch { gallery: String, built_with: String, expected: String },
    /// No gallery in the folder, or none of that name in the database.
    #[error("{gallery}: no gallery here (build one with `sneaker-id gallery build`)")]
    Missing { gallery: String },
    /// A `--gallery postgres://...` in a build without the PostgreSQL backend.
    #[error(
        "this sneaker-id was built without PostgreSQL galleries (cargo feature `pgvector` of sneaker-gallery): rebuild with it, or pass --gallery DIR"
    )]
    NoPostgres,
    /// A label that cannot name a product folder (empty, a path, ...).
    #[error("bad label {0:?}: use letters, digits, '_' or '-', no path separators")]
    BadLabel(String),
    /// The embedding network failed or could not be loaded.
    #[error(transparent)]
    Model(#[from] sneaker_model::ModelError),
    /// A photo that could not be read or decoded.
    #[error(transparent)]
    Image(#[from] sneaker_vision::VisionError),
    /// A catalog folder that could not be read.
    #[error(transparent)]
    Catalog(#[from] sneaker_catalog::CatalogError),
    /// A backend (e.g. the database) refused or failed.
    #[error("gallery backend: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, GalleryError>;
