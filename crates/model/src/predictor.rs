//! The one predictor every front end uses (predict, evaluate, calibrate, serve, the gallery): a
//! batch of input tensors in, per-image [`Scores`] out — label probabilities, a footwear
//! probability and the pooled features galleries embed with.
//!
//! Two kinds: the pretrained ImageNet network on its own (labels are ImageNet's 1000 classes), or
//! a trained [`Run`] (labels are sneaker models). The footwear check always comes from the
//! pretrained ImageNet head: a trained sneaker classifier has no "none of the above" class, so it
//! cannot say that a photo shows no shoe at all.
//!
//! Features: a run whose graph has a `features` output (bottleneck, finetune) embeds with its own
//! tuned backbone; one without (scratch, random) with the pretrained backbone's. The run's
//! manifest names which, with the network id its galleries' embedding id starts with. The photo's
//! colour descriptor follows the features ([`crate::colourway`]).

use std::path::Path;

use ndarray::{Array2, Array4, ArrayView4, Axis};

use crate::assets::Assets;
use crate::colourway::{append_colour, with_colour};
use crate::efficientnet_lite::{FEATURE_DIM, FEATURES, INPUT_SIZE};
use crate::error::{ModelError, Result};
use crate::imagenet;
use crate::run::{EmbeddingSource, Run, pretrained_embedding_id};
use crate::runtime::{Backbone, Runtime, Session};
use sneaker_vision::COLOUR_DIM;

pub use crate::run::PROBS;

/// What the network says about one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Probability of each label (`Predictor::labels`), summing to about 1.
    pub probs: Vec<f32>,
    /// Probability that the photo shows footwear at all (ImageNet footwear classes summed).
    pub footwear: f32,
    /// The embedding (see the module comment): the network's features (pooled 1280-d, or a trained
    /// embedding's vector) at unit length, then the colour descriptor. The gallery embeds photos
    /// with exactly these, so identification needs no second pass.
    pub features: Vec<f32>,
}

/// Which kind of model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredictorKind {
    /// The pretrained ImageNet network alone.
    Imagenet,
    /// A trained run: labels are sneaker models.
    Trained,
}

/// The pretrained network, or a trained run plus the pretrained network for the footwear check.
pub struct Predictor {
    labels: Vec<String>,
    run: Option<(Run, Session)>,
    /// Always loaded: footwear check, and features for runs that have none of their own.
    backbone: Backbone,
    embedding_id: String,
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor")
            .field("kind", &self.kind())
            .field("labels", &self.labels.len())
            .field("embedding_id", &self.embedding_id)
            .finish()
    }
}

impl Predictor {
    /// The pretrained EfficientNet-Lite0 with its ImageNet head.
    pub fn pretrained(assets: &Assets) -> Result<Predictor> {
        let labels = (0..imagenet::NUM_CLASSES).map(|i| imagenet::class_name(i).to_owned()).collect();
        Ok(Predictor {
            labels,
            run: None,
            backbone: Backbone::load(assets)?,
            embedding_id: embedding_of(assets, None)?.0,
        })
    }

    /// A trained run: its graph (input `[N,3,S,S]`, output `probs` `[N,M]`, optionally `features`)
    /// checked against its manifest.
    pub fn from_run(assets: &Assets, run: Run) -> Result<Predictor> {
        let path = run.file(crate::run_layout::MODEL);
        let session = Session::from_file(&Runtime::from_assets(assets)?, &path)?;
        let outputs = session.output_names();
        let missing = [PROBS]
            .into_iter()
            .chain((run.manifest().embedding.source == EmbeddingSource::Run).then_some(FEATURES))
            .find(|want| !outputs.iter().any(|o| o == want));
        if let Some(want) = missing {
            return Err(ModelError::Mismatch(format!(
                "{}: the graph has no `{want}` output (outputs: {outputs:?}); it does not belong to this run's manifest",
                path.display()
            )));
        }
        Ok(Predictor {
            labels: run.labels().to_vec(),
            embedding_id: embedding_of(assets, Some(&run))?.0,
            backbone: Backbone::load(assets)?,
            run: Some((run, session)),
        })
    }

    /// Opens the run folder `dir`, or the pretrained network for `None`.
    pub fn open(assets: &Assets, dir: Option<&Path>) -> Result<Predictor> {
        match dir {
            Some(dir) => Predictor::from_run(assets, Run::open(assets, dir)?),
            None => Predictor::pretrained(assets),
        }
    }

    pub fn kind(&self) -> PredictorKind {
        if self.run.is_some() { PredictorKind::Trained } else { PredictorKind::Imagenet }
    }

    /// Label names, in the order of `Scores::probs`.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The trained run, if any.
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref().map(|(run, _)| run)
    }

    /// The run folder, for a trained predictor.
    pub fn run_dir(&self) -> Option<&Path> {
        self.run().map(Run::dir)
    }

    /// Names the embedding `Scores::features` and [`Predictor::embed`] give; galleries carry it.
    pub fn embedding_id(&self) -> &str {
        &self.embedding_id
    }

    /// Embedding width: the network's features (the run's, its manifest says, else the pooled
    /// backbone's) and the colour part.
    pub fn embedding_dim(&self) -> usize {
        self.network_dim() + COLOUR_DIM
    }

    fn network_dim(&self) -> usize {
        network_dim(self.run())
    }

    /// Side of the square input the networks take.
    pub fn input_size(&self) -> usize {
        INPUT_SIZE
    }

    /// Scores `batch` (`[N, 3, 224, 224]`, normalised as `sneaker_vision::to_input_tensor`).
    pub fn scores(&mut self, batch: ArrayView4<'_, f32>) -> Result<Vec<Scores>> {
        let backbone = self.backbone.run(batch)?;
        let imagenet_probs = softmax_rows(&backbone.logits);
        let footwear: Vec<f32> =
            imagenet_probs.rows().into_iter().map(|p| imagenet::FOOTWEAR.iter().map(|&i| p[i]).sum()).collect();
        let mut features = backbone.features;
        let probs = match self.run.as_mut() {
            None => imagenet_probs,
            Some((_, session)) => {
                let mut out = run_at_size(session, batch)?;
                if out.0.contains_key(FEATURES) {
                    features = out.take2(FEATURES)?;
                }
                let probs = out.take2(PROBS)?;
                if probs.ncols() != self.labels.len() {
                    return Err(ModelError::Mismatch(format!(
                        "the run's graph gives {} probabilities but its manifest lists {} labels",
                        probs.ncols(),
                        self.labels.len()
                    )));
                }
                probs
            }
        };
        let features = append_colour(features, batch)?;
        Ok(probs
            .rows()
            .into_iter()
            .zip(footwear)
            .zip(features.rows())
            .map(|((p, footwear), f)| Scores { probs: p.to_vec(), footwear, features: f.to_vec() })
            .collect())
    }

    /// Label probabilities alone, `[N, M]`: one network pass, for evaluation, where neither the
    /// footwear check nor the features are wanted.
    pub fn probs(&mut self, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let probs = match self.run.as_mut() {
            Some((_, session)) => run_at_size(session, batch)?.take2(PROBS)?,
            None => softmax_rows(&self.backbone.run(batch)?.logits),
        };
        if probs.ncols() != self.labels.len() {
            return Err(ModelError::Mismatch(format!(
                "the graph gives {} probabilities for {} labels",
                probs.ncols(),
                self.labels.len()
            )));
        }
        Ok(probs)
    }

    /// The embedding features alone, `[N, embedding_dim]`, not necessarily normalised: one network pass (the run's
    /// graph when it embeds by itself, else the backbone), for building galleries.
    pub fn embed(&mut self, batch: ArrayView4<'_, f32>) -> Result<Array2<f32>> {
        let features = match self.run.as_mut() {
            Some((run, session)) if run.manifest().embedding.source == EmbeddingSource::Run => {
                run_at_size(session, batch)?.take2(FEATURES)?
            }
            _ => self.backbone.run(batch)?.features,
        };
        if features.ncols() != self.network_dim() {
            return Err(ModelError::Mismatch(format!(
                "`{FEATURES}` has {} columns, expected {}",
                features.ncols(),
                self.network_dim()
            )));
        }
        append_colour(features, batch)
    }

    /// [`Predictor::scores`] of CHW tensors made by `sneaker_vision::to_input_tensor`.
    pub fn scores_of_tensors(&mut self, tensors: &[Vec<f32>]) -> Result<Vec<Scores>> {
        if tensors.is_empty() {
            return Ok(Vec::new());
        }
        let flat = flatten(tensors)?;
        self.scores(batch_view(&flat, tensors.len())?)
    }

    /// [`Predictor::embed`] of CHW tensors made by `sneaker_vision::to_input_tensor`.
    pub fn embed_tensors(&mut self, tensors: &[Vec<f32>]) -> Result<Array2<f32>> {
        if tensors.is_empty() {
            return Ok(Array2::zeros((0, self.embedding_dim())));
        }
        let flat = flatten(tensors)?;
        self.embed(batch_view(&flat, tensors.len())?)
    }
}

/// The embedding id and width a predictor over `run` (the pretrained network for `None`) gives,
/// without loading a network: what a gallery is opened with before anything is embedded.
pub fn embedding_of(assets: &Assets, run: Option<&Run>) -> Result<(String, usize)> {
    let network_id = match run {
        Some(run) => run.embedding_id().to_owned(),
        None => pretrained_embedding_id(assets)?,
    };
    Ok((with_colour(&network_id), network_dim(run) + COLOUR_DIM))
}

/// Width of the network's features: the run's own (its manifest says), else the pooled backbone's.
fn network_dim(run: Option<&Run>) -> usize {
    match run {
        Some(run) if run.manifest().embedding.source == EmbeddingSource::Run => run.manifest().embedding.dim,
        _ => FEATURE_DIM,
    }
}

fn flatten(tensors: &[Vec<f32>]) -> Result<Vec<f32>> {
    let len = 3 * INPUT_SIZE * INPUT_SIZE;
    if let Some(bad) = tensors.iter().find(|t| t.len() != len) {
        return Err(ModelError::Input(format!("an input tensor has {} values, expected {len}", bad.len())));
    }
    Ok(tensors.concat())
}

fn batch_view(flat: &[f32], n: usize) -> Result<ArrayView4<'_, f32>> {
    ArrayView4::from_shape((n, 3, INPUT_SIZE, INPUT_SIZE), flat).map_err(|e| ModelError::Input(e.to_string()))
}

/// Runs a run's graph on a 224 batch, resampled first when the graph takes another size.
fn run_at_size(session: &mut Session, batch: ArrayView4<'_, f32>) -> Result<crate::runtime::Outputs> {
    let size = session.image_size();
    if size == INPUT_SIZE { session.run(batch) } else { session.run(resample(batch, size).view()) }
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
}
