//! Background replacement: cut the shoe out of a plain-background packshot and paste it, with a
//! soft shadow, onto a generated scene (gradient, noise texture, floor tiles, stripes), so a
//! model trained on studio shots has seen shoes on busy backgrounds before it meets phone photos.
//!
//! The cut-out is a flood fill from the border over pixels close to the border colour. Packshots
//! have uniform near-white or light-grey backgrounds, so this simple rule is enough; a learned
//! matting model would cost more than the whole training run. Images whose border is not uniform
//! are left alone (`shoe_mask` returns `None`).

use std::collections::VecDeque;

use image::{GrayImage, Luma, Rgb, RgbImage};
use rand::Rng;

/// Largest per-channel distance from the border colour still counted as background.
const BG_TOLERANCE: i32 = 28;
/// Border pixels farther than this from the median border colour make the border "not plain".
const BORDER_SPREAD: i32 = 40;

fn median_border(img: &RgbImage) -> (Rgb<u8>, f32) {
    let (w, h) = img.dimensions();
    let mut border = Vec::new();
    for x in 0..w {
        border.push(*img.get_pixel(x, 0));
        border.push(*img.get_pixel(x, h - 1));
    }
    for y in 0..h {
        border.push(*img.get_pixel(0, y));
        border.push(*img.get_pixel(w - 1, y));
    }
    let mut med = [0u8; 3];
    for (c, m) in med.iter_mut().enumerate() {
        let mut v: Vec<u8> = border.iter().map(|p| p[c]).collect();
        v.sort_unstable();
        *m = v[v.len() / 2];
    }
    let med = Rgb(med);
    let plain = border.iter().filter(|p| dist(p, &med) <= BORDER_SPREAD).count() as f32 / border.len() as f32;
    (med, plain)
}

fn dist(a: &Rgb<u8>, b: &Rgb<u8>) -> i32 {
    (0..3).map(|c| (a[c] as i32 - b[c] as i32).abs()).max().unwrap_or(0)
}

/// Foreground mask (255 = shoe, 0 = background) of a plain-background shot, or `None` when the
/// image does not look like one: border not uniform and light, or the cut-out covers under 5 %
/// or over 92 % of the frame.
pub fn shoe_mask(img: &RgbImage) -> Option<GrayImage> {
    let (w, h) = img.dimensions();
    if w < 8 || h < 8 {
        return None;
    }
    let (bg, plain) = median_border(img);
    let light = bg.0.iter().all(|&c| c >= 170);
    if plain < 0.9 || !light {
        return None;
    }
    let mut mask = GrayImage::from_pixel(w, h, Luma([255]));
    let mut queue = VecDeque::new();
    let seed = |x: u32, y: u32, mask: &mut GrayImage, queue: &mut VecDeque<(u32, u32)>| {
        if mask.get_pixel(x, y)[0] == 255 && dist(img.get_pixel(x, y), &bg) <= BG_TOLERANCE {
            mask.put_pixel(x, y, Luma([0]));
            queue.push_back((x, y));
        }
    };
    for x in 0..w {
        seed(x, 0, &mut mask, &mut queue);
        seed(x, h - 1, &mut mask, &mut queue);
    }
    for y in 0..h {
        seed(0, y, &mut mask, &mut queue);
        seed(w - 1, y, &mut mask, &mut queue);
    }
    while let Some((x, y)) = queue.pop_front() {
        let nb = [(x.wrapping_sub(1), y), (x + 1, y), (x, y.wrapping_sub(1)), (x, y + 1)];
        for (nx, ny) in nb {
            if nx < w && ny < h {
                seed(nx, ny, &mut mask, &mut queue);
            }
        }
    }
    let fg = mask.pixels().filter(|p| p[0] == 255).count() as f32 / (w * h) as f32;
    (0.05..=0.92).contains(&fg).then_some(mask)
}

fn lerp(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn random_colour<R: Rng>(rng: &mut R) -> [f32; 3] {
    // Real scenes are mostly muted: mix a random hue towards grey.
    let grey: f32 = rng.random_range(30.0..220.0);
    let sat: f32 = rng.random_range(0.0..0.7);
    let c = [rng.random_range(0.0..255.0), rng.random_range(0.0..255.0), rng.random_range(0.0..255.0)];
    lerp([grey; 3], c, sat)
}

/// Smooth value noise in [0, 1] on a `cells`-wide lattice (bilinear between random lattice values).
fn value_noise<R: Rng>(w: u32, h: u32, cells: u32, rng: &mut R) -> Vec<f32> {
    let gw = cells + 2;
    let gh = (cells * h / w.max(1)).max(1) + 2;
    let lattice: Vec<f32> = (0..gw * gh).map(|_| rng.random()).collect();
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let fx = x as f32 / w as f32 * cells as f32;
            let fy = y as f32 / w as f32 * cells as f32;
            let (ix, iy) = (fx as u32, fy as u32);
            let (tx, ty) = (fx - ix as f32, fy - iy as f32);
            let at = |a: u32, b: u32| lattice[(b.min(gh - 1) * gw + a.min(gw - 1)) as usize];
            let top = at(ix, iy) * (1.0 - tx) + at(ix + 1, iy) * tx;
            let bot = at(ix, iy + 1) * (1.0 - tx) + at(ix + 1, iy + 1) * tx;
            out.push(top * (1.0 - ty) + bot * ty);
        }
    }
    out
}

/// A random scene of `w`×`h`: a gradient, a multi-octave noise texture (carpet, asphalt,
/// grass), floor tiles / planks, or stripes, with mild per-pixel grain.
pub fn random_background<R: Rng>(w: u32, h: u32, rng: &mut R) -> RgbImage {
    let (a, b) = (random_colour(rng), random_colour(rng));
    let kind = rng.random_range(0..4);
    let mut field = vec![0.0f32; (w * h) as usize];
    match kind {
        0 => {
            let angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            let (dx, dy) = (angle.cos(), angle.sin());
            for y in 0..h {
                for x in 0..w {
                    let t = (x as f32 / w as f32 - 0.5) * dx + (y as f32 / h as f32 - 0.5) * dy + 0.5;
                    field[(y * w + x) as usize] = t.clamp(0.0, 1.0);
                }
            }
        }
        1 => {
            let mut amp = 1.0;
            let mut total = 0.0;
            for octave in 0..4u32 {
                let n = value_noise(w, h, 2 << (octave + rng.random_range(0..2)), rng);
                for (f, v) in field.iter_mut().zip(n) {
                    *f += amp * v;
                }
                total += amp;
                amp *= 0.5;
            }
            field.iter_mut().for_each(|f| *f /= total);
        }
        2 => {
            let size = rng.random_range(w / 8..w / 2 + 2).max(4);
            let planks = rng.random_bool(0.5);
            let shade: Vec<f32> = (0..64).map(|_| rng.random_range(0.0..1.0)).collect();
            for y in 0..h {
                for x in 0..w {
                    let (cx, cy) = (x / size, y / (if planks { size / 3 + 1 } else { size }));
                    let edge = x % size == 0 || (!planks && y % size == 0);
                    let v = shade[((cx * 7 + cy * 13) % 64) as usize];
                    field[(y * w + x) as usize] = if edge { 0.0 } else { v };
                }
            }
        }
        _ => {
            let period: f32 = rng.random_range(6.0..40.0);
            let angle: f32 = rng.random_range(0.0..std::f32::consts::PI);
            for y in 0..h {
                for x in 0..w {
                    let t = x as f32 * angle.cos() + y as f32 * angle.sin();
                    field[(y * w + x) as usize] = 0.5 + 0.5 * (t / period * std::f32::consts::TAU).sin();
                }
            }
        }
    }
    let grain: f32 = rng.random_range(0.0..12.0);
    RgbImage::from_fn(w, h, |x, y| {
        let c = lerp(a, b, field[(y * w + x) as usize]);
        let g = rng.random_range(-1.0..1.0) * grain;
        Rgb([
            (c[0] + g).clamp(0.0, 255.0) as u8,
            (c[1] + g).clamp(0.0, 255.0) as u8,
            (c[2] + g).clamp(0.0, 255.0) as u8,
        ])
    })
}

/// Pastes the masked shoe of `img` onto `bg` (same size as the result), scaled to 55–100 % of
/// the frame at a random position, over a blurred shadow offset downwards.
pub fn composite<R: Rng>(img: &RgbImage, mask: &GrayImage, mut bg: RgbImage, rng: &mut R) -> RgbImage {
    let (bw, bh) = bg.dimensions();
    let scale = rng.random_range(0.55..1.0) * (bw as f32 / img.width() as f32).min(bh as f32 / img.height() as f32);
    let sw = ((img.width() as f32 * scale) as u32).clamp(1, bw);
    let sh = ((img.height() as f32 * scale) as u32).clamp(1, bh);
    let shoe = image::imageops::resize(img, sw, sh, image::imageops::FilterType::Triangle);
    // A 1 px blur of the hard mask hides the fringe of background colour around the cut.
    let alpha =
        image::imageops::blur(&image::imageops::resize(mask, sw, sh, image::imageops::FilterType::Triangle), 0.8);
    let ox = rng.random_range(0..=bw - sw);
    let oy = rng.random_range(0..=bh - sh);
    if rng.random_bool(0.7) {
        let shadow = image::imageops::blur(&alpha, rng.random_range(2.0..6.0));
        let (dx, dy) = (rng.random_range(-3i64..=3), rng.random_range(1i64..=6));
        let strength: f32 = rng.random_range(0.25..0.6);
        for (x, y, a) in shadow.enumerate_pixels() {
            let (tx, ty) = (ox as i64 + x as i64 + dx, oy as i64 + y as i64 + dy);
            if tx >= 0 && ty >= 0 && (tx as u32) < bw && (ty as u32) < bh {
                let p = bg.get_pixel_mut(tx as u32, ty as u32);
                let k = 1.0 - strength * a[0] as f32 / 255.0;
                p.0.iter_mut().for_each(|c| *c = (*c as f32 * k) as u8);
            }
        }
    }
    for (x, y, s) in shoe.enumerate_pixels() {
        let a = alpha.get_pixel(x, y)[0] as f32 / 255.0;
        let p = bg.get_pixel_mut(ox + x, oy + y);
        for c in 0..3 {
            p[c] = (s[c] as f32 * a + p[c] as f32 * (1.0 - a)).round() as u8;
        }
    }
    bg
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn packshot(w: u32, h: u32) -> RgbImage {
        let mut img = RgbImage::from_pixel(w, h, Rgb([248, 248, 246]));
        for y in h / 3..2 * h / 3 {
            for x in w / 4..3 * w / 4 {
                img.put_pixel(x, y, Rgb([30, 60, 200]));
            }
        }
        img
    }

    #[test]
    fn mask_finds_the_shoe_on_white() {
        let img = packshot(40, 30);
        let m = shoe_mask(&img).expect("plain white border");
        assert_eq!(m.get_pixel(20, 15)[0], 255);
        assert_eq!(m.get_pixel(1, 1)[0], 0);
        // Exactly the painted rectangle: 20 columns × 10 rows.
        assert_eq!(m.pixels().filter(|p| p[0] == 255).count(), 200);
    }

    #[test]
    fn busy_or_dark_borders_are_not_cut() {
        let dark = RgbImage::from_pixel(40, 30, Rgb([20, 20, 20]));
        assert!(shoe_mask(&dark).is_none());
        assert!(shoe_mask(&RgbImage::from_pixel(40, 30, Rgb([250, 250, 250]))).is_none(), "no shoe");
    }

    #[test]
    fn composite_keeps_shoe_colour_and_replaces_white() {
        let img = packshot(60, 40);
        let m = shoe_mask(&img).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let out = composite(&img, &m, RgbImage::from_pixel(100, 100, Rgb([10, 200, 10])), &mut rng);
        let shoe_px = out.pixels().filter(|p| p[2] > 150 && p[1] < 120).count();
        let white_px = out.pixels().filter(|p| p[0] > 230 && p[1] > 230).count();
        assert!(shoe_px > 100, "shoe visible: {shoe_px}");
        assert_eq!(white_px, 0, "studio white gone");
    }

    proptest! {
        #[test]
        fn geometry_is_kept(w in 8u32..80, h in 8u32..80, bw in 8u32..90, bh in 8u32..90, seed in 0u64..1000) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let img = packshot(w, h);
            let bg = random_background(bw, bh, &mut rng);
            prop_assert_eq!(bg.dimensions(), (bw, bh));
            if let Some(m) = shoe_mask(&img) {
                prop_assert_eq!(m.dimensions(), (w, h));
                prop_assert!(m.pixels().all(|p| p[0] == 0 || p[0] == 255));
                let out = composite(&img, &m, bg, &mut rng);
                prop_assert_eq!(out.dimensions(), (bw, bh));
            }
        }
    }
}
