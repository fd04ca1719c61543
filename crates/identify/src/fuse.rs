//! One ranking from two experts: a trained classifier (sharp on its own labels, blind to anything
//! released after training) and the gallery (nearest-neighbour similarity, knows every enrolled
//! product, coarser).
//!
//! The gallery decides how much probability goes to products the classifier has never seen: a
//! temperature softmax over per-label similarities, where all trained labels together compete as
//! one entry. The rest is shared among trained labels by mixing the classifier's probabilities
//! with the gallery's (renormalised over trained labels). With only one expert, its probabilities
//! are the answer.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{IdentifyError, Result};

/// Best similarity of the query to any gallery photo of `label` (cosine, in [-1, 1]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelSimilarity {
    pub label: String,
    pub similarity: f32,
}

/// What is known about one photo before deciding.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// ImageNet head: probability that the photo shows footwear at all.
    pub footwear: f32,
    /// Trained labels and the classifier's probabilities for them (same order), if a run is loaded.
    pub classifier: Option<(&'a [String], &'a [f32])>,
    /// Per-label best similarities from the gallery, if one is loaded (any order).
    pub gallery: &'a [LabelSimilarity],
}

impl Evidence<'_> {
    /// Highest gallery similarity, the "have we seen anything like this?" signal.
    pub fn best_similarity(&self) -> Option<f32> {
        self.gallery.iter().map(|g| g.similarity).fold(None, |m, s| Some(m.map_or(s, |m: f32| m.max(s))))
    }
}

/// How the two experts are combined. Stored with the calibration, so serving fuses exactly as
/// calibration measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionConfig {
    /// Softmax temperature over similarities. Cosine similarities of one backbone cluster in a
    /// narrow band (0.5..0.9), so a small temperature is needed to make them decisive.
    pub temperature: f32,
    /// Weight of the classifier among trained labels (1 = classifier only, 0 = gallery only).
    pub classifier_weight: f32,
    /// Similarity standing in for "one of the trained labels" when the gallery holds none of them
    /// (a gallery of newly enrolled products only).
    pub trained_reference_similarity: f32,
}

impl Default for FusionConfig {
    fn default() -> Self {
        FusionConfig { temperature: 0.05, classifier_weight: 0.5, trained_reference_similarity: 0.7 }
    }
}

/// One label of the fused ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub label: String,
    pub probability: f32,
    /// The classifier's own probability, when the label is a trained one.
    pub classifier: Option<f32>,
    /// The gallery's best similarity for the label, when it has photos of it.
    pub similarity: Option<f32>,
}

/// Fuses the evidence into probabilities over every label either expert knows, highest first.
pub fn fuse(evidence: &Evidence<'_>, config: &FusionConfig) -> Result<Vec<Ranked>> {
    let trained: HashMap<&str, f32> = match evidence.classifier {
        Some((labels, probs)) if labels.len() != probs.len() => {
            return Err(IdentifyError::Input(format!(
                "classifier gave {} probabilities for {} labels",
                probs.len(),
                labels.len()
            )));
        }
        Some((labels, probs)) => labels.iter().map(String::as_str).zip(probs.iter().copied()).collect(),
        None => HashMap::new(),
    };
    if config.temperature.is_nan() || config.temperature <= 0.0 {
        return Err(IdentifyError::Input(format!("fusion temperature must be > 0, got {}", config.temperature)));
    }
    let similarity: HashMap<&str, f32> = evidence
        .gallery
        .iter()
        .filter(|g| g.similarity.is_finite())
        .map(|g| (g.label.as_str(), g.similarity))
        .collect();

    let mut ranked: Vec<Ranked> = if similarity.is_empty() {
        trained.iter().map(|(&l, &p)| entry(l, p, Some(p), None)).collect()
    } else if trained.is_empty() {
        softmax(&similarity, config.temperature)
            .into_iter()
            .map(|(l, p)| entry(l, p, None, similarity.get(l).copied()))
            .collect()
    } else {
        mix(&trained, &similarity, config)
    };
    ranked.sort_by(|a, b| b.probability.total_cmp(&a.probability).then_with(|| a.label.cmp(&b.label)));
    Ok(ranked)
}

fn entry(label: &str, probability: f32, classifier: Option<f32>, similarity: Option<f32>) -> Ranked {
    Ranked { label: label.to_owned(), probability, classifier, similarity }
}

/// Both experts: the gallery's softmax (trained labels pooled into one competitor) gives the
/// mass `m` of gallery-only products; trained labels share `1 - m`.
fn mix(trained: &HashMap<&str, f32>, similarity: &HashMap<&str, f32>, config: &FusionConfig) -> Vec<Ranked> {
    let t = config.temperature;
    let new_only: HashMap<&str, f32> =
        similarity.iter().filter(|(l, _)| !trained.contains_key(*l)).map(|(&l, &s)| (l, s)).collect();
    let known: HashMap<&str, f32> =
        similarity.iter().filter(|(l, _)| trained.contains_key(*l)).map(|(&l, &s)| (l, s)).collect();

    // Log-sum-exp of the trained labels' similarities: pooled, they compete as one entry.
    let pooled = if known.is_empty() {
        config.trained_reference_similarity / t
    } else {
        log_sum_exp(known.values().map(|s| s / t))
    };
    let new_logits: Vec<f32> = new_only.values().map(|s| s / t).collect();
    let z = log_sum_exp(new_logits.iter().copied().chain(std::iter::once(pooled)));
    let new_mass: f32 = new_logits.iter().map(|x| (x - z).exp()).sum();

    let gallery_known = softmax(&known, t);
    let w = config.classifier_weight.clamp(0.0, 1.0);
    let mut out: Vec<Ranked> = trained
        .iter()
        .map(|(&l, &c)| {
            let g = if known.is_empty() { c } else { gallery_known.get(l).copied().unwrap_or(0.0) };
            entry(l, (1.0 - new_mass) * (w * c + (1.0 - w) * g), Some(c), similarity.get(l).copied())
        })
        .collect();
    out.extend(new_only.iter().map(|(&l, &s)| entry(l, (s / t - z).exp(), None, Some(s))));
    out
}

fn log_sum_exp(xs: impl Iterator<Item = f32> + Clone) -> f32 {
    let max = xs.clone().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    max + xs.map(|x| (x - max).exp()).sum::<f32>().ln()
}

fn softmax<'a>(scores: &HashMap<&'a str, f32>, t: f32) -> HashMap<&'a str, f32> {
    let z = log_sum_exp(scores.values().map(|s| s / t));
    scores.iter().map(|(&l, &s)| (l, (s / t - z).exp())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn sims(v: &[(&str, f32)]) -> Vec<LabelSimilarity> {
        v.iter().map(|(l, s)| LabelSimilarity { label: l.to_string(), similarity: *s }).collect()
    }

    #[test]
    fn classifier_alone_keeps_its_probabilities() {
        let l = labels(&["a", "b"]);
        let ev = Evidence { footwear: 1.0, classifier: Some((&l, &[0.3, 0.7])), gallery: &[] };
        let r = fuse(&ev, &FusionConfig::default()).unwrap();
        assert_eq!((r[0].label.as_str(), r[0].probability), ("b", 0.7));
    }

    #[test]
    fn an_enrolled_product_outranks_a_confident_classifier_when_the_gallery_is_sure() {
        // The classifier never saw "new" and is confidently wrong; the query is far closer to
        // the enrolled photos of "new" (0.92) than to any trained label's photos (0.6).
        let l = labels(&["a", "b"]);
        let g = sims(&[("a", 0.60), ("b", 0.58), ("new", 0.92)]);
        let ev = Evidence { footwear: 1.0, classifier: Some((&l, &[0.95, 0.05])), gallery: &g };
        let r = fuse(&ev, &FusionConfig::default()).unwrap();
        assert_eq!(r[0].label, "new");
        assert!(r[0].probability > 0.99, "{r:?}");
    }

    #[test]
    fn a_gallery_of_new_products_only_does_not_swamp_the_classifier() {
        // Only enrolled products are in the gallery and the query looks like none of them
        // (0.4 < the 0.7 reference): the trained labels keep nearly all the mass.
        let l = labels(&["a", "b"]);
        let g = sims(&[("new", 0.40)]);
        let ev = Evidence { footwear: 1.0, classifier: Some((&l, &[0.9, 0.1])), gallery: &g };
        let r = fuse(&ev, &FusionConfig::default()).unwrap();
        assert_eq!(r[0].label, "a");
        assert!(r[0].probability > 0.89, "{r:?}");
    }

    #[test]
    fn mismatched_lengths_and_bad_temperature_are_errors() {
        let l = labels(&["a", "b"]);
        let ev = Evidence { footwear: 1.0, classifier: Some((&l, &[1.0])), gallery: &[] };
        assert!(fuse(&ev, &FusionConfig::default()).is_err());
        let ev = Evidence { footwear: 1.0, classifier: None, gallery: &[] };
        let bad = FusionConfig { temperature: 0.0, ..FusionConfig::default() };
        assert!(fuse(&ev, &bad).is_err());
    }

    proptest! {
        #[test]
        fn fused_probabilities_sum_to_one(
            probs in prop::collection::vec(0.0f32..1.0, 1..6),
            gal in prop::collection::vec(-1.0f32..1.0, 0..8),
            w in 0.0f32..1.0,
            t in 0.01f32..1.0,
        ) {
            let total: f32 = probs.iter().sum::<f32>().max(1e-6);
            let probs: Vec<f32> = probs.iter().map(|p| p / total).collect();
            let l: Vec<String> = (0..probs.len()).map(|i| format!("t{i}")).collect();
            // Gallery labels overlap the trained ones for even indices, are new for odd ones.
            let g: Vec<LabelSimilarity> = gal.iter().enumerate()
                .map(|(i, &s)| LabelSimilarity { label: if i % 2 == 0 { format!("t{}", i / 2) } else { format!("n{i}") }, similarity: s })
                .collect();
            let cfg = FusionConfig { temperature: t, classifier_weight: w, ..FusionConfig::default() };
            let ev = Evidence { footwear: 1.0, classifier: Some((&l, &probs)), gallery: &g };
            let r = fuse(&ev, &cfg).unwrap();
            let sum: f32 = r.iter().map(|x| x.probability).sum();
            prop_assert!((sum - 1.0).abs() < 1e-3, "sum {sum} {r:?}");
            prop_assert!(r.windows(2).all(|w| w[0].probability >= w[1].probability));
        }
    }
}
