//! Phone-photo distortions: what a hand-held camera does to a shoe that a studio never does.
//! A tilted, off-axis view (a perspective-like warp), a hand or a trouser leg over part of the
//! shoe, uneven light and a white balance off neutral, camera shake, and the loss of detail of a
//! small, re-scaled upload. Each is drawn with its own probability, so most draws carry one or
//! two of them and some none.
//!
//! Written by hand: each is a few lines over `image`'s pixels, and the crates that offer warps
//! (imageproc) would bring a linear-algebra stack into the training build for one function.

use image::{Rgb, RgbImage, imageops};
use rand::Rng;

use crate::background;

/// Applies the geometric and lighting distortions (before colour jitter).
pub fn scene<R: Rng>(img: &mut RgbImage, rng: &mut R) {
    if rng.random_bool(0.5) {
        *img = corner_warp(img, 0.12, rng);
    }
    if rng.random_bool(0.3) {
        occlude(img, rng);
    }
    if rng.random_bool(0.3) {
        light_falloff(img, rng);
    }
    if rng.random_bool(0.5) {
        colour_cast(img, 0.15, rng);
    }
}

/// Applies the camera's distortions (after colour jitter, before blur and JPEG noise).
pub fn camera<R: Rng>(img: &mut RgbImage, rng: &mut R) {
    if rng.random_bool(0.2) {
        *img = motion_blur(img, rng.random_range(3..=9), rng.random_range(0.0..std::f32::consts::PI));
    }
    if rng.random_bool(0.3) {
        let (w, h) = img.dimensions();
        // Wild photos are often small crops of a larger frame, upscaled to the network's input.
        let side = rng.random_range(56..=w.max(57));
        let small = imageops::resize(img, side, (side * h / w.max(1)).max(1), imageops::FilterType::Triangle);
        *img = imageops::resize(&small, w, h, imageops::FilterType::Triangle);
    }
}

/// Moves each corner by up to `amount` of the side and maps the image bilinearly between the
/// moved corners: a cheap stand-in for a tilted phone (a projective warp needs a linear solve
/// and looks the same at this strength). Pixels outside the source take the border's mean.
fn corner_warp<R: Rng>(img: &RgbImage, amount: f32, rng: &mut R) -> RgbImage {
    let (w, h) = img.dimensions();
    let (wf, hf) = (w as f32 - 1.0, h as f32 - 1.0);
    let mut corner =
        |x: f32, y: f32| (x + rng.random_range(-amount..amount) * wf, y + rng.random_range(-amount..amount) * hf);
    let (tl, tr, bl, br) = (corner(0.0, 0.0), corner(wf, 0.0), corner(0.0, hf), corner(wf, hf));
    let fill = border_mean(img);
    RgbImage::from_fn(w, h, |x, y| {
        let (u, v) = (x as f32 / wf.max(1.0), y as f32 / hf.max(1.0));
        let sx = (1.0 - v) * ((1.0 - u) * tl.0 + u * tr.0) + v * ((1.0 - u) * bl.0 + u * br.0);
        let sy = (1.0 - v) * ((1.0 - u) * tl.1 + u * tr.1) + v * ((1.0 - u) * bl.1 + u * br.1);
        bilinear(img, sx, sy).unwrap_or(fill)
    })
}

fn bilinear(img: &RgbImage, x: f32, y: f32) -> Option<Rgb<u8>> {
    let (w, h) = img.dimensions();
    // Half a pixel past the edge still samples the edge pixel, as image resamplers do.
    let (xmax, ymax) = ((w - 1) as f32, (h - 1) as f32);
    if x < -0.5 || y < -0.5 || x > xmax + 0.5 || y > ymax + 0.5 {
        return None;
    }
    let (x, y) = (x.clamp(0.0, xmax), y.clamp(0.0, ymax));
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let mut out = [0u8; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = img.get_pixel(x0, y0)[c] as f32 * (1.0 - tx) + img.get_pixel(x1, y0)[c] as f32 * tx;
        let bot = img.get_pixel(x0, y1)[c] as f32 * (1.0 - tx) + img.get_pixel(x1, y1)[c] as f32 * tx;
        *o = (top * (1.0 - ty) + bot * ty).round() as u8;
    }
    Some(Rgb(out))
}

fn border_mean(img: &RgbImage) -> Rgb<u8> {
    let (w, h) = img.dimensions();
    let mut sum = [0u64; 3];
    let mut n = 0u64;
    for (x, y, p) in img.enumerate_pixels() {
        if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
            (0..3).for_each(|c| sum[c] += p[c] as u64);
            n += 1;
        }
    }
    let n = n.max(1);
    Rgb([(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8])
}

/// Covers part of the frame from one edge: a trouser leg or sleeve (a textured band from the
/// top or a side) or a hand (a skin-toned ellipse reaching in from an edge). At most about a
/// fifth of the frame, so the shoe stays the subject.
fn occlude<R: Rng>(img: &mut RgbImage, rng: &mut R) {
    let (w, h) = img.dimensions();
    let (wf, hf) = (w as f32, h as f32);
    // The ellipse's centre sits on an edge, so about half of it is inside the frame.
    let edge = rng.random_range(0..4);
    let along: f32 = rng.random_range(0.15..0.85);
    let (cx, cy) = match edge {
        0 => (along * wf, 0.0),
        1 => (wf, along * hf),
        2 => (along * wf, hf),
        _ => (0.0, along * hf),
    };
    let hand = rng.random_bool(0.5);
    let (rx, ry) = if hand {
        (rng.random_range(0.12..0.25) * wf, rng.random_range(0.12..0.25) * hf)
    } else if edge % 2 == 0 {
        (rng.random_range(0.12..0.22) * wf, rng.random_range(0.2..0.45) * hf)
    } else {
        (rng.random_range(0.2..0.45) * wf, rng.random_range(0.12..0.22) * hf)
    };
    let texture = if hand {
        // Skin tones from light to dark, lit from one side.
        let t: f32 = rng.random_range(0.0..1.0);
        let base = [235.0 - 150.0 * t, 190.0 - 125.0 * t, 160.0 - 110.0 * t];
        RgbImage::from_fn(w, h, |x, _| {
            let k = 0.8 + 0.3 * x as f32 / wf;
            Rgb([(base[0] * k).min(255.0) as u8, (base[1] * k).min(255.0) as u8, (base[2] * k).min(255.0) as u8])
        })
    } else {
        background::random_background(w, h, rng)
    };
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
        let d = dx * dx + dy * dy;
        if d < 1.0 {
            // A soft 10 % rim, as a defocused near object has.
            let a = ((1.0 - d) / 0.1).min(1.0);
            let t = texture.get_pixel(x, y);
            for c in 0..3 {
                p[c] = (t[c] as f32 * a + p[c] as f32 * (1.0 - a)).round() as u8;
            }
        }
    }
}

/// Light that falls off across the frame (a window on one side, the photographer's shadow).
fn light_falloff<R: Rng>(img: &mut RgbImage, rng: &mut R) {
    let (w, h) = img.dimensions();
    let angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let (dx, dy) = (angle.cos(), angle.sin());
    let darkest: f32 = rng.random_range(0.45..0.85);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let t = ((x as f32 / w as f32 - 0.5) * dx + (y as f32 / h as f32 - 0.5) * dy + 0.5).clamp(0.0, 1.0);
        let k = darkest + (1.0 - darkest) * t;
        p.0.iter_mut().for_each(|c| *c = (*c as f32 * k) as u8);
    }
}

/// A white balance off neutral: each channel scaled by 1 ± `s` (tungsten, shade, phone tuning).
fn colour_cast<R: Rng>(img: &mut RgbImage, s: f32, rng: &mut R) {
    let gain: [f32; 3] = std::array::from_fn(|_| rng.random_range(1.0 - s..1.0 + s));
    for p in img.pixels_mut() {
        for c in 0..3 {
            p[c] = (p[c] as f32 * gain[c]).clamp(0.0, 255.0) as u8;
        }
    }
}

/// Camera shake: the mean of `len` copies shifted along `angle`.
fn motion_blur(img: &RgbImage, len: u32, angle: f32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (dx, dy) = (angle.cos(), angle.sin());
    let half = (len as f32 - 1.0) / 2.0;
    RgbImage::from_fn(w, h, |x, y| {
        let mut sum = [0.0f32; 3];
        for i in 0..len {
            let t = i as f32 - half;
            let sx = (x as f32 + t * dx).round().clamp(0.0, (w - 1) as f32) as u32;
            let sy = (y as f32 + t * dy).round().clamp(0.0, (h - 1) as f32) as u32;
            let p = img.get_pixel(sx, sy);
            (0..3).for_each(|c| sum[c] += p[c] as f32);
        }
        Rgb(sum.map(|s| (s / len as f32).round() as u8))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn shot(side: u32) -> RgbImage {
        RgbImage::from_fn(side, side, |x, y| Rgb([(x * 255 / side) as u8, (y * 255 / side) as u8, 120]))
    }

    #[test]
    fn warp_without_movement_is_the_identity() {
        let img = shot(32);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(corner_warp(&img, 1e-6, &mut rng), img);
    }

    #[test]
    fn occlusion_covers_part_of_the_frame_from_an_edge() {
        let img = RgbImage::from_pixel(64, 64, Rgb([0, 0, 255]));
        for seed in 0..20 {
            let mut out = img.clone();
            occlude(&mut out, &mut ChaCha8Rng::seed_from_u64(seed));
            let changed = out.pixels().filter(|p| **p != Rgb([0, 0, 255])).count() as f32 / (64.0 * 64.0);
            assert!((0.01..0.3).contains(&changed), "seed {seed}: {changed:.3} of the frame covered");
            assert_eq!(*out.get_pixel(32, 32), Rgb([0, 0, 255]), "seed {seed}: the centre stays visible");
        }
    }

    #[test]
    fn motion_blur_keeps_flat_areas_and_smears_edges() {
        let mut img = RgbImage::from_pixel(20, 20, Rgb([0, 0, 0]));
        (10..20).for_each(|x| (0..20).for_each(|y| img.put_pixel(x, y, Rgb([200, 200, 200]))));
        let out = motion_blur(&img, 5, 0.0);
        assert_eq!(*out.get_pixel(2, 5), Rgb([0, 0, 0]));
        assert_eq!(*out.get_pixel(17, 5), Rgb([200, 200, 200]));
        assert_eq!(*out.get_pixel(10, 5), Rgb([120, 120, 120]), "three of five taps on the light side");
    }

    proptest! {
        #[test]
        fn distortions_keep_the_size(w in 2u32..70, h in 2u32..70, seed in 0u64..500) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut img = RgbImage::from_pixel(w, h, Rgb([90, 160, 30]));
            scene(&mut img, &mut rng);
            camera(&mut img, &mut rng);
            prop_assert_eq!(img.dimensions(), (w, h));
        }
    }
}
