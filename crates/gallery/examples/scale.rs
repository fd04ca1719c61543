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
use sneaker_gallery::{ExactIndex, HnswConfig, HnswIndex, VectorIndex, l2_normalise};

fn random_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    l2_normalise(&mut v).expect("random vector is non-zero");
    v
}

/// `base` tilted towards a random direction so that cos(result, base) ≈ `cos`.
fn near(rng: &mut impl Rng, base: &[f32], cos: f32) -> Vec<f32> {
    let noise = random_unit(rng, base.len());
    let sin = (1.0 - cos * cos).sqrt();
    let mut v: Vec<f32> = base.iter().zip(&noise).map(|(b, n)| cos * b + sin * n).collect();
    l2_normalise(&mut v).expect("non-zero");
    v
}

/// Resident set size of this process, in MiB, from /proc (Linux).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    let i = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms[i]
}

/// p50 and p99 of single-query latency in milliseconds, and the ids each query returned.
fn time_queries(index: &dyn VectorIndex, queries: &[Vec<f32>]) -> (f64, f64, Vec<Vec<u64>>) {
    let mut ms = Vec::with_capacity(queries.len());
    let mut ids = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        let hits = index.search(q, 10).expect("search");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        ids.push(hits.into_iter().map(|h| h.id).collect());
    }
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99), ids)
}

fn recall(truth: &[Vec<u64>], got: &[Vec<u64>]) -> f64 {
    let found: usize = truth.iter().zip(got).map(|(t, g)| g.iter().filter(|id| t.contains(id)).count()).sum();
    found as f64 / truth.iter().map(Vec::len).sum::<usize>() as f64
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
