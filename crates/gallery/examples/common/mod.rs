//! Vectors and scores the gallery benchmarks share.
#![allow(dead_code)] // each example uses part of this

use std::time::Instant;

use rand::Rng;
use sneaker_gallery::{VectorIndex, l2_normalise};

pub fn random_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    l2_normalise(&mut v).expect("random vector is non-zero");
    v
}

/// `base` tilted towards a random direction so that cos(result, base) ≈ `cos`.
pub fn near(rng: &mut impl Rng, base: &[f32], cos: f32) -> Vec<f32> {
    let noise = random_unit(rng, base.len());
    let sin = (1.0 - cos * cos).sqrt();
    let mut v: Vec<f32> = base.iter().zip(&noise).map(|(b, n)| cos * b + sin * n).collect();
    l2_normalise(&mut v).expect("non-zero");
    v
}

/// Share of the exact top-k ids that the approximate search also returned.
pub fn recall(truth: &[Vec<u64>], got: &[Vec<u64>]) -> f64 {
    let found: usize = truth.iter().zip(got).map(|(t, g)| g.iter().filter(|id| t.contains(id)).count()).sum();
    found as f64 / truth.iter().map(Vec::len).sum::<usize>() as f64
}

pub fn percentile(sorted_ms: &[f64], p: f64) -> f64 {
    let i = ((sorted_ms.len() as f64 - 1.0) * p).round() as usize;
    sorted_ms[i]
}

/// p50 and p99 of single-query latency in milliseconds, and the ids each query returned.
pub fn time_queries(index: &dyn VectorIndex, queries: &[Vec<f32>]) -> (f64, f64, Vec<Vec<u64>>) {
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
