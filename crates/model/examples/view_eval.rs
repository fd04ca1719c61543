//! Measures what localisation and background removal do to a trained run's accuracy: every photo
//! of a labelled folder is classified as it is, cropped to the shoe, cut out onto white, and both.
//!
//! ```text
//! cargo run --release -p sneaker-model --example view_eval -- RUN DATA [PER_LABEL]
//! cargo run --release -p sneaker-model --example view_eval -- /root/runs/bn-aug2 ../shared/datasets/sneakers50-wild-dev
//! ```
//! `PER_LABEL` takes only the first N photos (by name) of each label, for a sample of a large set.
//! Prints a markdown table (top-1, top-5, how often a crop or cut-out was applied) and the mean
//! time of each step per photo.

#[path = "common/photos.rs"]
mod photos;

use std::time::{Duration, Instant};

use sneaker_model::localise::{LocaliseConfig, Localiser};
use sneaker_model::predictor::top_k;
use sneaker_vision::{CutoutConfig, DecodeLimits, crop, decode_file, remove_background, to_input_tensor};

const VARIANTS: [&str; 5] =
    ["plain", "localised crop", "background removed", "crop + removal (shoe box)", "crop + removal (inset)"];

#[derive(Default)]
struct Tally {
    top1: usize,
    top5: usize,
    applied: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let photos::Setup { run, data, assets, mut classifier, photos } = photos::from_args("view_eval")?;
    let mut localiser = Localiser::load(&assets, LocaliseConfig::default())?;
    let cutout = CutoutConfig::default();
    let mut tallies: Vec<Tally> = VARIANTS.iter().map(|_| Tally::default()).collect();
    let mut time = [Duration::ZERO; 5]; // decode, localise, crop, grabcut (whole photo), classify (per variant)
    for (path, label) in &photos {
        let t = Instant::now();
        let image = decode_file(path, &DecodeLimits::default())?;
        time[0] += t.elapsed();
        let t = Instant::now();
        let located = localiser.locate(&image)?;
        time[1] += t.elapsed();
        let t = Instant::now();
        let cropped = located.decision.crop().map(|r| crop(&image, r));
        time[2] += t.elapsed();
        let view = cropped.as_ref().unwrap_or(&image);
        let name = path.display().to_string();
        let t = Instant::now();
        let cut = remove_background(&image, None, &name, &cutout)?;
        time[3] += t.elapsed();
        let cut_shoe = remove_background(view, located.decision.shoe_in_crop(), &name, &cutout)?;
        let cut_inset = remove_background(view, None, &name, &cutout)?;
        let applied = [false, cropped.is_some(), cut.applied, cut_shoe.applied, cut_inset.applied];
        let views = [&image, view, &cut.image, &cut_shoe.image, &cut_inset.image];
        let tensors: Vec<Vec<f32>> = views.iter().map(|v| to_input_tensor(v)).collect();
        let t = Instant::now();
        let scores = classifier.scores_of_tensors(&tensors)?;
        time[4] += t.elapsed() / 5;
        for ((tally, s), applied) in tallies.iter_mut().zip(&scores).zip(applied) {
            let top = top_k(&s.probs, 5);
            tally.top1 += usize::from(top.first() == Some(label));
            tally.top5 += usize::from(top.contains(label));
            tally.applied += usize::from(applied);
        }
    }
    let n = photos.len().max(1) as f64;
    println!("{} photos of {} with {}\n", photos.len(), data.display(), run.display());
    println!("| input | top-1 | top-5 | applied to |\n|---|---|---|---|");
    for (name, t) in VARIANTS.iter().zip(&tallies) {
        println!("| {name} | {:.3} | {:.3} | {} |", t.top1 as f64 / n, t.top5 as f64 / n, t.applied);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
    println!(
        "\nmean ms per photo: decode {:.1}, localise (CAM forward + box) {:.1}, crop {:.2}, GrabCut {:.1}, classify one view {:.1}",
        ms(time[0]),
        ms(time[1]),
        ms(time[2]),
        ms(time[3]),
        ms(time[4])
    );
    Ok(())
}
