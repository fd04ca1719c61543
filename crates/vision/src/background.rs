//! Background removal: OpenCV's GrabCut (Rother, Kolmogorov & Blake, "GrabCut: interactive
//! foreground extraction using iterated graph cuts", SIGGRAPH 2004) started from a rectangle
//! around the shoe, then the foreground composited onto white, the studio look the classifiers
//! were trained on.
//!
//! GrabCut runs on a copy scaled down to [`CutoutConfig::work_side`]: its cost grows with pixels
//! and the network only sees 224×224 anyway, so the cut-out is returned at that working size.

use image::{GrayImage, RgbImage};

use crate::error::{Result, VisionError};
use crate::region::Rect;
use crate::tensor::resize_exact;

/// How a cut-out is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CutoutConfig {
    /// Longest side of the working copy GrabCut runs on, in pixels.
    pub work_side: u32,
    /// GrabCut iterations (OpenCV's samples use 5; 3 already converges on shoe photos).
    pub iterations: i32,
    /// Without a given rectangle, GrabCut starts from the image inset by this fraction of each
    /// side: everything outside counts as certain background.
    pub inset: f32,
    /// A foreground smaller than this fraction of the image means GrabCut lost the shoe; the
    /// photo is then left as it was rather than turned white.
    pub min_foreground: f32,
}

impl Default for CutoutConfig {
    fn default() -> Self {
        CutoutConfig { work_side: 320, iterations: 4, inset: 0.04, min_foreground: 0.03 }
    }
}

/// A photo with its background replaced by white.
#[derive(Debug, Clone)]
pub struct Cutout {
    /// The composited photo at the working size (or the input, scaled, when not applied).
    pub image: RgbImage,
    /// 255 where GrabCut kept the pixel, 0 where it was whitened; same size as `image`.
    pub mask: GrayImage,
    /// Fraction of pixels kept as foreground.
    pub foreground: f32,
    /// False when the foreground was too small to trust and the photo was left as it was.
    pub applied: bool,
}

/// Whether this build can remove backgrounds (the `background-removal` feature, on by default).
pub const BACKGROUND_REMOVAL_AVAILABLE: bool = cfg!(feature = "background-removal");

/// Cuts the shoe out of `image` and puts it on white. `rect`, in `image` pixels, is where the
/// shoe is believed to be (e.g. from localisation); `None` starts from a centred rectangle.
/// `name` appears in errors.
pub fn remove_background(image: &RgbImage, rect: Option<Rect>, name: &str, config: &CutoutConfig) -> Result<Cutout> {
    let (w, h) = image.dimensions();
    if w < 8 || h < 8 {
        // Too few pixels for colour models; nothing sensible to cut.
        return Ok(unapplied(image.clone()));
    }
    let scale = (f64::from(config.work_side.max(16)) / f64::from(w.max(h))).min(1.0);
    let (ww, wh) = (((f64::from(w) * scale).round() as u32).max(8), ((f64::from(h) * scale).round() as u32).max(8));
    let work = if (ww, wh) == (w, h) { image.clone() } else { resize_exact(image, ww, wh) };
    let start = match rect {
        Some(r) => r.scaled((w, h), (ww, wh)),
        None => {
            let (dx, dy) = (f64::from(ww) * f64::from(config.inset), f64::from(wh) * f64::from(config.inset));
            Rect::from_edges(dx, dy, f64::from(ww) - dx, f64::from(wh) - dy, ww, wh)
        }
    };
    // GrabCut needs some certain background outside the rectangle to model; a rectangle that is
    // the whole image gives it none, so keep a 1-pixel frame at least.
    let start = Rect::from_edges(
        f64::from(start.x.max(1)),
        f64::from(start.y.max(1)),
        f64::from((start.x + start.width).min(ww - 1)),
        f64::from((start.y + start.height).min(wh - 1)),
        ww,
        wh,
    );
    let mask = grabcut(&work, start, config.iterations).map_err(|detail| VisionError::Processing {
        name: name.to_owned(),
        detail: format!("background removal failed: {detail}"),
    })?;
    let kept = mask.pixels().filter(|p| p.0[0] != 0).count();
    let foreground = kept as f32 / (ww as f32 * wh as f32);
    if foreground < config.min_foreground {
        tracing::debug!(name, foreground, "GrabCut kept almost nothing; photo left as it was");
        return Ok(Cutout { foreground, ..unapplied(work) });
    }
    let composited = composite_on_white(&work, &mask);
    Ok(Cutout { image: composited, mask, foreground, applied: true })
}

fn unapplied(image: RgbImage) -> Cutout {
    let (w, h) = image.dimensions();
    Cutout { image, mask: GrayImage::from_pixel(w, h, image::Luma([255])), foreground: 1.0, applied: false }
}

/// Pixels where `mask` is 0 become white; the rest are copied.
///
/// # Panics
/// If `mask` and `image` differ in size (a caller bug).
pub fn composite_on_white(image: &RgbImage, mask: &GrayImage) -> RgbImage {
    assert_eq!(image.dimensions(), mask.dimensions(), "mask must match the image");
    let mut out = image.clone();
    for (p, m) in out.pixels_mut().zip(mask.pixels()) {
        if m.0[0] == 0 {
            p.0 = [255, 255, 255];
        }
    }
    out
}

/// GrabCut initialised with `rect`: 255 for (probable) foreground, 0 for background.
#[cfg(feature = "background-removal")]
fn grabcut(image: &RgbImage, rect: Rect, iterations: i32) -> std::result::Result<GrayImage, String> {
    use opencv::core::{Mat, Scalar, Vec3b};
    use opencv::imgproc;
    use opencv::prelude::*;

    let (w, h) = image.dimensions();
    let (rows, cols) = (i32::try_from(h).map_err(|e| e.to_string())?, i32::try_from(w).map_err(|e| e.to_string())?);
    let to_i32 = |v: u32| i32::try_from(v).map_err(|e| e.to_string());
    // RGB rather than OpenCV's usual BGR: GrabCut's colour models treat the three channels alike,
    // so the order does not change the cut.
    let img = Mat::new_rows_cols_with_bytes::<Vec3b>(rows, cols, image.as_raw()).map_err(|e| e.to_string())?;
    let mut mask =
        Mat::new_rows_cols_with_default(rows, cols, u8::opencv_type(), Scalar::all(0.0)).map_err(|e| e.to_string())?;
    let (mut bgd, mut fgd) = (Mat::default(), Mat::default());
    let r = opencv::core::Rect::new(to_i32(rect.x)?, to_i32(rect.y)?, to_i32(rect.width)?, to_i32(rect.height)?);
    imgproc::grab_cut(&img, &mut mask, r, &mut bgd, &mut fgd, iterations.max(1), imgproc::GC_INIT_WITH_RECT)
        .map_err(|e| e.to_string())?;
    let labels = mask.data_bytes().map_err(|e| e.to_string())?;
    let fg = [imgproc::GC_FGD as u8, imgproc::GC_PR_FGD as u8];
    let bytes: Vec<u8> = labels.iter().map(|v| if fg.contains(v) { 255 } else { 0 }).collect();
    GrayImage::from_raw(w, h, bytes).ok_or_else(|| "GrabCut returned a mask of the wrong size".to_owned())
}

#[cfg(not(feature = "background-removal"))]
fn grabcut(_image: &RgbImage, _rect: Rect, _iterations: i32) -> std::result::Result<GrayImage, String> {
    Err("this build has no background removal (the `background-removal` feature is off)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dark red ellipse (the "shoe") on a mottled grey-green background.
    fn scene(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
            let (dx, dy) = ((x as f32 - cx) / (w as f32 * 0.3), (y as f32 - cy) / (h as f32 * 0.2));
            if dx * dx + dy * dy < 1.0 {
                image::Rgb([150 + ((x * 7 + y * 3) % 20) as u8, 20, 30])
            } else {
                image::Rgb([90 + ((x * 13 + y * 5) % 30) as u8, 120, 80 + ((x + y) % 15) as u8])
            }
        })
    }

    #[test]
    fn composite_whitens_background_only() {
        let img = RgbImage::from_pixel(2, 1, image::Rgb([10, 20, 30]));
        let mask = GrayImage::from_raw(2, 1, vec![255, 0]).expect("2x1 mask");
        let out = composite_on_white(&img, &mask);
        assert_eq!(out.get_pixel(0, 0).0, [10, 20, 30]);
        assert_eq!(out.get_pixel(1, 0).0, [255, 255, 255]);
    }

    #[cfg(feature = "background-removal")]
    #[test]
    fn grabcut_keeps_the_object_and_whitens_the_rest() {
        let img = scene(400, 300);
        let cut = remove_background(&img, None, "scene.png", &CutoutConfig::default()).expect("GrabCut runs");
        assert!(cut.applied);
        // Working copy: 320x240. The ellipse covers pi * 0.3 * 0.2 = 18.8 % of the image.
        assert_eq!(cut.image.dimensions(), (320, 240));
        assert!((cut.foreground - 0.188).abs() < 0.05, "foreground {}", cut.foreground);
        assert_eq!(cut.image.get_pixel(5, 5).0, [255, 255, 255], "corner is background");
        assert_eq!(cut.mask.get_pixel(160, 120).0, [255], "centre is the object");
        assert!(cut.mask.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255), "mask is binary");
    }

    #[cfg(feature = "background-removal")]
    #[test]
    fn a_given_rectangle_bounds_the_foreground() {
        // The ellipse spans x 60..240, y 90..210 of 300x300; the rectangle holds it with room to spare.
        let img = scene(300, 300);
        let rect = Rect { x: 40, y: 70, width: 220, height: 160 };
        let cut = remove_background(&img, Some(rect), "scene.png", &CutoutConfig::default()).expect("GrabCut runs");
        assert!(cut.applied);
        // GrabCut never marks pixels outside its rectangle as foreground.
        let inside = |x: u32, y: u32| (40..260).contains(&x) && (70..230).contains(&y);
        assert!(cut.mask.enumerate_pixels().all(|(x, y, p)| inside(x, y) || p.0[0] == 0));
        assert_eq!(cut.mask.get_pixel(150, 150).0, [255]);
    }

    #[test]
    fn tiny_images_are_left_alone() {
        let tiny = RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]));
        let cut = remove_background(&tiny, None, "tiny.png", &CutoutConfig::default()).expect("not an error");
        assert!(!cut.applied);
        assert_eq!(cut.image, tiny);
    }
}
