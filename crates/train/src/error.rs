//! The one error type of `sneaker-train`: why a training or evaluation run could not proceed.

use std::path::PathBuf;

/// Everything that can stop training, evaluation or a report.
///
/// Messages name the file or setting at fault so a user can fix it without reading code.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A settings value that cannot work (zero epochs, unknown option, too few classes...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The catalog folder is not usable (no labels, a label with no images, bad CSV).
    #[error("catalog {path}: {detail}")]
    Catalog { path: PathBuf, detail: String },
    /// The catalog's files could not be read (the message names the file, and the line).
    #[error(transparent)]
    CatalogFiles(#[from] sneaker_catalog::CatalogError),
    /// A run folder is missing a file or holds one from another kind of run.
    #[error("run {path}: {detail}")]
    Run { path: PathBuf, detail: String },
    /// A JSON, TOML, CSV or safetensors file that does not parse.
    #[error("{path}: cannot parse: {detail}")]
    Parse { path: PathBuf, detail: String },
    /// Image decoding failed (the message starts with the file name).
    #[error(transparent)]
    Vision(#[from] sneaker_vision::VisionError),
    /// ONNX graph writing or ONNX Runtime failed.
    #[error(transparent)]
    Model(#[from] sneaker_model::ModelError),
    /// Choosing or writing the run's open-set calibration failed.
    #[error(transparent)]
    Identify(#[from] sneaker_identify::IdentifyError),
    /// Drawing a chart failed.
    #[error("chart {path}: {detail}")]
    Plot { path: PathBuf, detail: String },
    /// Training was interrupted (Ctrl-C); a checkpoint was written first.
    #[error("interrupted; checkpoint written to {0}")]
    Interrupted(PathBuf),
}

impl TrainError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io { path: path.into(), source }
    }

    /// A parse failure of `path`.
    pub fn parse(path: impl Into<PathBuf>, detail: impl ToString) -> Self {
        TrainError::Parse { path: path.into(), detail: detail.to_string() }
    }
}

pub type Result<T> = std::result::Result<T, TrainError>;
