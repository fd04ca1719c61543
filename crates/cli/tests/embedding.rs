//! `train --model embedding` → `fewshot` → `gallery` through the real binary, with the real
//! pretrained network, on tiny generated catalogs: a main catalog, an extra one of which half the
//! labels are held out (listed in `held_out.json`), the run's `features` the trained embedding's
//! width, and `fewshot` measuring it beside the pretrained features on the held-out products.
#![cfg(feature = "train")]

use std::path::Path;

use serde_json::Value;

mod common;
use common::{LABELS, VIEWS, ok, run, scraped_catalog};

const EXTRA: [&str; 4] = ["amber_trail", "grey_slip", "pink_low", "teal_mid"];

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn an_embedding_trains_on_two_catalogs_holds_out_half_and_is_measured_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let (main, extra, cache) = (dir.path().join("main"), dir.path().join("extra"), dir.path().join("cache"));
    scraped_catalog(&main, &LABELS, 0);
    scraped_catalog(&extra, &EXTRA, LABELS.len());
    let out = dir.path().join("emb");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (main_s, extra_s, out_s, cache_s) = (s(&main), s(&extra), s(&out), s(&cache));
    let args = [
        "train",
        "--model",
        "embedding",
        "--data",
        &main_s,
        "--extra-data",
        &extra_s,
        "--hold-out",
        "0.5",
        "--embedding-dim",
        "16",
        "--unfreeze-blocks",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--draws",
        "1",
        "--out",
        &out_s,
        "--cache-dir",
        &cache_s,
    ];
    ok(run(&args, &cache), "train --model embedding");

    // Half of the extra labels are held out, named in held_out.json; the rest are trained on.
    let held: Vec<String> = serde_json::from_value(json(&out.join("held_out.json"))).unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    let labels: Vec<String> = serde_json::from_value(json(&out.join("labels.json"))).unwrap();
    assert_eq!(labels.len(), LABELS.len() + 2, "{labels:?}");
    assert!(held.iter().all(|h| EXTRA.contains(&h.as_str()) && !labels.contains(h)), "{held:?} vs {labels:?}");
    let manifest = json(&out.join("run.json"));
    assert_eq!(manifest["kind"], "embedding", "{manifest}");
    assert_eq!(manifest["embedding"]["source"], "run", "{manifest}");
    assert_eq!(manifest["embedding"]["dim"], 16, "the gallery stores the trained width: {manifest}");

    // Few-shot and retrieval on the held-out products only, the run beside the pretrained features.
    let trained = out.join("labels.json");
    let fs: Value = serde_json::from_str(&ok(
        run(
            &[
                "fewshot",
                "--data",
                &extra_s,
                "--model",
                &out_s,
                "--exclude",
                &s(&trained),
                "--shots",
                "1,3",
                "--trials",
                "2",
                "--json",
            ],
            &cache,
        ),
        "fewshot",
    ))
    .expect("one JSON object");
    assert_eq!(fs["photos"], 2 * VIEWS, "only the held-out products' photos: {fs}");
    let models = fs["models"].as_array().expect("models");
    assert_eq!(models.len(), 2, "{fs}");
    // The network's features, then the colour part the gallery weighs in.
    let colour = sneaker_vision::COLOUR_DIM as u64;
    assert_eq!(
        (models[0]["dim"].as_u64(), models[1]["dim"].as_u64()),
        (Some(16 + colour), Some(1280 + colour)),
        "{fs}"
    );
    for m in models {
        let r = &m["retrieval"];
        assert_eq!(r["queries"], 2 * VIEWS, "{m}");
        let (r1, r5, map) =
            (r["recall_at_1"].as_f64().unwrap(), r["recall_at_5"].as_f64().unwrap(), r["map"].as_f64().unwrap());
        assert!((0.0..=1.0).contains(&r1) && r1 <= r5 && r5 <= 1.0 && map > 0.0 && map <= 1.0, "{m}");
        let shots: Vec<u64> = m["results"].as_array().unwrap().iter().map(|r| r["shots"].as_u64().unwrap()).collect();
        assert_eq!(shots, [1, 3], "{m}");
    }

    // The run's gallery holds its own 16-d vectors, and predict searches it.
    ok(run(&["gallery", "build", "--model", &out_s, "--data", &main_s], &cache), "gallery build");
    let photo = main.join("images/red_high/img03.png");
    let pred: Value =
        serde_json::from_str(&ok(run(&["predict", "--model", &out_s, "--json", &s(&photo)], &cache), "predict"))
            .expect("one object");
    assert!(pred["predictions"][0]["similarity"].is_number(), "the gallery answered: {pred}");
}

#[test]
fn hold_out_without_extra_catalogs_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main");
    scraped_catalog(&main, &LABELS, 0);
    let out = dir.path().join("emb");
    let err = run(
        &[
            "train",
            "--model",
            "embedding",
            "--data",
            main.to_str().unwrap(),
            "--hold-out",
            "0.5",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!err.status.success());
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(text.contains("hold_out") && text.contains("extra_data"), "{text}");
}
