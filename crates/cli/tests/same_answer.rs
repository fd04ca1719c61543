//! One decision everywhere: `sneaker-id predict` and `sneaker-id serve` (the JSON the page reads)
//! answer the same photo with the same verdict, ranking and footwear probability, given the same
//! gallery and the same threshold flags; and the server says the thresholds came from the flags.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;

use common::server::Server;

const BIN: &str = env!("CARGO_BIN_EXE_sneaker-id");

fn run_ok(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("the sneaker-id binary should start");
    assert!(out.status.success(), "sneaker-id {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn predict(gallery: &Path, flags: &[String], photos: &Path) -> Vec<Value> {
    let mut args = vec!["predict", "--json", "--gallery", gallery.to_str().expect("utf-8 path")];
    args.extend(flags.iter().map(String::as_str));
    args.push(photos.to_str().expect("utf-8 path"));
    run_ok(&args).lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

/// Starts `serve` on a free loopback port with `gallery`, its log going to `log`.
fn serve(gallery: &Path, flags: &[String], log: &Path) -> (Server, String) {
    let mut args = vec!["--gallery", gallery.to_str().expect("utf-8 path")];
    args.extend(flags.iter().map(String::as_str));
    common::server::serve(&args, log)
}

fn close(a: &Value, b: &Value, what: &str) {
    let (a, b) = (a.as_f64().expect(what), b.as_f64().expect(what));
    assert!((a - b).abs() < 1e-4, "{what}: predict {a} vs serve {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_and_serve_give_the_same_answer_for_the_same_photo() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (catalog, gallery, photos) =
        (tmp.path().join("catalog"), tmp.path().join("gallery"), tmp.path().join("photos"));
    common::scraped_catalog(&catalog, &common::LABELS, 0);
    run_ok(&["gallery", "build", "--gallery", gallery.to_str().unwrap(), "--data", catalog.to_str().unwrap()]);
    std::fs::create_dir_all(&photos).unwrap();
    for (i, (colour, shift)) in [(0, 4), (1, 11), (2, 2), (5, 6), (7, 20)].into_iter().enumerate() {
        common::shoe(colour, shift).save(photos.join(format!("{i}.png"))).unwrap();
    }

    // Thresholds between the photos' own scores, so more than one verdict is exercised.
    let probe = predict(&gallery, &["--footwear-threshold".into(), "0".into()], &photos);
    let median = |key: fn(&Value) -> f64| {
        let mut v: Vec<f64> = probe.iter().map(key).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    let footwear = median(|p| p["footwear"]["probability"].as_f64().unwrap());
    let confidence = median(|p| p["predictions"][0]["probability"].as_f64().unwrap());
    let flags: Vec<String> =
        ["--footwear-threshold".into(), footwear.to_string(), "--confidence-threshold".into(), confidence.to_string()]
            .into();

    let cli = predict(&gallery, &flags, &photos);
    let log = tmp.path().join("serve.log");
    let (_server, url) = serve(&gallery, &flags, &log);
    let http = reqwest::Client::new();
    common::server::wait_ready(&http, &url).await;
    let mut verdicts = std::collections::BTreeSet::new();
    for line in &cli {
        let path = line["image"].as_str().expect("image path");
        let bytes = std::fs::read(path).expect("the photo");
        let response = http
            .post(format!("{url}/api/v1/identify?top_k=5"))
            .header("content-type", "image/png")
            .body(bytes)
            .send()
            .await
            .expect("the server answers");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        let api: Value = serde_json::from_slice(&response.bytes().await.expect("a body")).expect("JSON");
        assert_eq!(line["verdict"], api["verdict"], "{path}: predict {line} vs serve {api}");
        verdicts.insert(api["verdict"].as_str().expect("verdict").to_owned());
        close(&line["footwear"]["probability"], &api["footwear"]["probability"], "footwear");
        let (ours, theirs) = (line["predictions"].as_array().unwrap(), api["predictions"].as_array().unwrap());
        assert_eq!(ours.len(), theirs.len(), "{path}");
        for (a, b) in ours.iter().zip(theirs) {
            assert_eq!(a["label"], b["label"], "{path}: rankings differ");
            close(&a["probability"], &b["probability"], "probability");
        }
    }
    assert!(verdicts.len() >= 2, "the thresholds should split the photos: {verdicts:?}");

    // The access log: one line per identify request, with its route, status and batch size.
    let log = std::fs::read_to_string(&log).expect("the server's log");
    let answered = log
        .lines()
        .filter(|l| {
            l.contains("route=/api/v1/identify")
                && l.contains("status=200")
                && l.contains("batch_size=1")
                && l.contains("latency_ms=")
        })
        .count();
    assert_eq!(answered, cli.len(), "{log}");

    let model = http.get(format!("{url}/api/v1/model")).send().await.expect("the server answers");
    let model: Value = serde_json::from_slice(&model.bytes().await.expect("a body")).expect("JSON");
    assert_eq!(model["thresholds"]["footwear"]["source"], "flag", "{model}");
    close(&model["thresholds"]["footwear"]["value"], &Value::from(footwear), "footwear threshold");
    assert_eq!(model["thresholds"]["similarity"], Value::Null, "{model}");
}
