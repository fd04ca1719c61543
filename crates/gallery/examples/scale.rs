//! Gallery scale benchmark: exact vs HNSW search over synthetic unit vectors.
//!
//! `cargo run --release -p sneaker-gallery --example scale -- N [DIM] [QUERIES] [exact|hnsw|both]`
//! prints one JSON line: build seconds, query latency p50/p99 (one query at a time, k = 10),
//! resident memory after the build, and HNSW recall@10 against exact search for two kinds of
//! query: uniform random directions (a worst case: nothing is near anything) and noisy copies of
//! stored vectors at cosine ≈ 0.8 (a new photo of an enrolled product). Run one size per process
//! so the memory figures do not mix (BENCHMARKS.md › Gallery has the loop that makes the table).

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sneaker_gallery::{ExactIndex, HnswConfig, HnswIndex, VectorIndex};

mod common;
use common::{near, random_unit, recall, time_queries};

/// Resident set size of this process, in MiB, from /proc (Linux).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).expect("usage: scale N [DIM] [QUERIES] [exact|hnsw|both]");
    let dim: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1280);
    let nq: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200);
    let kind = args.get(3).map_or("both", String::as_str);

    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let rss_empty = rss_mib();
    let t = Instant::now();
    let mut exact = ExactIndex::new(dim);
    exact.reserve(n);
    for id in 0..n as u64 {
        exact.add(id, &random_unit(&mut rng, dim)).expect("add");
    }
    let exact_build = t.elapsed().as_secs_f64();
    let rss_exact = rss_mib() - rss_empty;
    let random_q: Vec<Vec<f32>> = (0..nq).map(|_| random_unit(&mut rng, dim)).collect();
    let near_q: Vec<Vec<f32>> = (0..nq)
        .map(|_| {
            let row = rng.random_range(0..n);
            near(&mut rng, exact.row(row).expect("row in range"), 0.8)
        })
        .collect();
    let (e50, e99, truth_random) = time_queries(&exact, &random_q);
    let (_, _, truth_near) = time_queries(&exact, &near_q);
    let mut line = serde_json::json!({
        "n": n, "dim": dim, "queries": nq, "threads": rayon::current_num_threads(),
        "exact": {"build_s": exact_build, "p50_ms": e50, "p99_ms": e99, "rss_mib": rss_exact},
    });
    if kind != "exact" {
        let before = rss_mib();
        let t = Instant::now();
        let hnsw = HnswIndex::from_exact(&exact, HnswConfig::default()).expect("hnsw build");
        let build = t.elapsed().as_secs_f64();
        let rss = rss_mib() - before;
        let (h50, h99, got_random) = time_queries(&hnsw, &random_q);
        let (n50, n99, got_near) = time_queries(&hnsw, &near_q);
        line["hnsw"] = serde_json::json!({
            "build_s": build, "p50_ms": h50, "p99_ms": h99, "near_p50_ms": n50, "near_p99_ms": n99,
            "rss_mib": rss, "usearch_mib": hnsw.memory_usage() as f64 / 1048576.0,
            "recall10_random": recall(&truth_random, &got_random),
            "recall10_near": recall(&truth_near, &got_near),
        });
    }
    println!("{line}");
}
