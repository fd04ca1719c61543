//! `train` → `evaluate` → `predict` through the real binary for all four models, on a tiny
//! generated catalog in the layout `scrape` writes (`images.csv` + `images/<label>/imgNN.png`
//! spins), with the real pretrained network for `bottleneck` and `finetune`. Needs the assets
//! (`make assets`), like every test of the binary.
#![cfg(feature = "train")]

use std::path::Path;

use serde_json::Value;

mod common;
use common::{LABELS, VIEWS, ok, run, scraped_catalog};

#[test]
fn all_four_models_train_evaluate_and_predict() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cache) = (dir.path().join("catalog"), dir.path().join("cache"));
    scraped_catalog(&data, &LABELS, 0);
    let data_s = data.to_str().unwrap();
    let cache_s = cache.to_str().unwrap();
    let photo = data.join("images/red_high/img03.png");
    let common = ["--epochs", "2", "--batch-size", "4", "--warmup-epochs", "0", "--patience", "0", "--draws", "1"];
    let models: [(&str, &[&str]); 4] = [
        ("random", &[]),
        // The reference CNN at its smallest input keeps the test fast; 224 is the default.
        ("scratch", &["--image-size", "48"]),
        ("bottleneck", &[]),
        ("finetune", &["--unfreeze-blocks", "1", "--lr", "1e-4"]),
    ];
    for (model, extra) in models {
        let out_dir = dir.path().join(model);
        let out_s = out_dir.to_str().unwrap();
        let mut args = vec!["train", "--data", data_s, "--model", model, "--out", out_s, "--cache-dir", cache_s];
        args.extend(common);
        args.extend(extra);
        let init = dir.path().join("bottleneck");
        if model == "finetune" {
            args.extend(["--init-from", init.to_str().unwrap()]);
        }
        ok(run(&args, &cache), &format!("train --model {model}"));
        for file in ["config.json", "labels.json", "model.onnx", "summary.json", "run.json"] {
            assert!(out_dir.join(file).is_file(), "{model}: RUN/{file} missing");
        }
        // The manifest every reader goes by: labels, graph, and which features the run embeds with.
        let manifest: Value = serde_json::from_slice(&std::fs::read(out_dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(manifest["kind"], model, "{manifest}");
        assert_eq!(manifest["labels"].as_array().map(Vec::len), Some(LABELS.len()), "{manifest}");
        assert_eq!(manifest["input_size"], if model == "scratch" { 48 } else { 224 }, "{manifest}");
        let own_features = matches!(model, "bottleneck" | "finetune");
        let outputs = manifest["outputs"].as_array().expect("outputs listed");
        assert!(outputs.contains(&"probs".into()), "{manifest}");
        assert_eq!(outputs.contains(&"features".into()), own_features, "{manifest}");
        assert_eq!(manifest["embedding"]["source"], if own_features { "run" } else { "pretrained" }, "{manifest}");
        let id = manifest["embedding"]["model_id"].as_str().unwrap_or_default();
        assert!(id.starts_with(if own_features { "run-model@" } else { "efficientnet-lite0-imagenet@" }), "{id}");
        // What the server shows as the run's id and date.
        let summary: Value = serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
        assert!(summary["run_id"].as_str().is_some_and(|id| id.starts_with(&format!("{model}-2"))), "{summary}");
        assert!(summary["created"].as_str().is_some_and(|c| c.ends_with('Z')), "{summary}");
        if model != "random" {
            for file in ["weights.safetensors", "metrics.csv", "curves.png"] {
                assert!(out_dir.join(file).is_file(), "{model}: RUN/{file} missing");
            }
        }

        let eval: Value = serde_json::from_str(&ok(
            run(&["evaluate", "--model", out_s, "--data", data_s, "--json"], &cache),
            "evaluate",
        ))
        .expect("evaluate --json prints one object");
        assert_eq!(eval["n"].as_u64(), Some(LABELS.len() as u64 * VIEWS as u64), "{model}: {eval}");
        for key in ["top1", "top5", "log_loss", "mean_per_class"] {
            let v = eval[key].as_f64().unwrap_or_else(|| panic!("{model}: no {key} in {eval}"));
            assert!(v.is_finite() && v >= 0.0, "{model}: {key} = {v}");
        }
        // Three labels: every label is in the top 5.
        assert_eq!(eval["top5"].as_f64(), Some(1.0), "{model}");
        if model == "random" {
            let ll = eval["log_loss"].as_f64().unwrap();
            assert!((ll - (LABELS.len() as f64).ln()).abs() < 1e-4, "uniform log-loss is ln M, got {ll}");
        }
        // The spins' angles reach the per-angle breakdown.
        assert_eq!(eval["by_angle"].as_array().map(Vec::len), Some(VIEWS as usize), "{model}: {}", eval["by_angle"]);
        // One row per photo whose probabilities give the same top-1 as the scores.
        let csv = std::fs::read_to_string(out_dir.join("eval").join(data.file_name().unwrap()).join("predictions.csv"))
            .expect("evaluate writes predictions.csv");
        let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows[0][..2], ["file", "label"], "{model}");
        assert_eq!(rows.len(), 1 + LABELS.len() * VIEWS as usize, "{model}");
        let right = rows[1..]
            .iter()
            .filter(|r| {
                let p: Vec<f64> = r[2..].iter().map(|v| v.parse().unwrap()).collect();
                // The first of equal maxima, as evaluate counts.
                let top = (0..p.len()).fold(0, |best, j| if p[j] > p[best] { j } else { best });
                rows[0][2 + top] == r[1]
            })
            .count();
        let top1 = right as f64 / (rows.len() - 1) as f64;
        assert!((top1 - eval["top1"].as_f64().unwrap()).abs() < 1e-9, "{model}: {top1} from the rows, {eval}");

        let pred: Value = serde_json::from_str(&ok(
            run(&["predict", "--model", out_s, "--json", photo.to_str().unwrap()], &cache),
            "predict",
        ))
        .expect("predict --json prints one object per photo");
        let top = pred["predictions"][0]["label"].as_str().unwrap_or_else(|| panic!("{model}: {pred}"));
        assert!(LABELS.contains(&top), "{model}: predicted {top}, not one of the catalog's labels");

        // Every run type embeds (its own features, or the pretrained backbone's), and predict
        // searches the gallery built with the run under the same model id.
        ok(run(&["gallery", "build", "--model", out_s, "--data", data_s], &cache), "gallery build");
        let pred: Value = serde_json::from_str(&ok(
            run(&["predict", "--model", out_s, "--json", photo.to_str().unwrap()], &cache),
            "predict with the run's gallery",
        ))
        .expect("one object");
        assert!(pred["predictions"][0]["similarity"].is_number(), "{model}: the gallery answered: {pred}");
    }
    // Plain colour blocks are easy once the network is pretrained: the bottleneck run must learn them.
    let eval: Value = serde_json::from_str(&ok(
        run(
            &["evaluate", "--model", dir.path().join("bottleneck").to_str().unwrap(), "--data", data_s, "--json"],
            &cache,
        ),
        "evaluate",
    ))
    .unwrap();
    assert!(eval["top1"].as_f64().unwrap() > 0.6, "bottleneck top-1 on its own training shots: {eval}");
}

#[test]
fn bad_training_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(
        &[
            "train",
            "--data",
            empty.to_str().unwrap(),
            "--model",
            "random",
            "--out",
            dir.path().join("r").to_str().unwrap(),
        ],
        &cache,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("label"), "the error should say what is missing: {err}");
    let out = run(
        &[
            "train",
            "--data",
            empty.to_str().unwrap(),
            "--model",
            "finetune",
            "--out",
            dir.path().join("f").to_str().unwrap(),
        ],
        &cache,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("init"), "finetune without --init-from must say so");
}

/// Stages small enough for three labels of eight photos: the preset's are for sneakers50.
const TINY_STAGES: &str = "\
[bottleneck]
epochs = 3
warmup_epochs = 0
patience = 0
[bottleneck.augment]
draws = 1
[finetune]
unfreeze_blocks = 1
epochs = 1
[finetune.augment]
draws = 1
[calibrate]
draws = 2
";

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the run's calibration says about one `predict --json` line.
fn expected_verdict(pred: &Value, open_set: &Value) -> &'static str {
    let p = pred["predictions"][0]["probability"].as_f64().unwrap();
    if p < open_set["thresholds"]["confidence"].as_f64().unwrap() { "not_sure" } else { "match" }
}

#[test]
fn plain_train_runs_the_whole_pipeline_into_one_folder_and_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cache, out) = (dir.path().join("catalog"), dir.path().join("cache"), dir.path().join("run"));
    scraped_catalog(&data, &LABELS, 0);
    let tiny = dir.path().join("tiny.toml");
    std::fs::write(&tiny, TINY_STAGES).unwrap();
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    // A shared flag (--batch-size) applies to both training stages.
    let args = ["train", "--data", data_s, "--out", out_s, "--config", tiny.to_str().unwrap(), "--batch-size", "8"];

    // A per-stage flag is refused before anything starts, saying what to do instead.
    let refused = run(&[&args[..], &["--epochs", "3"]].concat(), &cache);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("--epochs") && err.contains("[finetune]"), "{err}");
    assert!(!out.exists(), "nothing written before the settings are checked");

    let first = run(&args, &cache);
    let err = String::from_utf8_lossy(&first.stderr).into_owned();
    let stdout = ok(first, "the whole pipeline");
    // The preset's finetune stage is the embedding, which starts from ImageNet weights alone, and
    // the ensemble's other members train after it.
    let members = sneaker_train::preset::BEST.finetune_members;
    let stages = members + 2;
    let mut lines =
        vec![format!("stage 1/{stages} bottleneck: not needed"), format!("stage 2/{stages} finetune: done")];
    lines.extend((1..members).map(|m| format!("stage {}/{stages} member-{m}: done", m + 2)));
    lines.push(format!("stage {stages}/{stages} calibrate: done"));
    for line in &lines {
        assert!(err.contains(line.as_str()), "no `{line}` in:\n{err}");
    }
    assert!(stdout.contains("calibrated: temperature"), "{stdout}");

    // One folder: an embedding run to every reader (its graph holds every member: their 256-d
    // embeddings side by side), the calibration.
    let manifest = json(&out.join("run.json"));
    assert_eq!(manifest["kind"], "embedding", "{manifest}");
    assert_eq!(manifest["embedding"]["dim"], 256 * members, "{manifest}");
    assert_eq!(json(&out.join("stages/member-1/run.json"))["kind"], "embedding");
    let calibration = json(&out.join("calibration.json"));
    assert!(calibration["flip"].as_bool().unwrap(), "the graph sees each photo mirrored too");
    assert!(calibration["zoom"].as_bool().unwrap(), "the graph sees each photo's centre zoomed too");
    assert_eq!(manifest["labels"].as_array().map(Vec::len), Some(LABELS.len()));
    assert!(manifest["metrics"]["temperature"].is_number(), "{manifest}");
    assert!(!out.join("stages/bottleneck").exists(), "the bottleneck stage did not run");
    for file in ["model.onnx", "labels.json", "metrics.csv", "summary.json", "pipeline.json", "open_set.png"] {
        assert!(out.join(file).is_file(), "RUN/{file} missing");
    }
    let calibration = json(&out.join("calibration.json"));
    let t = calibration["temperature"].as_f64().unwrap();
    assert!((0.25..=10.0).contains(&t), "{calibration}");
    assert_eq!(calibration["val_photos"].as_u64().map(|n| n * 2), calibration["augmented_photos"].as_u64());
    for key in ["coverage", "precision", "confidence_threshold", "val_top1"] {
        assert!(calibration[key].as_f64().is_some_and(|v| (0.0..=1.0).contains(&v)), "{key}: {calibration}");
    }
    assert!(calibration["precision"].as_f64().unwrap() >= 0.9 || calibration["coverage"].as_f64() == Some(0.0));
    // open_set.json holds the chosen threshold and the default footwear cut-off.
    let open_set = json(&out.join("open_set.json"));
    assert_eq!(open_set["thresholds"]["confidence"], calibration["confidence_threshold"], "{open_set}");
    let footwear = open_set["thresholds"]["footwear"].as_f64().unwrap();
    assert!((footwear - f64::from(sneaker_identify::DEFAULT_FOOTWEAR)).abs() < 1e-6, "{open_set}");

    // predict reads the run's calibration by itself (the footwear check is set aside: colour
    // blocks are no shoes to ImageNet).
    for view in [1, 4, 7] {
        let photo = data.join(format!("images/red_high/img{view:02}.png"));
        let pred: Value = serde_json::from_str(&ok(
            run(&["predict", "--model", out_s, "--json", "--footwear-threshold", "0", photo.to_str().unwrap()], &cache),
            "predict",
        ))
        .unwrap();
        assert_eq!(pred["verdict"], expected_verdict(&pred, &open_set), "{pred} with {}", open_set["thresholds"]);
    }

    // The same command again: every stage is finished, nothing is redone.
    let again = run(&args, &cache);
    let err = String::from_utf8_lossy(&again.stderr).into_owned();
    ok(again, "the pipeline again");
    assert_eq!(err.matches("finished earlier, skipped").count(), members + 1, "{err}");

    // A stage without its last file runs again, and only it: calibrating the calibrated graph
    // gives the same temperature (it is fitted on the raw logits).
    std::fs::remove_file(out.join("calibration.json")).unwrap();
    let third = run(&[&args[..], &["--resume"]].concat(), &cache);
    let err = String::from_utf8_lossy(&third.stderr).into_owned();
    ok(third, "the pipeline, continued");
    assert_eq!(err.matches("finished earlier, skipped").count(), members, "{err}");
    assert!(err.contains(&format!("stage {stages}/{stages} calibrate: done")), "{err}");
    let t2 = json(&out.join("calibration.json"))["temperature"].as_f64().unwrap();
    assert!((t - t2).abs() < 1e-6 * t, "{t} then {t2}");

    // Other settings cannot continue this folder.
    let other = run(&[&args[..], &["--seed", "7"]].concat(), &cache);
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success() && err.contains("seed"), "{err}");
}
