//! Tiny generated data for the CLI's tests: small enough to train on in seconds.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod server;

pub const LABELS: [&str; 3] = ["blue_runner", "green_court", "red_high"];

/// Runs the real `sneaker-id` binary with its cache in `cache`.
pub fn run(args: &[&str], cache: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sneaker-id"))
        .args(args)
        .env("SNEAKER_ID_CACHE", cache)
        .output()
        .expect("the sneaker-id binary should start")
}

/// Its stdout, after checking it succeeded (`what` names it in the failure).
pub fn ok(out: std::process::Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}
pub const VIEWS: u32 = 8;

/// A coloured "shoe" on white, shifted by `shift` pixels; `colour` picks one of a few hues.
pub fn shoe(colour: usize, shift: u32) -> image::RgbImage {
    let mut img = image::RgbImage::from_pixel(64, 48, image::Rgb([250, 250, 250]));
    let rgb = [(colour * 110 % 256) as u8, (60 + colour * 70 % 190) as u8, (220 - colour * 90 % 220) as u8];
    for y in 14..34 {
        for x in (6 + shift)..(36 + shift) {
            img.put_pixel(x, y, image::Rgb(rgb));
        }
    }
    img
}

/// A scraped-layout catalog (`images.csv` + `images/<label>/imgNN.png` spins) of `labels`, each
/// label its own colour (`first_colour` onwards), shifted per spin view.
pub fn scraped_catalog(dir: &Path, labels: &[&str], first_colour: usize) {
    let mut rows = Vec::new();
    for (li, label) in labels.iter().enumerate() {
        std::fs::create_dir_all(dir.join("images").join(label)).unwrap();
        for view in 1..=VIEWS {
            let file = format!("images/{label}/img{view:02}.png");
            shoe(first_colour + li, view * 3).save(dir.join(&file)).unwrap();
            let angle = Some((view - 1) as f32 * 10.0);
            rows.push(sneaker_catalog::ImageRecord {
                file,
                label: (*label).into(),
                view: Some(view),
                angle,
                ..Default::default()
            });
        }
    }
    sneaker_catalog::write_images(dir, &rows).unwrap();
}

/// `good.jpg` and `cut.jpg` in `dir`: a JPEG and a copy truncated to a third of its bytes, which a
/// lenient decoder would fill with grey and accept.
pub fn jpeg_and_truncated_copy(dir: &Path) -> (PathBuf, PathBuf) {
    let good = dir.join("good.jpg");
    image::RgbImage::from_fn(160, 120, |x, y| image::Rgb([(x * 3) as u8, (y * 2) as u8, ((x + y) % 256) as u8]))
        .save(&good)
        .expect("encode a JPEG");
    let bytes = std::fs::read(&good).expect("read it back");
    let cut = dir.join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).expect("write the truncated copy");
    (good, cut)
}
