//! `sneaker-id evaluate`: score a trained run on a labelled folder.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::ProgressBar;
use sneaker_train::run::RunDir;

#[derive(clap::Args)]
pub struct Args {
    /// Run folder written by `train`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled folder: `<label>/<image>`; labels must be ones the model knows.
    #[arg(long)]
    pub data: PathBuf,
    /// Print one JSON object (top1, top5, log_loss, mean_per_class, n, per_class, confusion, ...).
    #[arg(long)]
    pub json: bool,
    /// Where to save scores.json and the charts (default: MODEL/eval/<data folder name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Images per ONNX Runtime call.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Also check unknown rejection: a catalog of sneakers the run does not know (labels it
    /// knows are skipped). Uses the run's calibration (`sneaker-id calibrate`) and gallery.
    #[arg(long, value_name = "CATALOG")]
    pub unknown: Option<PathBuf>,
    /// With --unknown: photos that are not footwear (plus generated pictures).
    #[arg(long, value_name = "DIR", requires = "unknown")]
    pub not_footwear: Option<PathBuf>,
    /// With --unknown: gallery folder (default: MODEL/gallery when it exists).
    #[arg(long, value_name = "DIR", requires = "unknown")]
    pub gallery: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let run = RunDir::open(&args.model)?;
    let labels = run.labels()?;
    let data = sneaker_train::Dataset::open(&args.data, Some(&labels))?;
    let backbone = sneaker_train::onnx_backbone::OrtBackbone::runtime().context("starting ONNX Runtime")?;
    let mut classifier = backbone.open_graph(&run.file(sneaker_train::run::MODEL_ONNX), labels.len())?;
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(data.samples.len() as u64) };
    let eval = sneaker_train::evaluate::evaluate(&data, classifier.as_mut(), args.batch, &mut |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    let set = args.data.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    let out = args.out.unwrap_or_else(|| run.path.join(sneaker_train::report::EVAL_DIR).join(set));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let open_set = match &args.unknown {
        Some(unknown) => Some(super::calibrate::check_open_set(
            &args.model,
            args.gallery.as_deref(),
            &args.data,
            unknown,
            args.not_footwear.as_deref(),
            args.json,
        )?),
        None => None,
    };
    let mut value = serde_json::to_value(&eval)?;
    if let Some(o) = &open_set {
        value["open_set"] = serde_json::to_value(o)?;
    }
    let json = value.to_string();
    sneaker_train::run::atomic_write(&out.join("scores.json"), json.as_bytes())?;
    sneaker_train::evaluate::write_charts(&eval, &labels, &out)?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", sneaker_train::evaluate::markdown(&eval));
        if let Some(o) = &open_set {
            println!("\n{}", super::calibrate::open_set_table(o));
        }
        println!("\n{:.0} images/s; scores and charts in {}", eval.images_per_s, out.display());
    }
    Ok(())
}
