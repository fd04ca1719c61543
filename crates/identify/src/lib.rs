//! Open-set identification: which sneaker is this, or is it one we do not know, or not a shoe?
//!
//! A closed-set classifier always names one of its trained labels, even for a boot, a cat or a
//! product released last week. This crate turns three pieces of evidence into an honest answer:
//! - the pretrained ImageNet head's footwear probability ("is it a shoe at all?"),
//! - a trained classifier's probabilities over its labels (optional),
//! - the gallery's nearest-neighbour similarities per label (optional; includes products
//!   enrolled after training),
//!
//! [`fuse`] merges the last two into one probability ranking, [`decide`] applies thresholds, and
//! [`calibrate`] picks those thresholds from held-out photos of known sneakers, unknown sneakers
//! and non-footwear, with the precision/coverage curves that justify them ([`precision`] from
//! photos of known sneakers alone, as training does for its run). [`fewshot`] measures
//! how well products enrolled from K photos are recognised.

mod calibrate;
mod decide;
mod error;
pub mod fewshot;
mod fuse;
mod identifier;
pub mod open_set;
mod plot;
pub mod precision;
pub mod synthetic;

pub use calibrate::{Calibration, CalibrationConfig, CurvePoint, Outcome, Sample, SampleKind, calibrate, evaluate_at};
pub use decide::{
    Answer, DEFAULT_FOOTWEAR, Setting, Source, ThresholdOverrides, Thresholds, ThresholdsInForce, Verdict, decide,
};
pub use error::{IdentifyError, Result};
pub use fuse::{Evidence, FusionConfig, LabelSimilarity, Ranked, fuse};
pub use identifier::{Identifier, NEIGHBOURS};
pub use plot::precision_coverage_png;

/// File in a run folder holding the calibrated [`Calibration`] (thresholds + fusion settings).
pub use sneaker_model::run_layout::OPEN_SET as OPEN_SET_FILE;

/// Reads a run's calibration, if it has one.
pub fn read_calibration(run_dir: &std::path::Path) -> Result<Option<Calibration>> {
    let path = run_dir.join(OPEN_SET_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| IdentifyError::Corrupt { path, message: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(IdentifyError::Io { path, source }),
    }
}

/// Writes a calibration into a run folder atomically (temp file in the folder, fsync, rename).
pub fn write_calibration(run_dir: &std::path::Path, calibration: &Calibration) -> Result<()> {
    let path = run_dir.join(OPEN_SET_FILE);
    let bytes = serde_json::to_vec_pretty(calibration).expect("calibration serialises: plain numbers and strings");
    write_atomic(&path, &bytes)
}

pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    sneaker_files::write_atomic(path, bytes).map_err(|source| IdentifyError::Io { path: path.to_owned(), source })
}
