//! `sneaker-id gallery` end to end with the real pretrained network and the real binary: build a
//! gallery from a few products of `../shared/datasets/multiview-products`, enroll a product it has
//! never seen from two of its photos, and check that a third photo of it comes back top-1.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
fn gallery(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sneaker-id"))
        .arg("gallery")
        .args(args)
        .output()
        .expect("the sneaker-id binary should start")
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Sorted photos of one product.
fn photos(dataset: &Path, label: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dataset.join(label)).expect("product folder").map(|e| e.expect("entry").path()).collect();
    files.sort();
    files
}

/// A `<label>/` catalog of links to the shared photos (nothing is copied).
fn link_catalog(dataset: &Path, labels: &[&str], to: &Path) {
    for label in labels {
        std::fs::create_dir_all(to.join(label)).expect("mkdir");
        for photo in photos(dataset, label) {
            std::os::unix::fs::symlink(&photo, to.join(label).join(photo.file_name().expect("file name")))
                .expect("symlink");
        }
    }
}

fn search(dir: &Path, photo: &Path) -> Value {
    let out =
        ok(gallery(&["search", "--gallery", dir.to_str().unwrap(), "--json", "--top", "3", photo.to_str().unwrap()]));
    serde_json::from_str(out.trim()).expect("one JSON object")
}

#[test]
fn a_product_enrolled_from_two_photos_is_found_on_a_third() {
    let Some(shared) = sneaker_test_support::shared("datasets/multiview-products") else { return };
    let dataset = shared.join("datasets/multiview-products");
    let tmp = tempfile::tempdir().expect("tempdir");
    let catalog = tmp.path().join("catalog");
    // Similar products on purpose: three Air Jordan 1 colourways and three runners.
    let known = [
        "adidas_duramo",
        "adidas_supernova",
        "nike_air_jordan_1_high_blue",
        "nike_air_jordan_1_low_red",
        "nike_air_jordan_1_mid_black",
        "nike_zoom_fly_5",
    ];
    link_catalog(&dataset, &known, &catalog);
    let dir = tmp.path().join("gallery");
    let dir_s = dir.to_str().unwrap();
    let out = gallery(&["build", "--gallery", dir_s, "--data", catalog.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out);
    assert!(stderr.contains("27 photos added"), "{stderr}");
    assert!(dir.join("gallery.bin").is_file());

    // A catalog photo finds itself first, with similarity 1.
    let own = photos(&dataset, "adidas_duramo")[0].clone();
    let hit = &search(&dir, &own)["matches"][0];
    assert_eq!(hit["label"], "adidas_duramo");
    assert!(hit["similarity"].as_f64().unwrap() > 0.999, "{hit}");

    // A product the gallery has never seen, enrolled from two of its photos (side views). Its
    // third photo, another side view, must come back top-1. (Top and sole views are not matched
    // by the pretrained ImageNet features: their nearest enrolled photo is usually another shoe.)
    let new = "nike_air_jordan_1_mid_purple";
    let views = photos(&dataset, new);
    let enroll = tmp.path().join("new");
    std::fs::create_dir(&enroll).unwrap();
    for v in &views[..2] {
        std::os::unix::fs::symlink(v, enroll.join(v.file_name().unwrap())).unwrap();
    }
    let before = search(&dir, &views[2]);
    assert_ne!(before["matches"][0]["label"], new);
    let label = ok(gallery(&[
        "add",
        "--gallery",
        dir_s,
        "--images",
        enroll.to_str().unwrap(),
        "--product",
        "Air Jordan 1 Mid Purple",
        "--label",
        new,
        "--brand",
        "Nike",
    ]));
    assert_eq!(label.trim(), new);

    let found = search(&dir, &views[2]);
    assert_eq!(found["matches"][0]["label"], new, "{}: {found}", views[2].display());
    assert_eq!(found["matches"][0]["product"]["name"], "Air Jordan 1 Mid Purple");
    assert_eq!(found["matches"][0]["product"]["brand"], "Nike");
    assert_eq!(found["labels"][0]["label"], new);

    // Adding the same photos again changes nothing.
    let out = gallery(&[
        "add",
        "--gallery",
        dir_s,
        "--images",
        enroll.to_str().unwrap(),
        "--product",
        "Air Jordan 1 Mid Purple",
        "--label",
        new,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out);
    assert!(
        stderr.contains("0 photos added, 2 already enrolled") && stderr.contains("29 photos of 7 products"),
        "{stderr}"
    );
}

#[test]
fn searching_without_a_gallery_or_a_readable_photo_fails_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("nothing");
    let photo = tmp.path().join("photo.jpg");
    std::fs::write(&photo, b"not an image").unwrap();
    let out = gallery(&["search", "--gallery", missing.to_str().unwrap(), photo.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no gallery here"), "{stderr}");

    let out = gallery(&["search", photo.to_str().unwrap()]);
    assert!(!out.status.success(), "--model or --gallery is required");
}

#[test]
fn a_truncated_photo_is_counted_and_never_enrolled() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let product = tmp.path().join("catalog/test_runner");
    std::fs::create_dir_all(&product).unwrap();
    common::jpeg_and_truncated_copy(&product);
    let dir = tmp.path().join("gallery");
    let catalog = tmp.path().join("catalog");
    let out = gallery(&["build", "--gallery", dir.to_str().unwrap(), "--data", catalog.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out);
    assert!(stderr.contains("cut.jpg") && stderr.contains("corrupt or truncated"), "{stderr}");
    assert!(stderr.contains("1 photos added, 0 already enrolled, 1 failed; 1 photos of 1 products"), "{stderr}");
}
