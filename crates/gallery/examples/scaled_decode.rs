//! What decoding JPEGs at a reduced DCT scale costs in accuracy and saves in time, both decodes
//! in the same run: for each folder of `<label>/<photo>` folders, every photo is embedded from a
//! full decode and from the scaled decode the product uses, and each photo is named by its
//! nearest other photo (leave-one-out 1-NN top-1).
//!
//! Then the time alone on phone-sized JPEGs (the first set's first 20 photos enlarged to
//! 4032×3024 and re-encoded at quality 90), where the saving is largest.
//!
//! `cargo run --release -p sneaker-gallery --example scaled_decode -- DIR...`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sneaker_gallery::Embedder;
use sneaker_model::assets::Assets;
use sneaker_vision::{DecodeLimits, INPUT_SIZE, decode_bytes, decode_bytes_for_input, decode_file, to_input_tensor};

fn label_of(path: &Path) -> String {
    path.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Leave-one-out nearest-neighbour label accuracy.
fn loo_top1(vectors: &[Vec<f32>], labels: &[String]) -> f64 {
    let hits = (0..vectors.len())
        .filter(|&i| {
            let best = (0..vectors.len())
                .filter(|&j| j != i)
                .max_by(|&a, &b| dot(&vectors[i], &vectors[a]).total_cmp(&dot(&vectors[i], &vectors[b])));
            best.is_some_and(|j| labels[j] == labels[i])
        })
        .count();
    hits as f64 / vectors.len() as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        return Err("usage: scaled_decode DIR...".into());
    }
    let mut embedder = Embedder::pretrained(&Assets::locate()?)?;
    let limits = DecodeLimits::default();
    println!(
        "| set | photos | scaled | top-1 full | top-1 scaled | mean cos(full, scaled) | decode+resize ms full | scaled |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for dir in &dirs {
        let photos = sneaker_catalog::images_in(dir)?;
        let labels: Vec<String> = photos.iter().map(|p| label_of(p)).collect();
        let (mut full, mut scaled) = (Vec::new(), Vec::new());
        let (mut t_full, mut t_scaled, mut smaller) = (Duration::ZERO, Duration::ZERO, 0);
        for photo in &photos {
            // Read once: both decodes are timed from memory, not the first one from a cold disk.
            let bytes = std::fs::read(photo)?;
            let name = photo.display().to_string();
            let t = Instant::now();
            let a = decode_bytes(&bytes, &name, &limits)?;
            let ta = to_input_tensor(&a);
            t_full += t.elapsed();
            let t = Instant::now();
            let b = decode_bytes_for_input(&bytes, &name, &limits, INPUT_SIZE)?;
            let tb = to_input_tensor(&b);
            t_scaled += t.elapsed();
            smaller += usize::from(b.dimensions() != a.dimensions());
            let mut out = embedder.embed_tensors(&[ta, tb])?;
            scaled.push(out.pop().expect("two out"));
            full.push(out.pop().expect("two out"));
        }
        let n = photos.len().max(1);
        let cos = full.iter().zip(&scaled).map(|(a, b)| f64::from(dot(a, b))).sum::<f64>() / n as f64;
        println!(
            "| {} | {} | {} | {:.4} | {:.4} | {:.5} | {:.2} | {:.2} |",
            dir.display(),
            photos.len(),
            smaller,
            loo_top1(&full, &labels),
            loo_top1(&scaled, &labels),
            cos,
            t_full.as_secs_f64() * 1e3 / n as f64,
            t_scaled.as_secs_f64() * 1e3 / n as f64,
        );
    }
    phone_sized(&dirs[0], &limits)
}

/// Decode + resize time of 12-Mpx JPEGs, full against scaled.
fn phone_sized(dir: &Path, limits: &DecodeLimits) -> Result<(), Box<dyn std::error::Error>> {
    let mut jpegs = Vec::new();
    for photo in sneaker_catalog::images_in(dir)?.iter().take(20) {
        let big = image::imageops::resize(&decode_file(photo, limits)?, 4032, 3024, image::imageops::Triangle);
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90).encode_image(&big)?;
        jpegs.push(bytes);
    }
    let (mut t_full, mut t_scaled) = (Duration::ZERO, Duration::ZERO);
    for bytes in &jpegs {
        let t = Instant::now();
        to_input_tensor(&decode_bytes(bytes, "phone.jpg", limits)?);
        t_full += t.elapsed();
        let t = Instant::now();
        to_input_tensor(&decode_bytes_for_input(bytes, "phone.jpg", limits, INPUT_SIZE)?);
        t_scaled += t.elapsed();
    }
    let n = jpegs.len().max(1) as f64;
    println!(
        "\n4032×3024 JPEGs ({}): decode+resize {:.1} ms full, {:.1} ms scaled",
        jpegs.len(),
        t_full.as_secs_f64() * 1e3 / n,
        t_scaled.as_secs_f64() * 1e3 / n
    );
    Ok(())
}
