//! `sneaker-id train` without `--model`: the whole pipeline (`sneaker_train::stages`) with one
//! progress bar and ETA over every stage, and a status line as each one starts and ends.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sneaker_train::TrainError;
use sneaker_train::fit::Progress;
use sneaker_train::preset::PipelineConfig;
use sneaker_train::stages::{self, PipelineRequest, StageEvent, StageStatus};
use sneaker_train::train::Event;

use super::run::{apply_shared_flags, ctrl_c_flag, say};
use super::*;

/// Whether this invocation is the whole pipeline: no `--model`, and no `model` in `--config`
/// (a one-model settings file keeps training that one model, as before the pipeline existed).
pub fn wanted(a: &Args) -> anyhow::Result<bool> {
    if a.model.is_some() {
        return Ok(false);
    }
    match &a.config {
        Some(path) => Ok(!PipelineConfig::file_names_one_model(path)?),
        None => Ok(true),
    }
}

/// Flags that set one stage's schedule or start: which stage a bare one means is unclear.
fn per_stage_flags(a: &Args) -> Vec<&'static str> {
    [
        ("--epochs", a.epochs.is_some()),
        ("--lr", a.lr.is_some()),
        ("--warmup-epochs", a.warmup_epochs.is_some()),
        ("--patience", a.patience.is_some()),
        ("--optimizer", a.optimizer.is_some()),
        ("--schedule", a.schedule.is_some()),
        ("--momentum", a.momentum.is_some()),
        ("--weight-decay", a.weight_decay.is_some()),
        ("--unfreeze-blocks", a.unfreeze_blocks.is_some()),
        ("--draws", a.draws.is_some()),
        ("--init-from", a.init_from.is_some()),
        // The finetune stage tunes Lite0 and starts from the bottleneck's top model.
        ("--backbone", !a.backbone.is_empty()),
        // The pipeline trains the classifier on one catalog; extra catalogs are for embeddings.
        ("--extra-data", !a.extra_data.is_empty()),
        ("--hold-out", a.hold_out.is_some()),
        ("--embedding-dim", a.embedding_dim.is_some()),
        ("--margin", a.margin.is_some()),
        ("--head-warmup", a.head_warmup.is_some()),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect()
}

/// The preset, the file's tables over it, the shared flags over both training stages.
fn config(a: &Args) -> anyhow::Result<PipelineConfig> {
    let refused = per_stage_flags(a);
    if !refused.is_empty() {
        anyhow::bail!(
            "{} set one stage of the pipeline, and `train` without --model runs several. Set them per stage \
             in --config FILE.toml ([bottleneck], [finetune] and [calibrate] tables, keys as in RUN/config.json), \
             or train one stage alone with --model",
            refused.join(", ")
        );
    }
    let mut cfg = match &a.config {
        Some(p) => PipelineConfig::from_toml_file(p)?,
        None => PipelineConfig::default(),
    };
    cfg.set_shared(|c| apply_shared_flags(a, c));
    cfg.validate()?;
    Ok(cfg)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = config(&args)?;
    let stop = ctrl_c_flag();
    let req = PipelineRequest { data: args.data.clone(), out: args.out.clone(), cfg, resume: args.resume, stop: &stop };
    let mut backbone = sneaker_train::onnx_backbone::OrtBackbone::load().context("loading the pretrained backbone")?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>14} {msg:<34} [{bar:30}] {percent:>3}% {elapsed} eta {eta}")
            .expect("valid template"),
    );
    let mut events = |e: Event| show(&bar, e);
    let result = stages::train_all(&req, &mut backbone, &mut events);
    bar.finish_and_clear();
    match result {
        Ok(done) => {
            let s = &done.summary;
            let c = &done.calibration;
            println!(
                "{}: best epoch {} of {}: validation top-1 {:.3}, top-5 {:.3}, log-loss {:.3}",
                s.model, s.best_epoch, s.epochs_run, s.val_top1, s.val_top5, s.val_log_loss
            );
            println!(
                "calibrated: temperature {:.3} (validation log-loss {:.3} -> {:.3}); answers {:.1}% of augmented \
                 held-out photos at {:.1}% precision (threshold {:.3})",
                c.temperature,
                c.val_log_loss,
                c.val_log_loss_calibrated,
                100.0 * c.coverage,
                100.0 * c.precision,
                c.confidence_threshold
            );
            if req.cfg.needs_bottleneck() {
                println!("run folder: {} (first stage in {}/bottleneck)", args.out.display(), stages::STAGES_DIR);
            } else {
                println!("run folder: {}", args.out.display());
            }
            Ok(())
        }
        Err(TrainError::Interrupted(_)) => {
            anyhow::bail!("interrupted; run the same command again to continue (finished stages are kept)")
        }
        Err(e) => Err(e).with_context(|| format!("training on {}", args.data.display())),
    }
}

/// One event on the bar: the pipeline's position and ETA, the current step, status lines.
fn show(bar: &ProgressBar, e: Event) {
    match e {
        Event::Overall { done, total, jump } => {
            bar.set_length(total);
            bar.set_position(done);
            if jump {
                // Work found done (a finished stage, cached activations) is not this machine's rate.
                bar.reset_eta();
            }
        }
        Event::Stage(s) => stage_line(bar, &s),
        Event::Extract { what, done, total } => bar.set_message(format!("{what} {done}/{total}")),
        Event::Fit(Progress::Batch { epoch, done, total, loss, .. }) => {
            bar.set_message(format!("epoch {} batch {done}/{total} loss {loss:.3}", epoch + 1))
        }
        Event::Fit(Progress::Epoch(r)) => say(
            bar,
            format!(
                "{}: epoch {:>3}: train loss {:.3} acc {:.3} | val loss {:.3} top-1 {:.3} top-5 {:.3} | {:.0} img/s",
                bar.prefix(),
                r.epoch,
                r.train_loss,
                r.train_acc,
                r.val_loss,
                r.val_top1,
                r.val_top5,
                r.train_images_per_s
            ),
        ),
        Event::Note(n) => say(bar, format!("{}: {n}", bar.prefix())),
    }
}

fn stage_line(bar: &ProgressBar, s: &StageEvent) {
    let name = format!("{}/{} {}", s.index + 1, s.count, s.stage.name());
    let line = match &s.status {
        StageStatus::Started { resumed: false } => "started".to_owned(),
        StageStatus::Started { resumed: true } => "resumed from its checkpoint".to_owned(),
        StageStatus::Skipped => "finished earlier, skipped".to_owned(),
        StageStatus::NotNeeded => {
            "not needed (the finetune stage trains an embedding from ImageNet weights)".to_owned()
        }
        StageStatus::Done { seconds, detail } => format!("done in {seconds:.0}s: {detail}"),
    };
    if matches!(s.status, StageStatus::Started { .. }) {
        bar.set_prefix(name.clone());
        bar.set_message("");
    }
    say(bar, format!("stage {name}: {line}"));
}
