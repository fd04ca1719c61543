//! `sneaker-id train`: train a classifier on a catalog and leave a run folder. Without `--model`,
//! the whole best pipeline (finetune with an embedding head → calibrate) into one folder; with it, one
//! model kind, for experiments.

use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Model {
    Random,
    Scratch,
    Bottleneck,
    Finetune,
    /// A retrieval embedding for the gallery (CosFace), trained like finetune's tail.
    Embedding,
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

/// What `train --help` adds below the flags.
const AFTER_HELP: &str = "\
Without --model, the whole best pipeline runs into OUT, with one progress bar and ETA:
  1. bottleneck  frozen EfficientNet-Lite0 + top model, 2 augmented draws   -> OUT/stages/bottleneck
                 (only for a softmax finetune stage, model = finetune in [finetune]; not run by default)
  2. finetune    the last 11 blocks + a 256-d embedding and cosine classifier (no margin), from ImageNet
                 weights, 3 draws (phone-photo augmentation), 2 epochs, lr 4e-4 -> OUT (run.json...)
  3. member-1    the same on EfficientNet-Lite1's last 10 blocks (its own initialisation, draws and batch
                 order): a second backbone errs on other photos                -> OUT/stages/member-1
  4. member-2    and once more on Lite1                                     -> OUT/stages/member-2
  5. calibrate   the three members as one graph (logits averaged, each photo also seen mirrored;
                 galleries store the three embeddings side by side); temperature fitted on augmented
                 validation photos, baked into model.onnx; answer threshold at 90% precision on the
                 same photos
                                                                            -> OUT/open_set.json, calibration.json
`predict`, `evaluate` and `serve --model OUT` then use it with no flags. After Ctrl-C, the same command
continues: finished stages are skipped, an interrupted one resumes from its checkpoint.
Settings live in one preset (sneaker_train::preset::BEST); --config FILE.toml may change them per stage
with [bottleneck], [finetune] and [calibrate] tables, and the ensemble's size with `members = N` at
its top (each member's backbone with `member_backbones = [\"lite0\", \"lite1\", \"lite1\"]`, and how many
of its last blocks it tunes with `member_unfreeze_blocks = [11, 10, 10]`). Flags that mean the same for every stage (--seed,
--split, --batch-size, --no-background...) apply to both training stages; per-stage ones (--epochs, --lr,
--draws...) are refused there: use the tables, or --model to train one stage alone.";

#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Catalog folder: `<label>/<image>` sub-folders, optional `annotations.csv`.
    #[arg(long)]
    pub data: PathBuf,
    /// Train one model kind alone, for experiments (`model = ...` in --config does too). Without
    /// it, the whole best pipeline runs (see below).
    #[arg(long, value_enum)]
    pub model: Option<Model>,
    /// Run folder to create (config, labels, weights, model.onnx, metrics, curves).
    #[arg(long)]
    pub out: PathBuf,
    /// TOML file of settings (keys as in RUN/config.json); flags override it. Without --model:
    /// [bottleneck], [finetune] and [calibrate] tables over the pipeline's preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// With --model, continue an interrupted run from OUT/checkpoint.safetensors. Without it the
    /// same command continues by itself; --resume then only insists there is a pipeline in OUT.
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
    /// Square input side (the pretrained backbones need 224).
    #[arg(long)]
    pub image_size: Option<u32>,
    /// bottleneck: frozen backbones whose features are concatenated, e.g. `lite0,lite1,lite2`;
    /// embedding: the one backbone to tune, e.g. `lite2` (Lite1/Lite2 weights are fetched on
    /// first use). Default: lite0.
    #[arg(long, value_delimiter = ',', value_parser = parse_backbone)]
    pub backbone: Vec<sneaker_model::efficientnet_lite::Variant>,
    /// Hidden units of the bottleneck top model (0 = one dense layer).
    #[arg(long)]
    pub hidden: Option<usize>,
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long, value_enum)]
    pub split: Option<Split>,
    #[arg(long, value_enum)]
    pub balance: Option<Balance>,
    /// Validate and keep a moving average of the weights with this decay per step (0 = off).
    #[arg(long)]
    pub ema: Option<f64>,
    /// embedding: epochs the head trains alone on the frozen trunk before the blocks (0 = off).
    #[arg(long)]
    pub head_warmup: Option<usize>,
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
    /// Turn off the phone-photo distortions (tilt, occlusion, uneven light, colour cast, shake,
    /// lost detail).
    #[arg(long)]
    pub no_phone: bool,
    /// Experiment: paste half the shoes onto crops of real photos (fetched once) rather than
    /// generated scenes (no gain measured on phone photos).
    #[arg(long)]
    pub scenes: bool,
    /// finetune: the bottleneck run to start from.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// More catalogs to train on beside --data (repeatable); labels of the same name merge.
    #[arg(long, value_name = "CATALOG")]
    pub extra_data: Vec<PathBuf>,
    /// Leave this share of the --extra-data labels out of training (drawn by --seed, listed in
    /// OUT/held_out.json), to evaluate them as products never seen.
    #[arg(long, value_name = "FRACTION")]
    pub hold_out: Option<f64>,
    /// embedding: width of the embedding (default 256).
    #[arg(long)]
    pub embedding_dim: Option<usize>,
    /// embedding: CosFace margin (default 0, no margin: measured best; 0.2 was the earlier default).
    #[arg(long)]
    pub margin: Option<f32>,
    /// Folder for cached activations.
    #[arg(long, env = "SNEAKER_ID_FEATURE_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

fn parse_backbone(s: &str) -> Result<sneaker_model::efficientnet_lite::Variant, String> {
    s.parse().map_err(|e: sneaker_model::ModelError| e.to_string())
}

// The work itself needs burn (crates/train), which the serving binary leaves out to build fast;
// there `main` hands the command to the training binary instead (see `crate::training`).
#[cfg(feature = "train")]
mod pipeline;
#[cfg(feature = "train")]
mod run;
#[cfg(feature = "train")]
pub use run::run;
