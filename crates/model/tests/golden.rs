//! The EfficientNet-Lite0 graph written by this crate, run by ONNX Runtime, against reference
//! tensors from PyTorch (`../shared/golden/efficientnet-lite0`, made by eager float32 PyTorch from
//! the same `.pth`; see its `cases.json`).

use std::path::Path;

use ndarray::{Array2, Array4, ArrayView1, Axis, concatenate, s};
use serde_json::Value;
use sneaker_model::assets::Assets;
use sneaker_model::efficientnet_lite::{self as enet, BuildOptions, EfficientNetLite, Output, Start};
use sneaker_model::onnx::encode;
use sneaker_model::runtime::{Backbone, Runtime, Session};
fn read_f32(path: &Path, len: usize) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len(), len * 4, "{} should hold {len} float32 values", path.display());
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

struct Case {
    name: String,
    input: Array4<f32>,
    features: Vec<f32>,
    logits: Vec<f32>,
    top1: usize,
}

fn cases(shared: &Path) -> Vec<Case> {
    let dir = shared.join("golden/efficientnet-lite0");
    let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json readable");
    let json: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    let list = json["cases"].as_array().expect("cases.json has a cases list");
    assert_eq!(list.len(), 3);
    list.iter()
        .map(|c| {
            let file = |key: &str| dir.join(c[key].as_str().expect("file name"));
            let input = read_f32(&file("input"), 3 * 224 * 224);
            Case {
                name: c["name"].as_str().expect("case name").to_owned(),
                input: Array4::from_shape_vec((1, 3, 224, 224), input).expect("input length checked"),
                features: read_f32(&file("features"), 1280),
                logits: read_f32(&file("logits"), 1000),
                top1: c["top5"][0]["class"].as_u64().expect("top5 class") as usize,
            }
        })
        .collect()
}

fn max_abs_diff(a: ArrayView1<f32>, b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn cosine(a: ArrayView1<f32>, b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn argmax(row: ArrayView1<f32>) -> usize {
    row.iter().enumerate().fold((0, f32::MIN), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
}

fn backbone() -> Backbone {
    let assets = Assets::locate().expect("assets present (run `make assets`)");
    Backbone::load(&assets).expect("backbone builds and loads")
}

#[test]
fn matches_pytorch_on_golden_cases() {
    let Some(shared) = sneaker_test_support::shared("") else { return };
    let mut net = backbone();
    for case in cases(&shared) {
        let out = net.run(case.input.view()).expect("backbone runs");
        let dlogit = max_abs_diff(out.logits.row(0), &case.logits);
        let cos = cosine(out.features.row(0), &case.features);
        let dfeat = max_abs_diff(out.features.row(0), &case.features);
        eprintln!(
            "{:>10}: max |Δlogit| = {dlogit:.2e}, feature cosine = {cos:.12} (1 - cos = {:.1e}), max |Δfeature| = {dfeat:.2e}",
            case.name,
            1.0 - cos
        );
        assert!(dlogit <= 1e-3, "{}: max |Δlogit| {dlogit} > 1e-3", case.name);
        assert!(cos >= 0.99999, "{}: feature cosine {cos} < 0.99999", case.name);
        assert_eq!(argmax(out.logits.row(0)), case.top1, "{}: top-1 class differs from PyTorch", case.name);
    }
}

#[test]
fn batch_of_three_equals_one_by_one() {
    let Some(shared) = sneaker_test_support::shared("") else { return };
    let mut net = backbone();
    let cases = cases(&shared);
    let views: Vec<_> = cases.iter().map(|c| c.input.view()).collect();
    let batch = concatenate(Axis(0), &views).expect("same shapes");
    let together = net.run(batch.view()).expect("batch runs");
    assert_eq!(together.features.dim(), (3, 1280));
    assert_eq!(together.logits.dim(), (3, 1000));
    for (i, case) in cases.iter().enumerate() {
        let alone = net.run(case.input.view()).expect("single runs");
        let d = max_abs_diff(together.logits.row(i), alone.logits.row(0).as_slice().expect("contiguous"));
        let f = max_abs_diff(together.features.row(i), alone.features.row(0).as_slice().expect("contiguous"));
        eprintln!("{:>10}: batch vs single max |Δlogit| = {d:.2e}, max |Δfeature| = {f:.2e}", case.name);
        assert!(d <= 1e-4 && f <= 1e-4, "{}: batched result differs (logits {d}, features {f})", case.name);
    }
}

/// A deterministic, image-like input in the normalised range [-1, 1].
fn pattern(n: usize) -> Array4<f32> {
    Array4::from_shape_fn((n, 3, 224, 224), |(b, c, y, x)| {
        let v = ((x * (c + 1) + y * 3 + b * 17) % 255) as f32 / 255.0;
        v * 2.0 - 1.0
    })
}

#[test]
fn tail_from_a_block_continues_the_full_network() {
    // Block 11 starts the 192-channel stage: the split a partial fine-tune would use.
    let assets = Assets::locate().expect("assets present (run `make assets`)");
    let weights = assets.weights().expect("weights load");
    let rt = Runtime::from_assets(&assets).expect("runtime loads");
    let net = EfficientNetLite::new(&weights);
    let split = 11;
    let front =
        BuildOptions { start: Start::Image, outputs: vec![Output::AfterBlock(split), Output::Features], head: None };
    let tail =
        BuildOptions { start: Start::AfterBlock(split), outputs: vec![Output::Features, Output::Logits], head: None };
    let mut front = Session::from_bytes(&rt, "front", &encode(&net.build(&front).unwrap())).unwrap();
    let mut tail = Session::from_bytes(&rt, "tail", &encode(&net.build(&tail).unwrap())).unwrap();
    let input = pattern(2);
    let mut a = front.run(input.view()).unwrap();
    let activation = a.get(&enet::activation_name(split)).unwrap().clone();
    assert_eq!(activation.shape(), [2, 192, 7, 7]);
    let full_features: Array2<f32> = a.take2(enet::FEATURES).unwrap();
    let activation = activation.into_dimensionality().unwrap();
    let mut b = tail.run(activation.view()).unwrap();
    let tail_features = b.take2(enet::FEATURES).unwrap();
    let diff = (&full_features - &tail_features).mapv(f32::abs).fold(0.0f32, |m, &v| m.max(v));
    eprintln!("tail after block {split}: max |Δfeature| vs full graph = {diff:.2e}");
    assert!(diff <= 1e-4, "tail graph disagrees with the full graph by {diff}");
    assert!(full_features.slice(s![0, ..]).iter().any(|&v| v > 0.0), "features are not all zero");
}

#[test]
fn wrong_image_size_is_a_clear_error() {
    let mut net = backbone();
    let err = net.run(Array4::zeros((1, 3, 200, 200)).view()).unwrap_err().to_string();
    assert!(err.contains("224"), "{err}");
}
