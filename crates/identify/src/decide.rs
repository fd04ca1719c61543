//! The answer a user sees, made in this one place for `predict`, `evaluate`, `calibrate`, the
//! JSON API and the page: a named sneaker (`match`), "not sure" or "not a sneaker".

use serde::{Deserialize, Serialize};

use crate::error::{IdentifyError, Result};
use crate::fuse::Ranked;

/// Decision thresholds, normally chosen by [`crate::calibrate`] and stored with the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Below this ImageNet footwear probability the photo is "not a sneaker".
    pub footwear: f32,
    /// Below this fused top probability the answer is "not sure".
    pub confidence: f32,
    /// Below this best gallery similarity the answer is "not sure" (nothing like it enrolled).
    /// Only applies when a gallery is loaded.
    pub similarity: Option<f32>,
}

/// Footwear cut-off for a run with no `open_set.json`. Measured with the pretrained network on
/// 250 phone photos (sneakers50-wild-dev), 952 studio photos (packshots, multiview) and 25 photos
/// of other things (BENCHMARKS.md "Open-set defaults"): at 0.003, 1.6% of the phone photos and no
/// studio photo are turned away, and 22 of the 25 other photos are. ImageNet puts little mass on
/// its footwear classes for shoes on feet or seen from above, so the old 0.2 turned away 44% of
/// the phone photos.
pub const DEFAULT_FOOTWEAR: f32 = 0.003;

impl Default for Thresholds {
    /// Uncalibrated fall-backs: reject only clear cases.
    fn default() -> Self {
        Thresholds { footwear: DEFAULT_FOOTWEAR, confidence: 0.3, similarity: None }
    }
}

/// Thresholds set by hand (server or command-line flags); each one given replaces the calibrated
/// or default value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ThresholdOverrides {
    pub footwear: Option<f32>,
    pub confidence: Option<f32>,
    pub similarity: Option<f32>,
}

impl ThresholdOverrides {
    /// Probabilities within 0..=1, the similarity (a cosine) within -1..=1, each named when not.
    pub fn validate(&self) -> Result<()> {
        let checks = [
            ("footwear", self.footwear, 0.0),
            ("confidence", self.confidence, 0.0),
            ("similarity", self.similarity, -1.0),
        ];
        for (name, value, low) in checks {
            if let Some(v) = value
                && !(low..=1.0).contains(&v)
            {
                return Err(IdentifyError::Input(format!("the {name} threshold must be within {low}..=1, not {v}")));
            }
        }
        Ok(())
    }

    /// `base` with each given threshold in its place.
    pub fn applied_to(&self, base: Thresholds) -> Thresholds {
        Thresholds {
            footwear: self.footwear.unwrap_or(base.footwear),
            confidence: self.confidence.unwrap_or(base.confidence),
            similarity: self.similarity.or(base.similarity),
        }
    }
}

/// Where a threshold in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The uncalibrated fall-back ([`Thresholds::default`]).
    Default,
    /// The run's or gallery's `open_set.json` (`sneaker-id calibrate`).
    Calibration,
    /// A flag given to `serve` or `predict`.
    Flag,
}

/// One threshold in force and its origin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    pub value: f32,
    pub source: Source,
}

/// The thresholds in force, each with where it came from (`GET /api/v1/model` shows this).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdsInForce {
    pub footwear: Setting,
    pub confidence: Setting,
    /// `None`: no similarity cut-off (none calibrated or given).
    pub similarity: Option<Setting>,
}

impl ThresholdsInForce {
    /// `base` (calibrated when `calibrated`, else the defaults) with `overrides` on top.
    pub fn new(base: Thresholds, calibrated: bool, overrides: &ThresholdOverrides) -> ThresholdsInForce {
        let from = if calibrated { Source::Calibration } else { Source::Default };
        let setting = |flag: Option<f32>, value: f32| match flag {
            Some(value) => Setting { value, source: Source::Flag },
            None => Setting { value, source: from },
        };
        ThresholdsInForce {
            footwear: setting(overrides.footwear, base.footwear),
            confidence: setting(overrides.confidence, base.confidence),
            similarity: match (overrides.similarity, base.similarity) {
                (Some(value), _) => Some(Setting { value, source: Source::Flag }),
                (None, Some(value)) => Some(Setting { value, source: from }),
                (None, None) => None,
            },
        }
    }

    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            footwear: self.footwear.value,
            confidence: self.confidence.value,
            similarity: self.similarity.map(|s| s.value),
        }
    }
}

/// The three answers, spelled the same in the CLI's JSON, the HTTP API and the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The top label is the answer.
    Match,
    /// A sneaker, but not confidently one we know (or nothing to name sneakers with).
    NotSure,
    /// Not a shoe at all.
    NotASneaker,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Match, Verdict::NotSure, Verdict::NotASneaker];

    /// The name used in JSON (`match`, `not_sure`, `not_a_sneaker`).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::NotSure => "not_sure",
            Verdict::NotASneaker => "not_a_sneaker",
        }
    }
}

/// The decision and the ranking it was made from (kept, so a user can still see the guesses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub verdict: Verdict,
    pub footwear: f32,
    pub best_similarity: Option<f32>,
    pub ranking: Vec<Ranked>,
}

/// Applies the thresholds to a fused ranking (highest first, as [`crate::fuse`] returns it).
pub fn decide(footwear: f32, best_similarity: Option<f32>, ranking: Vec<Ranked>, t: &Thresholds) -> Answer {
    let top = ranking.first().map_or(0.0, |r| r.probability);
    let verdict = verdict(footwear, best_similarity, top, t);
    Answer { verdict, footwear, best_similarity, ranking }
}

/// The rule itself, on the three numbers it reads (calibration sweeps it millions of times).
pub(crate) fn verdict(footwear: f32, best_similarity: Option<f32>, top_probability: f32, t: &Thresholds) -> Verdict {
    if footwear < t.footwear {
        Verdict::NotASneaker
    } else if top_probability < t.confidence
        || matches!((t.similarity, best_similarity), (Some(min), Some(s)) if s < min)
    {
        Verdict::NotSure
    } else {
        Verdict::Match
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranking(p: f32) -> Vec<Ranked> {
        vec![Ranked { label: "a".into(), probability: p, classifier: Some(p), similarity: None }]
    }

    #[test]
    fn each_threshold_decides_its_own_case() {
        let t = Thresholds { footwear: 0.5, confidence: 0.4, similarity: Some(0.6) };
        assert_eq!(decide(0.1, Some(0.9), ranking(0.9), &t).verdict, Verdict::NotASneaker);
        assert_eq!(decide(0.9, Some(0.9), ranking(0.2), &t).verdict, Verdict::NotSure);
        assert_eq!(decide(0.9, Some(0.5), ranking(0.9), &t).verdict, Verdict::NotSure);
        assert_eq!(decide(0.9, Some(0.7), ranking(0.9), &t).verdict, Verdict::Match);
        // Without a gallery, the similarity threshold cannot reject.
        assert_eq!(decide(0.9, None, ranking(0.9), &t).verdict, Verdict::Match);
        assert_eq!(decide(0.9, None, Vec::new(), &t).verdict, Verdict::NotSure);
    }

    #[test]
    fn verdict_names_are_the_json_names() {
        for v in Verdict::ALL {
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(v.name()));
        }
    }

    #[test]
    fn a_flag_replaces_its_threshold_and_says_so() {
        let calibrated = Thresholds { footwear: 0.01, confidence: 0.6, similarity: Some(0.5) };
        let flags = ThresholdOverrides { confidence: Some(0.4), ..Default::default() };
        let t = ThresholdsInForce::new(calibrated, true, &flags);
        assert_eq!(t.confidence, Setting { value: 0.4, source: Source::Flag });
        assert_eq!(t.footwear, Setting { value: 0.01, source: Source::Calibration });
        assert_eq!(t.thresholds(), flags.applied_to(calibrated));
        let t = ThresholdsInForce::new(Thresholds::default(), false, &ThresholdOverrides::default());
        assert_eq!(t.footwear.source, Source::Default);
        assert_eq!(t.similarity, None);
        let bad = ThresholdOverrides { footwear: Some(1.5), ..Default::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("footwear"));
    }
}
