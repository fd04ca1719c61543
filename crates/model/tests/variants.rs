//! EfficientNet-Lite1 and -Lite2 through the project's own reader and graph writer, run by ONNX
//! Runtime on known photos. There is no PyTorch reference for them in `../shared`, so the check is
//! the one tract makes of mobilenet: known photos must get their known ImageNet class. The layout
//! read from their weights is checked against the TF model garden's description of the variants.
//!
//! Their weights are optional assets (`scripts/fetch-assets.sh lite1 lite2`; `make test` fetches
//! them): absent, the tests say they are skipped and pass, except under `CI=true`.

use std::path::PathBuf;

use ndarray::{Array2, Array4};
use sneaker_model::assets::Assets;
use sneaker_model::efficientnet_lite::{BuildOptions, EfficientNetLite, FEATURE_DIM, Layout, Variant};
use sneaker_model::imagenet;
use sneaker_model::onnx::{BATCH, Dim, GraphBuilder, encode};
use sneaker_model::predictor::{softmax_rows, top_k};
use sneaker_model::runtime::{Runtime, Session};
use sneaker_vision::{DecodeLimits, decode_file_for_input, to_tensor};

/// The assets, when `variant`'s weights are among them.
fn assets_with(variant: Variant) -> Option<Assets> {
    let assets = Assets::locate().expect("assets present (run `make assets`)");
    if assets.torch_weights_of(variant).is_file() {
        return Some(assets);
    }
    let why = format!("{} weights not found (run scripts/fetch-assets.sh {variant})", variant.title());
    assert!(!sneaker_test_support::on_ci(), "CI=true but {why}");
    sneaker_test_support::skip(&why);
    None
}

/// Known photos and the ImageNet class each must get as top-1 from all three variants: tract's
/// "military uniform" on Grace Hopper, and two more from the not-footwear set
/// (`scripts/fetch-eval-images.sh`). Lite0 gives them 0.36, 0.79 and 0.90.
const KNOWN: [(&str, usize); 3] = [("grace_hopper.jpg", 652), ("chelsea.png", 285), ("coffee.png", 967)];

/// Studio shots of two sneakers in `../shared`: a footwear class must be in the top 5. Lite1 and
/// Lite2 are less sure than Lite0 on them (Lite1 on the Samba: sandal 0.055, running shoe 0.050).
const SNEAKERS: [&str; 2] = [
    "datasets/sneakers50/nike_air_force_1_low/nikecom_air-force-1-07-lv8-mens-shoes-7bCM7s.jpg",
    "datasets/sneakers50/adidas_samba/zal_110.jpg",
];

/// `photos` decoded and resized to `side` as the pipeline does, `[n, 3, side, side]`.
fn photo_batch(photos: &[PathBuf], side: usize) -> Array4<f32> {
    let mut flat = Vec::new();
    for photo in photos {
        let img = decode_file_for_input(photo, &DecodeLimits::default(), side as u32).expect("decodes");
        flat.extend(to_tensor(&img, side as u32));
    }
    Array4::from_shape_vec((photos.len(), 3, side, side), flat).expect("CHW tensors")
}

/// ImageNet probabilities of `bytes`' graph (output `logits`) on `batch`.
fn imagenet_probs(rt: &Runtime, label: &str, bytes: &[u8], batch: &Array4<f32>) -> Array2<f32> {
    let mut session = Session::from_bytes(rt, label, bytes).expect("graph loads");
    softmax_rows(&session.run(batch.view()).expect("graph runs").take2("logits").expect("logits"))
}

/// The not-footwear photos, or `None` (skipped, except under `CI=true`).
fn eval_photos() -> Option<Vec<PathBuf>> {
    let dir = sneaker_model::assets::eval_dir().expect("HOME is set");
    let photos: Vec<PathBuf> = KNOWN.iter().map(|(name, _)| dir.join("not-footwear").join(name)).collect();
    if photos.iter().all(|p| p.is_file()) {
        return Some(photos);
    }
    let why = format!("known photos not found in {} (run scripts/fetch-eval-images.sh)", dir.display());
    assert!(!sneaker_test_support::on_ci(), "CI=true but {why}");
    sneaker_test_support::skip(&why);
    None
}

fn describe(p: &[f32]) -> Vec<String> {
    top_k(p, 5).iter().map(|&i| format!("{} {:.3}", imagenet::class_name(i), p[i])).collect()
}

#[test]
fn lite1_and_lite2_name_known_photos() {
    let Some(photos) = eval_photos() else { return };
    for variant in [Variant::Lite1, Variant::Lite2] {
        let Some(assets) = assets_with(variant) else { continue };
        let rt = Runtime::from_assets(&assets).expect("runtime loads");
        let weights = assets.weights_of(variant).expect("weights load");
        let net = EfficientNetLite::of(variant, &weights).expect("layout reads");
        let bytes = encode(&net.build(&BuildOptions::default()).expect("graph builds"));
        let native = imagenet_probs(&rt, variant.name(), &bytes, &photo_batch(&photos, variant.input_size()));

        // The same network behind a 224 px input, resized inside the graph: how a run trained on
        // several backbones feeds them all from one input.
        let mut g = GraphBuilder::new("resized");
        let input = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(224), Dim::Fixed(224)]).expect("input");
        let features = net.pooled_features(&mut g, &input, 224).expect("features");
        g.output(&features, "features", &[BATCH, Dim::Fixed(FEATURE_DIM)]).expect("output");
        let logits = net.classifier(&mut g, &features).expect("classifier");
        g.output(&logits, "logits", &[BATCH, Dim::Fixed(1000)]).expect("output");
        let resized = imagenet_probs(&rt, "resized", &encode(&g.finish()), &photo_batch(&photos, 224));

        for (how, probs) in [(format!("at {} px", variant.input_size()), native), ("from 224 px".into(), resized)] {
            for ((name, want), p) in KNOWN.iter().zip(probs.rows()) {
                let p = p.to_vec();
                eprintln!("{variant} {how}: {name}: {:?}", describe(&p));
                assert_eq!(top_k(&p, 1), [*want], "{variant} {how}: {name} should be {}", imagenet::class_name(*want));
            }
        }
    }
}

#[test]
fn lite1_and_lite2_see_footwear_in_sneaker_photos() {
    let Some(shared) = sneaker_test_support::shared("datasets/sneakers50") else { return };
    let photos: Vec<PathBuf> = SNEAKERS.iter().map(|p| shared.join(p)).collect();
    for variant in [Variant::Lite1, Variant::Lite2] {
        let Some(assets) = assets_with(variant) else { continue };
        let rt = Runtime::from_assets(&assets).expect("runtime loads");
        let weights = assets.weights_of(variant).expect("weights load");
        let bytes = encode(
            &EfficientNetLite::of(variant, &weights)
                .and_then(|n| n.build(&BuildOptions::default()))
                .expect("graph builds"),
        );
        let probs = imagenet_probs(&rt, variant.name(), &bytes, &photo_batch(&photos, variant.input_size()));
        for (photo, p) in SNEAKERS.iter().zip(probs.rows()) {
            let p = p.to_vec();
            eprintln!("{variant}: {photo}: {:?}", describe(&p));
            assert!(
                top_k(&p, 5).iter().any(|i| imagenet::FOOTWEAR.contains(i)),
                "{variant}: no footwear class in the top 5 for {photo}"
            );
        }
    }
}

#[test]
fn layouts_read_from_the_weights_match_the_published_variants() {
    // TF model garden efficientnet_lite_builder: (width, depth, resolution) = (1.0, 1.0, 224),
    // (1.0, 1.1, 240), (1.1, 1.2, 260), stem and head fixed; repeats per stage round up
    // (ceil(depth · [1,2,2,3,3,4,1]), first and last stage kept at 1): 16, 21 and 21 blocks.
    // Lite2's channels are 8-rounded width-scaled B0 channels: 16,24,48,88,120,208,352.
    for (variant, blocks, last_channels, side) in
        [(Variant::Lite0, 16, 320, 7), (Variant::Lite1, 21, 320, 8), (Variant::Lite2, 21, 352, 9)]
    {
        let Some(assets) = assets_with(variant) else { continue };
        let weights = assets.weights_of(variant).expect("weights load");
        let layout = Layout::read(variant, &weights).expect("layout reads");
        let last = layout.last();
        assert_eq!((layout.blocks.len(), last.out_channels, last.out_size), (blocks, last_channels, side), "{variant}");
        assert_eq!(variant.blocks(&weights).expect("blocks"), layout.blocks);
        if variant == Variant::Lite0 {
            assert_eq!(layout, Layout::lite0(), "Lite0 read from its weights is its published table");
        }
        let strided: Vec<usize> = layout.blocks.iter().filter(|b| b.stride == 2).map(|b| b.index).collect();
        eprintln!(
            "{variant}: {} blocks, stride 2 at {strided:?}, last {last_channels}x{side}x{side}",
            layout.blocks.len()
        );
    }
}
