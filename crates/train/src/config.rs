//! Training settings: one serde struct with defaults, read from flags or a TOML file, validated
//! before any work starts and written next to the model as `config.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sneaker_model::efficientnet_lite::Variant;

use crate::error::{Result, TrainError};

/// Which classifier to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Uniform probabilities: the floor every model must beat (log-loss = ln M).
    Random,
    /// The reference 4-layer CNN trained from scratch.
    Scratch,
    /// Frozen EfficientNet-Lite features (Lite0, or several backbones concatenated) + a trained top model.
    #[default]
    Bottleneck,
    /// The last N MBConv blocks + head trained, from a bottleneck run.
    Finetune,
    /// The last N MBConv blocks + an L2-normalised embedding trained for retrieval (CosFace).
    Embedding,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Random => "random",
            ModelKind::Scratch => "scratch",
            ModelKind::Bottleneck => "bottleneck",
            ModelKind::Finetune => "finetune",
            ModelKind::Embedding => "embedding",
        }
    }
}

/// Gradient descent flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with (heavy-ball) momentum; weight decay as L2 penalty.
    Sgd,
    /// Adam; weight decay as L2 penalty.
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
}

/// Learning-rate schedule over epochs (applied per step, after the warm-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Constant,
    /// Multiply by `lr_gamma` every `lr_step_epochs`.
    Step,
    /// Cosine decay to zero over the run.
    Cosine,
}

/// How a catalog is cut into train and validation images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// Stratified per image (the reference protocol): each label keeps its share on each side.
    Random,
    /// Whole groups (product / photo shoot) on one side only, so near-duplicates cannot leak.
    Group,
}

/// How unequal class sizes are compensated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BalanceKind {
    None,
    /// Loss weight of a class ∝ 1 / its image count (mean weight 1).
    Weighted,
    /// Batches drawn with probability ∝ 1 / class count.
    Sampled,
}

/// Image augmentation switches. Each training image is seen as `draws` augmented variants;
/// for the bottleneck and finetune models every draw's activations are cached on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Augmented variants per training image (draw 0 is always the plain image).
    pub draws: usize,
    /// Random resized crop (scale 0.5–1 of the area, aspect 3/4–4/3).
    pub crop: bool,
    /// Horizontal flip with probability 1/2.
    pub flip: bool,
    /// Brightness/contrast/saturation jitter of ±30 %.
    pub color: bool,
    /// Gaussian blur (σ up to 1.5 px) and JPEG re-compression (quality 30–90).
    pub noise: bool,
    /// Cut the shoe out of its plain background and paste it onto a generated or borrowed one.
    pub background: bool,
    /// Phone-photo distortions: tilt, a hand or trouser leg over the shoe, uneven light, colour
    /// cast, camera shake, lost detail ([`crate::phone`]). Absent from the configs of runs made
    /// before it existed, which had none of it.
    #[serde(default)]
    pub phone: bool,
    /// Half of the replaced backgrounds are crops of real photos ([`crate::scenes`]) rather than
    /// generated scenes. Off by default: over two seeds it moved nothing on real phone photos
    /// (wild-dev top-1 −0.008, top-5 −0.002, bootstrap intervals across zero) and cost the
    /// few-shot packshots about 0.02 (BENCHMARKS.md "Real photos behind the shoe"). Absent from
    /// the configs of runs made before it existed, which had none.
    #[serde(default)]
    pub scenes: bool,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            draws: 1,
            crop: true,
            flip: true,
            color: true,
            noise: true,
            background: true,
            phone: true,
            scenes: false,
        }
    }
}

impl TrainConfig {
    /// The seed of initialisation, augmentation draws and batch order: `seed` itself for member
    /// 0, so single models keep their cached draws.
    pub fn training_seed(&self) -> u64 {
        self.seed.wrapping_add((self.member as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

impl AugmentConfig {
    /// No augmentation at all (used for validation, evaluation and `draws = 1` runs).
    pub fn none() -> Self {
        AugmentConfig {
            draws: 1,
            crop: false,
            flip: false,
            color: false,
            noise: false,
            background: false,
            phone: false,
            scenes: false,
        }
    }

    /// A short stable description, part of the feature-cache key.
    pub fn key(&self) -> String {
        let b = |on: bool, c: char| if on { c } else { '-' };
        // Off, the phone and scenes switches add nothing, so the caches of runs made before them
        // stay valid.
        format!(
            "{}{}{}{}{}{}{}",
            b(self.crop, 'c'),
            b(self.flip, 'f'),
            b(self.color, 'j'),
            b(self.noise, 'n'),
            b(self.background, 'b'),
            if self.phone { "p" } else { "" },
            if self.scenes && self.background { "r" } else { "" }
        )
    }
}

/// Everything a training run needs. Defaults suit the `bottleneck` model on sneakers50.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub model: ModelKind,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub schedule: ScheduleKind,
    /// Epochs of linear warm-up from lr/10 (0 = none).
    pub warmup_epochs: usize,
    /// `step` schedule: epochs between decays.
    pub lr_step_epochs: usize,
    /// `step` schedule: decay factor.
    pub lr_gamma: f64,
    /// SGD momentum (ignored by Adam/AdamW).
    pub momentum: f64,
    pub weight_decay: f64,
    pub label_smoothing: f32,
    /// Stop after this many epochs without a better validation log-loss (0 = never).
    pub patience: usize,
    /// Seeds the train/validation split, the held-out labels and (see [`Self::training_seed`])
    /// everything else random.
    pub seed: u64,
    /// Ensemble member: members of one ensemble share the split (`seed`) and differ in their
    /// initialisation, augmentation draws and batch order ([`Self::training_seed`]). 0 for a
    /// single model.
    #[serde(default)]
    pub member: usize,
    /// `finetune`: trailing MBConv blocks to train (the rest stays frozen, run by ONNX Runtime).
    pub unfreeze_blocks: usize,
    /// Side of the square network input. The pretrained backbones need 224 (Lite1 and Lite2 get
    /// it resized to their own 240 and 260 inside the graph).
    pub image_size: u32,
    /// `bottleneck`: the frozen backbones whose pooled features, concatenated in this order, the
    /// top model is trained on. The first one's features are the run's `features` output (what
    /// its galleries embed with).
    pub backbones: Vec<Variant>,
    /// Dropout before the last dense layer.
    pub dropout: f64,
    /// Hidden units of the top model (0 = a single dense layer).
    pub hidden: usize,
    pub split: SplitKind,
    /// Share of each label held out for validation.
    pub val_fraction: f64,
    pub balance: BalanceKind,
    /// Validate, keep and export an exponential moving average of the weights, updated after
    /// every optimizer step with this decay (0 = off, the trained weights themselves; see
    /// [`crate::average`]). Off by default: on the embedding stage's two cosine-decayed epochs,
    /// d = 0.99 raised wild-dev log-loss by 0.076 (paired interval [+0.046, +0.110]) and moved
    /// top-5 by −0.004 against the same member's last weights (BENCHMARKS.md "Moving average of
    /// the weights"). Absent from the configs of runs made before it existed, which had none.
    #[serde(default)]
    pub ema: f64,
    /// `embedding`: epochs the head trains alone on the frozen trunk's pooled features before
    /// the blocks are tuned with it (linear probing first, [`crate::head_warmup`]; 0 = off, the
    /// head starts from random weights). Off by default: 10 epochs of it on member 0 at seed 7
    /// raised studio validation top-1 0.821 → 0.860 but lost 0.060 wild-dev top-5 and 0.068
    /// top-1 (paired intervals clear of zero; BENCHMARKS.md "Linear probing before
    /// fine-tuning"). Absent from the configs of runs made before it existed.
    #[serde(default)]
    pub head_warmup: usize,
    pub augment: AugmentConfig,
    /// `finetune`: the bottleneck run whose head initialises this one.
    pub init_from: Option<PathBuf>,
    /// Where cached activations live (default: `<cache>/sneaker-id/features`).
    pub cache_dir: Option<PathBuf>,
    /// More catalogs trained on beside the main one; labels of the same name are one label.
    pub extra_data: Vec<PathBuf>,
    /// Share of the extra catalogs' labels (not in the main catalog) left out of training, drawn
    /// by `seed` and listed in the run's `held_out.json`: products to evaluate as never seen.
    pub hold_out: f64,
    /// `embedding`: width of the embedding galleries store.
    pub embedding_dim: usize,
    /// `embedding`: CosFace margin m (the true label's cosine minus m while training); 0 measured
    /// best, for the classifier's phone-photo answers and the gallery alike (crate::preset).
    pub margin: f32,
    /// `embedding`: scale s of the cosine logits.
    pub cosine_scale: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: ModelKind::Bottleneck,
            epochs: 40,
            batch_size: 64,
            optimizer: OptimizerKind::AdamW,
            lr: 1e-3,
            schedule: ScheduleKind::Cosine,
            warmup_epochs: 1,
            lr_step_epochs: 10,
            lr_gamma: 0.1,
            momentum: 0.9,
            weight_decay: 1e-2,
            label_smoothing: 0.1,
            patience: 8,
            seed: 42,
            member: 0,
            unfreeze_blocks: 2,
            image_size: sneaker_vision::INPUT_SIZE,
            backbones: vec![Variant::Lite0],
            dropout: 0.3,
            hidden: 0,
            split: SplitKind::Random,
            val_fraction: 0.2,
            // A shuffle: class-balanced batches lost 0.03 top-5 on phone photos at the same seed
            // (BENCHMARKS.md "Class-balanced batches").
            balance: BalanceKind::None,
            ema: 0.0,
            head_warmup: 0,
            augment: AugmentConfig::default(),
            init_from: None,
            cache_dir: None,
            extra_data: Vec::new(),
            hold_out: 0.0,
            embedding_dim: 256,
            margin: 0.0,
            cosine_scale: 30.0,
        }
    }
}

impl TrainConfig {
    /// The backbone a tuned run (finetune, embedding) tunes: the one it names.
    pub fn tuned_backbone(&self) -> Variant {
        // Validated settings name at least one; settings written before backbones existed mean Lite0.
        self.backbones.first().copied().unwrap_or_default()
    }

    /// Reads a TOML file; absent keys keep their defaults, unknown keys are errors.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        toml::from_str(&text).map_err(|e| TrainError::parse(path, e))
    }

    /// Reads the `config.json` a run wrote.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| TrainError::parse(path, e))
    }

    /// Rejects settings that cannot work, before any image is read.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.model != ModelKind::Random && self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.ema) {
            return bad(format!("ema must be a decay in [0, 1) (0 = off), got {}", self.ema));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!("label_smoothing must be in [0, 1), got {}", self.label_smoothing));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return bad(format!("val_fraction must be in (0, 1), got {}", self.val_fraction));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("momentum must be in [0, 1), got {}", self.momentum));
        }
        if self.weight_decay < 0.0 {
            return bad("weight_decay must not be negative".into());
        }
        if self.augment.draws == 0 {
            return bad("augment.draws must be at least 1".into());
        }
        if self.schedule == ScheduleKind::Step && self.lr_step_epochs == 0 {
            return bad("lr_step_epochs must be at least 1 for the step schedule".into());
        }
        let pretrained = matches!(self.model, ModelKind::Bottleneck | ModelKind::Finetune | ModelKind::Embedding);
        if pretrained && self.image_size != sneaker_vision::INPUT_SIZE {
            return bad(format!(
                "the pretrained backbone takes {0}x{0} images, image_size {1} is not possible",
                sneaker_vision::INPUT_SIZE,
                self.image_size
            ));
        }
        if self.model == ModelKind::Scratch && crate::arch::flat_features(self.image_size).is_none() {
            return bad(format!("image_size {} is too small for four conv+pool stages", self.image_size));
        }
        if self.backbones.is_empty() {
            return bad("backbones must name at least one of lite0, lite1, lite2".into());
        }
        if let Some(v) =
            self.backbones.iter().enumerate().find_map(|(i, v)| self.backbones[..i].contains(v).then_some(v))
        {
            return bad(format!("backbone {v} is listed twice"));
        }
        let tuned = matches!(self.model, ModelKind::Finetune | ModelKind::Embedding);
        if self.model == ModelKind::Finetune && self.backbones != [Variant::Lite0] {
            // Its top model starts from a bottleneck run's, trained on Lite0's features.
            return bad("finetune trains EfficientNet-Lite0 only: backbones must be [lite0]".into());
        }
        if tuned && self.backbones.len() != 1 {
            return bad(format!("{} tunes one backbone: backbones must name exactly one", self.model.name()));
        }
        if self.model == ModelKind::Finetune && self.init_from.is_none() {
            return bad("finetune needs init_from (a bottleneck run folder)".into());
        }
        if tuned && self.backbones == [Variant::Lite0] {
            // Other variants' block counts are read from their weights, checked when training starts.
            crate::arch::cut_point(self.unfreeze_blocks, sneaker_model::efficientnet_lite::NUM_BLOCKS)?;
        }
        if !(0.0..1.0).contains(&self.hold_out) {
            return bad(format!("hold_out must be in [0, 1), got {}", self.hold_out));
        }
        if self.hold_out > 0.0 && self.extra_data.is_empty() {
            return bad("hold_out leaves out labels of the extra catalogs: give extra_data too".into());
        }
        if self.embedding_dim == 0 {
            return bad("embedding_dim must be at least 1".into());
        }
        if self.head_warmup > 0 && self.model != ModelKind::Embedding {
            return bad(format!(
                "head_warmup probes the embedding's head before its blocks are tuned; {} has no such stage",
                self.model.name()
            ));
        }
        if !(0.0..1.0).contains(&self.margin) {
            return bad(format!("margin must be in [0, 1), got {}", self.margin));
        }
        if !(self.cosine_scale > 0.0 && self.cosine_scale.is_finite()) {
            return bad(format!("cosine_scale must be a positive number, got {}", self.cosine_scale));
        }
        Ok(())
    }

    /// Learning rate at `step` of `total` steps (`steps_per_epoch` gives the epoch).
    pub fn lr_at(&self, step: usize, steps_per_epoch: usize, total: usize) -> f64 {
        let spe = steps_per_epoch.max(1);
        let warm = self.warmup_epochs * spe;
        if step < warm {
            // Linear from lr/10 to lr: a cold AdamW start on fresh heads overshoots otherwise.
            let t = step as f64 / warm as f64;
            return self.lr * (0.1 + 0.9 * t);
        }
        match self.schedule {
            ScheduleKind::Constant => self.lr,
            ScheduleKind::Step => {
                let k = (step / spe) / self.lr_step_epochs.max(1);
                self.lr * self.lr_gamma.powi(k as i32)
            }
            ScheduleKind::Cosine => {
                let span = total.saturating_sub(warm).max(1) as f64;
                let t = ((step - warm) as f64 / span).min(1.0);
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_overrides_defaults_and_rejects_unknown_keys() {
        let c: TrainConfig = toml::from_str("epochs = 3\nlr = 0.01\n[augment]\ndraws = 4\n").unwrap();
        assert_eq!(c.epochs, 3);
        assert_eq!(c.augment.draws, 4);
        assert_eq!(c.batch_size, TrainConfig::default().batch_size);
        assert!(toml::from_str::<TrainConfig>("epoch = 3").is_err());
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let c = TrainConfig { head_warmup: 5, ..Default::default() };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("head_warmup") && e.contains("bottleneck"), "{e}");
        let c = TrainConfig { label_smoothing: 1.5, ..Default::default() };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("label_smoothing"), "{e}");
        let c = TrainConfig { model: ModelKind::Finetune, ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("init_from"));
        let c = TrainConfig {
            model: ModelKind::Finetune,
            init_from: Some("bn".into()),
            unfreeze_blocks: 16,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("unfreeze_blocks"));
        assert!(TrainConfig::default().validate().is_ok());
        let three =
            TrainConfig { backbones: vec![Variant::Lite0, Variant::Lite1, Variant::Lite2], ..Default::default() };
        assert!(three.validate().is_ok());
        let twice = TrainConfig { backbones: vec![Variant::Lite2, Variant::Lite2], ..Default::default() };
        assert!(twice.validate().unwrap_err().to_string().contains("lite2 is listed twice"));
        let c = TrainConfig { backbones: vec![], ..Default::default() };
        assert!(c.validate().unwrap_err().to_string().contains("backbones"));
        let c: TrainConfig = toml::from_str("backbones = [\"lite0\", \"lite2\"]").unwrap();
        assert_eq!(c.backbones, [Variant::Lite0, Variant::Lite2]);
        let c = TrainConfig {
            model: ModelKind::Finetune,
            init_from: Some("bn".into()),
            backbones: vec![Variant::Lite2],
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("Lite0 only"));
        let c = TrainConfig { model: ModelKind::Embedding, backbones: vec![Variant::Lite2], ..Default::default() };
        assert!(c.validate().is_ok());
        let c = TrainConfig {
            model: ModelKind::Embedding,
            backbones: vec![Variant::Lite0, Variant::Lite2],
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("exactly one"));
    }

    #[test]
    fn schedules_warm_up_then_decay() {
        let c = TrainConfig { lr: 1.0, warmup_epochs: 1, ..Default::default() };
        assert!((c.lr_at(0, 10, 100) - 0.1).abs() < 1e-12);
        assert!((c.lr_at(10, 10, 100) - 1.0).abs() < 1e-12);
        assert!(c.lr_at(99, 10, 100) < 0.01);
        let s = TrainConfig {
            lr: 1.0,
            warmup_epochs: 0,
            schedule: ScheduleKind::Step,
            lr_step_epochs: 2,
            lr_gamma: 0.5,
            ..Default::default()
        };
        // epochs 0-1 → 1.0, 2-3 → 0.5, 4 → 0.25
        assert_eq!(s.lr_at(15, 10, 100), 1.0);
        assert_eq!(s.lr_at(25, 10, 100), 0.5);
        assert_eq!(s.lr_at(45, 10, 100), 0.25);
    }
}
