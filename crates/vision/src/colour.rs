//! A colourway descriptor: the shoe's colour distribution as a unit vector.
//!
//! A product in the gallery is one colourway, and its photos are taken from every side: the side,
//! the sole, the top. The learned embedding is taught that every colourway of a model is the same
//! label, so it is nearly blind to colour, and no training pair shows it a sole beside a side view.
//! What a sole and a side view of one colourway share is their palette. This descriptor measures
//! it: a soft hue × saturation × value histogram over the pixels that are not the background,
//! square-rooted so the cosine between two descriptors is their Bhattacharyya coefficient.
//!
//! The background is the colour of the photo's border (its median): pixels near it weigh little.
//! A shoe as light as its studio background leaves too few pixels, and the whole photo is used.

use image::RgbImage;

use crate::tensor::{NORM_MEAN, NORM_STD};

/// Hue bins for coloured pixels.
const HUES: usize = 12;
/// Saturation bins (muted, vivid) and value bins (dark, light) for each hue.
const SATS: usize = 2;
const VALS: usize = 2;
/// Grey levels for pixels without a hue worth the name (black … white).
const GREYS: usize = 6;
/// Descriptor width.
pub const COLOUR_DIM: usize = HUES * SATS * VALS + GREYS;

/// Below this saturation (or value) a pixel's hue is noise: it counts as a grey.
const MIN_SATURATION: f32 = 0.18;
const MIN_VALUE: f32 = 0.12;
/// RGB distance (0–255 scale) from the border colour below which a pixel is background, and the
/// ramp above it over which it becomes fully shoe.
const BACKGROUND_NEAR: f32 = 24.0;
const BACKGROUND_RAMP: f32 = 40.0;
/// Border band, as a fraction of each side, that estimates the background colour.
const BORDER: f32 = 0.04;
/// Less foreground weight than this fraction of the pixels: use them all.
const MIN_FOREGROUND: f32 = 0.03;

/// The unit-length colour descriptor of `image` ([`COLOUR_DIM`] values).
pub fn colour_descriptor(image: &RgbImage) -> Vec<f32> {
    let pixels: Vec<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    describe(&pixels, image.width() as usize, image.height() as usize)
}

/// [`colour_descriptor`] of a network input: CHW `[3, side, side]` normalised as
/// [`crate::to_input_tensor`] makes it, so every caller of the network gets the same descriptor
/// from what it already has.
///
/// # Panics
/// If `tensor.len() != 3 × side²` — a caller bug, not bad input data.
pub fn colour_descriptor_chw(tensor: &[f32], side: usize) -> Vec<f32> {
    let plane = side * side;
    assert_eq!(tensor.len(), 3 * plane, "a [3, {side}, {side}] tensor");
    let byte = |t: f32| ((t * NORM_STD + NORM_MEAN) * 255.0).round().clamp(0.0, 255.0) as u8;
    let pixels: Vec<[u8; 3]> =
        (0..plane).map(|i| [byte(tensor[i]), byte(tensor[plane + i]), byte(tensor[2 * plane + i])]).collect();
    describe(&pixels, side, side)
}

/// `pixels` row-major, `width` × `height`.
fn describe(pixels: &[[u8; 3]], width: usize, height: usize) -> Vec<f32> {
    let background = border_median(pixels, width, height);
    let weights: Vec<f32> = pixels.iter().map(|&p| foreground_weight(p, background)).collect();
    let total: f32 = weights.iter().sum();
    let use_all = total < MIN_FOREGROUND * weights.len().max(1) as f32;
    let mut hist = vec![0f32; COLOUR_DIM];
    for (&p, &w) in pixels.iter().zip(&weights) {
        let w = if use_all { 1.0 } else { w };
        if w > 0.0 {
            accumulate(&mut hist, p, w);
        }
    }
    hist.iter_mut().for_each(|h| *h = h.sqrt());
    let norm = hist.iter().map(|h| h * h).sum::<f32>().sqrt();
    if norm > 0.0 {
        hist.iter_mut().for_each(|h| *h /= norm);
    }
    hist
}

/// Median of each channel over the border band.
fn border_median(pixels: &[[u8; 3]], width: usize, height: usize) -> [f32; 3] {
    let bx = ((width as f32 * BORDER).ceil() as usize).max(1);
    let by = ((height as f32 * BORDER).ceil() as usize).max(1);
    let mut channels: [Vec<u8>; 3] = Default::default();
    for (i, p) in pixels.iter().enumerate() {
        let (x, y) = (i % width.max(1), i / width.max(1));
        if x < bx || y < by || x + bx >= width || y + by >= height {
            for (c, v) in channels.iter_mut().enumerate() {
                v.push(p[c]);
            }
        }
    }
    channels.map(|mut v| {
        if v.is_empty() {
            return 255.0;
        }
        let mid = v.len() / 2;
        *v.select_nth_unstable(mid).1 as f32
    })
}

fn foreground_weight(p: [u8; 3], background: [f32; 3]) -> f32 {
    let d = (0..3).map(|c| (p[c] as f32 - background[c]).powi(2)).sum::<f32>().sqrt();
    ((d - BACKGROUND_NEAR) / BACKGROUND_RAMP).clamp(0.0, 1.0)
}

/// Adds `w` of pixel `p` to the histogram; a coloured pixel's weight is split between its two
/// nearest hue bins so a hue on a bin edge does not flip between photos.
fn accumulate(hist: &mut [f32], p: [u8; 3], w: f32) {
    let [r, g, b] = p.map(|c| c as f32 / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let chroma = max - min;
    let value = max;
    let saturation = if max > 0.0 { chroma / max } else { 0.0 };
    if saturation < MIN_SATURATION || value < MIN_VALUE {
        let grey = ((r + g + b) / 3.0 * GREYS as f32).min(GREYS as f32 - 1.0) as usize;
        hist[HUES * SATS * VALS + grey] += w;
        return;
    }
    let hue = if max == r {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    } / 6.0; // 0..1
    let s = usize::from(saturation >= 0.5);
    let v = usize::from(value >= 0.6);
    let pos = hue * HUES as f32 - 0.5;
    let lo = pos.floor();
    let frac = pos - lo;
    let h0 = (lo as isize).rem_euclid(HUES as isize) as usize;
    let h1 = (h0 + 1) % HUES;
    let base = |h: usize| (h * SATS + s) * VALS + v;
    hist[base(h0)] += w * (1.0 - frac);
    hist[base(h1)] += w * frac;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shoe(background: [u8; 3], shoe: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(100, 60, |x, y| {
            if (20..80).contains(&x) && (15..45).contains(&y) { image::Rgb(shoe) } else { image::Rgb(background) }
        })
    }

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn same_shoe_colour_matches_whatever_the_background() {
        let red_on_white = colour_descriptor(&shoe([255, 255, 255], [200, 30, 30]));
        let red_on_grey = colour_descriptor(&shoe([120, 120, 110], [200, 30, 30]));
        let blue_on_white = colour_descriptor(&shoe([255, 255, 255], [30, 40, 200]));
        assert_eq!(red_on_white.len(), COLOUR_DIM);
        assert!((cos(&red_on_white, &red_on_white) - 1.0).abs() < 1e-5);
        assert!(cos(&red_on_white, &red_on_grey) > 0.99, "the background is left out");
        assert!(cos(&red_on_white, &blue_on_white) < 0.05, "different hues do not match");
    }

    #[test]
    fn the_network_input_gives_the_photos_descriptor() {
        let photo = RgbImage::from_fn(224, 224, |x, y| {
            let inside = (40..180).contains(&x) && (60..160).contains(&y);
            if inside {
                image::Rgb([(x % 200) as u8 + 30, 90, (y % 120) as u8 + 60])
            } else {
                image::Rgb([245, 245, 240])
            }
        });
        let from_chw = colour_descriptor_chw(&crate::to_input_tensor(&photo), 224);
        assert!((cos(&colour_descriptor(&photo), &from_chw) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_white_shoe_on_white_still_has_a_descriptor() {
        let d = colour_descriptor(&shoe([255, 255, 255], [250, 250, 250]));
        assert!((cos(&d, &d) - 1.0).abs() < 1e-5, "unit length, not all zeros");
    }
}
