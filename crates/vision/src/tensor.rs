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
    let options =
        ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new()
        .resize(img, &mut dst, &options)
        .expect("source and destination are both non-empty U8x3 images");
    dst
}

/// Resize to `INPUT_SIZE`² (no crop) and normalise: CHW `[3, 224, 224]`, values in [-1, 1].
pub fn to_input_tensor(img: &RgbImage) -> Vec<f32> {
    let resized = if img.dimensions() == (INPUT_SIZE, INPUT_SIZE) {
        None
    } else {
        Some(resize_exact(img, INPUT_SIZE, INPUT_SIZE))
    };
    let mut out = vec![0.0; INPUT_LEN];
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
    assert_eq!(
        out.len(),
        3 * plane,
        "output buffer must hold 3×{}×{} floats",
        img.width(),
        img.height()
    );
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
