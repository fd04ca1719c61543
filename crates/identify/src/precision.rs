//! The answer threshold a run ships with when only photos of its own labels are at hand (the
//! run's held-out catalog photos, made to look like phone photos): the lowest top-1 probability
//! at which the answers given are still right often enough.
//!
//! This is the "answerable at ≥ 90 % precision" point: answer photos in order of confidence and
//! keep the largest share whose answers are still ≥ 90 % right. Without photos of unknown
//! sneakers or of other things there is nothing to trade against, so [`crate::calibrate`]'s
//! balanced accuracy cannot be used; precision is what users feel ("when it names a shoe, it is
//! right"). The footwear cut-off stays the default measured on real photos
//! ([`crate::DEFAULT_FOOTWEAR`]): catalog photos say nothing about non-shoes.

use serde::{Deserialize, Serialize};

use crate::calibrate::{Calibration, Sample, SampleKind, curve, evaluate_at};
use crate::decide::Thresholds;
use crate::error::{IdentifyError, Result};
use crate::fuse::FusionConfig;

/// Points of the precision/coverage curve stored with the calibration.
const CURVE_STEPS: usize = 100;

/// Where the threshold lands: what answering at `confidence` gives on the photos.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnswerPoint {
    /// Answer when the top-1 probability is at least this.
    pub confidence: f32,
    /// Share of the photos answered.
    pub coverage: f32,
    /// Share of the answers that are right (1 when nothing is answered).
    pub precision: f32,
    pub answered: usize,
    pub n: usize,
}

/// The lowest threshold, among the photos' own top-1 probabilities, whose answers are at least
/// `min_precision` right: the largest coverage at that precision. When no threshold reaches it
/// (the most confident answer is already wrong), the threshold is just above every probability
/// and nothing is answered.
pub fn answer_threshold(samples: &[Sample], min_precision: f32) -> Result<AnswerPoint> {
    let known: Vec<(f32, bool)> = samples
        .iter()
        .filter(|s| s.kind == SampleKind::Known)
        .map(|s| (s.top_probability, s.top_label.is_some() && s.top_label == s.label))
        .collect();
    if known.is_empty() {
        return Err(IdentifyError::NotEnoughData("photos of known sneakers to choose a threshold on".into()));
    }
    let mut sorted = known;
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n = sorted.len();
    let top = sorted[0].0;
    let mut best = AnswerPoint { confidence: next_above(top), coverage: 0.0, precision: 1.0, answered: 0, n };
    let (mut answered, mut right) = (0usize, 0usize);
    for (i, &(p, ok)) in sorted.iter().enumerate() {
        answered += 1;
        right += usize::from(ok);
        // A threshold answers every photo at or above it: only the last of equal probabilities
        // is a place the threshold can sit.
        if sorted.get(i + 1).is_some_and(|next| next.0 == p) {
            continue;
        }
        let precision = right as f32 / answered as f32;
        if precision >= min_precision {
            best = AnswerPoint { confidence: p, coverage: answered as f32 / n as f32, precision, answered, n };
        }
    }
    Ok(best)
}

/// The smallest f32 above `p`: a threshold that answers nothing at or below `p`.
fn next_above(p: f32) -> f32 {
    f32::from_bits(p.max(0.0).to_bits() + 1)
}

/// A calibration from photos of known sneakers alone: the answer threshold at `min_precision`
/// (see [`answer_threshold`]), the default footwear cut-off and fusion settings, and the
/// precision/coverage curve. `samples` should carry a footwear probability of 1 when it was not
/// measured, so the rates are those of the answer threshold alone.
pub fn known_only(samples: &[Sample], min_precision: f32, source: &str) -> Result<(Calibration, AnswerPoint)> {
    let point = answer_threshold(samples, min_precision)?;
    let thresholds = Thresholds { confidence: point.confidence, ..Thresholds::default() };
    let curve = curve(samples, &thresholds, (0..=CURVE_STEPS).map(|i| i as f32 / CURVE_STEPS as f32));
    let calibration = Calibration {
        thresholds,
        fusion: FusionConfig::default(),
        calibration: evaluate_at(samples, &thresholds),
        curve,
        source: source.to_owned(),
    };
    Ok((calibration, point))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(p: f32, right: bool) -> Sample {
        Sample {
            kind: SampleKind::Known,
            label: Some("a".into()),
            footwear: 1.0,
            best_similarity: None,
            top_label: Some(if right { "a" } else { "b" }.into()),
            top_probability: p,
        }
    }

    #[test]
    fn the_threshold_keeps_the_largest_share_at_the_precision() {
        // By confidence: 0.95 ✓, 0.9 ✓, 0.8 ✓, 0.7 ✗, 0.6 ✓ ... then three wrong at 0.3.
        // Precision of the top k: 1, 1, 1, 3/4, 4/5, 4/6, 4/7, 4/8. At ≥ 0.8 the largest
        // share is the top 5 (4/5 = 0.8), so the threshold is 0.6 and coverage 5/8.
        let s = vec![
            known(0.95, true),
            known(0.9, true),
            known(0.8, true),
            known(0.7, false),
            known(0.6, true),
            known(0.3, false),
            known(0.3, false),
            known(0.3, false),
        ];
        let p = answer_threshold(&s, 0.8).unwrap();
        assert_eq!((p.confidence, p.answered, p.n), (0.6, 5, 8));
        assert!((p.coverage - 0.625).abs() < 1e-6 && (p.precision - 0.8).abs() < 1e-6, "{p:?}");
        // At ≥ 0.9 only the first three: 3/4 = 0.75 fails, 4/5 = 0.8 fails.
        let p = answer_threshold(&s, 0.9).unwrap();
        assert_eq!((p.confidence, p.answered), (0.8, 3));
        // Ties: the three at 0.3 are answered together or not at all; 4/8 = 0.5.
        let p = answer_threshold(&s, 0.5).unwrap();
        assert_eq!((p.confidence, p.answered), (0.3, 8));
    }

    #[test]
    fn when_even_the_surest_answer_is_wrong_nothing_is_answered() {
        let s = vec![known(0.9, false), known(0.5, true)];
        let p = answer_threshold(&s, 0.9).unwrap();
        assert!(p.confidence > 0.9 && p.answered == 0, "{p:?}");
        let (c, _) = known_only(&s, 0.9, "test").unwrap();
        assert_eq!(c.calibration.coverage, 0.0);
        assert!(answer_threshold(&[], 0.9).is_err());
    }

    #[test]
    fn the_calibration_keeps_the_default_footwear_cut_off_and_answers_as_chosen() {
        let s: Vec<Sample> = (0..20).map(|i| known(i as f32 / 20.0, i >= 6)).collect();
        let (c, p) = known_only(&s, 0.9, "test").unwrap();
        assert_eq!(c.thresholds.footwear, crate::DEFAULT_FOOTWEAR);
        assert_eq!(c.thresholds.similarity, None);
        // Every answer from 0.30 up is right; 0.25 adds a wrong one to 15 right: 14/15 ≥ 0.9.
        assert_eq!(p.confidence, 0.25);
        assert!((c.calibration.coverage - p.coverage).abs() < 1e-6, "{c:?}");
        assert!((c.calibration.precision - p.precision).abs() < 1e-6);
        assert_eq!(c.curve.len(), CURVE_STEPS + 1);
    }
}
