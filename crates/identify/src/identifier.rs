//! The identification step predict, evaluate and serve share: a network's [`Scores`] (label
//! probabilities, footwear probability, pooled features) plus the gallery → one [`Answer`].
use sneaker_gallery::{GalleryBackend, GalleryError, GalleryLocation, OpenMode, open_gallery, run_gallery_dir};
use sneaker_model::predictor::{Predictor, Scores};

use crate::calibrate::Calibration;
use crate::decide::{Answer, ThresholdOverrides, Thresholds, ThresholdsInForce, decide};
use crate::error::{IdentifyError, Result};
use crate::fuse::{Evidence, FusionConfig, LabelSimilarity, fuse};

/// Neighbours read from the gallery per query: enough that every label near the query shows up
/// with its best photo, few enough that search stays cheap.
pub const NEIGHBOURS: usize = 50;

/// Classifier labels, gallery and calibrated thresholds, held together. Every answer of the
/// product goes through one: with the bare ImageNet network it has no labels and no gallery, and
/// so can only say "not sure" or "not a sneaker".
#[derive(Debug)]
pub struct Identifier {
    /// Trained sneaker labels, in the order of `Scores::probs`; `None` for the ImageNet network,
    /// whose 1000 classes are not sneaker models and so are not fused.
    labels: Option<Vec<String>>,
    /// A folder's or a database's gallery (see `sneaker_gallery::GalleryBackend`).
    gallery: Option<Box<dyn GalleryBackend>>,
    /// Calibrated (or default) thresholds, before any flag.
    calibrated_thresholds: Thresholds,
    overrides: ThresholdOverrides,
    /// What decisions use: `calibrated_thresholds` with `overrides` on top.
    thresholds: Thresholds,
    fusion: FusionConfig,
    calibrated: bool,
}

impl Identifier {
    pub fn new(
        labels: Option<Vec<String>>,
        gallery: Option<Box<dyn GalleryBackend>>,
        calibration: Option<&Calibration>,
    ) -> Identifier {
        let thresholds = calibration.map(|c| c.thresholds).unwrap_or_default();
        Identifier {
            labels,
            gallery,
            calibrated_thresholds: thresholds,
            overrides: ThresholdOverrides::default(),
            thresholds,
            fusion: calibration.map(|c| c.fusion).unwrap_or_default(),
            calibrated: calibration.is_some(),
        }
    }

    /// The same identifier with thresholds set by hand replacing the calibrated ones.
    pub fn with_overrides(self, overrides: ThresholdOverrides) -> Result<Identifier> {
        overrides.validate()?;
        Ok(self.overridden(overrides))
    }

    /// `overrides` (already validated) in force on top of the calibrated thresholds.
    fn overridden(mut self, overrides: ThresholdOverrides) -> Identifier {
        self.overrides = overrides;
        self.thresholds = overrides.applied_to(self.calibrated_thresholds);
        self
    }

    /// What `predict`, `serve`, `calibrate` and `evaluate` all open beside `predictor`: its run's
    /// labels, the gallery at `gallery` (default `RUN/gallery`; a folder or a `postgres://`
    /// database) when one is there (`mode` says whether to start one), checked against the
    /// predictor's embedding, and the calibration (`RUN/open_set.json`, or a gallery folder's
    /// without a run). Returns where it looked for the gallery, for callers that report a missing
    /// one.
    pub fn open(
        predictor: &Predictor,
        gallery: Option<&GalleryLocation>,
        mode: OpenMode,
    ) -> Result<(Identifier, Option<GalleryLocation>)> {
        let run = predictor.run_dir();
        let location = gallery.cloned().or_else(|| run.map(|r| GalleryLocation::Folder(run_gallery_dir(r))));
        let labels = predictor.run().map(|r| r.labels().to_vec());
        let gallery = match &location {
            Some(l) => Identifier::open_gallery(l, predictor.embedding_id(), predictor.embedding_dim(), mode)?,
            None => None,
        };
        let folder = match &location {
            Some(GalleryLocation::Folder(dir)) => Some(dir.as_path()),
            _ => None,
        };
        let calibration = match run.or(folder) {
            Some(d) => crate::read_calibration(d)?,
            None => None,
        };
        Ok((Identifier::new(labels, gallery, calibration.as_ref()), location))
    }

    /// The same identifier deciding with `calibration` (or the fall-backs for `None`); flags
    /// given earlier still win.
    pub fn with_calibration(self, calibration: Option<&Calibration>) -> Identifier {
        let overrides = self.overrides;
        Identifier::new(self.labels, self.gallery, calibration).overridden(overrides)
    }

    /// Opens the gallery at `location` (`None` when there is none and `mode` does not start one),
    /// checked against the embedding model.
    pub fn open_gallery(
        location: &GalleryLocation,
        model_id: &str,
        dim: usize,
        mode: OpenMode,
    ) -> Result<Option<Box<dyn GalleryBackend>>> {
        match open_gallery(location, model_id, dim, mode) {
            Ok(g) => Ok(Some(g)),
            Err(GalleryError::Missing { .. }) => Ok(None),
            Err(e) => Err(IdentifyError::Input(format!("gallery {location}: {e}"))),
        }
    }

    pub fn labels(&self) -> Option<&[String]> {
        self.labels.as_deref()
    }

    pub fn gallery(&self) -> Option<&dyn GalleryBackend> {
        self.gallery.as_deref()
    }

    /// For enrolment: products added here are searchable by the next query.
    pub fn gallery_mut(&mut self) -> Option<&mut (dyn GalleryBackend + 'static)> {
        self.gallery.as_deref_mut()
    }

    pub fn set_gallery(&mut self, gallery: Option<Box<dyn GalleryBackend>>) {
        self.gallery = gallery;
    }

    /// The thresholds decisions use.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The thresholds decisions use, each with where it came from.
    pub fn thresholds_in_force(&self) -> ThresholdsInForce {
        ThresholdsInForce::new(self.calibrated_thresholds, self.calibrated, &self.overrides)
    }

    pub fn fusion(&self) -> &FusionConfig {
        &self.fusion
    }

    /// Whether the thresholds came from a calibration (rather than the fall-back defaults).
    pub fn is_calibrated(&self) -> bool {
        self.calibrated
    }

    /// Whether there is anything to name sneakers with (trained labels or gallery photos). A
    /// shared gallery is asked each time: another server may just have enrolled its first photo.
    pub fn can_identify(&self) -> Result<bool> {
        if self.labels.is_some() {
            return Ok(true);
        }
        match &self.gallery {
            Some(g) => Ok(!g.is_empty().map_err(|e| IdentifyError::Input(format!("gallery: {e}")))?),
            None => Ok(false),
        }
    }

    /// Per-label best similarity of the photo to the gallery (empty without a gallery).
    pub fn similarities(&self, scores: &Scores) -> Result<Vec<LabelSimilarity>> {
        let Some(gallery) = self.gallery.as_ref() else {
            return Ok(Vec::new());
        };
        let found = gallery
            .search_labels(&scores.features, NEIGHBOURS)
            .map_err(|e| IdentifyError::Input(format!("gallery search: {e}")))?;
        Ok(found.into_iter().map(|l| LabelSimilarity { label: l.label, similarity: l.best }).collect())
    }

    /// Fuses and decides with the identifier's own fusion settings and thresholds.
    pub fn identify(&self, scores: &Scores) -> Result<Answer> {
        self.identify_with(scores, &self.fusion, &self.thresholds)
    }

    /// As [`Identifier::identify`] with other settings (calibration sweeps them).
    pub fn identify_with(&self, scores: &Scores, fusion: &FusionConfig, thresholds: &Thresholds) -> Result<Answer> {
        let gallery = self.similarities(scores)?;
        let classifier = match &self.labels {
            Some(labels) if labels.len() != scores.probs.len() => {
                return Err(IdentifyError::Input(format!(
                    "{} probabilities for {} labels",
                    scores.probs.len(),
                    labels.len()
                )));
            }
            Some(labels) => Some((labels.as_slice(), scores.probs.as_slice())),
            None => None,
        };
        let evidence = Evidence { footwear: scores.footwear, classifier, gallery: &gallery };
        let ranking = fuse(&evidence, fusion)?;
        Ok(decide(scores.footwear, evidence.best_similarity(), ranking, thresholds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Verdict;
    use sneaker_gallery::{Entry, Gallery, GalleryConfig};

    fn scores(probs: Vec<f32>, footwear: f32, features: Vec<f32>) -> Scores {
        Scores { probs, footwear, features }
    }

    fn gallery() -> Box<dyn GalleryBackend> {
        let mut g = Gallery::new("test", 3, GalleryConfig::default());
        for (label, v) in [("a", [1.0, 0.0, 0.0]), ("b", [0.0, 1.0, 0.0]), ("new", [0.0, 0.0, 1.0])] {
            g.add(Entry { label: label.into(), source: format!("{label}.jpg"), sha256: None }, &v).unwrap();
        }
        Box::new(g)
    }

    #[test]
    fn a_photo_of_an_enrolled_product_is_named_although_the_classifier_never_saw_it() {
        let id = Identifier::new(Some(vec!["a".into(), "b".into()]), Some(gallery()), None);
        // The classifier insists on "a"; the features point at the enrolled "new" product.
        let answer = id.identify(&scores(vec![0.9, 0.1], 0.9, vec![0.05, 0.0, 1.0])).unwrap();
        assert_eq!(answer.ranking[0].label, "new");
        assert_eq!(answer.verdict, Verdict::Match);
    }

    #[test]
    fn non_footwear_is_said_so_whatever_the_classifier_thinks() {
        let id = Identifier::new(Some(vec!["a".into(), "b".into()]), None, None);
        let answer = id.identify(&scores(vec![0.99, 0.01], 0.001, vec![1.0, 0.0, 0.0])).unwrap();
        assert_eq!(answer.verdict, Verdict::NotASneaker);
        assert!(!id.is_calibrated());
    }

    #[test]
    fn probabilities_of_the_wrong_length_are_an_error() {
        let id = Identifier::new(Some(vec!["a".into(), "b".into()]), None, None);
        assert!(id.identify(&scores(vec![1.0], 0.9, vec![1.0, 0.0, 0.0])).is_err());
    }

    #[test]
    fn without_labels_or_gallery_a_shoe_is_not_sure_and_flags_move_the_footwear_cut() {
        let id = Identifier::new(None, None, None);
        assert!(!id.can_identify().unwrap());
        let shoe = scores(vec![0.5; 4], 0.02, vec![1.0, 0.0, 0.0]);
        assert_eq!(id.identify(&shoe).unwrap().verdict, Verdict::NotSure);
        let strict = id.with_overrides(ThresholdOverrides { footwear: Some(0.5), ..Default::default() }).unwrap();
        assert_eq!(strict.identify(&shoe).unwrap().verdict, Verdict::NotASneaker);
        assert_eq!(strict.thresholds_in_force().footwear.source, crate::decide::Source::Flag);
    }
}
