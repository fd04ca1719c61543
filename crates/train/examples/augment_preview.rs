//! Writes the augmented training draws of a few photos side by side, to look at what training
//! sees: `cargo run --release -p sneaker-train --example augment_preview -- OUT.png DRAWS PHOTO...`
//! (one row per photo: draw 0, the plain photo, then draws 1..DRAWS).

use sneaker_train::{AugmentConfig, Augmenter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, draws, photos @ ..] = args.as_slice() else {
        return Err("usage: augment_preview OUT.png DRAWS PHOTO...".into());
    };
    let draws: u32 = draws.parse().map_err(|e| format!("DRAWS {draws:?}: {e}"))?;
    let size = 224;
    // What training draws: real background photos included (fetched on first use).
    let aug = Augmenter::for_training(AugmentConfig::default(), size)?;
    let mut sheet = image::RgbImage::new(size * (draws + 1), size * photos.len() as u32);
    for (row, path) in photos.iter().enumerate() {
        let img = image::open(path).map_err(|e| format!("{path}: {e}"))?.to_rgb8();
        for d in 0..=draws {
            let tile = aug.apply(&img, path, 42, d as usize);
            image::imageops::replace(&mut sheet, &tile, (d * size) as i64, (row as u32 * size) as i64);
        }
    }
    sheet.save(out)?;
    Ok(())
}
