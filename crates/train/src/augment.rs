//! Training-time image augmentation: background replacement, random resized crop, flip,
//! phone-photo distortions ([`crate::phone`]), colour jitter, blur and JPEG noise. Every draw is a pure function of (image, seed, draw index), so
//! cached activations of a draw stay valid across runs.

use std::sync::Arc;

use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::background;
use crate::config::AugmentConfig;
use crate::error::Result;
use crate::{phone, scenes};

/// Applies one augmentation draw and resizes to the network input.
#[derive(Debug, Clone)]
pub struct Augmenter {
    pub cfg: AugmentConfig,
    /// Output side in pixels.
    pub size: u32,
    /// Real photos backgrounds are cut from (empty unless `cfg.scenes`).
    photos: Photos,
}

/// Shared between the threads that draw; printed as a count, not as pixels.
#[derive(Clone, Default)]
struct Photos(Arc<Vec<RgbImage>>);

impl std::fmt::Debug for Photos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} photos", self.0.len())
    }
}

/// Deterministic RNG for (`image_key`, `seed`, `draw`).
fn draw_rng(image_key: &str, seed: u64, draw: usize) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(image_key.as_bytes());
    h.update(seed.to_le_bytes());
    h.update((draw as u64).to_le_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

impl Augmenter {
    /// An augmenter without real background photos (`cfg.scenes` is ignored): what validation,
    /// previews and tests use.
    pub fn new(cfg: AugmentConfig, size: u32) -> Self {
        Augmenter { cfg, size, photos: Photos::default() }
    }

    /// The augmenter training uses: with `cfg.scenes`, the real background photos are loaded
    /// (fetched on first use).
    pub fn for_training(cfg: AugmentConfig, size: u32) -> Result<Self> {
        let photos = if cfg.scenes && cfg.background { scenes::load()? } else { Arc::default() };
        Ok(Augmenter { cfg, size, photos: Photos(photos) })
    }

    /// With given background photos (tests).
    pub fn with_photos(cfg: AugmentConfig, size: u32, photos: Vec<RgbImage>) -> Self {
        Augmenter { cfg, size, photos: Photos(Arc::new(photos)) }
    }

    /// Draw 0 is the plain image resized exactly as serving does; draws ≥ 1 are augmented.
    /// `image_key` (the image's sha256) makes draws differ between images.
    pub fn apply(&self, img: &RgbImage, image_key: &str, seed: u64, draw: usize) -> RgbImage {
        if draw == 0 {
            return sneaker_vision::resize_exact(img, self.size, self.size);
        }
        let mut rng = draw_rng(image_key, seed, draw);
        let mut work = img.clone();
        let mut replaced = false;
        if self.cfg.background
            && rng.random_bool(0.8)
            && let Some(mask) = background::shoe_mask(&work)
        {
            // A canvas wider than the shot leaves room for the scene around the shoe, as in
            // phone photos where the shoe fills only part of the frame.
            let side = work.width().max(work.height()) as f32;
            let cw = (side * rng.random_range(1.0..1.5)) as u32;
            let ch = (side * rng.random_range(0.8..1.3)) as u32;
            let (cw, ch) = (cw.max(8), ch.max(8));
            // Only drawn with photos, so the draws of runs without them are unchanged.
            let bg = if !self.photos.0.is_empty() && rng.random_bool(0.5) {
                scenes::random_crop(&self.photos.0, cw, ch, &mut rng)
            } else {
                background::random_background(cw, ch, &mut rng)
            };
            work = background::composite(&work, &mask, bg, &mut rng);
            replaced = true;
        }
        if self.cfg.crop {
            let min_area = if replaced { 0.6 } else { 0.45 };
            work = random_resized_crop(&work, min_area, &mut rng);
        }
        let mut out = sneaker_vision::resize_exact(&work, self.size, self.size);
        if self.cfg.flip && rng.random_bool(0.5) {
            image::imageops::flip_horizontal_in_place(&mut out);
        }
        if self.cfg.phone {
            phone::scene(&mut out, &mut rng);
        }
        if self.cfg.color {
            colour_jitter(&mut out, 0.3, &mut rng);
        }
        if self.cfg.phone {
            phone::camera(&mut out, &mut rng);
        }
        if self.cfg.noise {
            if rng.random_bool(0.3) {
                out = image::imageops::blur(&out, rng.random_range(0.3..1.5));
            }
            if rng.random_bool(0.5) {
                out = jpeg_roundtrip(&out, rng.random_range(30..90));
            }
        }
        out
    }
}

/// Crop covering `min_area`–100 % of the image with aspect ratio 3/4–4/3 (torchvision's
/// RandomResizedCrop, narrowed because a shoe cut in half is no longer that shoe).
fn random_resized_crop<R: Rng>(img: &RgbImage, min_area: f64, rng: &mut R) -> RgbImage {
    let (w, h) = img.dimensions();
    for _ in 0..10 {
        let area = w as f64 * h as f64 * rng.random_range(min_area..1.0);
        let ratio = (rng.random_range((0.75f64).ln()..(4.0f64 / 3.0).ln())).exp();
        let cw = (area * ratio).sqrt().round() as u32;
        let ch = (area / ratio).sqrt().round() as u32;
        if cw >= 1 && ch >= 1 && cw <= w && ch <= h {
            let x = rng.random_range(0..=w - cw);
            let y = rng.random_range(0..=h - ch);
            return image::imageops::crop_imm(img, x, y, cw, ch).to_image();
        }
    }
    img.clone()
}

/// Brightness, contrast and saturation each scaled by a factor in [1 − s, 1 + s].
fn colour_jitter<R: Rng>(img: &mut RgbImage, s: f32, rng: &mut R) {
    let b = rng.random_range(1.0 - s..1.0 + s);
    let c = rng.random_range(1.0 - s..1.0 + s);
    let sat = rng.random_range(1.0 - s..1.0 + s);
    let n = (img.width() * img.height()).max(1) as f32;
    let mean = img.pixels().map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).sum::<f32>() / n;
    for p in img.pixels_mut() {
        let luma = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
        for ch in 0..3 {
            let v = p[ch] as f32 * b;
            let v = luma * b + (v - luma * b) * sat;
            let v = mean * b + (v - mean * b) * c;
            p[ch] = v.clamp(0.0, 255.0) as u8;
        }
    }
}

/// Encodes as JPEG at `quality` and decodes again: the blocking and ringing of phone uploads.
fn jpeg_roundtrip(img: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality);
    if img.write_with_encoder(enc).is_err() {
        return img.clone();
    }
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map(|d| d.to_rgb8())
        .unwrap_or_else(|_| img.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use proptest::prelude::*;

    fn shot() -> RgbImage {
        let mut img = RgbImage::from_pixel(60, 40, Rgb([250, 250, 250]));
        for y in 12..30 {
            for x in 10..50 {
                img.put_pixel(x, y, Rgb([200, 30, 30]));
            }
        }
        img
    }

    #[test]
    fn draws_are_deterministic_and_distinct() {
        let a = Augmenter::new(AugmentConfig::default(), 32);
        let img = shot();
        assert_eq!(a.apply(&img, "k", 1, 3), a.apply(&img, "k", 1, 3));
        assert_ne!(a.apply(&img, "k", 1, 3), a.apply(&img, "k", 1, 4));
        assert_eq!(a.apply(&img, "k", 1, 0), sneaker_vision::resize_exact(&img, 32, 32), "draw 0 is plain");
    }

    #[test]
    fn background_switch_removes_studio_white() {
        let cfg = AugmentConfig { background: true, ..AugmentConfig::none() };
        let a = Augmenter::new(cfg, 64);
        // With p = 0.8 per draw, 10 draws without a replaced background would be a bug.
        let replaced = (1..=10)
            .filter(|&d| {
                let out = a.apply(&shot(), "k", 5, d);
                out.pixels().filter(|p| p[0] > 245 && p[1] > 245 && p[2] > 245).count() < 64 * 64 / 4
            })
            .count();
        assert!(replaced >= 5, "replaced in {replaced}/10 draws");
    }

    #[test]
    fn photos_replace_some_backgrounds() {
        let cfg = AugmentConfig { background: true, scenes: true, ..AugmentConfig::none() };
        // A pure green photo: generated scenes are never exactly (0, 255, 0).
        let photos = vec![RgbImage::from_pixel(80, 80, Rgb([0, 255, 0]))];
        let with = Augmenter::with_photos(cfg.clone(), 64, photos);
        let without = Augmenter::new(cfg, 64);
        let green = |img: &RgbImage| img.pixels().filter(|p| p.0 == [0, 255, 0]).count();
        let on: Vec<usize> = (1..=20).map(|d| green(&with.apply(&shot(), "k", 5, d))).collect();
        let off: usize = (1..=20).map(|d| green(&without.apply(&shot(), "k", 5, d))).sum();
        assert_eq!(off, 0);
        let pasted = on.iter().filter(|&&g| g > 64 * 64 / 4).count();
        assert!((3..=17).contains(&pasted), "photo backgrounds in {pasted}/20 draws, expected about half of 80 %");
    }

    proptest! {
        #[test]
        fn output_is_always_square_of_size(w in 1u32..90, h in 1u32..90, draw in 0usize..6, size in 8u32..64) {
            let img = RgbImage::from_pixel(w, h, Rgb([240, 240, 240]));
            let out = Augmenter::new(AugmentConfig::default(), size).apply(&img, "x", 2, draw);
            prop_assert_eq!(out.dimensions(), (size, size));
        }
    }
}
