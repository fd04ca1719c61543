//! `--model RUN`: a run folder made here from the real pretrained network (its own ImageNet
//! classifier rows for the five footwear classes as the "trained" head, output `probs`), with a
//! catalog for product details and thumbnails. Checks the server reads the run as the training
//! crate writes it and answers with its labels and products.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;
use sneaker_model::efficientnet_lite::{EfficientNetLite, FEATURE_DIM, INPUT, NUM_BLOCKS};
use sneaker_model::imagenet::FOOTWEAR;
use sneaker_model::onnx::{BATCH, Dim, GraphBuilder, encode};
use sneaker_serve::{App, Network, ServeConfig, open_catalog};

/// Labels of the run, in the order of `FOOTWEAR` (ImageNet 502, 514, 630, 770, 774).
const LABELS: [&str; 5] = ["clog", "cowboy_boot", "loafer", "running_shoe", "sandal"];

/// Writes `dir/model.onnx` (input → `probs` over LABELS) and `dir/labels.json`.
fn write_run(dir: &Path, catalog: &Path) {
    let weights = assets().weights().expect("pretrained weights load");
    let fc_w = weights["_fc.weight"].to_f32().expect("f32 weights");
    let fc_b = weights["_fc.bias"].to_f32().expect("f32 bias");
    let rows: Vec<f32> = FOOTWEAR.iter().flat_map(|&c| fc_w[c * FEATURE_DIM..(c + 1) * FEATURE_DIM].to_vec()).collect();
    let bias: Vec<f32> = FOOTWEAR.iter().map(|&c| fc_b[c]).collect();

    let net = EfficientNetLite::new(&weights);
    let mut g = GraphBuilder::new("test_run");
    let input = g.input(INPUT, &[BATCH, Dim::Fixed(3), Dim::Fixed(224), Dim::Fixed(224)]).expect("input");
    let mut x = net.stem(&mut g, &input).expect("stem");
    for i in 0..NUM_BLOCKS {
        x = net.block(&mut g, i, &x).expect("block");
    }
    let features = net.features(&mut g, &x).expect("features");
    let w = g.initializer("head.weight", &[LABELS.len(), FEATURE_DIM], &rows).expect("w");
    let b = g.initializer("head.bias", &[LABELS.len()], &bias).expect("b");
    let logits = g.linear(&features, &w, &b);
    let probs = g.softmax(&logits, 1);
    g.output(&probs, "probs", &[BATCH, Dim::Fixed(LABELS.len())]).expect("output");
    std::fs::write(dir.join("model.onnx"), encode(&g.finish())).expect("write model");
    std::fs::write(dir.join("labels.json"), serde_json::to_vec(&LABELS).expect("json")).expect("write labels");
    // Fields the training crate writes (others are ignored by the server).
    let summary = serde_json::json!({"model": "bottleneck", "data": catalog, "classes": LABELS.len()});
    std::fs::write(dir.join("summary.json"), summary.to_string()).expect("write summary");
}

/// A scraped-layout catalog describing two of the labels, with one photo each.
fn write_catalog(dir: &Path) {
    std::fs::write(
        dir.join("products.csv"),
        "label,name,brand,colorway,style_id,url\n\
         loafer,Penny Loafer,Acme,Burgundy,AC-100,https://example.com/loafer\n\
         running_shoe,Acme Runner,Acme,White/Blue,AC-200,https://example.com/runner\n",
    )
    .expect("write products");
    let mut images = String::from("file,label\n");
    for label in ["loafer", "running_shoe"] {
        std::fs::create_dir_all(dir.join("images").join(label)).expect("mkdir");
        std::fs::write(dir.join(format!("images/{label}/1.png")), sky_png()).expect("write photo");
        images.push_str(&format!("images/{label}/1.png,{label}\n"));
    }
    std::fs::write(dir.join("images.csv"), images).expect("write images.csv");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_folder_answers_with_its_labels_products_and_thumbnails() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (run, catalog) = (tmp.path().join("run-footwear5"), tmp.path().join("catalog"));
    std::fs::create_dir_all(&run).expect("mkdir run");
    std::fs::create_dir_all(&catalog).expect("mkdir catalog");
    write_catalog(&catalog);
    write_run(&run, &catalog);

    let predictor = sneaker_model::predictor::Predictor::open(&assets(), Some(&run)).expect("the run loads");
    let network = Network::new(predictor);
    let catalog = open_catalog(&network.catalog().expect("summary.json names the catalog")).expect("catalog opens");
    let trained = App::new(ServeConfig::default(), Box::new(network), Some(catalog)).expect("app");
    while !trained.is_ready() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let (status, model) = send_json(&trained, get("/api/v1/model")).await;
    assert_eq!(status, 200);
    assert_eq!(model["kind"], "trained");
    assert_eq!(model["labels"], serde_json::json!(LABELS));
    assert_eq!(model["run_id"], "run-footwear5");
    assert!(model["created"].as_str().is_some_and(|c| c.ends_with('Z')), "{model}");
    assert_eq!(model["products"], 2);

    let (_, _, page) = send(&trained, get("/")).await;
    let page = String::from_utf8(page).expect("utf-8");
    assert!(page.contains("run run-footwear5") && !page.contains("No trained sneaker model"));

    let Some(photo) = shoe_photo() else { return };
    let (status, answer) =
        send_json(&trained, post_form("/api/v1/identify?top_k=5", &[("image", "af1.jpg", &photo)])).await;
    assert_eq!(status, 200, "{answer}");
    let (_, imagenet) = send_json(app(), post_form("/api/v1/identify?top_k=20", &[("image", "af1.jpg", &photo)])).await;

    // The head is the ImageNet classifier restricted to five classes, so its softmax must equal
    // the pretrained probabilities of those classes renormalised by their sum (the footwear
    // probability): p_run(c) = p_imagenet(c) / Σ_footwear p_imagenet.
    let footwear = imagenet["footwear"]["probability"].as_f64().expect("number");
    assert!((answer["footwear"]["probability"].as_f64().expect("number") - footwear).abs() < 1e-4);
    let imagenet_p = |name: &str| {
        imagenet["predictions"]
            .as_array()
            .expect("list")
            .iter()
            .find(|p| p["label"] == name)
            .map_or(0.0, |p| p["probability"].as_f64().expect("number"))
    };
    let top = &answer["predictions"][0];
    let top_label = top["label"].as_str().expect("label");
    let imagenet_name = top_label.replace('_', " ").replace("loafer", "Loafer");
    let expected = imagenet_p(&imagenet_name) / footwear;
    assert!((top["probability"].as_f64().expect("number") - expected).abs() < 1e-3, "{top} vs {expected}");
    let total: f64 = answer["predictions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["probability"].as_f64().expect("number"))
        .sum();
    assert!((total - 1.0).abs() < 1e-4, "five labels cover all the mass: {total}");

    // Products and thumbnails come from the catalog for the labels it lists.
    let described: Vec<&Value> =
        answer["predictions"].as_array().expect("list").iter().filter(|p| !p["product"].is_null()).collect();
    assert_eq!(described.len(), 2, "{answer}");
    for p in described {
        assert_eq!(p["product"]["brand"], "Acme");
        let thumb = p["thumbnail"].as_str().expect("thumbnail url");
        let (status, headers, body) = send(&trained, get(thumb)).await;
        assert_eq!((status, headers["content-type"].to_str().ok()), (200, Some("image/png")), "{thumb}");
        assert_eq!(body, sky_png());
    }
    let (status, json) = send_json(&trained, get("/api/v1/thumbnails/sandal")).await;
    assert_eq!(status, 404, "{json}");
}
