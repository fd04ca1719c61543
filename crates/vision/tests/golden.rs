//! Our decode + resize + normalise against the reference PyTorch preprocessing.
//!
//! The golden tensors in `../shared/golden/efficientnet-lite0/*.input.f32` (float32 LE
//! `[1,3,224,224]`) were made by the reference pipeline (see its `cases.json`):
//! ```python
//! x = np.asarray(Image.open(src).convert("RGB").resize((224, 224), Image.BILINEAR),
//!                dtype=np.float32) / 255.0
//! x = ((x - 0.5) / 0.5).transpose(2, 0, 1)     # Pillow 13 reproduces them exactly
//! ```
//! We differ only by JPEG decoder (zune-jpeg vs libjpeg-turbo IDCT/upsampling rounding) and
//! resize rounding (fast_image_resize vs Pillow fixed point), so differences must be tiny.

mod common;

use std::path::Path;

use image::RgbImage;
use sneaker_vision::{DecodeLimits, INPUT_LEN, INPUT_SIZE, decode_file, decode_file_for_input, to_input_tensor};

/// (golden name, source image under `../shared`).
const CASES: &[(&str, &str)] = &[
    ("samba", "datasets/sneakers50/adidas_samba/zal_110.jpg"), // 555×800, downscale
    ("af1_white", "datasets/sneakers50/nike_air_force_1_low/nikecom_air-force-1-07-lv8-mens-shoes-7bCM7s.jpg"), // 640×800, downscale
    ("wild_dunk", "datasets/sneakers50-wild-dev/nike_dunk_low/kg_0001.jpg"), // 162×108, upscale
];

/// Measured with Pillow 13 goldens: samba max |Δ| 0.0157 / mean 0.00012, af1_white 0.0157 /
/// 0.00039, wild_dunk (upscaled) 0.0235 / 0.0022, in normalised units where one grey level is
/// 2/255 ≈ 0.0078 — at most 3 grey levels anywhere. Bounds: ~2× margin on the worst case.
const MEAN_ABS_BOUND: f32 = 0.005;
const MAX_ABS_BOUND: f32 = 0.05;

/// Max and mean |Δ| between our tensor of each case, decoded by `decode`, and the golden.
fn against_golden(decode: impl Fn(&Path) -> RgbImage) -> Option<Vec<(&'static str, f32, f32)>> {
    let shared = common::shared_dir()?;
    let mut out = Vec::new();
    for (name, src) in CASES {
        let golden_path = shared.join(format!("golden/efficientnet-lite0/{name}.input.f32"));
        let golden: Vec<f32> = std::fs::read(&golden_path)
            .unwrap_or_else(|e| panic!("{}: {e}", golden_path.display()))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(golden.len(), INPUT_LEN, "{name}: golden has shape [1,3,224,224]");
        let ours = to_input_tensor(&decode(&shared.join(src)));
        assert_eq!(ours.len(), INPUT_LEN);
        let diffs: Vec<f32> = ours.iter().zip(&golden).map(|(a, b)| (a - b).abs()).collect();
        let max = diffs.iter().copied().fold(0.0, f32::max);
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        out.push((*name, max, mean));
    }
    Some(out)
}

#[test]
fn tensor_matches_pil_reference_preprocessing() {
    let Some(cases) = against_golden(|path| decode_file(path, &DecodeLimits::default()).expect("decodes")) else {
        return;
    };
    for (name, max, mean) in cases {
        eprintln!("{name}: vs PIL golden, max |Δ| = {max:.4}, mean |Δ| = {mean:.5}");
        assert!(mean < MEAN_ABS_BOUND, "{name}: mean |Δ| {mean} ≥ {MEAN_ABS_BOUND}");
        assert!(max < MAX_ABS_BOUND, "{name}: max |Δ| {max} ≥ {MAX_ABS_BOUND}");
    }
}

/// The scaled JPEG decode every front end uses (`decode_file_for_input`) against the same PIL
/// goldens. Measured: samba (555×800, decoded at 1/2) max |Δ| 0.353 / mean 0.0022; af1_white
/// (640×800, 1/2) 0.086 / 0.0016; wild_dunk is small, decodes in full: 0.0235 / 0.0022. The
/// mean stays under a third of a grey level; the max is a few pixels on hard edges, where the
/// IDCT's area filter and Pillow's bilinear kernel disagree. Bounds: ~2× margin.
const MEAN_ABS_BOUND_SCALED: f32 = 0.005;
const MAX_ABS_BOUND_SCALED: f32 = 0.66;

#[test]
fn scaled_decode_stays_close_to_pil_reference_preprocessing() {
    let decode = |path: &Path| decode_file_for_input(path, &DecodeLimits::default(), INPUT_SIZE).expect("decodes");
    let Some(cases) = against_golden(decode) else {
        return;
    };
    for (name, max, mean) in cases {
        eprintln!("{name}: scaled decode vs PIL golden, max |Δ| = {max:.4}, mean |Δ| = {mean:.5}");
        assert!(mean < MEAN_ABS_BOUND_SCALED, "{name}: mean |Δ| {mean} ≥ {MEAN_ABS_BOUND_SCALED}");
        assert!(max < MAX_ABS_BOUND_SCALED, "{name}: max |Δ| {max} ≥ {MAX_ABS_BOUND_SCALED}");
    }
}
