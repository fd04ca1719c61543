//! Network input geometry shared by training and serving: resize to `INPUT_SIZE`² and
//! normalise into a CHW `f32` tensor, so the two can never drift apart.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

/// Side of the square network input, in pixels.
pub const INPUT_SIZE: u32 = 224;
/// Per-channel mean subtracted after scaling pixels to [0, 1]. EfficientNet-Lite0's weights
/// were trained with (x − 0.5) / 0.5, not the ImageNet mean/std.
pub const NORM_MEAN: f32 = 0.5;
/// Per-channel divisor applied after subtracting [`NORM_MEAN`].
pub const NORM_STD: f32 = 0.5;
/// Number of `f32` values in one input tensor: `[3, INPUT_SIZE, INPUT_SIZE]`.
pub const INPUT_LEN: usize = 3 * (INPUT_SIZE as usize) * (INPUT_SIZE as usize);

/// Resize to exactly `width`×`height` (aspect ratio not kept, no crop).
///
/// Uses convolution with a bilinear kernel widened by the scale factor when shrinking, which is
/// what PIL's `Image.resize(size, BILINEAR)` does; the reference PyTorch preprocessing used PIL,
/// so matching it keeps our predictions equal to the reference. A zero-sized source gives a
/// black image of the requested size.
pub fn resize_exact(img: &RgbImage, width: u32, height: u32) -> RgbImage {
    let mut dst = RgbImage::new(width, height);
    if img.width() == 0 || img.height() == 0 || width == 0 || height == 0 {
        return dst;
    }
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new().resize(img, &mut dst, &options).expect("source and destination are both non-empty U8x3 images");
    dst
}

/// Resize to `INPUT_SIZE`² (no crop) and normalise: CHW `[3, 224, 224]`, values in [-1, 1].
pub fn to_input_tensor(img: &RgbImage) -> Vec<f32> {
    to_tensor(img, INPUT_SIZE)
}

/// Resize to `size`² (no crop) and normalise: CHW `[3, size, size]`, for networks trained at
/// another input size than the backbone's (a scratch CNN may be).
pub fn to_tensor(img: &RgbImage, size: u32) -> Vec<f32> {
    let resized = if img.dimensions() == (size, size) { None } else { Some(resize_exact(img, size, size)) };
    let mut out = vec![0.0; 3 * (size as usize).pow(2)];
    normalise_into(resized.as_ref().unwrap_or(img), &mut out);
    out
}

/// Write `img` as CHW floats, `(pixel / 255 − NORM_MEAN) / NORM_STD`, into `out`.
///
/// Meant for images already `INPUT_SIZE`², e.g. to fill one slot of a batch buffer, but works
/// for any size.
///
/// # Panics
/// If `out.len() != 3 × width × height` — a caller bug, not bad input data.
pub fn normalise_into(img: &RgbImage, out: &mut [f32]) {
    let plane = img.width() as usize * img.height() as usize;
    assert_eq!(out.len(), 3 * plane, "output buffer must hold 3×{}×{} floats", img.width(), img.height());
    // Same float operations as torchvision ToTensor + Normalize, so values match bit for bit.
    let lut: [f32; 256] = std::array::from_fn(|p| (p as f32 / 255.0 - NORM_MEAN) / NORM_STD);
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        r[i] = lut[usize::from(px[0])];
        g[i] = lut[usize::from(px[1])];
        b[i] = lut[usize::from(px[2])];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use proptest::prelude::*;

    /// Deterministic noisy image (an integer hash of position and seed).
    fn noise(w: u32, h: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663) ^ seed).wrapping_mul(2_654_435_761);
            Rgb([(v >> 8) as u8, (v >> 16) as u8, (v >> 24) as u8])
        })
    }

    #[test]
    fn normalisation_endpoints_and_midpoint() {
        // torchvision: Normalize(0.5, 0.5)(ToTensor()(p)) = (p/255 − 0.5)/0.5.
        let img = RgbImage::from_fn(3, 1, |x, _| Rgb([[0, 255, 51][x as usize]; 3]));
        let mut out = vec![0.0; 9];
        normalise_into(&img, &mut out);
        assert_eq!(out[0], -1.0);
        assert_eq!(out[1], 1.0);
        // 51/255 = 0.2 → (0.2 − 0.5)/0.5 = −0.6 (to f32 rounding).
        assert!((out[2] + 0.6).abs() < 1e-6, "{}", out[2]);
    }

    #[test]
    fn layout_is_chw() {
        let img = RgbImage::from_fn(4, 3, |x, y| Rgb([x as u8 * 50, y as u8 * 100, 255]));
        let mut out = vec![0.0; 3 * 12];
        normalise_into(&img, &mut out);
        let at = |c: usize, x: usize, y: usize| out[c * 12 + y * 4 + x];
        assert_eq!(at(0, 3, 0), (150.0 / 255.0 - 0.5) / 0.5);
        assert_eq!(at(1, 0, 2), (200.0 / 255.0 - 0.5) / 0.5);
        assert_eq!(at(2, 1, 1), 1.0);
    }

    #[test]
    #[should_panic(expected = "output buffer must hold")]
    fn wrong_buffer_length_is_a_caller_bug() {
        normalise_into(&RgbImage::new(2, 2), &mut [0.0; 11]);
    }

    #[test]
    fn input_sized_image_is_normalised_without_resampling() {
        let img = noise(INPUT_SIZE, INPUT_SIZE, 7);
        let mut direct = vec![0.0; INPUT_LEN];
        normalise_into(&img, &mut direct);
        assert_eq!(to_input_tensor(&img), direct);
    }

    #[test]
    fn downscale_averages_like_an_antialiased_filter() {
        // A 1-px checkerboard shrunk 4× must come out mid-grey; a non-antialiased
        // (sample-two-pixels) bilinear would alias to near black/white.
        let board = RgbImage::from_fn(64, 64, |x, y| Rgb([if (x + y) % 2 == 0 { 0 } else { 255 }; 3]));
        let small = resize_exact(&board, 16, 16);
        for p in small.pixels() {
            assert!((120..=135).contains(&p[0]), "{p:?}");
        }
    }

    #[test]
    fn empty_source_gives_black_of_requested_size() {
        let out = resize_exact(&RgbImage::new(0, 5), 7, 3);
        assert_eq!(out.dimensions(), (7, 3));
        assert!(out.pixels().all(|p| p.0 == [0, 0, 0]));
        assert_eq!(resize_exact(&noise(5, 5, 1), 0, 4).dimensions(), (0, 4));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn resize_gives_exactly_the_requested_size(
            sw in 1u32..300, sh in 1u32..300, dw in 1u32..300, dh in 1u32..300, seed: u32,
        ) {
            let out = resize_exact(&noise(sw, sh, seed), dw, dh);
            prop_assert_eq!(out.dimensions(), (dw, dh));
        }

        #[test]
        fn constant_colour_stays_constant(
            sw in 1u32..200, sh in 1u32..200, dw in 1u32..200, dh in 1u32..200, rgb: [u8; 3],
        ) {
            let out = resize_exact(&RgbImage::from_pixel(sw, sh, Rgb(rgb)), dw, dh);
            prop_assert!(out.pixels().all(|p| p.0 == rgb), "{:?} vs {:?}", out.get_pixel(0, 0), rgb);
        }

        #[test]
        fn tensor_has_input_shape_and_range(w in 1u32..500, h in 1u32..500, seed: u32) {
            let t = to_input_tensor(&noise(w, h, seed));
            prop_assert_eq!(t.len(), 3 * 224 * 224);
            prop_assert!(t.iter().all(|v| (-1.0..=1.0).contains(v)));
        }

        #[test]
        fn normalisation_is_monotonic_and_in_range(a: u8, b: u8) {
            let img = RgbImage::from_fn(2, 1, |x, _| Rgb([if x == 0 { a } else { b }; 3]));
            let mut out = [0.0f32; 6];
            normalise_into(&img, &mut out);
            prop_assert!((-1.0..=1.0).contains(&out[0]));
            prop_assert_eq!(a.cmp(&b), out[0].partial_cmp(&out[1]).expect("finite"));
        }
    }
}
