//! How long each part of the pipeline should take, so one progress bar with one ETA can run over
//! all of it: every part is counted in work units (photos through a frozen network, examples ×
//! epochs through what trains, photos through the exported graph), each weighted by its cost
//! measured on the reference machine (2 cores; BENCHMARKS.md "Training": sneakers50 bottleneck
//! 107 s, ft11 1,133 s). Only the ratios matter: the bar's rate adapts to the machine it runs on.
//! [`Tracker`] turns the events each stage reports into the position on that bar.

use std::path::Path;

use sneaker_model::efficientnet_lite::Variant;

use crate::config::{ModelKind, TrainConfig};
use crate::error::Result;
use crate::export::Serving;
use crate::fit::Progress;
use crate::pipeline::Event;
use crate::preset::PipelineConfig;
use crate::recipe::{TRAINING_IMAGES, VALIDATION_IMAGES};

/// One photo decoded, augmented and run through the frozen network by ONNX Runtime (ft6: 10,956
/// block-9 activations in 101 s; bottleneck: ≈ 7,600 photos in ≈ 80 s).
const EXTRACT_MS: f64 = 10.0;
/// One feature row through the top model, forward + backward + AdamW (≈ 9,000 rows/s).
const HEAD_ROW_MS: f64 = 0.11;
/// One example through one tuned MBConv block, forward + backward (ft11 with the depthwise op:
/// 20.3 examples/s over 11 blocks).
const TAIL_BLOCK_MS: f64 = 4.5;
/// A validation example costs about a third of a training one (forward only).
const VALIDATION_SHARE: f64 = 1.0 / 3.0;
/// Decoding and resizing one photo for the exported classifier.
const DECODE_MS: f64 = 2.0;
/// One view of a photo through one member of the exported classifier (ONNX Runtime): three
/// members and four views ran at 25-29 photos/s here, two views at 54.
const VIEW_MS: f64 = 3.0;

/// Training a member's tuned blocks on `variant` relative to Lite0, the same stages tuned. Lite1
/// measured (BENCHMARKS.md "An ensemble member on another backbone": 1,324 s against 991-1,006 s
/// for the Lite0 members of the same run); Lite2 estimated, not measured: Lite1's cost times its
/// larger input (260² against 240² px) and its 1.1x wider 1x1 convs (1.21x).
fn tail_cost(variant: Variant) -> f64 {
    match variant {
        Variant::Lite0 => 1.0,
        Variant::Lite1 => 1.32,
        Variant::Lite2 => 1.32 * (260.0f64 / 240.0).powi(2) * 1.21,
    }
}

/// Member `m`'s training relative to the finetune stage's: its backbone's cost for the same stages,
/// times the square root of the share of those blocks it tunes where `member_unfreeze_blocks` sets
/// its depth (the blocks it drops are the earliest, at the highest resolution, yet a member's
/// activations and validation cost the same). Fitted to Lite1 tuning 14 of its 21 blocks at 17
/// examples/s and 10 at 20, against 20-22 for Lite0's 11 of 16 (BENCHMARKS.md "Two members on
/// Lite1").
fn member_cost(cfg: &PipelineConfig, m: usize) -> f64 {
    let (from, to) = (cfg.finetune.tuned_backbone(), cfg.member_backbone(m));
    let blocks = |v: Variant| if v == Variant::Lite0 { 16.0 } else { 21.0 };
    let same_stages = cfg.finetune.unfreeze_blocks as f64 * blocks(to) / blocks(from);
    let depth = cfg.member_unfreeze_blocks.get(m).map_or(1.0, |&n| (n as f64 / same_stages).sqrt());
    tail_cost(to) / tail_cost(from) * depth
}

/// What the calibrate stage calls its two passes in [`Event::Extract`].
pub const CALIBRATION_PLAIN: &str = "validation photos";
pub const CALIBRATION_AUGMENTED: &str = "augmented validation photos";

/// The parts of one stage, in order: extraction passes by name, then the epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    /// `(what, cost)` of each pass [`Event::Extract`] reports.
    pub passes: Vec<(&'static str, f64)>,
    pub epochs: usize,
    /// Cost of one epoch: training part, then validation part.
    pub epoch: (f64, f64),
}

impl StagePlan {
    pub fn total(&self) -> f64 {
        self.passes.iter().map(|p| p.1).sum::<f64>() + self.epochs as f64 * (self.epoch.0 + self.epoch.1)
    }

    /// Cost done after `fraction` of the pass `what` (`None` if the stage has no such pass).
    fn pass_done(&self, what: &str, fraction: f64) -> Option<f64> {
        let i = self.passes.iter().position(|p| p.0 == what)?;
        Some(self.passes[..i].iter().map(|p| p.1).sum::<f64>() + fraction.clamp(0.0, 1.0) * self.passes[i].1)
    }

    /// Cost done at `epochs` (fractional) epochs of training.
    fn fit_done(&self, epochs: f64) -> f64 {
        let passes: f64 = self.passes.iter().map(|p| p.1).sum();
        passes + epochs.clamp(0.0, self.epochs as f64) * (self.epoch.0 + self.epoch.1)
    }
}

/// Every stage's plan, in the order they run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stages: Vec<StagePlan>,
}

/// Cost of one training stage with `train` and `val` photos.
fn training_stage(cfg: &TrainConfig, train: usize, val: usize) -> StagePlan {
    let rows = (train * cfg.augment.draws) as f64;
    let per_example = match cfg.model {
        ModelKind::Finetune | ModelKind::Embedding => TAIL_BLOCK_MS * cfg.unfreeze_blocks as f64,
        _ => HEAD_ROW_MS,
    };
    StagePlan {
        passes: vec![(TRAINING_IMAGES, rows * EXTRACT_MS), (VALIDATION_IMAGES, val as f64 * EXTRACT_MS)],
        epochs: cfg.epochs,
        epoch: (rows * per_example, val as f64 * per_example * VALIDATION_SHARE),
    }
}

impl Plan {
    /// The plan for `train` training and `val` validation photos.
    pub fn new(cfg: &PipelineConfig, train: usize, val: usize) -> Plan {
        // The calibrate stage classifies through the served graph: every member, every view.
        let views = Serving { temperature: 1.0, flip: cfg.calibrate.flip, zoom: cfg.calibrate.zoom }.views();
        let classify_ms = DECODE_MS + VIEW_MS * (views * cfg.members.max(1)) as f64;
        let calibrate = StagePlan {
            passes: vec![
                (CALIBRATION_PLAIN, val as f64 * classify_ms),
                (CALIBRATION_AUGMENTED, (val * cfg.calibrate.draws) as f64 * classify_ms),
            ],
            epochs: 0,
            epoch: (0.0, 0.0),
        };
        let bottleneck = if cfg.needs_bottleneck() {
            training_stage(&cfg.bottleneck, train, val)
        } else {
            StagePlan { passes: Vec::new(), epochs: 0, epoch: (0.0, 0.0) }
        };
        let mut stages = vec![bottleneck];
        // The finetune stage's run, then the ensemble's other members, each trained alike but on
        // its own backbone.
        stages.extend((0..cfg.members.max(1)).map(|m| {
            let mut stage = training_stage(&cfg.finetune, train, val);
            let factor = member_cost(cfg, m);
            stage.epoch = (stage.epoch.0 * factor, stage.epoch.1 * factor);
            stage
        }));
        stages.push(calibrate);
        Plan { stages }
    }

    /// The plan for the catalog at `data`, counted without decoding a photo: each label holds out
    /// what a random split would (a group split holds out about as many).
    pub fn for_catalog(cfg: &PipelineConfig, data: &Path) -> Result<Plan> {
        let catalog = sneaker_catalog::Catalog::open(data)?;
        let mut per_label = std::collections::HashMap::<&str, usize>::new();
        for img in catalog.images() {
            *per_label.entry(img.label.as_str()).or_default() += 1;
        }
        let fraction = cfg.finetune.val_fraction;
        let val: usize =
            per_label.values().map(|&n| if n >= 2 { ((n as f64 * fraction).round() as usize).max(1) } else { 0 }).sum();
        Ok(Plan::new(cfg, catalog.images().len() - val, val))
    }

    pub fn total(&self) -> f64 {
        self.stages.iter().map(StagePlan::total).sum()
    }
}

/// Follows the stages' events along the plan.
#[derive(Debug)]
pub struct Tracker {
    plan: Plan,
    stage: usize,
    /// Cost done so far, of the whole plan.
    done: f64,
}

/// A position step larger than this share of the whole is work found done, not work done.
const JUMP: f64 = 0.02;

impl Tracker {
    pub fn new(plan: Plan) -> Tracker {
        Tracker { plan, stage: 0, done: 0.0 }
    }

    fn offset(&self) -> f64 {
        self.plan.stages[..self.stage].iter().map(StagePlan::total).sum()
    }

    /// Moves to the start of stage `index` (earlier stages count as done).
    pub fn start_stage(&mut self, index: usize) -> Event {
        self.stage = index.min(self.plan.stages.len() - 1);
        self.moved_to(self.offset())
    }

    /// Stage `index` is over, whatever its epochs did (early stop, fewer to resume).
    pub fn end_stage(&mut self, index: usize) -> Event {
        self.stage = index.min(self.plan.stages.len() - 1);
        self.moved_to(self.offset() + self.plan.stages[self.stage].total())
    }

    /// The overall position after `event` from the current stage, if it moves it.
    pub fn follow(&mut self, event: &Event) -> Option<Event> {
        let stage = &self.plan.stages[self.stage];
        let within = match event {
            Event::Extract { what, done, total } => stage.pass_done(what, *done as f64 / (*total).max(1) as f64)?,
            Event::Fit(Progress::Batch { epoch, done, total, .. }) => {
                let (train, val) = stage.epoch;
                let share = if train + val > 0.0 { train / (train + val) } else { 1.0 };
                stage.fit_done(*epoch as f64 + share * *done as f64 / (*total).max(1) as f64)
            }
            Event::Fit(Progress::Epoch(r)) => stage.fit_done(r.epoch as f64),
            _ => return None,
        };
        Some(self.moved_to(self.offset() + within))
    }

    fn moved_to(&mut self, done: f64) -> Event {
        let total = self.plan.total();
        let jump = done - self.done > JUMP * total;
        self.done = done;
        Event::Overall { done: done.round() as u64, total: total.round() as u64, jump }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::EpochRecord;

    #[test]
    fn sneakers50_costs_what_it_was_measured_to() {
        // 3,372 training and 840 validation photos: 107 s and 1,133 s measured (BENCHMARKS.md).
        let softmax = PipelineConfig {
            finetune: TrainConfig { model: ModelKind::Finetune, ..Default::default() },
            members: 1,
            ..Default::default()
        };
        let bottleneck = Plan::new(&softmax, 3372, 840).stages[0].total() / 1000.0;
        assert!((80.0..140.0).contains(&bottleneck), "bottleneck {bottleneck}");
        let plan = Plan::new(&PipelineConfig::default(), 3372, 840);
        let secs: Vec<f64> = plan.stages.iter().map(|s| s.total() / 1000.0).collect();
        assert_eq!(secs[0], 0.0, "the embedding does not start from the bottleneck: {secs:?}");
        assert!((950.0..1350.0).contains(&secs[1]), "finetune {secs:?}");
        assert_eq!(secs.len(), 2 + PipelineConfig::default().members, "{secs:?}");
        let members = PipelineConfig::default().members;
        for m in 2..=members {
            // Members 1 and 2 tune Lite1's last 10 blocks: measured 1.1x a Lite0 member.
            assert!((1.0..1.25).contains(&(secs[m] / secs[1])), "a member costs about what the first does: {secs:?}");
        }
        assert!(secs[members + 1] < 0.1 * secs[1], "calibration is cheap next to training: {secs:?}");
        // Measured: 1 min 41 s for three members and four views on 840 validation photos.
        assert!((60.0..150.0).contains(&secs[members + 1]), "calibration {secs:?}");
        let mut one_view = PipelineConfig::default();
        (one_view.calibrate.flip, one_view.calibrate.zoom) = (false, false);
        let single = Plan::new(&one_view, 3372, 840).stages[members + 1].total() / 1000.0;
        assert!(secs[members + 1] > 3.0 * single, "four views cost more than one: {} vs {single}", secs[members + 1]);
    }

    #[test]
    fn a_member_on_a_larger_backbone_is_planned_to_take_longer() {
        let backbones = vec![Variant::Lite0, Variant::Lite0, Variant::Lite1];
        // The same stages as Lite0's 11 blocks: Lite1's last 14.
        let mixed =
            PipelineConfig { member_backbones: backbones, member_unfreeze_blocks: vec![], ..Default::default() };
        let secs: Vec<f64> = Plan::new(&mixed, 3372, 840).stages.iter().map(|s| s.total() / 1000.0).collect();
        assert_eq!(secs[1], secs[2], "{secs:?}");
        // Measured: 1,324 s against 991-1,006 s.
        assert!((1.2..1.4).contains(&(secs[3] / secs[1])), "{secs:?}");
        // Tuning 10 of Lite1's 21 blocks: 20 examples/s against 17 for 14 blocks.
        let shallower = PipelineConfig { member_unfreeze_blocks: vec![11, 11, 10], ..mixed };
        let secs: Vec<f64> = Plan::new(&shallower, 3372, 840).stages.iter().map(|s| s.total() / 1000.0).collect();
        assert!((1.05..1.2).contains(&(secs[3] / secs[1])), "{secs:?}");
    }

    #[test]
    fn the_position_only_moves_forward_through_a_stage() {
        let cfg = PipelineConfig::default();
        let mut t = Tracker::new(Plan::new(&cfg, 30, 10));
        let total = t.plan.total();
        let mut last = 0.0;
        let mut at = |e: Option<Event>| match e {
            Some(Event::Overall { done, .. }) => {
                assert!(done as f64 >= last, "{done} after {last}");
                last = done as f64;
            }
            other => panic!("{other:?}"),
        };
        at(Some(t.start_stage(1)));
        at(t.follow(&Event::Extract { what: TRAINING_IMAGES, done: 45, total: 90 }));
        at(t.follow(&Event::Extract { what: VALIDATION_IMAGES, done: 10, total: 10 }));
        at(t.follow(&Event::Fit(Progress::Batch { epoch: 0, done: 1, total: 2, loss: 1.0, acc: 0.5 })));
        let rec = EpochRecord {
            epoch: 1,
            lr: 0.0,
            train_loss: 0.0,
            train_acc: 0.0,
            val_loss: 0.0,
            val_top1: 0.0,
            val_top5: 0.0,
            seconds: 0.0,
            train_images_per_s: 0.0,
        };
        at(t.follow(&Event::Fit(Progress::Epoch(rec))));
        at(Some(t.end_stage(1)));
        at(Some(t.end_stage(t.plan.stages.len() - 1)));
        assert_eq!(last.round(), total.round());
        assert!(t.follow(&Event::Note("x".into())).is_none());
    }

    #[test]
    fn skipping_a_stage_is_a_jump_and_small_steps_are_not() {
        let mut t = Tracker::new(Plan::new(&PipelineConfig::default(), 3372, 840));
        let Event::Overall { jump, .. } = t.end_stage(1) else { panic!() };
        assert!(jump, "two finished stages skipped");
        let calibrate = t.plan.stages.len() - 1;
        assert!(matches!(t.end_stage(calibrate - 1), Event::Overall { jump: true, .. }), "a member skipped");
        assert!(matches!(t.start_stage(calibrate), Event::Overall { jump: false, .. }));
        let e = t.follow(&Event::Extract { what: CALIBRATION_PLAIN, done: 1, total: 840 });
        assert!(matches!(e, Some(Event::Overall { jump: false, .. })), "{e:?}");
    }
}
