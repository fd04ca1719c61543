//! The one error type of `sneaker-catalog`: why a catalog folder could not be read or written.

use std::path::PathBuf;

/// Why a catalog could not be opened or saved. Every variant names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog folder (or a file in it) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A CSV file is malformed (bad quoting, wrong field count, unparsable number).
    #[error("{path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },

    /// A row names a file outside the catalog folder, or a label that is not a plain name.
    #[error("{path}: line {line}: {detail}")]
    BadRow { path: PathBuf, line: u64, detail: String },

    /// A chart of the catalog report could not be drawn.
    #[error("{path}: drawing failed: {detail}")]
    Chart { path: PathBuf, detail: String },

    /// The folder holds neither `images.csv`/`products.csv` nor any label sub-folder with images.
    #[error("{path}: not a catalog: {detail}")]
    NotACatalog { path: PathBuf, detail: String },
}

/// `Result` with [`CatalogError`].
pub type Result<T> = std::result::Result<T, CatalogError>;

impl CatalogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CatalogError::Io { path: path.into(), source }
    }

    pub(crate) fn csv(path: impl Into<PathBuf>, source: csv::Error) -> Self {
        CatalogError::Csv { path: path.into(), source }
    }
}
