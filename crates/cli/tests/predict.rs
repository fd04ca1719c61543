//! `sneaker-id predict` end to end: file → decode → resize → network, through the real binary.
//! The expected classes are PyTorch's top-1 on the same photos (`../shared/golden/efficientnet-lite0/
//! cases.json`, made by eager float32 PyTorch with PIL bilinear resizing).

use std::process::Command;

use serde_json::Value;

mod common;
fn predict(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sneaker-id"))
        .arg("predict")
        .args(args)
        .output()
        .expect("the sneaker-id binary should start")
}

#[test]
fn golden_photos_get_pytorchs_top1_class() {
    let Some(shared) = sneaker_test_support::shared("") else { return };
    let golden = shared.join("golden/efficientnet-lite0");
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(golden.join("cases.json")).expect("cases.json"))
        .expect("cases.json is JSON");
    for case in cases["cases"].as_array().expect("cases") {
        let photo = shared.join(case["source_image"].as_str().expect("source_image"));
        let top1 = case["top5"][0]["class"].as_u64().expect("class") as usize;
        let out = predict(&["--json", "--top", "3", photo.to_str().expect("utf-8 path")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let line: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        let got = line["predictions"][0]["label"].as_str().expect("label");
        let want = sneaker_model::imagenet::class_name(top1);
        assert_eq!(got, want, "{}: top-1 should be ImageNet class {top1}", photo.display());
        let p = line["footwear"]["probability"].as_f64().expect("footwear probability");
        assert!((0.0..=1.0).contains(&p));
        assert_eq!(line["predictions"].as_array().map(Vec::len), Some(3));
    }
}

#[test]
fn a_folder_is_read_batched_one_line_per_image() {
    let Some(shared) = sneaker_test_support::shared("") else { return };
    let folder = shared.join("datasets/sneakers50-wild-dev/nike_dunk_low");
    let n = std::fs::read_dir(&folder).expect("folder").count();
    let out = predict(&["--json", folder.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), n);
    assert!(lines.iter().all(|l| l["predictions"].as_array().map(Vec::len) == Some(5)));
}

#[test]
fn a_file_that_is_not_an_image_is_named_in_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.jpg");
    std::fs::write(&path, "these are my shopping notes").expect("write");
    let out = predict(&[path.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes.jpg") && err.contains("not an image"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A JPEG truncated to a third (what an interrupted download leaves) beside a good one. Decoders
/// fill the missing rows with grey; ours must refuse it instead.
#[test]
fn a_truncated_photo_is_refused_by_name_and_the_others_are_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::jpeg_and_truncated_copy(dir.path());
    let out = predict(&["--json", dir.path().to_str().expect("utf-8 path")]);
    assert!(!out.status.success(), "a photo that cannot be read fails the command");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.jpg") && err.contains("corrupt or truncated"), "{err}");
    assert!(err.contains("1 of 2 images could not be read"), "{err}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 1, "only the good photo is answered");
    assert!(lines[0]["image"].as_str().expect("image").ends_with("good.jpg"), "{}", lines[0]);
}
