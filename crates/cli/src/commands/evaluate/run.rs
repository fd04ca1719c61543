//! `sneaker-id evaluate`, the work: needs the training crate (feature `train`).

use anyhow::Context;
use indicatif::ProgressBar;

use super::Args;

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut classifier = sneaker_train::onnx_backbone::RunProbs::open(&args.model)
        .with_context(|| format!("loading run {}", args.model.display()))?;
    let labels = classifier.labels().to_vec();
    let data = sneaker_train::Dataset::open(&args.data, Some(&labels))?;
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(data.samples.len() as u64) };
    let eval = sneaker_train::evaluate::evaluate(&data, &mut classifier, args.batch, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    let set = args.data.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
    let out = args.out.unwrap_or_else(|| args.model.join(sneaker_model::run_layout::EVAL_DIR).join(set));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let open_set = match &args.unknown {
        Some(unknown) => Some(crate::commands::calibrate::check_open_set(
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
    let path = out.join(sneaker_model::run_layout::SCORES);
    sneaker_files::write_atomic(&path, json.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    sneaker_train::evaluate::write_charts(&eval, &labels, &out)?;
    sneaker_train::evaluate::write_predictions(&eval, &data, &out.join(sneaker_train::evaluate::PREDICTIONS_CSV))?;
    if args.json {
        println!("{json}");
    } else {
        print!("{}", sneaker_train::evaluate::markdown(&eval));
        if let Some(o) = &open_set {
            println!("\n{}", crate::commands::calibrate::open_set_table(o));
        }
        println!("\n{:.0} images/s; scores, charts and per-photo predictions in {}", eval.images_per_s, out.display());
    }
    Ok(())
}
