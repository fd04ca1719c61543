//! Generated non-footwear pictures (gradients, noise, stripes, checks, shapes) to go with the
//! natural non-shoe photos when calibrating and measuring the "not footwear" answer. They are the
//! kind of thing a camera pointed at a wall, a floor or a screen sends, and cost nothing to make.

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Kinds of generated picture, cycled through in order.
const KINDS: usize = 6;

/// `n` pictures of `size`x`size`, the same for the same seed.
pub fn non_footwear(n: usize, size: u32, seed: u64) -> Vec<(String, RgbImage)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let kind = i % KINDS;
            let img = match kind {
                0 => gradient(size, &mut rng),
                1 => noise(size, &mut rng),
                2 => stripes(size, &mut rng),
                3 => checks(size, &mut rng),
                4 => shapes(size, &mut rng),
                _ => blotches(size, &mut rng),
            };
            let name = ["gradient", "noise", "stripes", "checks", "shapes", "blotches"][kind];
            (format!("generated-{name}-{i:03}"), img)
        })
        .collect()
}

fn colour(rng: &mut ChaCha8Rng) -> [f32; 3] {
    [rng.random::<f32>() * 255.0, rng.random::<f32>() * 255.0, rng.random::<f32>() * 255.0]
}

fn px(c: [f32; 3]) -> Rgb<u8> {
    Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8))
}

fn lerp(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn gradient(size: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let (a, b) = (colour(rng), colour(rng));
    let angle = rng.random::<f32>() * std::f32::consts::TAU;
    let (dx, dy) = (angle.cos(), angle.sin());
    RgbImage::from_fn(size, size, |x, y| {
        let t = ((x as f32 / size as f32 - 0.5) * dx + (y as f32 / size as f32 - 0.5) * dy + 0.71) / 1.42;
        px(lerp(a, b, t))
    })
}

fn noise(size: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let base = colour(rng);
    let amp = 20.0 + rng.random::<f32>() * 100.0;
    RgbImage::from_fn(size, size, |_, _| px(base.map(|v| v + (rng.random::<f32>() - 0.5) * amp)))
}

fn stripes(size: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let (a, b) = (colour(rng), colour(rng));
    let period = 6.0 + rng.random::<f32>() * 40.0;
    let vertical = rng.random::<bool>();
    RgbImage::from_fn(size, size, |x, y| {
        let u = if vertical { x } else { y } as f32;
        if (u / period).floor() as i64 % 2 == 0 { px(a) } else { px(b) }
    })
}

fn checks(size: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let (a, b) = (colour(rng), colour(rng));
    let cell = 8 + rng.random_range(0..48u32);
    RgbImage::from_fn(size, size, |x, y| if (x / cell + y / cell) % 2 == 0 { px(a) } else { px(b) })
}

fn shapes(size: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let mut img = RgbImage::from_pixel(size, size, px(colour(rng)));
    for _ in 0..rng.random_range(3..12) {
        let c = px(colour(rng));
        let (cx, cy) = (rng.random_range(0..size) as i64, rng.random_range(0..size) as i64);
        let r = rng.random_range(8..size / 3) as i64;
        let round = rng.random::<bool>();
        for y in (cy - r).max(0)..(cy + r).min(size as i64) {
            for x in (cx - r).max(0)..(cx + r).min(size as i64) {
                if !round || (x - cx).pow(2) + (y - cy).pow(2) <= r * r {
                    img.put_pixel(x as u32, y as u32, c);
                }
            }
        }
    }
    img
}

/// Smooth value noise: a coarse random grid, bilinearly interpolated (walls, carpets, sky).
fn blotches(size: u32, rng: &mut ChaCha8Rng) -> RgbImage {
    let g = 5usize;
    let grid: Vec<[f32; 3]> = (0..(g + 1) * (g + 1)).map(|_| colour(rng)).collect();
    RgbImage::from_fn(size, size, |x, y| {
        let (fx, fy) = (x as f32 / size as f32 * g as f32, y as f32 / size as f32 * g as f32);
        let (ix, iy) = ((fx as usize).min(g - 1), (fy as usize).min(g - 1));
        let (tx, ty) = (fx - ix as f32, fy - iy as f32);
        let at = |i: usize, j: usize| grid[j * (g + 1) + i];
        px(lerp(lerp(at(ix, iy), at(ix + 1, iy), tx), lerp(at(ix, iy + 1), at(ix + 1, iy + 1), tx), ty))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_covers_every_kind() {
        let a = non_footwear(12, 32, 1);
        let b = non_footwear(12, 32, 1);
        assert_eq!(a, b);
        assert_ne!(a, non_footwear(12, 32, 2));
        let kinds: std::collections::HashSet<&str> = a.iter().map(|(n, _)| n.split('-').nth(1).unwrap()).collect();
        assert_eq!(kinds.len(), KINDS);
        assert!(a.iter().all(|(_, img)| img.dimensions() == (32, 32)));
    }
}
