//! Pixel rectangles on a photo: where the shoe is (localisation) and what is cropped for the
//! network, clamped so a crop can never reach outside the image.

use image::RgbImage;

/// An axis-aligned rectangle in pixels: columns `x..x + width`, rows `y..y + height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    /// The whole of a `width`×`height` image.
    pub fn full(width: u32, height: u32) -> Rect {
        Rect { x: 0, y: 0, width, height }
    }

    /// Pixels covered.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// True when the rectangle lies within a `width`×`height` image.
    pub fn fits_in(&self, width: u32, height: u32) -> bool {
        u64::from(self.x) + u64::from(self.width) <= u64::from(width)
            && u64::from(self.y) + u64::from(self.height) <= u64::from(height)
    }

    /// The rectangle scaled from an image of size `from` to one of size `to` (e.g. from a
    /// downscaled working copy back to the original), kept inside `to` and at least 1×1.
    pub fn scaled(&self, from: (u32, u32), to: (u32, u32)) -> Rect {
        let sx = f64::from(to.0) / f64::from(from.0.max(1));
        let sy = f64::from(to.1) / f64::from(from.1.max(1));
        let x0 = (f64::from(self.x) * sx).floor();
        let y0 = (f64::from(self.y) * sy).floor();
        let x1 = ((f64::from(self.x) + f64::from(self.width)) * sx).ceil();
        let y1 = ((f64::from(self.y) + f64::from(self.height)) * sy).ceil();
        Rect::from_edges(x0, y0, x1, y1, to.0, to.1)
    }

    /// The rectangle with edges `x0..x1`, `y0..y1` (any floats, even NaN or reversed), clamped
    /// into a `width`×`height` image and at least 1×1 when the image is not empty.
    pub fn from_edges(x0: f64, y0: f64, x1: f64, y1: f64, width: u32, height: u32) -> Rect {
        let clamp = |v: f64, max: u32| if v.is_nan() { 0 } else { v.clamp(0.0, f64::from(max)) as u32 };
        let (x0, x1) = (clamp(x0.min(x1), width), clamp(x0.max(x1), width));
        let (y0, y1) = (clamp(y0.min(y1), height), clamp(y0.max(y1), height));
        let (x0, x1) = at_least_one(x0, x1, width);
        let (y0, y1) = at_least_one(y0, y1, height);
        Rect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }
    }
}

/// Widens an empty span `a..b` (a == b) to one pixel inside `0..max`.
fn at_least_one(a: u32, b: u32, max: u32) -> (u32, u32) {
    if b > a || max == 0 {
        (a, b)
    } else if b < max {
        (a, b + 1)
    } else {
        (a - 1, b)
    }
}

/// Copies `rect` out of `image`; the part of `rect` outside the image is dropped.
pub fn crop(image: &RgbImage, rect: Rect) -> RgbImage {
    let (w, h) = image.dimensions();
    let x = rect.x.min(w);
    let y = rect.y.min(h);
    let width = rect.width.min(w - x);
    let height = rect.height.min(h - y);
    image::imageops::crop_imm(image, x, y, width, height).to_image()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crop_copies_the_pixels_inside() {
        let img = RgbImage::from_fn(10, 6, |x, y| image::Rgb([x as u8, y as u8, 0]));
        let c = crop(&img, Rect { x: 2, y: 1, width: 3, height: 4 });
        assert_eq!(c.dimensions(), (3, 4));
        assert_eq!(c.get_pixel(0, 0).0, [2, 1, 0]);
        assert_eq!(c.get_pixel(2, 3).0, [4, 4, 0]);
        let past = crop(&img, Rect { x: 8, y: 5, width: 10, height: 10 });
        assert_eq!(past.dimensions(), (2, 1));
    }

    #[test]
    fn scaling_maps_edges_outwards() {
        // 10..20 of 100 px is 25.6..51.2 of 256 px: floor/ceil give 25..52.
        let r = Rect { x: 10, y: 10, width: 10, height: 10 }.scaled((100, 100), (256, 256));
        assert_eq!(r, Rect { x: 25, y: 25, width: 27, height: 27 });
    }

    proptest! {
        #[test]
        fn from_edges_is_inside_and_non_empty(
            x0 in -1e4f64..1e4, y0 in -1e4f64..1e4, x1 in -1e4f64..1e4, y1 in -1e4f64..1e4,
            w in 1u32..5000, h in 1u32..5000,
        ) {
            let r = Rect::from_edges(x0, y0, x1, y1, w, h);
            prop_assert!(r.fits_in(w, h), "{r:?} in {w}x{h}");
            prop_assert!(!r.is_empty());
        }

        #[test]
        fn scaled_is_inside_and_non_empty(
            x in 0u32..400, y in 0u32..400, rw in 0u32..400, rh in 0u32..400,
            fw in 1u32..400, fh in 1u32..400, tw in 1u32..6000, th in 1u32..6000,
        ) {
            let r = Rect { x, y, width: rw, height: rh }.scaled((fw, fh), (tw, th));
            prop_assert!(r.fits_in(tw, th));
            prop_assert!(!r.is_empty());
        }
    }
}
