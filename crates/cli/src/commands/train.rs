//! `sneaker-id train`: train a classifier on a catalog and leave a run folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sneaker_train::config::{BalanceKind, ModelKind, OptimizerKind, ScheduleKind, SplitKind};
use sneaker_train::fit::Progress;
use sneaker_train::train::{Event, Request};
use sneaker_train::{TrainConfig, TrainError};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Model {
    Random,
    Scratch,
    Bottleneck,
    Finetune,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Optim {
    Sgd,
    Adam,
    Adamw,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Schedule {
    Constant,
    Step,
    Cosine,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Split {
    Random,
    Group,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Balance {
    None,
    Weighted,
    Sampled,
}

#[derive(clap::Args)]
pub struct Args {
    /// Catalog folder: `<label>/<image>` sub-folders, optional `annotations.csv`.
    #[arg(long)]
    pub data: PathBuf,
    /// Which classifier to train.
    #[arg(long, value_enum)]
    pub model: Option<Model>,
    /// Run folder to create (config, labels, weights, model.onnx, metrics, curves).
    #[arg(long)]
    pub out: PathBuf,
    /// TOML file of settings (keys as in RUN/config.json); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue an interrupted run from OUT/checkpoint.safetensors.
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long, value_enum)]
    pub optimizer: Option<Optim>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, value_enum)]
    pub schedule: Option<Schedule>,
    /// Epochs of linear warm-up.
    #[arg(long)]
    pub warmup_epochs: Option<usize>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    #[arg(long)]
    pub label_smoothing: Option<f32>,
    /// Early stopping: epochs without a better validation log-loss (0 = off).
    #[arg(long)]
    pub patience: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// finetune: trailing MBConv blocks to train.
    #[arg(long)]
    pub unfreeze_blocks: Option<usize>,
    /// Square input side (the pretrained backbone needs 224).
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Hidden units of the bottleneck top model (0 = one dense layer).
    #[arg(long)]
    pub hidden: Option<usize>,
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long, value_enum)]
    pub split: Option<Split>,
    #[arg(long, value_enum)]
    pub balance: Option<Balance>,
    /// Augmented variants per training image (1 = no augmentation).
    #[arg(long)]
    pub draws: Option<usize>,
    /// Turn off background replacement.
    #[arg(long)]
    pub no_background: bool,
    /// Turn off random resized crops.
    #[arg(long)]
    pub no_crop: bool,
    /// Turn off horizontal flips.
    #[arg(long)]
    pub no_flip: bool,
    /// Turn off colour jitter.
    #[arg(long)]
    pub no_color: bool,
    /// Turn off blur and JPEG noise.
    #[arg(long)]
    pub no_noise: bool,
    /// finetune: the bottleneck run to start from.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Folder for cached activations.
    #[arg(long, env = "SNEAKER_ID_FEATURE_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

/// Flags over the TOML file over the defaults.
fn config(a: &Args) -> anyhow::Result<TrainConfig> {
    let mut c = match &a.config {
        Some(p) => TrainConfig::from_toml_file(p)?,
        None => TrainConfig::default(),
    };
    if let Some(m) = a.model {
        c.model = match m {
            Model::Random => ModelKind::Random,
            Model::Scratch => ModelKind::Scratch,
            Model::Bottleneck => ModelKind::Bottleneck,
            Model::Finetune => ModelKind::Finetune,
        };
    }
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { c.$f = v; } )* };
    }
    set!(epochs, batch_size, lr, warmup_epochs, momentum, weight_decay, label_smoothing, patience, seed, unfreeze_blocks, image_size, hidden, dropout);
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
    if let Some(d) = a.draws {
        c.augment.draws = d;
    }
    c.augment.background &= !a.no_background;
    c.augment.crop &= !a.no_crop;
    c.augment.flip &= !a.no_flip;
    c.augment.color &= !a.no_color;
    c.augment.noise &= !a.no_noise;
    if a.init_from.is_some() {
        c.init_from = a.init_from.clone();
    }
    if a.cache_dir.is_some() {
        c.cache_dir = a.cache_dir.clone();
    }
    c.validate()?;
    Ok(c)
}

/// A line above the progress bar; when stderr is no terminal (logs, CI) the bar is hidden and
/// would swallow it, so it goes to stderr plainly.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Sets the flag on the first Ctrl-C; a second one kills the process as usual.
fn ctrl_c_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
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
    let cfg = config(&args)?;
    let stop = ctrl_c_flag();
    let req = Request { data: args.data.clone(), out: args.out.clone(), cfg: cfg.clone(), resume: args.resume, stop: &stop };
    let mut backbone = match cfg.model {
        ModelKind::Bottleneck | ModelKind::Finetune => {
            Some(sneaker_train::onnx_backbone::OrtBackbone::load().context("loading the pretrained backbone")?)
        }
        _ => None,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template"));
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
        Event::Fit(Progress::Epoch(r)) => say(&bar, format!(
            "epoch {:>3}: train loss {:.3} acc {:.3} | val loss {:.3} top-1 {:.3} top-5 {:.3} | {:.0} img/s, {:.1}s",
            r.epoch, r.train_loss, r.train_acc, r.val_loss, r.val_top1, r.val_top5, r.train_images_per_s, r.seconds
        )),
        Event::Note(n) => say(&bar, n),
    };
    let pre = backbone.as_mut().map(|b| b as &mut dyn sneaker_train::train::Pretrained);
    let result = sneaker_train::train::train(&req, pre, &mut events);
    bar.finish_and_clear();
    match result {
        Ok(s) => {
            println!(
                "{}: best epoch {} of {}: validation top-1 {:.3}, top-5 {:.3}, log-loss {:.3} ({:.0}s)\nrun folder: {}",
                s.model, s.best_epoch, s.epochs_run, s.val_top1, s.val_top5, s.val_log_loss, s.wall_seconds, args.out.display()
            );
            Ok(())
        }
        Err(TrainError::Interrupted(p)) => {
            anyhow::bail!("interrupted; resume with `--resume` (checkpoint {})", p.display())
        }
        Err(e) => Err(e).with_context(|| format!("training on {}", args.data.display())),
    }
}
