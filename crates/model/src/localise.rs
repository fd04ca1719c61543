//! Shoe localisation by class-activation map (Zhou et al., "Learning Deep Features for
//! Discriminative Localization", CVPR 2016) of ImageNet's footwear classes over EfficientNet-Lite0's
//! 7×7 pre-pool feature map.
//!
//! The stock classifier is linear on the spatial mean of the feature map, so each cell's
//! `W_c · F(x,y) + b_c` is class c's evidence at that cell. The footwear classes' maps, weighted by
//! their probabilities, are upsampled, thresholded and boxed; the box grows by a margin, becomes a
//! square and is cropped from the original full-resolution photo, so a small shoe in a large photo
//! reaches the network with all its pixels.

use std::path::PathBuf;

use image::RgbImage;
use ndarray::{Array4, ArrayView4, Axis, Ix4};
use sneaker_vision::{INPUT_LEN, Rect, to_input_tensor};

use crate::assets::{Assets, write_atomic};
use crate::efficientnet_lite::{
    BuildOptions, EfficientNetLite, FEATURE_DIM, FEATURE_MAP, GRAPH_VERSION, IMAGENET_CLASSES, INPUT_SIZE, LOGITS,
    Output, Start,
};
use crate::error::{ModelError, Result};
use crate::imagenet::FOOTWEAR;
use crate::onnx::{encode, weight};
use crate::predictor::softmax_rows;
use crate::runtime::{Runtime, Session, SessionConfig};

/// Side of the feature map (224 / 32).
pub const CAM_SIDE: usize = 7;
/// Side of the upsampled map the threshold is applied to: finer than 7 cells, so the box edges
/// fall between cell centres as the shoe's do.
const FINE_SIDE: usize = 56;

/// When and how to crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocaliseConfig {
    /// Below this ImageNet footwear probability the map says nothing about a shoe: no crop.
    pub min_footwear: f32,
    /// Upsampled map cells at or above this fraction of the way from its minimum to its maximum
    /// belong to the shoe.
    pub threshold: f32,
    /// The box grows by this fraction of its width (height) on the left and right (top and bottom).
    pub margin: f32,
    /// A crop covering at least this fraction of the photo is not worth it: no crop.
    pub max_cover: f32,
}

impl Default for LocaliseConfig {
    fn default() -> Self {
        LocaliseConfig { min_footwear: 0.02, threshold: 0.4, margin: 0.15, max_cover: 0.8 }
    }
}

/// Why a photo is classified whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whole {
    /// The footwear probability is below [`LocaliseConfig::min_footwear`].
    NoFootwear,
    /// The crop would cover most of the photo.
    CoversImage,
    /// The map is flat: no cell stands out.
    FlatMap,
}

/// Where to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Crop this square-ish region of the original photo (its pixels) and classify that.
    Crop {
        crop: Rect,
        shoe: Rect,
    },
    Whole(Whole),
}

impl Decision {
    /// The region to classify: the crop, or `None` for the whole photo.
    pub fn crop(&self) -> Option<Rect> {
        match *self {
            Decision::Crop { crop, .. } => Some(crop),
            Decision::Whole(_) => None,
        }
    }

    /// The shoe box in the crop's own pixels (where GrabCut should start), if cropping.
    pub fn shoe_in_crop(&self) -> Option<Rect> {
        match *self {
            Decision::Crop { crop, shoe } => Some(Rect { x: shoe.x - crop.x, y: shoe.y - crop.y, ..shoe }),
            Decision::Whole(_) => None,
        }
    }
}

/// What the localiser found in one photo.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// ImageNet footwear probability of the whole photo.
    pub footwear: f32,
    /// `[CAM_SIDE, CAM_SIDE]` row-major footwear activation, footwear-probability weighted.
    pub cam: Vec<f32>,
    pub decision: Decision,
}

/// The pretrained backbone with its feature map exposed, plus the footwear rows of its classifier.
pub struct Localiser {
    session: Session,
    /// `[FOOTWEAR.len(), 1280]` rows of `_fc.weight`.
    weight: Vec<f32>,
    bias: Vec<f32>,
    config: LocaliseConfig,
}

impl std::fmt::Debug for Localiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Localiser").field("config", &self.config).finish()
    }
}

impl Localiser {
    pub fn load(assets: &Assets, config: LocaliseConfig) -> Result<Localiser> {
        Localiser::load_with(assets, config, &SessionConfig::default())
    }

    /// Builds (once, cached beside the backbone graph) and loads the graph with outputs
    /// `feature_map` and `logits`.
    pub fn load_with(assets: &Assets, config: LocaliseConfig, session: &SessionConfig) -> Result<Localiser> {
        let weights = assets.weights()?;
        let path = cam_graph_path(assets);
        if !path.is_file() {
            let opts =
                BuildOptions { start: Start::Image, outputs: vec![Output::FeatureMap, Output::Logits], head: None };
            write_atomic(&path, &encode(&EfficientNetLite::new(&weights).build(&opts)?))?;
            tracing::info!(path = %path.display(), "wrote the localisation graph");
        }
        let fc = weight(&weights, "_fc.weight", &[IMAGENET_CLASSES, FEATURE_DIM])?;
        let fc_bias = weight(&weights, "_fc.bias", &[IMAGENET_CLASSES])?;
        let weight =
            FOOTWEAR.iter().flat_map(|&c| fc[c * FEATURE_DIM..(c + 1) * FEATURE_DIM].iter().copied()).collect();
        let bias = FOOTWEAR.iter().map(|&c| fc_bias[c]).collect();
        let session = Session::from_file_with(&Runtime::from_assets(assets)?, &path, session)?;
        Ok(Localiser { session, weight, bias, config })
    }

    pub fn config(&self) -> &LocaliseConfig {
        &self.config
    }

    /// Footwear probability and footwear CAM per image of `batch` (`[N,3,224,224]`, normalised).
    pub fn maps(&mut self, batch: ArrayView4<'_, f32>) -> Result<Vec<(f32, Vec<f32>)>> {
        let mut out = self.session.run(batch)?;
        let probs = softmax_rows(&out.take2(LOGITS)?);
        let map = out.0.remove(FEATURE_MAP).ok_or_else(|| ModelError::Runtime("no feature_map output".into()))?;
        let map = map.into_dimensionality::<Ix4>().map_err(|e| ModelError::Runtime(format!("feature_map: {e}")))?;
        // [N, 1280, 7, 7]
        let mut result = Vec::with_capacity(probs.nrows());
        for (p, f) in probs.rows().into_iter().zip(map.axis_iter(Axis(0))) {
            let class_p: Vec<f32> = FOOTWEAR.iter().map(|&c| p[c]).collect();
            let footwear: f32 = class_p.iter().sum();
            let mut cam = vec![0.0f32; CAM_SIDE * CAM_SIDE];
            for (k, (&pc, &b)) in class_p.iter().zip(&self.bias).enumerate() {
                let w = &self.weight[k * FEATURE_DIM..(k + 1) * FEATURE_DIM];
                let share = pc / footwear.max(f32::MIN_POSITIVE);
                for (cell, value) in cam.iter_mut().enumerate() {
                    let (y, x) = (cell / CAM_SIDE, cell % CAM_SIDE);
                    let dot: f32 = w.iter().enumerate().map(|(ch, wc)| wc * f[[ch, y, x]]).sum();
                    *value += share * (dot + b);
                }
            }
            result.push((footwear, cam));
        }
        Ok(result)
    }

    /// Localises the shoe in a decoded, upright photo of any size.
    pub fn locate(&mut self, image: &RgbImage) -> Result<Located> {
        let tensor = to_input_tensor(image);
        debug_assert_eq!(tensor.len(), INPUT_LEN);
        let batch = Array4::from_shape_vec((1, 3, INPUT_SIZE, INPUT_SIZE), tensor)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        let (footwear, cam) = self.maps(batch.view())?.pop().ok_or_else(|| ModelError::Runtime("no map".into()))?;
        let decision = decide(&cam, footwear, image.width(), image.height(), &self.config);
        tracing::debug!(footwear, ?decision, "localised");
        Ok(Located { footwear, cam, decision })
    }
}

fn cam_graph_path(assets: &Assets) -> PathBuf {
    assets.dir().join(format!("efficientnet-lite0-cam.g{GRAPH_VERSION}.onnx"))
}

/// The crop for a `width`×`height` photo from its `CAM_SIDE`² map, or why there is none.
pub fn decide(cam: &[f32], footwear: f32, width: u32, height: u32, config: &LocaliseConfig) -> Decision {
    if footwear.is_nan() || footwear < config.min_footwear {
        return Decision::Whole(Whole::NoFootwear);
    }
    let Some([x0, y0, x1, y1]) = shoe_box(cam, config.threshold) else {
        return Decision::Whole(Whole::FlatMap);
    };
    let (w, h) = (f64::from(width), f64::from(height));
    let shoe = Rect::from_edges(x0 * w, y0 * h, x1 * w, y1 * h, width, height);
    let crop = expand_square(shoe, config.margin, width, height);
    if crop.area() as f64 >= f64::from(config.max_cover) * w * h {
        return Decision::Whole(Whole::CoversImage);
    }
    Decision::Crop { crop, shoe }
}

/// `[x0, y0, x1, y1]` as fractions of the photo: the extent of the upsampled map at or above
/// `threshold` of its range; `None` when the map is flat or not finite.
pub fn shoe_box(cam: &[f32], threshold: f32) -> Option<[f64; 4]> {
    if cam.len() != CAM_SIDE * CAM_SIDE || cam.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let fine = upsample(cam);
    let (lo, hi) = fine.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if hi - lo <= 1e-6 * hi.abs().max(1.0) {
        return None;
    }
    let cut = lo + threshold.clamp(0.0, 1.0) * (hi - lo);
    let (mut x0, mut y0, mut x1, mut y1) = (FINE_SIDE, FINE_SIDE, 0, 0);
    for (i, &v) in fine.iter().enumerate() {
        if v >= cut {
            let (y, x) = (i / FINE_SIDE, i % FINE_SIDE);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
        }
    }
    let s = FINE_SIDE as f64;
    Some([x0 as f64 / s, y0 as f64 / s, x1 as f64 / s, y1 as f64 / s])
}

/// Bilinear upsampling of the 7×7 map to 56×56, cell centres aligned (as `align_corners=False`).
fn upsample(cam: &[f32]) -> Vec<f32> {
    let n = CAM_SIDE as f32;
    let src = |u: usize| ((u as f32 + 0.5) * n / FINE_SIDE as f32 - 0.5).clamp(0.0, n - 1.0);
    let mut out = Vec::with_capacity(FINE_SIDE * FINE_SIDE);
    for v in 0..FINE_SIDE {
        let sy = src(v);
        let (y0, fy) = (sy.floor() as usize, sy.fract());
        let y1 = (y0 + 1).min(CAM_SIDE - 1);
        for u in 0..FINE_SIDE {
            let sx = src(u);
            let (x0, fx) = (sx.floor() as usize, sx.fract());
            let x1 = (x0 + 1).min(CAM_SIDE - 1);
            let at = |y: usize, x: usize| cam[y * CAM_SIDE + x];
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// Grows `r` by `margin` of its size on each side, then the shorter side up to the longer one
/// (centred), shifted back inside the photo; a side longer than the photo's is clamped.
pub fn expand_square(r: Rect, margin: f32, width: u32, height: u32) -> Rect {
    let m = f64::from(margin.max(0.0));
    let (cx, cy) = (f64::from(r.x) + f64::from(r.width) / 2.0, f64::from(r.y) + f64::from(r.height) / 2.0);
    // Rounded, so float noise (100 * 1.2 = 120.00000000000001) does not add a pixel.
    let side = (f64::from(r.width) * (1.0 + 2.0 * m)).max(f64::from(r.height) * (1.0 + 2.0 * m)).round();
    let span = |c: f64, len: f64, max: u32| {
        let len = len.min(f64::from(max));
        let start = (c - len / 2.0).clamp(0.0, f64::from(max) - len);
        (start, start + len)
    };
    let (x0, x1) = span(cx, side, width);
    let (y0, y1) = span(cy, side, height);
    Rect::from_edges(x0.floor(), y0.floor(), x1.ceil(), y1.ceil(), width, height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one_hot(cells: &[(usize, usize)]) -> Vec<f32> {
        let mut cam = vec![0.0; CAM_SIDE * CAM_SIDE];
        for &(y, x) in cells {
            cam[y * CAM_SIDE + x] = 1.0;
        }
        cam
    }

    #[test]
    fn a_hot_cell_boxes_around_its_own_area() {
        // One hot cell at row 1, column 5: its centre is at (5.5/7, 1.5/7) = (0.786, 0.214) and the
        // bilinear bump falls to 0.4 of its height 0.6 cells either side: 0.6 * 8 = 4.8 fine cells.
        let [x0, y0, x1, y1] = shoe_box(&one_hot(&[(1, 5)]), 0.4).expect("a peak");
        assert!((x0 - 0.714).abs() < 0.05 && (x1 - 0.857).abs() < 0.05, "{x0} {x1}");
        assert!((y0 - 0.143).abs() < 0.05 && (y1 - 0.286).abs() < 0.05, "{y0} {y1}");
    }

    #[test]
    fn flat_or_broken_maps_give_no_box() {
        assert_eq!(shoe_box(&[3.0; 49], 0.4), None);
        assert_eq!(shoe_box(&[0.0; 10], 0.4), None);
        let mut nan = one_hot(&[(3, 3)]);
        nan[0] = f32::NAN;
        assert_eq!(shoe_box(&nan, 0.4), None);
    }

    #[test]
    fn rules_for_not_cropping() {
        let config = LocaliseConfig::default();
        let small = one_hot(&[(3, 3)]);
        assert_eq!(decide(&small, 0.01, 1000, 800, &config), Decision::Whole(Whole::NoFootwear));
        assert_eq!(decide(&[1.0; 49], 0.9, 1000, 800, &config), Decision::Whole(Whole::FlatMap));
        let mut big = vec![1.0; 49];
        big[0] = 0.0;
        assert_eq!(decide(&big, 0.9, 1000, 800, &config), Decision::Whole(Whole::CoversImage));
        let Decision::Crop { crop, shoe } = decide(&small, 0.9, 1000, 800, &config) else { panic!("should crop") };
        assert_eq!(crop.width, crop.height, "square when the photo allows");
        assert!(crop.x <= shoe.x && crop.x + crop.width >= shoe.x + shoe.width);
        // Centre cell: the crop is centred on the photo's centre (500, 400) to within a pixel.
        assert!((i64::from(crop.x) + i64::from(crop.width) / 2 - 500).abs() <= 1, "{crop:?}");
    }

    #[test]
    fn expand_square_grows_and_stays_inside() {
        let r = expand_square(Rect { x: 0, y: 40, width: 100, height: 20 }, 0.1, 1000, 500);
        // 100 px wide + 2 * 10 % = 120 px square, centred at y = 50, shifted right to start at x = 0.
        // Centred at y = 50 it would start at y = -10: shifted down to 0 as well.
        assert_eq!(r, Rect { x: 0, y: 0, width: 120, height: 120 });
    }

    proptest! {
        #[test]
        fn crops_are_inside_non_empty_and_contain_the_shoe(
            cam in proptest::collection::vec(-50.0f32..50.0, 49),
            footwear in 0.0f32..1.0, width in 1u32..6000, height in 1u32..6000,
            threshold in 0.0f32..1.0, margin in 0.0f32..1.0, max_cover in 0.0f32..1.0,
        ) {
            let config = LocaliseConfig { min_footwear: 0.05, threshold, margin, max_cover };
            if let Decision::Crop { crop, shoe } = decide(&cam, footwear, width, height, &config) {
                prop_assert!(crop.fits_in(width, height) && !crop.is_empty(), "{crop:?} in {width}x{height}");
                prop_assert!(shoe.fits_in(width, height) && !shoe.is_empty());
                prop_assert!(crop.x <= shoe.x && crop.y <= shoe.y);
                prop_assert!(crop.x + crop.width >= shoe.x + shoe.width && crop.y + crop.height >= shoe.y + shoe.height);
                prop_assert!((crop.area() as f64) < f64::from(max_cover) * f64::from(width) * f64::from(height));
            }
        }

        #[test]
        fn expand_square_is_square_unless_the_photo_is_narrower(
            x in 0u32..3000, y in 0u32..3000, w in 1u32..3000, h in 1u32..3000, margin in 0.0f32..0.5,
            width in 1u32..6000, height in 1u32..6000,
        ) {
            let r = Rect::from_edges(f64::from(x), f64::from(y), f64::from(x + w), f64::from(y + h), width, height);
            let e = expand_square(r, margin, width, height);
            prop_assert!(e.fits_in(width, height) && !e.is_empty());
            if e.width < width && e.height < height {
                prop_assert!(e.width.abs_diff(e.height) <= 2, "{e:?}");
            }
        }
    }
}
