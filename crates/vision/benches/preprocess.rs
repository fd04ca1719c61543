//! Cost of turning one upload into network input: decode + resize + normalise of an 800-px
//! product JPEG (a packshot from `../shared`, or a generated 800×800 JPEG without it).

use std::hint::black_box;
use std::io::Cursor;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use sneaker_vision::{
    DecodeLimits, INPUT_LEN, INPUT_SIZE, decode_bytes, normalise_into, resize_exact, to_input_tensor,
};

/// First packshot (sorted, so runs compare like with like), else a generated photo-like JPEG.
fn sample_jpeg() -> (String, Vec<u8>) {
    let shared = sneaker_test_support::shared_root();
    let dir = shared.join("datasets/packshots-nike-adidas");
    let mut brands: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    brands.sort();
    for brand in brands {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&brand)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        if let Some(file) = files.iter().find(|p| p.extension().is_some_and(|e| e == "jpg")) {
            let bytes = std::fs::read(file).expect("reading the packshot");
            return (file.display().to_string(), bytes);
        }
    }
    eprintln!("../shared not found: benchmarking a generated 800×800 JPEG");
    let img = RgbImage::from_fn(800, 800, |x, y| Rgb([(x / 4) as u8, (y / 4) as u8, ((x * y) % 251) as u8]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img).write_to(&mut out, ImageFormat::Jpeg).expect("encoding the generated JPEG");
    ("generated-800.jpg".to_owned(), out.into_inner())
}

fn preprocess(c: &mut Criterion) {
    let (name, bytes) = sample_jpeg();
    let limits = DecodeLimits::default();
    let decoded = decode_bytes(&bytes, &name, &limits).expect("sample decodes");
    eprintln!("sample: {name}, {} bytes, {:?} px", bytes.len(), decoded.dimensions());
    let resized = resize_exact(&decoded, INPUT_SIZE, INPUT_SIZE);

    c.bench_function("decode_jpeg", |b| b.iter(|| decode_bytes(black_box(&bytes), &name, &limits).expect("decodes")));
    c.bench_function("resize_to_224", |b| b.iter(|| resize_exact(black_box(&decoded), INPUT_SIZE, INPUT_SIZE)));
    let mut out = vec![0.0f32; INPUT_LEN];
    c.bench_function("normalise_224", |b| b.iter(|| normalise_into(black_box(&resized), &mut out)));
    c.bench_function("decode_resize_normalise", |b| {
        b.iter(|| {
            let img = decode_bytes(black_box(&bytes), &name, &limits).expect("decodes");
            to_input_tensor(&img)
        })
    });
}

criterion_group!(benches, preprocess);
criterion_main!(benches);
