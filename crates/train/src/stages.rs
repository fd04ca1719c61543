//! `sneaker-id train` without `--model`: the whole best pipeline ([`crate::preset::BEST`]) into
//! ONE run folder, which every reader takes for a finetune run:
//!
//! ```text
//! RUN/pipeline.json            settings and catalog it was started with (written first)
//! RUN/stages/bottleneck/       stage 1: the bottleneck run a softmax finetune stage starts from
//!                              (not needed, so not run, when that stage is an embedding)
//! RUN/run.json, model.onnx...  stage 2: the finetune or embedding run (labels, weights, metrics)
//! RUN/stages/member-1/ ...     more embedding runs of an ensemble (`members` > 1), trained alike
//!                              but for their initialisation, draws and batch order
//! RUN/open_set.json, .png      last stage: the answer threshold predict and serve use
//! RUN/calibration.json         last stage's report, written last; an ensemble's graph (every
//!                              member in one `model.onnx`) is written by this stage
//! ```
//!
//! A stage is finished when its last file is there (the stage folder's `run.json` of its kind,
//! or `calibration.json`); every one is written by temp file + rename. So after Ctrl-C (or a
//! crash) the same command skips finished stages, continues an interrupted training stage from
//! its checkpoint, and reads cached activations instead of computing them again.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sneaker_model::efficientnet_lite::Layout;

use crate::calibration::{self, CALIBRATION_JSON, CalibrationReport};
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::pipeline::{Event, Pretrained, Request};
use crate::plan::{Plan, Tracker};
use crate::preset::PipelineConfig;
use crate::run::{self, RunDir, Summary};

/// The record of what the pipeline in a folder was started with.
pub const PIPELINE_JSON: &str = "pipeline.json";
/// Where stages other than the final one keep their run folders.
pub const STAGES_DIR: &str = "stages";
const FORMAT: u32 = 1;

/// The stages, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Bottleneck,
    Finetune,
    /// Ensemble member `m` ≥ 1 (member 0 is the finetune stage's run).
    Member(usize),
    Calibrate,
}

impl Stage {
    /// The stages of a pipeline with `members` embedding runs, in the order they run.
    pub fn all(members: usize) -> Vec<Stage> {
        let mut stages = vec![Stage::Bottleneck, Stage::Finetune];
        stages.extend((1..members).map(Stage::Member));
        stages.push(Stage::Calibrate);
        stages
    }

    pub fn name(self) -> String {
        match self {
            Stage::Bottleneck => "bottleneck".into(),
            Stage::Finetune => "finetune".into(),
            Stage::Member(m) => format!("member-{m}"),
            Stage::Calibrate => "calibrate".into(),
        }
    }

    /// The run folder the stage writes: a sub-folder for the bottleneck and the ensemble's other
    /// members, else the run itself.
    pub fn dir(self, out: &Path) -> PathBuf {
        match self {
            Stage::Bottleneck | Stage::Member(_) => out.join(STAGES_DIR).join(self.name()),
            Stage::Finetune | Stage::Calibrate => out.to_owned(),
        }
    }

    /// The file the stage writes last.
    fn last_file(self, out: &Path) -> PathBuf {
        match self {
            Stage::Calibrate => out.join(CALIBRATION_JSON),
            Stage::Bottleneck | Stage::Finetune | Stage::Member(_) => {
                self.dir(out).join(sneaker_model::run_layout::MANIFEST)
            }
        }
    }

    /// Whether the stage's last file is there.
    pub fn is_finished(self, out: &Path) -> bool {
        match self {
            Stage::Calibrate => self.last_file(out).is_file(),
            Stage::Bottleneck => manifest_kind(&self.dir(out)).as_deref() == Some("bottleneck"),
            Stage::Finetune => matches!(manifest_kind(&self.dir(out)).as_deref(), Some("finetune" | "embedding")),
            Stage::Member(_) => manifest_kind(&self.dir(out)).as_deref() == Some("embedding"),
        }
    }
}

/// Stage `index` runs again: it and every later stage are no longer finished, so a stage never
/// stands on an older version of the one before it.
fn unfinish_from(stages: &[Stage], index: usize, out: &Path) -> Result<()> {
    for stage in &stages[index..] {
        let path = stage.last_file(out);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(TrainError::io(&path, e)),
            _ => {}
        }
    }
    Ok(())
}

/// The model kind in a folder's `run.json`, if it has one.
fn manifest_kind(dir: &Path) -> Option<String> {
    let bytes = std::fs::read(dir.join(sneaker_model::run_layout::MANIFEST)).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("kind")?.as_str().map(str::to_owned)
}

/// What happened to a stage.
#[derive(Debug, Clone, PartialEq)]
pub enum StageStatus {
    /// It starts; `resumed` when from an interrupted run's checkpoint.
    Started { resumed: bool },
    /// It had finished in an earlier run of the command.
    Skipped,
    /// The settings do not use it (the bottleneck, when the finetune stage is an embedding).
    NotNeeded,
    /// It finished now: how long it took and a one-line result.
    Done { seconds: f64, detail: String },
}

/// [`Event::Stage`]: stage `index` of `count`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageEvent {
    pub stage: Stage,
    pub index: usize,
    pub count: usize,
    pub status: StageStatus,
}

/// A request for the whole pipeline.
pub struct PipelineRequest<'a> {
    pub data: PathBuf,
    pub out: PathBuf,
    pub cfg: PipelineConfig,
    /// Insist on continuing: fail when `out` holds no pipeline. (Continuing is what the plain
    /// command does anyway when there is one.)
    pub resume: bool,
    /// Set by the Ctrl-C handler: the running stage writes a checkpoint and stops.
    pub stop: &'a AtomicBool,
}

/// The finished pipeline.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The final (finetune) run's summary.
    pub summary: Summary,
    pub calibration: CalibrationReport,
    /// Stages found finished by an earlier run of the command.
    pub skipped: Vec<Stage>,
}

/// `pipeline.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    format: u32,
    data: PathBuf,
    config: PipelineConfig,
}

/// Runs every stage not yet finished, in order, into `req.out`.
pub fn train_all(
    req: &PipelineRequest<'_>,
    pre: &mut dyn Pretrained,
    events: &mut dyn FnMut(Event),
) -> Result<Finished> {
    req.cfg.validate()?;
    begin(req)?;
    let mut tracker = Tracker::new(Plan::for_catalog(&req.cfg, &req.data)?);
    let mut skipped = Vec::new();
    let stages = Stage::all(req.cfg.members);
    let count = stages.len();
    let mut ran = false;
    for (index, &stage) in stages.iter().enumerate() {
        let status = |status| Event::Stage(StageEvent { stage, index, count, status });
        if stage == Stage::Bottleneck && !req.cfg.needs_bottleneck() {
            events(tracker.end_stage(index));
            events(status(StageStatus::NotNeeded));
            continue;
        }
        if !ran && stage.is_finished(&req.out) {
            skipped.push(stage);
            events(tracker.end_stage(index));
            events(status(StageStatus::Skipped));
            continue;
        }
        if req.stop.load(Ordering::SeqCst) {
            return Err(TrainError::Interrupted(req.out.clone()));
        }
        if !ran {
            unfinish_from(&stages, index, &req.out)?;
            ran = true;
        }
        let resumed = stage.dir(&req.out).join(run::CHECKPOINT).is_file();
        events(tracker.start_stage(index));
        events(status(StageStatus::Started { resumed }));
        let started = Instant::now();
        let mut forward = |e: Event| {
            if let Some(overall) = tracker.follow(&e) {
                events(overall);
            }
            events(e);
        };
        let detail = run_stage(stage, req, resumed, pre, &mut forward)?;
        events(tracker.end_stage(index));
        events(status(StageStatus::Done { seconds: started.elapsed().as_secs_f64(), detail }));
    }
    let summary = RunDir::open(&req.out)?.summary()?;
    let path = req.out.join(CALIBRATION_JSON);
    let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
    let calibration = serde_json::from_str(&text).map_err(|e| TrainError::parse(&path, e))?;
    Ok(Finished { summary, calibration, skipped })
}

/// Runs one stage; returns its one-line result.
fn run_stage(
    stage: Stage,
    req: &PipelineRequest<'_>,
    resume: bool,
    pre: &mut dyn Pretrained,
    events: &mut dyn FnMut(Event),
) -> Result<String> {
    let request =
        |cfg: TrainConfig| Request { data: req.data.clone(), out: stage.dir(&req.out), cfg, resume, stop: req.stop };
    let trained = |s: Summary| {
        format!("validation top-1 {:.3}, top-5 {:.3}, log-loss {:.3}", s.val_top1, s.val_top5, s.val_log_loss)
    };
    Ok(match stage {
        Stage::Bottleneck => trained(crate::bottleneck::train(&request(req.cfg.bottleneck.clone()), pre, events)?),
        Stage::Finetune if !req.cfg.needs_bottleneck() => {
            trained(crate::embedding::train(&request(req.cfg.finetune.clone()), pre, events)?)
        }
        Stage::Finetune => {
            let init_from = Some(Stage::Bottleneck.dir(&req.out));
            let cfg = TrainConfig { init_from, ..req.cfg.finetune.clone() };
            trained(crate::finetune::train(&request(cfg), pre, events)?)
        }
        Stage::Member(m) => {
            let cfg = member_config(&req.cfg, m, pre)?;
            let variant = cfg.tuned_backbone();
            if variant == pre.layout()?.variant {
                trained(crate::embedding::train(&request(cfg), pre, events)?)
            } else {
                let mut own = pre.tuning(variant)?;
                trained(crate::embedding::train(&request(cfg), own.as_mut(), events)?)
            }
        }
        Stage::Calibrate => {
            let members: Vec<PathBuf> = (1..req.cfg.members).map(|m| Stage::Member(m).dir(&req.out)).collect();
            let c = calibration::calibrate(&req.out, &req.data, &req.cfg.calibrate, &members, pre, events)?;
            format!(
                "temperature {:.3}; answers {:.1}% of augmented held-out photos at {:.1}% precision (threshold {:.3})",
                c.temperature,
                100.0 * c.coverage,
                100.0 * c.precision,
                c.confidence_threshold
            )
        }
    })
}

/// Member `m`'s settings: the finetune stage's, on the member's own backbone, tuning the blocks
/// `member_unfreeze_blocks` names or else the same stages.
fn member_config(cfg: &PipelineConfig, m: usize, pre: &dyn Pretrained) -> Result<TrainConfig> {
    let (from, to) = (cfg.finetune.tuned_backbone(), cfg.member_backbone(m));
    let mut member = TrainConfig { member: m, backbones: vec![to], ..cfg.finetune.clone() };
    if let Some(&blocks) = cfg.member_unfreeze_blocks.get(m) {
        member.unfreeze_blocks = blocks;
    } else if to != from {
        let layout = |v| Layout::read(v, &pre.weights_of(v)?).map_err(TrainError::from);
        member.unfreeze_blocks = crate::arch::same_stages(&layout(from)?, member.unfreeze_blocks, &layout(to)?)?;
    }
    Ok(member)
}

/// Starts the pipeline in `req.out` (writing `pipeline.json`) or checks that the one there was
/// started with the same settings and catalog.
fn begin(req: &PipelineRequest<'_>) -> Result<()> {
    let path = req.out.join(PIPELINE_JSON);
    let data = std::fs::canonicalize(&req.data).unwrap_or_else(|_| req.data.clone());
    let record = Record { format: FORMAT, data, config: req.cfg.clone() };
    let refuse = |detail: String| Err(TrainError::Run { path: req.out.clone(), detail });
    match std::fs::read(&path) {
        Ok(bytes) => {
            let earlier: Record = serde_json::from_slice(&bytes).map_err(|e| TrainError::parse(&path, e))?;
            if earlier == record {
                return Ok(());
            }
            let mut keys = Vec::new();
            differing(&to_value(&earlier), &to_value(&record), "", &mut keys);
            refuse(format!(
                "started with other settings or another catalog ({} differ; see {PIPELINE_JSON}): give the same ones \
                 to continue it, or choose another --out",
                keys.join(", ")
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if req.resume {
                return refuse(format!("nothing to resume: no {PIPELINE_JSON} (run it without --resume to start)"));
            }
            let holds_files = std::fs::read_dir(&req.out).is_ok_and(|mut d| d.next().is_some());
            if holds_files {
                return refuse(format!("holds files but no {PIPELINE_JSON}: choose a new or empty folder"));
            }
            std::fs::create_dir_all(&req.out).map_err(|e| TrainError::io(&req.out, e))?;
            let text = serde_json::to_string_pretty(&record).expect("settings serialise");
            run::atomic_write(&path, text.as_bytes())
        }
        Err(e) => Err(TrainError::io(&path, e)),
    }
}

fn to_value(r: &Record) -> serde_json::Value {
    serde_json::to_value(r).expect("settings serialise")
}

/// Dotted names of the leaves where `a` and `b` differ.
fn differing(a: &serde_json::Value, b: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            let null = serde_json::Value::Null;
            for k in keys {
                let name = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                differing(x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), &name, out);
            }
        }
        _ if a != b => out.push(at.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(data: &Path, out: &Path, stop: &'a AtomicBool) -> PipelineRequest<'a> {
        PipelineRequest {
            data: data.to_owned(),
            out: out.to_owned(),
            cfg: PipelineConfig::default(),
            resume: false,
            stop,
        }
    }

    #[test]
    fn a_pipeline_continues_only_with_the_settings_it_started_with() {
        let dir = tempfile::tempdir().unwrap();
        let stop = AtomicBool::new(false);
        let (data, out) = (dir.path().join("catalog"), dir.path().join("run"));
        std::fs::create_dir_all(&data).unwrap();
        let mut req = request(&data, &out, &stop);
        req.resume = true;
        assert!(begin(&req).unwrap_err().to_string().contains("nothing to resume"));
        req.resume = false;
        begin(&req).unwrap();
        assert!(out.join(PIPELINE_JSON).is_file());
        begin(&req).unwrap();
        req.cfg.finetune.epochs = 5;
        req.cfg.calibrate.draws = 4;
        let e = begin(&req).unwrap_err().to_string();
        assert!(e.contains("config.finetune.epochs") && e.contains("config.calibrate.draws"), "{e}");
    }

    #[test]
    fn a_folder_holding_something_else_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let stop = AtomicBool::new(false);
        std::fs::write(dir.path().join("run.json"), r#"{"kind": "bottleneck"}"#).unwrap();
        let e = begin(&request(dir.path(), dir.path(), &stop)).unwrap_err().to_string();
        assert!(e.contains("no pipeline.json"), "{e}");
    }

    #[test]
    fn a_stage_is_finished_when_its_last_file_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let stages = Stage::all(2);
        assert!(stages.iter().all(|s| !s.is_finished(out)));
        let bn = Stage::Bottleneck.dir(out);
        std::fs::create_dir_all(&bn).unwrap();
        std::fs::write(bn.join("run.json"), r#"{"kind": "bottleneck"}"#).unwrap();
        // The final folder's manifest must be the finetune run's, not any run's.
        std::fs::write(out.join("run.json"), r#"{"kind": "bottleneck"}"#).unwrap();
        assert!(Stage::Bottleneck.is_finished(out) && !Stage::Finetune.is_finished(out));
        std::fs::write(out.join("run.json"), r#"{"kind": "finetune"}"#).unwrap();
        std::fs::write(out.join(CALIBRATION_JSON), "{}").unwrap();
        let member = Stage::Member(1).dir(out);
        assert_eq!(member, out.join("stages/member-1"));
        std::fs::create_dir_all(&member).unwrap();
        std::fs::write(member.join("run.json"), r#"{"kind": "finetune"}"#).unwrap();
        assert!(!Stage::Member(1).is_finished(out), "an ensemble member is an embedding run");
        std::fs::write(member.join("run.json"), r#"{"kind": "embedding"}"#).unwrap();
        assert!(stages.iter().all(|s| s.is_finished(out)));
        std::fs::write(out.join("run.json"), r#"{"kind": "embedding"}"#).unwrap();
        assert!(Stage::Finetune.is_finished(out), "an embedding run is the finetune stage's too");
        // The finetune stage runs again: the members and calibration made beside it go with it.
        unfinish_from(&stages, 1, out).unwrap();
        assert!(Stage::Bottleneck.is_finished(out));
        assert!(stages[1..].iter().all(|s| !s.is_finished(out)));
    }
}
