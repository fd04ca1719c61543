//! Choosing the open-set thresholds from held-out photos, and the curves that justify them.
//!
//! Three kinds of photo: known sneakers (the answer should be their label), unknown sneakers
//! (models neither the classifier nor the gallery knows: the answer should be "unknown") and
//! non-footwear (the answer should be "not footwear"). The footwear threshold is chosen first,
//! on footwear alone; then the confidence (and, with a gallery, similarity) thresholds by a grid
//! search that maximises the balanced open-set accuracy: the mean of "known photos answered
//! correctly" and "unknown photos rejected". Balanced, because the calibration sets have
//! arbitrary sizes and neither kind of error should win by numbers alone.

use serde::{Deserialize, Serialize};

use crate::decide::{Thresholds, Verdict, verdict};
use crate::error::{IdentifyError, Result};
use crate::fuse::{FusionConfig, Ranked};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    Known,
    UnknownSneaker,
    NotFootwear,
}

/// One held-out photo: what the model said and what the truth is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub kind: SampleKind,
    /// True label of a known sneaker.
    pub label: Option<String>,
    pub footwear: f32,
    pub best_similarity: Option<f32>,
    /// Fused top label and its probability.
    pub top_label: Option<String>,
    pub top_probability: f32,
}

impl Sample {
    pub fn from_ranking(
        kind: SampleKind,
        label: Option<String>,
        footwear: f32,
        best_similarity: Option<f32>,
        ranking: &[Ranked],
    ) -> Sample {
        let top = ranking.first();
        Sample {
            kind,
            label,
            footwear,
            best_similarity,
            top_label: top.map(|r| r.label.clone()),
            top_probability: top.map_or(0.0, |r| r.probability),
        }
    }

    fn verdict(&self, t: &Thresholds) -> Verdict {
        verdict(self.footwear, self.best_similarity, self.top_probability, t)
    }
}

/// Calibration settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationConfig {
    /// Share of footwear photos (known + unknown sneakers) the footwear check may reject at most.
    pub max_footwear_miss: f32,
    /// Grid steps per threshold.
    pub steps: usize,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        CalibrationConfig { max_footwear_miss: 0.02, steps: 100 }
    }
}

/// Rates at one setting of the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Outcome {
    /// Known sneakers given an answer (not rejected), over all known sneakers.
    pub coverage: f32,
    /// Correct answers over all answers given (answers to unknown sneakers count as wrong).
    pub precision: f32,
    /// Known sneakers answered with the right label, over all known sneakers.
    pub known_correct: f32,
    /// Unknown sneakers rejected (as unknown or not footwear).
    pub unknown_rejected: f32,
    /// Non-footwear photos answered "not footwear".
    pub not_footwear_rejected: f32,
    /// Footwear photos (known + unknown) wrongly called "not footwear".
    pub footwear_missed: f32,
    /// Mean of `known_correct` and `unknown_rejected`: the quantity calibration maximises.
    pub balanced_accuracy: f32,
    pub n_known: usize,
    pub n_unknown: usize,
    pub n_not_footwear: usize,
}

/// One point of the precision/coverage curve (confidence threshold swept, others fixed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub confidence: f32,
    pub coverage: f32,
    pub precision: f32,
    pub unknown_rejected: f32,
}

/// What a run stores in `open_set.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub thresholds: Thresholds,
    pub fusion: FusionConfig,
    /// Rates on the calibration photos at the chosen thresholds.
    pub calibration: Outcome,
    pub curve: Vec<CurvePoint>,
    /// Free text: which photos calibrated it.
    pub source: String,
}

/// Rates of the given thresholds on the samples.
pub fn evaluate_at(samples: &[Sample], t: &Thresholds) -> Outcome {
    let mut o = Outcome::default();
    let (mut answered, mut correct, mut answers_total, mut unk_rej, mut nf_rej, mut fw_miss) = (0, 0, 0, 0, 0, 0);
    for s in samples {
        let v = s.verdict(t);
        match s.kind {
            SampleKind::Known => {
                o.n_known += 1;
                if v == Verdict::Match {
                    answered += 1;
                    answers_total += 1;
                    if s.top_label.is_some() && s.top_label == s.label {
                        correct += 1;
                    }
                }
                fw_miss += usize::from(v == Verdict::NotASneaker);
            }
            SampleKind::UnknownSneaker => {
                o.n_unknown += 1;
                answers_total += usize::from(v == Verdict::Match);
                unk_rej += usize::from(v != Verdict::Match);
                fw_miss += usize::from(v == Verdict::NotASneaker);
            }
            SampleKind::NotFootwear => {
                o.n_not_footwear += 1;
                nf_rej += usize::from(v == Verdict::NotASneaker);
            }
        }
    }
    let rate = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    o.coverage = rate(answered, o.n_known);
    o.precision = rate(correct, answers_total);
    o.known_correct = rate(correct, o.n_known);
    o.unknown_rejected = rate(unk_rej, o.n_unknown);
    o.not_footwear_rejected = rate(nf_rej, o.n_not_footwear);
    o.footwear_missed = rate(fw_miss, o.n_known + o.n_unknown);
    o.balanced_accuracy = 0.5 * (o.known_correct + o.unknown_rejected);
    o
}

/// Picks thresholds from the samples (see the module comment for the rule).
pub fn calibrate(
    samples: &[Sample],
    fusion: FusionConfig,
    config: &CalibrationConfig,
    source: &str,
) -> Result<Calibration> {
    let count = |k: SampleKind| samples.iter().filter(|s| s.kind == k).count();
    if count(SampleKind::Known) == 0 || count(SampleKind::UnknownSneaker) == 0 {
        return Err(IdentifyError::NotEnoughData(format!(
            "photos of known and of unknown sneakers (got {} known, {} unknown)",
            count(SampleKind::Known),
            count(SampleKind::UnknownSneaker)
        )));
    }
    let footwear = footwear_threshold(samples, config.max_footwear_miss);
    let has_gallery = samples.iter().any(|s| s.best_similarity.is_some());
    let grid =
        |lo: f32, hi: f32| (0..=config.steps).map(move |i| lo + (hi - lo) * i as f32 / config.steps.max(1) as f32);
    let sim_grid: Vec<Option<f32>> =
        if has_gallery { std::iter::once(None).chain(grid(0.0, 1.0).map(Some)).collect() } else { vec![None] };

    let mut best: Option<(Thresholds, Outcome)> = None;
    for &similarity in &sim_grid {
        for confidence in grid(0.0, 1.0) {
            let t = Thresholds { footwear, confidence, similarity };
            let o = evaluate_at(samples, &t);
            // Ties go to the lower thresholds (earlier in the grid): answer more when it costs nothing.
            if best.as_ref().is_none_or(|(_, b)| o.balanced_accuracy > b.balanced_accuracy + 1e-6) {
                best = Some((t, o));
            }
        }
    }
    let (thresholds, outcome) = best.expect("the grid has at least one point");
    let curve = curve(samples, &thresholds, grid(0.0, 1.0));
    Ok(Calibration { thresholds, fusion, calibration: outcome, curve, source: source.to_owned() })
}

/// The highest footwear threshold that still lets through all but `max_miss` of the footwear
/// photos: as strict on non-shoes as the budget for turning away real sneakers allows.
fn footwear_threshold(samples: &[Sample], max_miss: f32) -> f32 {
    let mut fw: Vec<f32> = samples.iter().filter(|s| s.kind != SampleKind::NotFootwear).map(|s| s.footwear).collect();
    fw.sort_by(f32::total_cmp);
    let allowed = (max_miss.clamp(0.0, 1.0) * fw.len() as f32).floor() as usize;
    fw.get(allowed).copied().unwrap_or(0.0)
}

/// The precision / coverage curve: `thresholds` with each of `confidences` in turn.
pub(crate) fn curve(
    samples: &[Sample],
    thresholds: &Thresholds,
    confidences: impl Iterator<Item = f32>,
) -> Vec<CurvePoint> {
    confidences
        .map(|confidence| {
            let o = evaluate_at(samples, &Thresholds { confidence, ..*thresholds });
            CurvePoint {
                confidence,
                coverage: o.coverage,
                precision: o.precision,
                unknown_rejected: o.unknown_rejected,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(label: &str, top: &str, p: f32, fw: f32) -> Sample {
        Sample {
            kind: SampleKind::Known,
            label: Some(label.into()),
            footwear: fw,
            best_similarity: None,
            top_label: Some(top.into()),
            top_probability: p,
        }
    }

    fn other(kind: SampleKind, p: f32, fw: f32) -> Sample {
        Sample {
            kind,
            label: None,
            footwear: fw,
            best_similarity: None,
            top_label: Some("a".into()),
            top_probability: p,
        }
    }

    #[test]
    fn confident_knowns_and_hesitant_unknowns_are_separated() {
        // Known photos get 0.8-0.9 and are right; unknown sneakers get 0.3-0.4: any confidence
        // threshold in (0.4, 0.8] separates them perfectly.
        let mut s = vec![known("a", "a", 0.8, 0.9), known("b", "b", 0.9, 0.8)];
        s.push(other(SampleKind::UnknownSneaker, 0.3, 0.9));
        s.push(other(SampleKind::UnknownSneaker, 0.4, 0.7));
        s.push(other(SampleKind::NotFootwear, 0.9, 0.01));
        let c = calibrate(&s, FusionConfig::default(), &CalibrationConfig::default(), "test").unwrap();
        assert!(c.thresholds.confidence > 0.4 && c.thresholds.confidence <= 0.8, "{c:?}");
        assert_eq!(c.calibration.balanced_accuracy, 1.0);
        assert_eq!(c.calibration.not_footwear_rejected, 1.0);
        assert_eq!(c.calibration.footwear_missed, 0.0);
        // The curve goes from full coverage to none as the threshold rises.
        assert_eq!(c.curve.first().unwrap().coverage, 1.0);
        assert_eq!(c.curve.last().unwrap().coverage, 0.0);
    }

    #[test]
    fn wrong_answers_lower_precision() {
        let s =
            vec![known("a", "b", 0.9, 0.9), known("a", "a", 0.9, 0.9), other(SampleKind::UnknownSneaker, 0.95, 0.9)];
        let o = evaluate_at(&s, &Thresholds { footwear: 0.5, confidence: 0.5, similarity: None });
        assert_eq!(o.coverage, 1.0);
        assert!((o.precision - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(o.unknown_rejected, 0.0);
    }

    #[test]
    fn calibration_without_unknowns_is_refused() {
        let s = vec![known("a", "a", 0.9, 0.9)];
        let err = calibrate(&s, FusionConfig::default(), &CalibrationConfig::default(), "t").unwrap_err();
        assert!(err.to_string().contains("unknown"), "{err}");
    }

    #[test]
    fn footwear_threshold_respects_the_miss_budget() {
        let s: Vec<Sample> = (0..100).map(|i| known("a", "a", 0.9, i as f32 / 100.0)).collect();
        // 2% budget: the two lowest (0.00, 0.01) may be missed, so the threshold is 0.02.
        assert!((footwear_threshold(&s, 0.02) - 0.02).abs() < 1e-6);
    }
}
