//! HNSW against exact search on real photo embeddings, to set where the gallery switches.
//!
//! `cargo run --release -p sneaker-gallery --example recall_real -- SIZES GALLERY_DIR...`
//!
//! The galleries (`sneaker-id gallery build --data SET`, one per photo set) give the real
//! vectors. Every 10th is held out as a query ("a new photo"); the others are indexed. For each
//! size in SIZES (comma-separated; 0 = the real vectors alone) the index is then filled up to that
//! size with clustered synthetic vectors: noisy copies (cosine ≈ 0.9) of the real ones, as more
//! photos of similar products would be. Queries: the held-out real vectors, and noisy copies
//! (cosine ≈ 0.8) of indexed real vectors. Prints one JSON line per size: HNSW recall@10 against
//! exact search and single-query latency p50 of both.

use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sneaker_gallery::{ExactIndex, Gallery, GalleryConfig, HnswConfig, HnswIndex, VectorIndex};

mod common;
use common::{near, recall, time_queries};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: recall_real SIZES GALLERY_DIR...";
    let sizes: Vec<usize> = args.first().expect(usage).split(',').map(|s| s.parse().expect(usage)).collect();
    let mut real: Vec<Vec<f32>> = Vec::new();
    for dir in &args[1..] {
        let g = Gallery::open(&PathBuf::from(dir), None, GalleryConfig::default()).expect("a gallery folder");
        real.extend((0..g.len()).map(|i| g.exact().row(i).expect("row in range").to_vec()));
    }
    let dim = real.first().expect("at least one vector").len();
    let (held, kept): (Vec<_>, Vec<_>) = real.iter().enumerate().partition(|(i, _)| i % 10 == 0);
    let held: Vec<Vec<f32>> = held.into_iter().map(|(_, v)| v.clone()).collect();
    let kept: Vec<&Vec<f32>> = kept.into_iter().map(|(_, v)| v).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let near_q: Vec<Vec<f32>> = (0..held.len())
        .map(|_| {
            let base = kept[rng.random_range(0..kept.len())];
            near(&mut rng, base, 0.8)
        })
        .collect();
    for &size in &sizes {
        let mut exact = ExactIndex::new(dim);
        let total = size.max(kept.len());
        exact.reserve(total);
        for (id, v) in kept.iter().enumerate() {
            exact.add(id as u64, v).expect("add");
        }
        for id in kept.len()..total {
            let base = kept[rng.random_range(0..kept.len())];
            exact.add(id as u64, &near(&mut rng, base, 0.9)).expect("add");
        }
        let t = Instant::now();
        let hnsw = HnswIndex::from_exact(&exact, HnswConfig::default()).expect("hnsw build");
        let build_s = t.elapsed().as_secs_f64();
        let (e_held, _, truth_held) = time_queries(&exact, &held);
        let (_, _, truth_near) = time_queries(&exact, &near_q);
        let (h_held, _, got_held) = time_queries(&hnsw, &held);
        let (_, _, got_near) = time_queries(&hnsw, &near_q);
        let line = serde_json::json!({
            "n": total, "real": kept.len(), "dim": dim, "queries": held.len(),
            "recall10_new_photos": recall(&truth_held, &got_held),
            "recall10_noisy_copies": recall(&truth_near, &got_near),
            "exact_p50_ms": e_held, "hnsw_p50_ms": h_held, "hnsw_build_s": build_s,
        });
        println!("{line}");
    }
}
