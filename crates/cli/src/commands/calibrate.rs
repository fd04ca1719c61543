//! `sneaker-id calibrate`: choose the "not footwear" / "unknown sneaker" thresholds of a run (or
//! of a gallery alone) from held-out photos, and write them next to it with their curve.

use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use sneaker_catalog::Catalog;
use sneaker_gallery::{GalleryLocation, OpenMode, run_gallery_dir};
use sneaker_identify::open_set::{self, Report};
use sneaker_identify::{
    CalibrationConfig, Identifier, OPEN_SET_FILE, Outcome, precision_coverage_png, synthetic, write_calibration,
};
use sneaker_model::assets::Assets;
use sneaker_vision::DecodeLimits;

/// Generated non-footwear pictures used unless told otherwise.
const GENERATED_DEFAULT: usize = 60;

#[derive(clap::Args)]
pub struct Args {
    /// Trained run folder; its thresholds go to RUN/open_set.json. Without it, the gallery alone
    /// (on the pretrained network) is calibrated and the file goes into the gallery folder.
    #[arg(long, value_name = "RUN")]
    pub model: Option<PathBuf>,
    /// Gallery folder (default: RUN/gallery when it exists).
    #[arg(long, value_name = "DIR")]
    pub gallery: Option<PathBuf>,
    /// Catalog of photos of known sneakers (labels the run or gallery knows; others are skipped).
    #[arg(long, value_name = "CATALOG")]
    pub known: PathBuf,
    /// Catalog of photos of sneakers the run and gallery do not know (known labels are skipped).
    #[arg(long, value_name = "CATALOG")]
    pub unknown: PathBuf,
    /// Folder of photos that are not footwear (see scripts/fetch-eval-images.sh).
    #[arg(long, value_name = "DIR")]
    pub not_footwear: Option<PathBuf>,
    /// Generated non-footwear pictures (gradients, noise, stripes...) added to the not-footwear set.
    #[arg(long, default_value_t = GENERATED_DEFAULT)]
    pub generated: usize,
    /// Share of photos kept out of the fit to check the chosen thresholds on.
    #[arg(long, default_value_t = 0.5)]
    pub held_out: f32,
    /// Share of footwear photos the footwear check may turn away at most.
    #[arg(long, default_value_t = 0.02)]
    pub max_footwear_miss: f32,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&args.held_out) {
        anyhow::bail!("--held-out must be in [0, 1), got {}", args.held_out);
    }
    let assets = Assets::locate()?;
    let gallery_dir = args.gallery.clone().or_else(|| args.model.as_deref().map(run_gallery_dir));
    let out_dir = match (&args.model, &gallery_dir) {
        (Some(run), _) => run.clone(),
        (None, Some(g)) => g.clone(),
        (None, None) => anyhow::bail!("give --model RUN and/or --gallery DIR: there is nothing to calibrate"),
    };
    // Thresholds are what is being chosen here, so any stored calibration is set aside.
    let mut predictor = super::open_predictor(&assets, args.model.as_deref())?;
    let location = gallery_dir.clone().map(GalleryLocation::Folder);
    let identifier = Identifier::open(&predictor, location.as_ref(), OpenMode::Existing)?.0.with_calibration(None);
    if !identifier.can_identify()? {
        anyhow::bail!("{} has no trained labels and no gallery photos", out_dir.display());
    }
    let known = Catalog::open(&args.known).with_context(|| format!("reading {}", args.known.display()))?;
    let unknown = Catalog::open(&args.unknown).with_context(|| format!("reading {}", args.unknown.display()))?;
    let not_footwear = match &args.not_footwear {
        Some(dir) => image_files(dir)?,
        None => Vec::new(),
    };
    let generated = synthetic::non_footwear(args.generated, 224, 7);
    let inputs = open_set::inputs(&identifier, Some(&known), Some(&unknown), &not_footwear, generated)?;

    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(inputs.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("observing [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template"),
    );
    let (observations, failures) =
        open_set::observe(&mut predictor, &identifier, inputs, &DecodeLimits::default(), &mut |done, _| {
            bar.set_position(done as u64)
        })?;
    bar.finish_and_clear();
    for f in &failures {
        eprintln!("skipped: {f}");
    }
    let source = format!(
        "known {}, unknown {}, not-footwear {} + {} generated; {:.0}% held out",
        args.known.display(),
        args.unknown.display(),
        args.not_footwear.as_deref().map_or("-".into(), |p| p.display().to_string()),
        args.generated,
        100.0 * args.held_out
    );
    let config = CalibrationConfig { max_footwear_miss: args.max_footwear_miss, ..CalibrationConfig::default() };
    let report = open_set::fit(&observations, &identifier, args.held_out, &config, &source)?;
    write_calibration(&out_dir, &report.calibration).with_context(|| format!("writing {}", out_dir.display()))?;
    let chart = out_dir.join("open_set.png");
    precision_coverage_png(&chart, &report.calibration, "Open-set thresholds: precision / coverage")?;
    print_report(&report, &out_dir.join(OPEN_SET_FILE), &chart, args.json)
}

#[cfg_attr(not(feature = "train"), allow(dead_code))] // used by `evaluate`, a training command
/// Open-set rates of a run as it stands (its stored calibration, or the fall-back thresholds):
/// `known` photos should be named, `unknown` ones rejected, non-footwear called so.
pub fn check_open_set(
    run: &Path,
    gallery: Option<&Path>,
    known: &Path,
    unknown: &Path,
    not_footwear: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    let assets = Assets::locate()?;
    let mut predictor = super::open_predictor(&assets, Some(run))?;
    let location = gallery.map(|g| GalleryLocation::Folder(g.to_owned()));
    let identifier = Identifier::open(&predictor, location.as_ref(), OpenMode::Existing)?.0;
    let known = Catalog::open(known).with_context(|| format!("reading {}", known.display()))?;
    let unknown = Catalog::open(unknown).with_context(|| format!("reading {}", unknown.display()))?;
    let not_footwear = not_footwear.map(image_files).transpose()?.unwrap_or_default();
    let generated = synthetic::non_footwear(GENERATED_DEFAULT, 224, 7);
    let inputs = open_set::inputs(&identifier, Some(&known), Some(&unknown), &not_footwear, generated)?;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(inputs.len() as u64) };
    let (observations, failures) =
        open_set::observe(&mut predictor, &identifier, inputs, &DecodeLimits::default(), &mut |d, _| {
            bar.set_position(d as u64)
        })?;
    bar.finish_and_clear();
    for f in &failures {
        eprintln!("skipped: {f}");
    }
    Ok(open_set::check(&observations, &identifier)?)
}

#[cfg_attr(not(feature = "train"), allow(dead_code))]
/// One row of the open-set table, with its header.
pub fn open_set_table(o: &Outcome) -> String {
    format!("{}\n{}", header(), row("open set", o))
}

fn image_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(sneaker_catalog::images_in(dir)?)
}

fn print_report(report: &Report, file: &Path, chart: &Path, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let t = &report.calibration.thresholds;
    println!(
        "thresholds: footwear {:.3}, confidence {:.3}, similarity {}",
        t.footwear,
        t.confidence,
        t.similarity.map_or("-".into(), |s| format!("{s:.3}"))
    );
    println!("gallery temperature {:.3}", report.calibration.fusion.temperature);
    println!("{}", header());
    for (name, o) in [
        ("fit photos", &report.calibration.calibration),
        ("held-out photos", &report.held_out),
        ("held-out, uncalibrated", &report.held_out_uncalibrated),
    ] {
        println!("{}", row(name, o));
    }
    println!("wrote {} and {}", file.display(), chart.display());
    Ok(())
}

fn header() -> String {
    format!(
        "{:<26} {:>8} {:>9} {:>8} {:>9} {:>9} {:>9}  n known/unknown/not",
        "", "coverage", "precision", "correct", "unk.rej", "nf.rej", "fw.miss"
    )
}

fn row(name: &str, o: &Outcome) -> String {
    format!(
        "{name:<26} {:>8.3} {:>9.3} {:>8.3} {:>9.3} {:>9.3} {:>9.3}  {}/{}/{}",
        o.coverage,
        o.precision,
        o.known_correct,
        o.unknown_rejected,
        o.not_footwear_rejected,
        o.footwear_missed,
        o.n_known,
        o.n_unknown,
        o.n_not_footwear
    )
}
