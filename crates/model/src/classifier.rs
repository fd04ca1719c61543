//! The identifier every front end uses (predict, serve, evaluate): a batch of input tensors in,
//! per-image label probabilities and a footwear probability out.
//!
//! Two kinds: the pretrained ImageNet network on its own (labels are ImageNet's 1000 classes), or
//! a trained run folder (`RUN/model.onnx` + `RUN/labels.json`, labels are sneaker models). The
//! footwear check always comes from the pretrained ImageNet head: a trained sneaker classifier has
//! no "none of the above" class, so it cannot say that a photo shows no shoe at all.

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array4, ArrayView4, Axis};

use crate::assets::Assets;
use crate::efficientnet_lite::{FEATURES, INPUT_SIZE};
use crate::error::{ModelError, Result};
use crate::imagenet;
use crate::runtime::{Backbone, Runtime, Session};

/// Output of a trained run's graph: class probabilities `[N, M]`.
pub const PROBS: &str = "probs";
/// A run's graph file and label list, relative to the run folder.
pub use crate::run_layout::{LABELS as RUN_LABELS, MODEL as RUN_MODEL};

/// What the network says about one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Probability of each label (`Classifier::labels`), summing to about 1.
    pub probs: Vec<f32>,
    /// Probability that the photo shows footwear at all (ImageNet footwear classes summed).
    pub footwear: f32,
    /// The pooled 1280-d features the labels were predicted from (a trained run's own `features`
    /// output when its graph has one, else the pretrained backbone's), not normalised: the
    /// gallery embeds photos with exactly these, so identification needs no second pass.
    pub features: Vec<f32>,
}

/// Which kind of model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierKind {
    /// The pretrained ImageNet network alone.
    Imagenet,
    /// A trained run: labels are sneaker models.
    Trained,
}

/// The pretrained network, or a trained run plus the pretrained network for the footwear check.
pub struct Classifier {
    kind: ClassifierKind,
    labels: Vec<String>,
    run_dir: Option<PathBuf>,
    backbone: Backbone,
    /// The run's graph; `None` for the ImageNet classifier.
    run: Option<Session>,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier").field("kind", &self.kind).field("labels", &self.labels.len()).finish()
    }
}

impl Classifier {
    /// The pretrained EfficientNet-Lite0 with its ImageNet head.
    pub fn pretrained(assets: &Assets) -> Result<Classifier> {
        let labels = (0..imagenet::NUM_CLASSES).map(|i| imagenet::class_name(i).to_owned()).collect();
        Ok(Classifier {
            kind: ClassifierKind::Imagenet,
            labels,
            run_dir: None,
            backbone: Backbone::load(assets)?,
            run: None,
        })
    }

    /// A trained run folder: `model.onnx` (input `[N,3,S,S]`, output `probs` `[N,M]`) and
    /// `labels.json` (a JSON array of M names, in output order).
    pub fn from_run(assets: &Assets, run_dir: &Path) -> Result<Classifier> {
        let labels = read_labels(&run_dir.join(RUN_LABELS))?;
        let rt = Runtime::from_assets(assets)?;
        let run = Session::from_file(&rt, &run_dir.join(RUN_MODEL))?;
        if !run.output_names().iter().any(|n| n == PROBS) {
            return Err(ModelError::Mismatch(format!(
                "{}: the graph has no `{PROBS}` output (outputs: {:?})",
                run_dir.join(RUN_MODEL).display(),
                run.output_names()
            )));
        }
        Ok(Classifier {
            kind: ClassifierKind::Trained,
            labels,
            run_dir: Some(run_dir.to_owned()),
            backbone: Backbone::load(assets)?,
            run: Some(run),
        })
    }

    pub fn kind(&self) -> ClassifierKind {
        self.kind
    }

    /// Label names, in the order of `Scores::probs`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The run folder, for a trained classifier.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run_dir.as_deref()
    }

    /// Side of the square input the networks take.
    pub fn input_size(&self) -> usize {
        INPUT_SIZE
    }

    /// Classifies `batch` (`[N, 3, 224, 224]`, normalised as `sneaker_vision::to_input_tensor`).
    pub fn classify(&mut self, batch: ArrayView4<'_, f32>) -> Result<Vec<Scores>> {
        let backbone = self.backbone.run(batch)?;
        let imagenet_probs = softmax_rows(&backbone.logits);
        let footwear: Vec<f32> =
            imagenet_probs.rows().into_iter().map(|p| imagenet::FOOTWEAR.iter().map(|&i| p[i]).sum()).collect();
        let mut features = backbone.features;
        let probs = match self.run.as_mut() {
            None => imagenet_probs.clone(),
            Some(run) => {
                let size = run.image_size();
                let mut out = if size == INPUT_SIZE { run.run(batch)? } else { run.run(resample(batch, size).view())? };
                if out.0.contains_key(FEATURES) {
                    features = out.take2(FEATURES)?;
                }
                let probs = out.take2(PROBS)?;
                if probs.ncols() != self.labels.len() {
                    return Err(ModelError::Mismatch(format!(
                        "the run's graph gives {} probabilities but labels.json lists {} labels",
                        probs.ncols(),
                        self.labels.len()
                    )));
                }
                probs
            }
        };
        Ok(probs
            .rows()
            .into_iter()
            .zip(footwear)
            .zip(features.rows())
            .map(|((p, footwear), f)| Scores { probs: p.to_vec(), footwear, features: f.to_vec() })
            .collect())
    }

    /// Classifies CHW tensors made by `sneaker_vision::to_input_tensor`, one per image.
    pub fn classify_tensors(&mut self, tensors: &[Vec<f32>]) -> Result<Vec<Scores>> {
        if tensors.is_empty() {
            return Ok(Vec::new());
        }
        let len = 3 * INPUT_SIZE * INPUT_SIZE;
        if let Some(bad) = tensors.iter().find(|t| t.len() != len) {
            return Err(ModelError::Input(format!("an input tensor has {} values, expected {len}", bad.len())));
        }
        let flat: Vec<f32> = tensors.concat();
        let batch = ArrayView4::from_shape((tensors.len(), 3, INPUT_SIZE, INPUT_SIZE), &flat)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        self.classify(batch)
    }
}

/// `batch` `[N, C, H, W]` resampled to `[N, C, size, size]`, each output pixel the mean of the
/// input pixels its footprint covers (box filter), so shrinking 224 → 64 does not alias. For runs
/// trained at another size than the backbone's 224 (a scratch CNN may be): the backbone still
/// needs 224 for the footwear check, so the batch arrives at 224 and the run gets its own size.
fn resample(batch: ArrayView4<'_, f32>, size: usize) -> Array4<f32> {
    let (n, c, h, w) = batch.dim();
    let span = |o: usize, from: usize| {
        let lo = o * from / size;
        (lo, ((o + 1) * from).div_ceil(size).max(lo + 1).min(from))
    };
    Array4::from_shape_fn((n, c, size, size), |(i, ch, y, x)| {
        let ((y0, y1), (x0, x1)) = (span(y, h), span(x, w));
        let mut sum = 0.0;
        for yy in y0..y1 {
            for xx in x0..x1 {
                sum += batch[[i, ch, yy, xx]];
            }
        }
        sum / ((y1 - y0) * (x1 - x0)) as f32
    })
}

/// Reads a run's `labels.json`: a non-empty JSON array of strings.
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io { path: path.to_owned(), source })?;
    let labels: Vec<String> = serde_json::from_str(&text).map_err(|e| ModelError::BadWeights {
        path: path.to_owned(),
        detail: format!("not a JSON array of labels: {e}"),
    })?;
    if labels.is_empty() {
        return Err(ModelError::BadWeights { path: path.to_owned(), detail: "no labels".into() });
    }
    Ok(labels)
}

/// Row-wise softmax, computed stably (max subtracted first).
pub fn softmax_rows(logits: &Array2<f32>) -> Array2<f32> {
    let mut out = logits.clone();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    out
}

/// Indices of the `k` highest probabilities, highest first; NaNs last.
pub fn top_k(probs: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order.sort_by_key(|&i| probs[i].is_nan());
    order.truncate(k);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn resample_averages_footprints() {
        let b = Array4::from_shape_fn((1, 1, 4, 4), |(_, _, y, x)| (y * 4 + x) as f32);
        let r = resample(b.view(), 2);
        assert_eq!(r.into_raw_vec_and_offset().0, vec![2.5, 4.5, 10.5, 12.5]);
        let same = Array4::from_shape_fn((2, 3, 5, 5), |(i, c, y, x)| (i + c * 7 + y * 3 + x) as f32);
        assert_eq!(resample(same.view(), 5), same);
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        // numpy: e = np.exp([1,2,3] - 3); e / e.sum() -> [0.09003057, 0.24472847, 0.66524096]
        let p = softmax_rows(&array![[1.0f32, 2.0, 3.0], [1000.0, 1000.0, 1000.0]]);
        assert!((p[[0, 0]] - 0.090_030_57).abs() < 1e-6);
        assert!((p[[0, 2]] - 0.665_240_96).abs() < 1e-6);
        assert!((p.row(1).sum() - 1.0).abs() < 1e-6, "large logits must not overflow");
    }

    #[test]
    fn top_k_orders_highest_first_truncates_and_puts_nan_last() {
        assert_eq!(top_k(&[0.1, 0.5, 0.2, 0.2], 3), vec![1, 2, 3]);
        assert_eq!(top_k(&[0.1, 0.5], 5), vec![1, 0]);
        assert_eq!(top_k(&[f32::NAN, 0.3, 0.7], 3), vec![2, 1, 0]);
        assert!(top_k(&[], 5).is_empty());
    }

    #[test]
    fn read_labels_rejects_bad_files_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.json");
        std::fs::write(&path, "{\"a\": 1}").expect("write");
        let err = read_labels(&path).expect_err("an object is not a label list").to_string();
        assert!(err.contains("labels.json"), "{err}");
        std::fs::write(&path, "[]").expect("write");
        assert!(read_labels(&path).is_err());
        std::fs::write(&path, "[\"nike_dunk_low\", \"adidas_samba\"]").expect("write");
        assert_eq!(read_labels(&path).expect("valid"), vec!["nike_dunk_low", "adidas_samba"]);
    }
}
