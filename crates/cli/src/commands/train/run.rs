//! `sneaker-id train`, the work: needs the training crate (feature `train`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sneaker_train::config::{BalanceKind, ModelKind, OptimizerKind, ScheduleKind, SplitKind};
use sneaker_train::fit::Progress;
use sneaker_train::train::{Event, Request};
use sneaker_train::{TrainConfig, TrainError};

use super::*;

/// Flags over the TOML file over the defaults.
fn config(a: &Args) -> anyhow::Result<TrainConfig> {
    let mut c = match &a.config {
        Some(p) => TrainConfig::from_toml_file(p)?,
        // The embedding trains like the pipeline's finetune stage: same blocks, draws, schedule.
        None if matches!(a.model, Some(Model::Embedding)) => sneaker_train::preset::embedding(),
        None => TrainConfig::default(),
    };
    if let Some(m) = a.model {
        c.model = match m {
            Model::Random => ModelKind::Random,
            Model::Scratch => ModelKind::Scratch,
            Model::Bottleneck => ModelKind::Bottleneck,
            Model::Finetune => ModelKind::Finetune,
            Model::Embedding => ModelKind::Embedding,
        };
    }
    apply_stage_flags(a, &mut c);
    apply_shared_flags(a, &mut c);
    c.validate()?;
    Ok(c)
}

/// The flags that set one model's schedule and start (`--epochs`, `--lr`, `--draws`...); the
/// whole pipeline refuses them (see `super::pipeline`).
fn apply_stage_flags(a: &Args, c: &mut TrainConfig) {
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { c.$f = v; } )* };
    }
    set!(
        epochs,
        lr,
        warmup_epochs,
        momentum,
        weight_decay,
        patience,
        unfreeze_blocks,
        embedding_dim,
        margin,
        hold_out,
        head_warmup
    );
    if !a.extra_data.is_empty() {
        c.extra_data = a.extra_data.clone();
    }
    if let Some(o) = a.optimizer {
        c.optimizer = match o {
            Optim::Sgd => OptimizerKind::Sgd,
            Optim::Adam => OptimizerKind::Adam,
            Optim::Adamw => OptimizerKind::AdamW,
        };
    }
    if let Some(s) = a.schedule {
        c.schedule = match s {
            Schedule::Constant => ScheduleKind::Constant,
            Schedule::Step => ScheduleKind::Step,
            Schedule::Cosine => ScheduleKind::Cosine,
        };
    }
    if let Some(d) = a.draws {
        c.augment.draws = d;
    }
    if !a.backbone.is_empty() {
        c.backbones = a.backbone.clone();
    }
    if a.init_from.is_some() {
        c.init_from = a.init_from.clone();
    }
}

/// The flags that mean the same for every model (data split, seed, batches, regularisation,
/// augmentation switches, cache): the whole pipeline sets them in each of its stages.
pub(super) fn apply_shared_flags(a: &Args, c: &mut TrainConfig) {
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { c.$f = v; } )* };
    }
    set!(batch_size, label_smoothing, seed, image_size, hidden, dropout, ema);
    if let Some(s) = a.split {
        c.split = match s {
            Split::Random => SplitKind::Random,
            Split::Group => SplitKind::Group,
        };
    }
    if let Some(b) = a.balance {
        c.balance = match b {
            Balance::None => BalanceKind::None,
            Balance::Weighted => BalanceKind::Weighted,
            Balance::Sampled => BalanceKind::Sampled,
        };
    }
    c.augment.background &= !a.no_background;
    c.augment.crop &= !a.no_crop;
    c.augment.flip &= !a.no_flip;
    c.augment.color &= !a.no_color;
    c.augment.noise &= !a.no_noise;
    c.augment.phone &= !a.no_phone;
    c.augment.scenes |= a.scenes;
    if a.cache_dir.is_some() {
        c.cache_dir = a.cache_dir.clone();
    }
}

/// A line above the progress bar; when stderr is no terminal (logs, CI) the bar is hidden and
/// would swallow it, so it goes to stderr plainly.
pub(super) fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Sets the flag on the first Ctrl-C; a second one kills the process as usual.
pub(super) fn ctrl_c_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            eprintln!("\ninterrupted: writing a checkpoint (Ctrl-C again to abort)");
            f.store(true, Ordering::SeqCst);
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                std::process::exit(130);
            }
        }
    });
    flag
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if super::pipeline::wanted(&args)? {
        return super::pipeline::run(args);
    }
    let cfg = config(&args)?;
    let stop = ctrl_c_flag();
    let req =
        Request { data: args.data.clone(), out: args.out.clone(), cfg: cfg.clone(), resume: args.resume, stop: &stop };
    let mut backbone = match cfg.model {
        ModelKind::Bottleneck | ModelKind::Finetune | ModelKind::Embedding => Some(
            sneaker_train::onnx_backbone::OrtBackbone::load_with(&cfg.backbones)
                .context("loading the pretrained backbones")?,
        ),
        _ => None,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template"),
    );
    let mut events = |e: Event| match e {
        Event::Extract { what, done, total } => {
            bar.set_message(what);
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        Event::Fit(Progress::Batch { epoch, done, total, loss, acc }) => {
            bar.set_message(format!("epoch {} loss {loss:.3} acc {acc:.3}", epoch + 1));
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        Event::Fit(Progress::Epoch(r)) => say(
            &bar,
            format!(
                "epoch {:>3}: train loss {:.3} acc {:.3} | val loss {:.3} top-1 {:.3} top-5 {:.3} | {:.0} img/s, {:.1}s",
                r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_top1, r.val_top5, r.train_images_per_s, r.seconds
            ),
        ),
        Event::Note(n) => say(&bar, n),
        // Only the whole pipeline reports these (`super::pipeline`).
        Event::Stage(_) | Event::Overall { .. } => {}
    };
    let pre = backbone.as_mut().map(|b| b as &mut dyn sneaker_train::train::Pretrained);
    let result = sneaker_train::train::train(&req, pre, &mut events);
    bar.finish_and_clear();
    match result {
        Ok(s) => {
            println!(
                "{}: best epoch {} of {}: validation top-1 {:.3}, top-5 {:.3}, log-loss {:.3} ({:.0}s)\nrun folder: {}",
                s.model,
                s.best_epoch,
                s.epochs_run,
                s.val_top1,
                s.val_top5,
                s.val_log_loss,
                s.wall_seconds,
                args.out.display()
            );
            if s.skipped_images > 0 {
                // Each was named in a warning as the dataset opened; the count is in summary.json.
                println!(
                    "{} photos could not be decoded and were left out (skipped_images in summary.json)",
                    s.skipped_images
                );
            }
            Ok(())
        }
        Err(TrainError::Interrupted(p)) => {
            anyhow::bail!("interrupted; resume with `--resume` (checkpoint {})", p.display())
        }
        Err(e) => Err(e).with_context(|| format!("training on {}", args.data.display())),
    }
}
