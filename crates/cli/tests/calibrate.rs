//! `sneaker-id calibrate` then `predict` end to end, real network and real binary: a gallery of
//! four products, thresholds calibrated on their other photos, photos of other sneakers and
//! generated non-footwear pictures; then a non-shoe picture is answered "not_a_sneaker" and a
//! photo of an enrolled product is named.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const KNOWN: [&str; 4] = ["adidas_alphaboost", "adidas_duramo", "adidas_supernova", "adidas_gazelle_bold"];
fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sneaker-id")).args(args).output().expect("the binary starts");
    assert!(out.status.success(), "{args:?}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).expect("folder").map(|e| e.expect("entry").path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "jpg"));
    files.sort();
    files
}

/// Links `photos` into `to/<label>/` (nothing is copied out of ../shared).
fn link(label: &str, photos: &[PathBuf], to: &Path) {
    std::fs::create_dir_all(to.join(label)).expect("mkdir");
    for p in photos {
        std::os::unix::fs::symlink(p, to.join(label).join(p.file_name().expect("name"))).expect("symlink");
    }
}

#[test]
fn calibrated_thresholds_reject_non_footwear_and_keep_known_products() {
    let Some(shared) = sneaker_test_support::shared("datasets/multiview-products") else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let (enrolled, known, unknown) =
        (tmp.path().join("enrolled"), tmp.path().join("known"), tmp.path().join("unknown"));
    let multiview = shared.join("datasets/multiview-products");
    for label in KNOWN {
        let photos = sorted(&multiview.join(label));
        // Enroll the angled pair, the soles and the top; keep the side view for checking.
        link(label, &[photos[0].clone(), photos[2].clone(), photos[3].clone()], &enrolled);
        link(label, &photos[1..2], &known);
    }
    let packshots = shared.join("datasets/packshots-nike-adidas");
    let mut others: Vec<PathBuf> = std::fs::read_dir(&packshots)
        .expect("packshots")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    others.sort();
    let others = others.iter().filter(|d| !KNOWN.iter().any(|k| d.ends_with(k)) && sorted(d).len() >= 2);
    for dir in others.take(6) {
        let label = dir.file_name().expect("label").to_str().expect("utf-8").to_owned();
        link(&label, &sorted(dir)[..2], &unknown);
    }
    let gallery = tmp.path().join("gallery");
    let g = gallery.to_str().expect("utf-8");
    run(&["gallery", "build", "--gallery", g, "--data", enrolled.to_str().expect("utf-8")]);

    let report: Value = serde_json::from_str(&run(&[
        "calibrate",
        "--gallery",
        g,
        "--known",
        known.to_str().expect("utf-8"),
        "--unknown",
        unknown.to_str().expect("utf-8"),
        "--generated",
        "12",
        "--held-out",
        "0.3",
        "--json",
    ]))
    .expect("one JSON report");
    let fit = &report["calibration"]["calibration"];
    assert_eq!(fit["n_known"].as_u64().unwrap() + report["held_out"]["n_known"].as_u64().unwrap(), 4, "{report}");
    assert!(gallery.join("open_set.json").is_file() && gallery.join("open_set.png").is_file());
    // Generated pictures score almost no footwear; the calibrated threshold must turn them away.
    let nf = fit["not_footwear_rejected"].as_f64().unwrap();
    assert!(nf >= 0.9, "not-footwear rejection {nf}: {report}");

    // predict reads the gallery's calibration: a non-shoe picture is said to be one.
    let sky = tmp.path().join("sky.png");
    image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(90 + y / 4) as u8, (150 + y / 5) as u8, (230 + (x % 20) / 2) as u8])
    })
    .save(&sky)
    .expect("write png");
    let line: Value =
        serde_json::from_str(run(&["predict", "--gallery", g, "--json", sky.to_str().unwrap()]).trim()).expect("JSON");
    assert_eq!(line["verdict"], "not_a_sneaker", "{line}");
    let side = sorted(&multiview.join(KNOWN[1]))[1].clone();
    let line: Value =
        serde_json::from_str(run(&["predict", "--gallery", g, "--json", side.to_str().unwrap()]).trim()).expect("JSON");
    assert_eq!(line["predictions"][0]["label"], KNOWN[1], "{line}");
}
