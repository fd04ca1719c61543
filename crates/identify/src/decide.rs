//! The answer a user sees: a named sneaker, "unknown sneaker" or "not footwear".

use serde::{Deserialize, Serialize};

use crate::fuse::Ranked;

/// Decision thresholds, normally chosen by [`crate::calibrate`] and stored with the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Below this ImageNet footwear probability the photo is "not footwear".
    pub footwear: f32,
    /// Below this fused top probability the sneaker is "unknown" (not sure which).
    pub confidence: f32,
    /// Below this best gallery similarity the sneaker is "unknown" (nothing like it enrolled).
    /// Only applies when a gallery is loaded.
    pub similarity: Option<f32>,
}

impl Default for Thresholds {
    /// Uncalibrated fall-backs for a run that has no `open_set.json`: reject only clear cases.
    fn default() -> Self {
        Thresholds { footwear: 0.2, confidence: 0.3, similarity: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The top label is the answer.
    Identified,
    /// A sneaker, but not confidently one we know.
    Unknown,
    /// Not a shoe at all.
    NotFootwear,
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
        Verdict::NotFootwear
    } else if top_probability < t.confidence
        || matches!((t.similarity, best_similarity), (Some(min), Some(s)) if s < min)
    {
        Verdict::Unknown
    } else {
        Verdict::Identified
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
        assert_eq!(decide(0.1, Some(0.9), ranking(0.9), &t).verdict, Verdict::NotFootwear);
        assert_eq!(decide(0.9, Some(0.9), ranking(0.2), &t).verdict, Verdict::Unknown);
        assert_eq!(decide(0.9, Some(0.5), ranking(0.9), &t).verdict, Verdict::Unknown);
        assert_eq!(decide(0.9, Some(0.7), ranking(0.9), &t).verdict, Verdict::Identified);
        // Without a gallery, the similarity threshold cannot reject.
        assert_eq!(decide(0.9, None, ranking(0.9), &t).verdict, Verdict::Identified);
        assert_eq!(decide(0.9, None, Vec::new(), &t).verdict, Verdict::Unknown);
    }
}
