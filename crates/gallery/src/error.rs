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
    /// Reading or writing gallery files.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A gallery file that does not parse or does not match its header.
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// A backend (e.g. the database) refused or failed.
    #[error("gallery backend: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, GalleryError>;
