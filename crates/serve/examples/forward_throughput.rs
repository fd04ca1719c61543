//! Bare-network throughput of exactly what the server runs per batch (the shared classifier:
//! backbone, softmax, footwear sum, and the run's graph when RUN is given), for comparing the load
//! benchmark against, or runs of different cost (one backbone against three).
//!
//!   cargo run --release -p sneaker-serve --example forward_throughput -- [BATCH] [SECONDS] [RUN]

use std::time::{Duration, Instant};

use sneaker_model::assets::Assets;
use sneaker_serve::{Classifier, Network};

fn main() {
    let mut args = std::env::args().skip(1);
    let batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let assets = Assets::locate().expect("assets present (run `make assets`)");
    let run = args.next().map(std::path::PathBuf::from);
    let predictor = sneaker_model::predictor::Predictor::open(&assets, run.as_deref()).expect("the network loads");
    let mut net = Network::new(predictor);
    let side = sneaker_vision::INPUT_SIZE as usize;
    let inputs: Vec<Vec<f32>> =
        (0..batch).map(|b| (0..3 * side * side).map(|i| ((i * 7 + b) % 255) as f32 / 127.5 - 1.0).collect()).collect();
    net.classify(&inputs).expect("warm-up batch");
    let started = Instant::now();
    let mut images = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        net.classify(&inputs).expect("batch runs");
        images += batch;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "batch {batch}: {images} images in {elapsed:.1} s = {:.1} images/s ({:.1} ms per batch)",
        images as f64 / elapsed,
        1e3 * elapsed * batch as f64 / images as f64
    );
}
