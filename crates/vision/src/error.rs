//! The one error type of `sneaker-vision`: why an upload or a training photo could not be used.

use std::io;

/// Why an image could not be turned into network input.
///
/// Every message starts with the file name (or the upload's name) so a user looking at a
/// list of failures knows which photo to fix. [`VisionError::kind`] gives a stable short
/// code for JSON error bodies and counters.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// The file or upload has zero bytes.
    #[error("{name}: the file is empty (0 bytes)")]
    Empty { name: String },

    /// Byte size or pixel dimensions exceed [`crate::DecodeLimits`]; nothing was decoded.
    #[error("{name}: {detail}")]
    TooLarge { name: String, detail: String },

    /// Not an image format we decode (HEIC, AVIF, TIFF, text, ...); `detail` says what to do.
    #[error("{name}: {detail}")]
    UnsupportedFormat { name: String, detail: String },

    /// Recognised format but the data is truncated or damaged; `detail` is the decoder's word.
    #[error("{name}: the image is corrupt or truncated: {detail}")]
    Corrupt { name: String, detail: String },

    /// Decoded fine, but a processing step (background removal) failed on it.
    #[error("{name}: {detail}")]
    Processing { name: String, detail: String },

    /// The file could not be read from disk.
    #[error("{name}: cannot read the file: {source}")]
    Io {
        name: String,
        #[source]
        source: io::Error,
    },
}

impl VisionError {
    /// Stable short code: `"empty"`, `"too_large"`, `"unsupported_format"`, `"corrupt"`,
    /// `"processing"` or `"io"`.
    pub fn kind(&self) -> &'static str {
        match self {
            VisionError::Empty { .. } => "empty",
            VisionError::TooLarge { .. } => "too_large",
            VisionError::UnsupportedFormat { .. } => "unsupported_format",
            VisionError::Corrupt { .. } => "corrupt",
            VisionError::Processing { .. } => "processing",
            VisionError::Io { .. } => "io",
        }
    }

    /// The file or upload name the error is about.
    pub fn name(&self) -> &str {
        match self {
            VisionError::Empty { name }
            | VisionError::TooLarge { name, .. }
            | VisionError::UnsupportedFormat { name, .. }
            | VisionError::Corrupt { name, .. }
            | VisionError::Processing { name, .. }
            | VisionError::Io { name, .. } => name,
        }
    }
}

/// `Result` with [`VisionError`].
pub type Result<T> = std::result::Result<T, VisionError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_the_documented_codes_and_messages_name_the_file() {
        let cases = [
            (VisionError::Empty { name: "a.jpg".into() }, "empty"),
            (VisionError::TooLarge { name: "a.jpg".into(), detail: "x".into() }, "too_large"),
            (VisionError::UnsupportedFormat { name: "a.jpg".into(), detail: "x".into() }, "unsupported_format"),
            (VisionError::Corrupt { name: "a.jpg".into(), detail: "x".into() }, "corrupt"),
            (VisionError::Processing { name: "a.jpg".into(), detail: "x".into() }, "processing"),
            (VisionError::Io { name: "a.jpg".into(), source: io::Error::other("boom") }, "io"),
        ];
        for (err, kind) in cases {
            assert_eq!(err.kind(), kind);
            assert_eq!(err.name(), "a.jpg");
            assert!(err.to_string().starts_with("a.jpg: "), "{err}");
        }
    }
}
