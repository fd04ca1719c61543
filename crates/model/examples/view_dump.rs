//! Dumps, for every photo of a labelled folder, a trained run's probabilities on several test-time
//! views of it (as it is, background removed, centre and corner crops, the crop around the shoe the
//! class-activation map locates, padded to a square, mirrored) and two
//! statistics of the photo's border (how much of it is light and neutral, how plain it is): the
//! data to choose whether and when removal or multi-crop averaging should run.
//!
//! ```text
//! cargo run --release -p sneaker-model --example view_dump -- RUN DATA [PER_LABEL] > out.tsv
//! ```
//! A header line (starting with `#`), then one line per photo: path, label index, light share of
//! the border, border spread (mean absolute deviation from the border's mean, 0-255), whether
//! GrabCut applied, then each view's log probabilities (comma-separated), in the order of
//! [`VIEWS`].

#[path = "common/photos.rs"]
mod photos;

use image::RgbImage;
use sneaker_model::localise::{LocaliseConfig, Localiser};
use sneaker_vision::{CutoutConfig, DecodeLimits, Rect, crop, decode_file, remove_background, to_input_tensor};

/// The views, in the order their columns are written (new ones appended, so older dumps keep
/// their column numbers). `tl`..`br` are the corner crops of 75 % of each side; `located` is the
/// localiser's crop around the shoe, or the photo itself where it declines to crop.
const VIEWS: [&str; 16] = [
    "plain",
    "removed",
    "crop90",
    "crop75",
    "square",
    "mirror",
    "crop75mirror",
    "crop90mirror",
    "crop60",
    "crop60mirror",
    "tl",
    "tr",
    "bl",
    "br",
    "located",
    "locatedmirror",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let photos::Setup { mut classifier, photos, assets, .. } = photos::from_args("view_dump")?;
    let mut localiser = Localiser::load(&assets, LocaliseConfig::default())?;
    let cutout = CutoutConfig::default();
    println!("#path\tlabel\tlight\tspread\tapplied\t{}", VIEWS.join("\t"));
    for (path, label) in &photos {
        let image = decode_file(path, &DecodeLimits::default())?;
        let cut = remove_background(&image, None, &path.display().to_string(), &cutout)?;
        let flip = image::imageops::flip_horizontal;
        let (crop90, crop75, crop60) = (centre(&image, 0.90), centre(&image, 0.75), centre(&image, 0.60));
        let located = match localiser.locate(&image)?.decision.crop() {
            Some(r) => crop(&image, r),
            None => image.clone(),
        };
        let [tl, tr, bl, br] = corners(&image, 0.75);
        let views = [
            &image,
            &cut.image,
            &crop90,
            &crop75,
            &square(&image),
            &flip(&image),
            &flip(&crop75),
            &flip(&crop90),
            &crop60,
            &flip(&crop60),
            &tl,
            &tr,
            &bl,
            &br,
            &located,
            &flip(&located),
        ];
        let tensors: Vec<Vec<f32>> = views.iter().map(|v| to_input_tensor(v)).collect();
        let scores = classifier.scores_of_tensors(&tensors)?;
        let (light, spread) = border_stats(&image);
        let logs = |p: &[f32]| p.iter().map(|v| format!("{:.5}", v.max(1e-12).ln())).collect::<Vec<_>>().join(",");
        let columns: Vec<String> = scores.iter().map(|s| logs(&s.probs)).collect();
        println!(
            "{}\t{label}\t{light:.4}\t{spread:.2}\t{}\t{}",
            path.display(),
            u8::from(cut.applied),
            columns.join("\t")
        );
    }
    Ok(())
}

/// The centred `share` of each side.
fn centre(image: &RgbImage, share: f64) -> RgbImage {
    let (w, h) = image.dimensions();
    let (dx, dy) = (f64::from(w) * (1.0 - share) / 2.0, f64::from(h) * (1.0 - share) / 2.0);
    crop(image, Rect::from_edges(dx, dy, f64::from(w) - dx, f64::from(h) - dy, w, h))
}

/// The four corner crops of `share` of each side: top-left, top-right, bottom-left, bottom-right.
fn corners(image: &RgbImage, share: f64) -> [RgbImage; 4] {
    let (w, h) = image.dimensions();
    let (cw, ch) = (f64::from(w) * share, f64::from(h) * share);
    let (fw, fh) = (f64::from(w), f64::from(h));
    [(0.0, 0.0), (fw - cw, 0.0), (0.0, fh - ch), (fw - cw, fh - ch)]
        .map(|(x, y)| crop(image, Rect::from_edges(x, y, x + cw, y + ch, w, h)))
}

/// The photo centred on a square of its border's mean colour, so resizing keeps its proportions.
fn square(image: &RgbImage) -> RgbImage {
    let (w, h) = image.dimensions();
    let side = w.max(h);
    let n = f64::from(2 * (w + h));
    let edge = (0..w).flat_map(|x| [(x, 0), (x, h - 1)]).chain((0..h).flat_map(|y| [(0, y), (w - 1, y)]));
    let mut sum = [0f64; 3];
    for (x, y) in edge {
        for (s, v) in sum.iter_mut().zip(image.get_pixel(x, y).0) {
            *s += f64::from(v) / n;
        }
    }
    let mut out = RgbImage::from_pixel(side, side, image::Rgb(sum.map(|v| v.round() as u8)));
    image::imageops::replace(&mut out, image, i64::from((side - w) / 2), i64::from((side - h) / 2));
    out
}

/// Share of the outer 4% band whose pixels are light and neutral, and the band's spread.
fn border_stats(image: &RgbImage) -> (f32, f32) {
    let (w, h) = image.dimensions();
    let bx = ((w as f32 * 0.04).ceil() as u32).max(1);
    let by = ((h as f32 * 0.04).ceil() as u32).max(1);
    let band: Vec<[f32; 3]> = image
        .enumerate_pixels()
        .filter(|(x, y, _)| *x < bx || *y < by || x + bx >= w || y + by >= h)
        .map(|(_, _, p)| p.0.map(f32::from))
        .collect();
    let n = band.len().max(1) as f32;
    let light = band
        .iter()
        .filter(|p| {
            let (lo, hi) = (p[0].min(p[1]).min(p[2]), p[0].max(p[1]).max(p[2]));
            lo >= 190.0 && hi - lo <= 30.0
        })
        .count() as f32
        / n;
    let mean = band.iter().fold([0f32; 3], |a, p| [a[0] + p[0] / n, a[1] + p[1] / n, a[2] + p[2] / n]);
    let spread = band.iter().map(|p| (0..3).map(|c| (p[c] - mean[c]).abs()).sum::<f32>() / 3.0).sum::<f32>() / n;
    (light, spread)
}
