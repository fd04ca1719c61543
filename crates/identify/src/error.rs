use std::path::PathBuf;

/// Everything that can go wrong while identifying, calibrating or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum IdentifyError {
    /// Inputs that cannot be used, e.g. probabilities and labels of different lengths.
    #[error("{0}")]
    Input(String),
    /// Calibration and few-shot evaluation need enough photos of each kind.
    #[error("not enough photos: this needs {0}")]
    NotEnoughData(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("chart {path}: {detail}")]
    Plot { path: PathBuf, detail: String },
}

pub type Result<T> = std::result::Result<T, IdentifyError>;
