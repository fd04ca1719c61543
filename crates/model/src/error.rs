//! Errors of the model crate: weight files, graph building, ONNX Runtime.

use std::path::PathBuf;

/// Everything that can go wrong loading weights, writing graphs or running them.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A weight file that is truncated, corrupt or not in the expected format.
    #[error("{path}: not a valid weight file: {detail}")]
    BadWeights { path: PathBuf, detail: String },
    /// A tensor the network needs is missing or has the wrong shape.
    #[error("weights do not fit the network: {0}")]
    Mismatch(String),
    /// A required asset (runtime library, weights) is not where it should be.
    #[error("{what} not found at {path} (run `make assets` to fetch it)")]
    MissingAsset { what: &'static str, path: PathBuf },
    /// An optional asset (Lite1/Lite2 weights) could not be fetched or failed its checksum.
    #[error("{what}: {detail} (fetch it with `scripts/fetch-assets.sh {name}`)")]
    Fetch { what: &'static str, name: &'static str, detail: String },
    /// A graph that cannot be written as asked (duplicate names, impossible options).
    #[error("graph: {0}")]
    Graph(String),
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    #[error("bad input: {0}")]
    Input(String),
}

impl From<ort::Error> for ModelError {
    fn from(e: ort::Error) -> Self {
        ModelError::Runtime(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;

/// Far above any weight file we use; weight files are read whole into memory.
const MAX_WEIGHT_FILE_BYTES: u64 = 8 << 30;

/// Reads a weight file whole, refusing one larger than `MAX_WEIGHT_FILE_BYTES` before allocating.
pub(crate) fn read_weight_file(path: &std::path::Path) -> Result<Vec<u8>> {
    let io = |source| ModelError::Io { path: path.to_path_buf(), source };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_WEIGHT_FILE_BYTES {
        return Err(ModelError::BadWeights {
            path: path.to_path_buf(),
            detail: format!("{len} bytes is more than the {MAX_WEIGHT_FILE_BYTES} accepted"),
        });
    }
    std::fs::read(path).map_err(io)
}
