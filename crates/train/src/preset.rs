//! The settings of the whole pipeline that `sneaker-id train` runs without `--model`
//! ([bottleneck →] finetune → calibrate, see [`crate::stages`]), kept in ONE place: [`BEST`].
//! When new measurements come in, change them here; everything else reads them from here.
//!
//! A `--config FILE.toml` may lay `[bottleneck]`, `[finetune]` and `[calibrate]` tables over the
//! preset (keys as in a run's `config.json`; keys not given keep the preset's value).

use std::path::Path;

use serde::{Deserialize, Serialize};

use sneaker_model::efficientnet_lite::Variant;

use crate::config::{ModelKind, TrainConfig};
use crate::error::{Result, TrainError};

/// What differs from [`TrainConfig::default`] in each stage of the best pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    /// Bottleneck: augmented draws per training photo (`--draws`).
    pub bottleneck_draws: usize,
    /// Finetune: the head the tuned blocks train with: `Embedding` (a cosine classifier over a
    /// 256-d embedding, from ImageNet weights) or `Finetune` (the softmax top model of the
    /// bottleneck stage).
    pub finetune_model: ModelKind,
    /// Finetune: the embedding's CosFace margin (0 = plain normalised softmax).
    pub finetune_margin: f32,
    /// Finetune: trailing MBConv blocks trained.
    pub finetune_unfreeze_blocks: usize,
    /// Finetune: embedding runs trained (each with its own initialisation, draws and batch
    /// order) and served as one ensemble graph; 1 = a single model.
    pub finetune_members: usize,
    /// Finetune: the backbone each member tunes (empty: all Lite0).
    pub finetune_member_backbones: &'static [Variant],
    /// Finetune: trailing blocks each member tunes, counted on its own backbone (empty: the same
    /// stages as the finetune stage).
    pub finetune_member_unfreeze_blocks: &'static [usize],
    pub finetune_draws: usize,
    pub finetune_epochs: usize,
    pub finetune_lr: f64,
    pub finetune_warmup_epochs: usize,
    pub finetune_patience: usize,
    /// Calibrate: augmented draws of each validation photo the answer threshold is chosen on.
    pub calibrate_draws: usize,
    /// Calibrate: answered precision the threshold keeps on them.
    pub calibrate_min_precision: f32,
    /// Calibrate: which validation photos the temperature is fitted on.
    pub calibrate_temperature_on: TemperatureOn,
    /// Calibrate: the served graph averages each photo with its mirror image.
    pub calibrate_flip: bool,
    /// Calibrate: the served graph also averages in a zoom on each photo's centre.
    pub calibrate_zoom: bool,
}

/// The best configuration measured: the last 11 blocks tuned (BENCHMARKS.md "Training": ft11 ties
/// ft6 on phone photos and beats it on studio shots) with the embedding's cosine head and no
/// margin (BENCHMARKS.md "Learned embedding"), trained three times with phone-photo augmentation
/// (about 15-18 min each for sneakers50 on this 2-core machine), then one calibrated graph of the three
/// members that also sees each photo zoomed on its centre and both mirrored, answering at the
/// "answerable at ≥ 90 % precision" point (BENCHMARKS.md "Ensemble, flip and phone-photo
/// augmentation", "Test-time views"). The bottleneck settings serve a
/// softmax finetune stage (`model = "finetune"` in `[finetune]`, with `members = 1`).
pub const BEST: Preset = Preset {
    bottleneck_draws: 2,
    // Measured on wild-dev (BENCHMARKS.md "Training" and "Learned embedding"): the CosFace head
    // over the same 11 tuned blocks, 3 draws, 2 epochs gave top-1 0.584 / 0.540 and 44% / 33%
    // answerable at 90% precision (seeds 42 / 7), against 0.524 and 29.6% for the softmax head
    // started from the bottleneck stage (seed 42); and a gallery in its own trained embedding.
    finetune_model: ModelKind::Embedding,
    // No CosFace margin (BENCHMARKS.md "Ensemble without a margin"): on the two-member ensemble,
    // m = 0 against m = 0.2 gave wild-dev top-5 0.832 / 0.840 vs 0.808 / 0.820 and log-loss
    // 1.35 / 1.38 vs 1.44 / 1.48 (seeds 42 / 7; top-1 0.640 / 0.656 vs 0.648 / 0.624 and
    // answerable at 90% precision 0.52 / 0.52 vs 0.56 / 0.48: noise at 250 photos), and a
    // better gallery for products never trained on (packshots 1-shot 0.517 / 0.498 vs 0.491;
    // other views of a colourway 3-shot 0.605 / 0.587 vs 0.565).
    finetune_margin: 0.0,
    finetune_unfreeze_blocks: 11,
    // Members averaged in one graph (BENCHMARKS.md "Ensemble, flip and phone-photo augmentation"):
    // two gave wild-dev top-1 0.668 / 0.624 and 58% / 48% answerable at 90% precision (seeds
    // 42 / 7, with flip), against 0.568 / 0.516 and 35% / 31% for member 0 alone. A third
    // (BENCHMARKS.md "Three members") moved every number the right way at both seeds: top-1
    // 0.640 / 0.656 -> 0.656 / 0.664, top-5 0.832 / 0.840 -> 0.848 / 0.852, log-loss 1.35 / 1.38
    // -> 1.29 / 1.32, packshots 1-shot 0.517 / 0.498 -> 0.542 / 0.508, for 15-18 more minutes of
    // training and 1.35x the two members' serving compute (4.3x one Lite0 view).
    finetune_members: 3,
    // Members 1 and 2 tune EfficientNet-Lite1's last 10 blocks (its stages 5-7, at 15x15 and 8x8
    // after resizing to 240 px) where member 0 tunes Lite0's last 11 (BENCHMARKS.md "Two members on
    // Lite1"): two backbones err on different photos. Against three Lite0 members, paired at seeds
    // 7 / 42: wild-dev log-loss -0.089 / -0.064 (pooled -0.077, interval clear of zero), top-1
    // +0.032 / +0.004, top-5 0.880 / 0.880 (+0.000 / +0.008), studio top-1 +0.009 / +0.008. Such a
    // member trains in a Lite0 member's time (989-1,066 s against 991-1,006 s), but the served graph
    // runs Lite1's front and tails beside Lite0's: 1.4-1.5x the three-Lite0 graph's time a photo.
    // Tuning Lite1's 14 blocks (the same stages as Lite0's 11) for member 2 alone gained less
    // (top-5 +0.004 / +0.012, log-loss -0.03) at 1.32x a member's training.
    finetune_member_backbones: &[Variant::Lite0, Variant::Lite1, Variant::Lite1],
    finetune_member_unfreeze_blocks: &[11, 10, 10],
    finetune_draws: 3,
    finetune_epochs: 2,
    finetune_lr: 4e-4,
    finetune_warmup_epochs: 0,
    finetune_patience: 0,
    calibrate_draws: 2,
    calibrate_min_precision: 0.90,
    // Measured on ft11 (BENCHMARKS.md): wild-dev log-loss 1.913 raw, 1.922 with T fitted on plain
    // validation photos (0.638), 1.889 with T fitted on their augmented versions (0.692).
    calibrate_temperature_on: TemperatureOn::Augmented,
    // Measured on one member (seed 42): wild-dev log-loss 1.78 -> 1.66, answerable at 90%
    // precision 0.35 -> 0.43, top-5 0.776 -> 0.792, at twice the backbone's serving cost.
    calibrate_flip: true,
    // Measured on a three-member run (seed 42) and on two of its members alone (BENCHMARKS.md
    // "Test-time views"): wild-dev log-loss -0.06 to -0.10 on all three (bootstrap intervals
    // clear of zero), top-1 and top-5 up by 0.00 to 0.04. The plain train at seeds 42 / 7:
    // top-1 +0.024 / +0.012, top-5 +0.016 / +0.016, studio validation top-1 -0.004 / -0.007
    // (noise); twice the serving cost.
    calibrate_zoom: true,
};

/// The photos the temperature's log-loss is measured on. Plain validation photos are what
/// training validates on; their augmented versions look more like phone photos, on which a
/// network trained on studio shots is more often wrong, so they may ask for a softer T
/// (`calibration.json` reports the log-loss of both, before and after).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemperatureOn {
    Plain,
    Augmented,
}

/// How the calibrate stage chooses the run's temperature and answer threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrateConfig {
    /// Augmented draws (the training augmentation: crops, colour, blur, JPEG, backgrounds) of each
    /// held-out validation photo, the stand-in for phone photos the threshold is chosen on.
    pub draws: usize,
    /// The answer threshold is the lowest top-1 probability whose answers are still this precise.
    pub min_precision: f32,
    /// The validation photos the temperature is fitted on.
    pub temperature_on: TemperatureOn,
    /// Average each photo with its mirror image in the served graph (twice the backbone's cost).
    #[serde(default)]
    pub flip: bool,
    /// Also average in a zoom on each photo's centre (twice the cost again).
    #[serde(default)]
    pub zoom: bool,
}

/// Every stage's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    pub bottleneck: TrainConfig,
    /// Its `init_from` is filled in by the pipeline (the bottleneck stage's folder).
    pub finetune: TrainConfig,
    /// Embedding runs of the ensemble: the finetune stage's, then members 1.. in
    /// `RUN/stages/member-M` (only with an embedding finetune stage).
    #[serde(default = "one")]
    pub members: usize,
    /// The backbone each member tunes, member 0 (the finetune stage) first; empty: every member
    /// tunes the finetune stage's. A member of another backbone tunes the same stages as the
    /// finetune stage does ([`crate::arch::same_stages`]).
    #[serde(default)]
    pub member_backbones: Vec<Variant>,
    /// The trailing blocks each member tunes, counted on its own backbone, member 0 first (it must
    /// be the finetune stage's `unfreeze_blocks`); empty: the same stages as the finetune stage. A
    /// member on a larger backbone tuning fewer stages costs about what a Lite0 member does.
    #[serde(default)]
    pub member_unfreeze_blocks: Vec<usize>,
    pub calibrate: CalibrateConfig,
}

fn one() -> usize {
    1
}

/// `train --model embedding` without a config file: the pipeline's finetune stage (same blocks,
/// augmented draws, epochs and learning rate, so its cached activations are shared) with the
/// embedding's head and loss, and no margin: held-out packshots 1-shot top-1 0.598 against 0.535
/// with m = 0.2 (BENCHMARKS.md "Learned embedding").
pub fn embedding() -> TrainConfig {
    let preset = Preset { finetune_model: ModelKind::Embedding, ..BEST };
    TrainConfig { init_from: None, ..PipelineConfig::from(preset).finetune }
}

impl From<Preset> for PipelineConfig {
    fn from(p: Preset) -> Self {
        let base = TrainConfig::default();
        let mut bottleneck = TrainConfig { model: ModelKind::Bottleneck, ..base.clone() };
        bottleneck.augment.draws = p.bottleneck_draws;
        let mut finetune = TrainConfig {
            model: p.finetune_model,
            margin: p.finetune_margin,
            unfreeze_blocks: p.finetune_unfreeze_blocks,
            epochs: p.finetune_epochs,
            lr: p.finetune_lr,
            warmup_epochs: p.finetune_warmup_epochs,
            patience: p.finetune_patience,
            ..base
        };
        finetune.augment.draws = p.finetune_draws;
        let calibrate = CalibrateConfig {
            draws: p.calibrate_draws,
            min_precision: p.calibrate_min_precision,
            temperature_on: p.calibrate_temperature_on,
            flip: p.calibrate_flip,
            zoom: p.calibrate_zoom,
        };
        PipelineConfig {
            bottleneck,
            finetune,
            members: p.finetune_members,
            member_backbones: p.finetune_member_backbones.to_vec(),
            member_unfreeze_blocks: p.finetune_member_unfreeze_blocks.to_vec(),
            calibrate,
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        BEST.into()
    }
}

impl PipelineConfig {
    /// [`BEST`] with the tables of a TOML file laid over it, key by key.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_toml(&text).map_err(|e| TrainError::parse(path, e))
    }

    fn from_toml(text: &str) -> std::result::Result<Self, String> {
        let given: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let given = serde_json::to_value(given).map_err(|e| e.to_string())?;
        let mut merged = serde_json::to_value(Self::default()).expect("settings serialise");
        overlay(&mut merged, given.clone());
        let mut cfg: Self = serde_json::from_value(merged).map_err(|e| {
            format!("{e} (without --model the file holds [bottleneck], [finetune] and [calibrate] tables)")
        })?;
        cfg.fit_member_lists(&given);
        Ok(cfg)
    }

    /// Keeps the preset's per-member lists in step with a file that changes what they describe
    /// without giving them: another `members` cuts them to it (or repeats their last entry), and
    /// another depth or backbone for the finetune stage drops the member depths (every member then
    /// tunes the same stages as the finetune stage). Lists the file gives are taken as they are.
    fn fit_member_lists(&mut self, given: &serde_json::Value) {
        let gives = |key: &str| given.get(key).is_some();
        let finetune = |key: &str| given.get("finetune").and_then(|f| f.get(key)).is_some();
        if !gives("member_unfreeze_blocks") && (finetune("unfreeze_blocks") || finetune("backbones")) {
            self.member_unfreeze_blocks.clear();
        }
        if !gives("member_backbones") && finetune("backbones") {
            self.member_backbones.clear();
        }
        fn fit<T: Copy>(list: &mut Vec<T>, members: usize) {
            if let Some(&last) = list.last() {
                list.resize(members, last);
            }
        }
        if !gives("member_backbones") {
            fit(&mut self.member_backbones, self.members);
        }
        if !gives("member_unfreeze_blocks") {
            fit(&mut self.member_unfreeze_blocks, self.members);
        }
    }

    /// Whether the settings file at `path` is for one model (it names one with a top-level
    /// `model` key, as a run's `config.json` does) rather than for the pipeline.
    pub fn file_names_one_model(path: &Path) -> Result<bool> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| TrainError::parse(path, e))?;
        Ok(table.contains_key("model"))
    }

    /// Whether the finetune stage starts from the bottleneck stage's top model (the softmax head
    /// does; the embedding starts from ImageNet weights alone, so the bottleneck is not needed).
    pub fn needs_bottleneck(&self) -> bool {
        self.finetune.model == ModelKind::Finetune
    }

    /// The backbone member `m` tunes.
    pub fn member_backbone(&self, m: usize) -> Variant {
        self.member_backbones.get(m).copied().unwrap_or_else(|| self.finetune.tuned_backbone())
    }

    /// Sets a setting the stages share (seed, split, augmentation switches...) in both.
    pub fn set_shared(&mut self, set: impl Fn(&mut TrainConfig)) {
        set(&mut self.bottleneck);
        set(&mut self.finetune);
    }

    /// Refuses settings that cannot work, before any photo is read.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::Config(m));
        let tuned = matches!(self.finetune.model, ModelKind::Finetune | ModelKind::Embedding);
        if self.bottleneck.model != ModelKind::Bottleneck || !tuned {
            return bad(
                "the pipeline's stages are a bottleneck then a finetune or embedding model; `model` can only choose \
                 between those two in [finetune]"
                    .into(),
            );
        }
        let (b, f) = (&self.bottleneck, &self.finetune);
        // The finetune stage starts from the bottleneck's top model: a photo it trained on must
        // not be in the finetune stage's validation split.
        if (b.seed, b.split, b.val_fraction) != (f.seed, f.split, f.val_fraction) {
            return bad("bottleneck and finetune must split the catalog alike (same seed, split, val_fraction)".into());
        }
        b.validate()?;
        let with_init = TrainConfig { init_from: Some("bottleneck".into()), ..f.clone() };
        with_init.validate()?;
        if self.members == 0 {
            return bad("members must be at least 1".into());
        }
        if self.members > 1 && f.model != ModelKind::Embedding {
            return bad(
                "an ensemble (members > 1) is of embedding runs: set members = 1 to train the softmax finetune model"
                    .into(),
            );
        }
        if !self.member_backbones.is_empty() {
            if self.member_backbones.len() != self.members {
                return bad(format!(
                    "member_backbones names {} backbones for {} members: one per member, or none",
                    self.member_backbones.len(),
                    self.members
                ));
            }
            if self.member_backbones[0] != f.tuned_backbone() {
                return bad(format!(
                    "member_backbones starts with {}, but member 0 is the finetune stage, which tunes {}",
                    self.member_backbones[0],
                    f.tuned_backbone()
                ));
            }
        }
        if !self.member_unfreeze_blocks.is_empty() {
            if self.member_unfreeze_blocks.len() != self.members {
                return bad(format!(
                    "member_unfreeze_blocks names {} depths for {} members: one per member, or none",
                    self.member_unfreeze_blocks.len(),
                    self.members
                ));
            }
            if self.member_unfreeze_blocks[0] != f.unfreeze_blocks {
                return bad(format!(
                    "member_unfreeze_blocks starts with {}, but member 0 is the finetune stage, which tunes {} blocks",
                    self.member_unfreeze_blocks[0], f.unfreeze_blocks
                ));
            }
        }
        if self.calibrate.draws == 0 {
            return bad("calibrate.draws must be at least 1".into());
        }
        if !(self.calibrate.min_precision > 0.0 && self.calibrate.min_precision <= 1.0) {
            return bad(format!("calibrate.min_precision must be in (0, 1], got {}", self.calibrate.min_precision));
        }
        Ok(())
    }
}

/// `given` laid over `base`: objects merge key by key, anything else replaces.
fn overlay(base: &mut serde_json::Value, given: serde_json::Value) {
    match (base, given) {
        (serde_json::Value::Object(b), serde_json::Value::Object(g)) => {
            for (k, v) in g {
                match b.get_mut(&k) {
                    Some(slot) => overlay(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preset_is_the_measured_best_and_valid() {
        let c = PipelineConfig::default();
        c.validate().unwrap();
        assert_eq!(c.bottleneck.augment.draws, 2);
        let f = &c.finetune;
        assert_eq!(
            (f.unfreeze_blocks, f.augment.draws, f.epochs, f.lr, f.warmup_epochs, f.patience),
            (11, 3, 2, 4e-4, 0, 0)
        );
        assert_eq!(c.calibrate.min_precision, 0.90);
        assert_eq!((f.model, f.margin), (ModelKind::Embedding, 0.0));
        assert!(!c.needs_bottleneck());
        assert_eq!((c.members, c.calibrate.flip, c.calibrate.zoom), (3, true, true));
        assert_eq!(
            (c.member_backbone(0), c.member_backbone(1), c.member_backbone(2)),
            (Variant::Lite0, Variant::Lite1, Variant::Lite1)
        );
        assert_eq!(c.member_unfreeze_blocks, [11, 10, 10]);
        let ensemble = PipelineConfig::from_toml("[finetune]\nmodel = \"finetune\"\n").unwrap();
        assert!(ensemble.validate().unwrap_err().to_string().contains("members = 1"), "softmax runs are not ensembled");
        let softmax = PipelineConfig::from_toml("members = 1\n[finetune]\nmodel = \"finetune\"\n").unwrap();
        softmax.validate().unwrap();
        assert!(softmax.needs_bottleneck());
        let mixed = PipelineConfig::from_toml("member_backbones = [\"lite0\", \"lite0\", \"lite2\"]\n").unwrap();
        mixed.validate().unwrap();
        assert_eq!((mixed.member_backbone(0), mixed.member_backbone(2)), (Variant::Lite0, Variant::Lite2));
        let short = PipelineConfig::from_toml("member_backbones = [\"lite0\", \"lite2\"]\n").unwrap();
        assert!(short.validate().unwrap_err().to_string().contains("one per member"));
        let first = PipelineConfig::from_toml("member_backbones = [\"lite1\", \"lite0\", \"lite0\"]\n").unwrap();
        assert!(first.validate().unwrap_err().to_string().contains("member 0 is the finetune stage"));
        let depths = "member_backbones = [\"lite0\", \"lite1\", \"lite2\"]\nmember_unfreeze_blocks = ";
        PipelineConfig::from_toml(&format!("{depths}[11, 10, 10]\n")).unwrap().validate().unwrap();
        let short = PipelineConfig::from_toml(&format!("{depths}[11, 10]\n")).unwrap();
        assert!(short.validate().unwrap_err().to_string().contains("one per member"));
        let first = PipelineConfig::from_toml(&format!("{depths}[6, 10, 10]\n")).unwrap();
        assert!(first.validate().unwrap_err().to_string().contains("tunes 11 blocks"));
        let wrong = PipelineConfig::from_toml("[finetune]\nmodel = \"scratch\"\n").unwrap();
        assert!(wrong.validate().unwrap_err().to_string().contains("finetune or embedding"));
    }

    #[test]
    fn a_file_that_changes_the_members_or_their_depth_keeps_the_member_lists_in_step() {
        let one = PipelineConfig::from_toml("members = 1\n").unwrap();
        one.validate().unwrap();
        assert_eq!((one.member_backbones.len(), one.member_unfreeze_blocks.len()), (1, 1));
        let four = PipelineConfig::from_toml("members = 4\n").unwrap();
        four.validate().unwrap();
        assert_eq!(four.member_backbone(3), four.member_backbone(2), "the last entry repeats");
        let shallow = PipelineConfig::from_toml("[finetune]\nunfreeze_blocks = 1\n").unwrap();
        shallow.validate().unwrap();
        assert!(shallow.member_unfreeze_blocks.is_empty(), "members tune the finetune stage's stages");
        let lite1 = PipelineConfig::from_toml("[finetune]\nbackbones = [\"lite1\"]\n").unwrap();
        lite1.validate().unwrap();
        assert_eq!(lite1.member_backbone(2), Variant::Lite1);
        let given = PipelineConfig::from_toml("members = 2\nmember_backbones = [\"lite0\"]\n").unwrap();
        assert!(given.validate().unwrap_err().to_string().contains("one per member"), "a given list is not fitted");
    }

    #[test]
    fn a_file_changes_only_the_keys_it_gives() {
        let c = PipelineConfig::from_toml(
            "[finetune]\nepochs = 1\n[finetune.augment]\ndraws = 1\n[calibrate]\ndraws = 3\n",
        )
        .unwrap();
        assert_eq!((c.finetune.epochs, c.finetune.augment.draws, c.calibrate.draws), (1, 1, 3));
        assert_eq!(c.finetune.unfreeze_blocks, 11, "keys not given keep the preset's value");
        assert!(c.finetune.augment.background);
        assert_eq!(c.bottleneck, PipelineConfig::default().bottleneck);
        let e = PipelineConfig::from_toml("epochs = 3\n").unwrap_err();
        assert!(e.contains("epochs") && e.contains("[finetune]"), "{e}");
        assert!(PipelineConfig::from_toml("[finetune]\nepoch = 3\n").unwrap_err().contains("epoch"));
        let c = PipelineConfig::from_toml("[calibrate]\ntemperature_on = \"plain\"\n").unwrap();
        assert_eq!((c.calibrate.temperature_on, c.calibrate.draws), (TemperatureOn::Plain, BEST.calibrate_draws));
    }

    #[test]
    fn stages_that_split_differently_are_refused() {
        let mut c = PipelineConfig::default();
        c.finetune.seed = 7;
        assert!(c.validate().unwrap_err().to_string().contains("split"));
        c.set_shared(|s| s.seed = 7);
        c.validate().unwrap();
        c.finetune.model = ModelKind::Scratch;
        assert!(c.validate().is_err());
    }
}
