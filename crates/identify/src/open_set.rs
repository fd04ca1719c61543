//! From folders of held-out photos to a calibration and its held-out check.
//!
//! Photos are run through the network once ([`observe`]); fusion settings and thresholds are
//! then tried on the stored observations, so calibrating costs one forward pass per photo. A
//! deterministic split by each photo's place in its catalog (`label/file`, not the absolute
//! path, so every checkout splits alike) keeps part of every kind for an honest check of the
//! chosen thresholds on photos they were not fitted to.

use std::collections::HashSet;
use std::path::PathBuf;

use image::RgbImage;
use serde::Serialize;
use sneaker_catalog::Catalog;
use sneaker_model::predictor::{Predictor, Scores};
use sneaker_vision::{DecodeLimits, INPUT_SIZE, decode_file_for_input, to_input_tensor};

use crate::calibrate::{Calibration, CalibrationConfig, Outcome, Sample, SampleKind, calibrate, evaluate_at};
use crate::error::{IdentifyError, Result};
use crate::fuse::{Evidence, FusionConfig, LabelSimilarity, fuse};
use crate::identifier::Identifier;

/// Temperatures tried for the gallery softmax; the one with the best balanced accuracy wins.
const TEMPERATURES: [f32; 4] = [0.02, 0.05, 0.1, 0.2];
const BATCH: usize = 16;

/// A photo to observe.
pub enum Source {
    File(PathBuf),
    Image(RgbImage),
}

pub struct Input {
    pub name: String,
    /// What the held-out split hashes: the catalog-relative file, the file name, or the name.
    pub key: String,
    pub kind: SampleKind,
    pub label: Option<String>,
    pub source: Source,
}

/// What the network and gallery said about one photo.
pub struct Observation {
    pub name: String,
    pub key: String,
    pub kind: SampleKind,
    pub label: Option<String>,
    pub scores: Scores,
    pub similarities: Vec<LabelSimilarity>,
}

/// The photos of a calibration: `known` catalog photos whose labels the identifier knows,
/// `unknown` catalog photos whose labels it does not (known labels there are skipped, so a mixed
/// catalog can be passed), and non-footwear files and generated pictures.
pub fn inputs(
    identifier: &Identifier,
    known: Option<&Catalog>,
    unknown: Option<&Catalog>,
    not_footwear: &[PathBuf],
    generated: Vec<(String, RgbImage)>,
) -> Result<Vec<Input>> {
    let mut names: HashSet<String> = identifier.labels().unwrap_or_default().iter().cloned().collect();
    if let Some(g) = identifier.gallery() {
        names.extend(g.labels().map_err(|e| IdentifyError::Input(format!("gallery labels: {e}")))?);
    }
    let mut out = Vec::new();
    for (catalog, want_known) in [(known, true), (unknown, false)] {
        let Some(catalog) = catalog else { continue };
        for img in catalog.images() {
            if names.contains(&img.label) != want_known {
                continue;
            }
            let kind = if want_known { SampleKind::Known } else { SampleKind::UnknownSneaker };
            let path = catalog.path_of(img);
            out.push(Input {
                name: path.display().to_string(),
                key: img.file.clone(),
                kind,
                label: Some(img.label.clone()),
                source: Source::File(path),
            });
        }
    }
    out.extend(not_footwear.iter().map(|p| Input {
        name: p.display().to_string(),
        key: p.file_name().map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into_owned()),
        kind: SampleKind::NotFootwear,
        label: None,
        source: Source::File(p.clone()),
    }));
    out.extend(generated.into_iter().map(|(name, img)| Input {
        key: name.clone(),
        name,
        kind: SampleKind::NotFootwear,
        label: None,
        source: Source::Image(img),
    }));
    Ok(out)
}

/// Runs every input through the network and the gallery. Unreadable photos are skipped and
/// returned as messages naming the file.
pub fn observe(
    predictor: &mut Predictor,
    identifier: &Identifier,
    inputs: Vec<Input>,
    limits: &DecodeLimits,
    on_progress: &mut dyn FnMut(usize, usize),
) -> Result<(Vec<Observation>, Vec<String>)> {
    let total = inputs.len();
    let (mut out, mut failures) = (Vec::with_capacity(total), Vec::new());
    let mut done = 0;
    let mut inputs = inputs.into_iter().peekable();
    while inputs.peek().is_some() {
        let mut batch = Vec::with_capacity(BATCH);
        let mut tensors = Vec::with_capacity(BATCH);
        for input in inputs.by_ref().take(BATCH) {
            let image = match &input.source {
                Source::File(path) => decode_file_for_input(path, limits, INPUT_SIZE),
                Source::Image(img) => Ok(img.clone()),
            };
            match image {
                Ok(img) => {
                    tensors.push(to_input_tensor(&img));
                    batch.push(input);
                }
                Err(e) => failures.push(e.to_string()),
            }
            done += 1;
        }
        let scores = predictor.scores_of_tensors(&tensors).map_err(|e| IdentifyError::Input(e.to_string()))?;
        for (input, scores) in batch.into_iter().zip(scores) {
            let similarities = identifier.similarities(&scores)?;
            out.push(Observation {
                name: input.name,
                key: input.key,
                kind: input.kind,
                label: input.label,
                scores,
                similarities,
            });
        }
        on_progress(done, total);
    }
    Ok((out, failures))
}

/// The calibration samples the observations give under one fusion setting.
pub fn samples(observations: &[&Observation], identifier: &Identifier, fusion: &FusionConfig) -> Result<Vec<Sample>> {
    observations
        .iter()
        .map(|o| {
            let classifier = identifier.labels().map(|l| (l, o.scores.probs.as_slice()));
            let evidence = Evidence { footwear: o.scores.footwear, classifier, gallery: &o.similarities };
            let ranking = fuse(&evidence, fusion)?;
            Ok(Sample::from_ranking(o.kind, o.label.clone(), o.scores.footwear, evidence.best_similarity(), &ranking))
        })
        .collect()
}

/// Rates of the identifier's own fusion settings and thresholds (a stored calibration, or the
/// fall-backs) on observed photos: what `evaluate` reports for unknown rejection.
pub fn check(observations: &[Observation], identifier: &Identifier) -> Result<Outcome> {
    let all: Vec<&Observation> = observations.iter().collect();
    Ok(evaluate_at(&samples(&all, identifier, identifier.fusion())?, identifier.thresholds()))
}

/// A calibration fitted on one part of the photos and checked on the rest.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub calibration: Calibration,
    /// Rates of the chosen thresholds on the held-out part.
    pub held_out: Outcome,
    /// Rates on the held-out part with the fall-back (uncalibrated) thresholds, for comparison.
    pub held_out_uncalibrated: Outcome,
}

/// Whether a photo belongs to the held-out part: a hash of its key, so the split is the same
/// on every run and machine and does not depend on the order photos were listed in.
pub fn is_held_out(name: &str, fraction: f32) -> bool {
    // FNV-1a: stable across platforms and releases, unlike std's hasher.
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (h % 10_000) as f32 / 10_000.0 < fraction
}

/// Fits fusion temperature and thresholds on the non-held-out photos and checks them on the rest.
pub fn fit(
    observations: &[Observation],
    identifier: &Identifier,
    held_out_fraction: f32,
    config: &CalibrationConfig,
    source: &str,
) -> Result<Report> {
    let (held, fit_part): (Vec<&Observation>, Vec<&Observation>) =
        observations.iter().partition(|o| is_held_out(&o.key, held_out_fraction));
    let mut best: Option<Calibration> = None;
    let temperatures: &[f32] = if identifier.gallery().is_some() { &TEMPERATURES } else { &TEMPERATURES[1..2] };
    for &temperature in temperatures {
        let fusion = FusionConfig { temperature, ..*identifier.fusion() };
        let c = calibrate(&samples(&fit_part, identifier, &fusion)?, fusion, config, source)?;
        if best.as_ref().is_none_or(|b| c.calibration.balanced_accuracy > b.calibration.balanced_accuracy) {
            best = Some(c);
        }
    }
    let calibration = best.expect("at least one temperature is tried");
    let held_samples = samples(&held, identifier, &calibration.fusion)?;
    let held_out = evaluate_at(&held_samples, &calibration.thresholds);
    let held_out_uncalibrated = evaluate_at(&held_samples, &Default::default());
    Ok(Report { calibration, held_out, held_out_uncalibrated })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_held_out_split_is_stable_and_near_the_fraction() {
        let names: Vec<String> = (0..2000).map(|i| format!("dir/label/{i}.jpg")).collect();
        let held = names.iter().filter(|n| is_held_out(n, 0.5)).count();
        assert!((900..1100).contains(&held), "{held}");
        assert_eq!(is_held_out("a/b.jpg", 0.5), is_held_out("a/b.jpg", 0.5));
        assert!(!is_held_out("a/b.jpg", 0.0));
        assert!(is_held_out("a/b.jpg", 1.0));
    }
}
