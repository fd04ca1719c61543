//! Activations of a frozen network (pooled features, or the output of block N) for every
//! (image, augmentation draw), computed once by ONNX Runtime and cached on disk.
//!
//! Cache key: extractor id (weights + cut point) / augmentation switches + seed / image sha256 /
//! draw. Changing any of them computes new entries; nothing stale is ever read.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::augment::Augmenter;
use crate::dataset::Dataset;
use crate::error::{Result, TrainError};

/// A frozen network that turns normalised input tensors into activations.
pub trait Extractor {
    /// Stable identity of weights, cut point and preprocessing; part of the cache key.
    fn id(&self) -> String;
    /// Values per image in the output.
    fn dim(&self) -> usize;
    /// `input` holds `n` CHW tensors of `3 × input_size²` floats; returns `n × dim`.
    fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>>;
    /// Side of the square images the model takes (a scratch run may be trained smaller).
    fn input_size(&self) -> u32 {
        sneaker_vision::INPUT_SIZE
    }
}

/// Activations of a set of (sample, draw) pairs, row-major `[rows, dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    pub dim: usize,
    pub values: Vec<f32>,
    /// Per row: index into `Dataset::samples`.
    pub sample: Vec<usize>,
    /// Per row: augmentation draw (0 = plain).
    pub draw: Vec<usize>,
}

impl FeatureTable {
    pub fn rows(&self) -> usize {
        self.sample.len()
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.dim..(r + 1) * self.dim]
    }
}

impl FeatureTable {
    /// The tables side by side, row r of the result being row r of each: features of several
    /// backbones over the same (sample, draw) rows, concatenated in `tables`' order.
    pub fn concat(tables: &[FeatureTable]) -> Result<FeatureTable> {
        let Some(first) = tables.first() else {
            return Err(TrainError::Config("no feature tables to concatenate".into()));
        };
        if tables.iter().any(|t| t.sample != first.sample || t.draw != first.draw) {
            return Err(TrainError::Config("feature tables of different rows cannot be concatenated".into()));
        }
        let dim = tables.iter().map(|t| t.dim).sum();
        let mut values = Vec::with_capacity(first.rows() * dim);
        for r in 0..first.rows() {
            for t in tables {
                values.extend_from_slice(t.row(r));
            }
        }
        Ok(FeatureTable { dim, values, sample: first.sample.clone(), draw: first.draw.clone() })
    }
}

/// Statistics of one extraction pass, for logs and BENCHMARKS.md.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExtractStats {
    pub cached: usize,
    pub computed: usize,
    pub seconds: f64,
}

/// Default cache location: `$SNEAKER_ID_CACHE` or `~/.cache/sneaker-id`, then `features/`.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("SNEAKER_ID_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/sneaker-id")))
        .unwrap_or_else(|| std::env::temp_dir().join("sneaker-id"));
    base.join("features")
}

struct Job {
    sample: usize,
    draw: usize,
    path: PathBuf,
}

fn entry_path(dir: &Path, sha: &str, draw: usize) -> PathBuf {
    dir.join(&sha[..2]).join(format!("{sha}-d{draw}.f32"))
}

fn read_entry(path: &Path, dim: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    // A short file (crash mid-write on a filesystem without rename atomicity) is recomputed.
    (bytes.len() == dim * 4)
        .then(|| bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

fn write_entry(path: &Path, values: &[f32]) -> Result<()> {
    let dir = path.parent().expect("cache entries live in a shard folder");
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    // Temp file + rename: a crash leaves no half entry under the final name. No fsync: a lost
    // entry is only recomputed, and fsync per file would dominate the run.
    sneaker_files::write_unsynced(path, &bytes).map_err(|e| TrainError::io(path, e))
}

/// sha256 of every sample file, hex (computed in parallel).
pub fn hash_samples(data: &Dataset, which: &[usize]) -> Result<Vec<String>> {
    which
        .par_iter()
        .map(|&i| {
            let p = &data.samples[i].path;
            let bytes = std::fs::read(p).map_err(|e| TrainError::io(p, e))?;
            Ok(hex::encode(Sha256::digest(&bytes)))
        })
        .collect()
}

/// Activations for `samples` × `draws` (draw 0 only for validation/evaluation sets).
///
/// Cached entries are read; the rest are decoded, augmented, batched and run through
/// `extractor`, `batch` images at a time. `progress(done, total)` follows the work.
#[allow(clippy::too_many_arguments)]
pub fn extract(
    data: &Dataset,
    samples: &[usize],
    draws: usize,
    augmenter: &Augmenter,
    seed: u64,
    extractor: &mut dyn Extractor,
    cache_root: &Path,
    batch: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(FeatureTable, ExtractStats)> {
    let started = Instant::now();
    let dim = extractor.dim();
    let dir = cache_root.join(extractor.id()).join(format!("{}-s{seed}-{}", augmenter.cfg.key(), augmenter.size));
    let shas = hash_samples(data, samples)?;
    let total = samples.len() * draws;
    let mut table = FeatureTable {
        dim,
        values: vec![0.0; total * dim],
        sample: Vec::with_capacity(total),
        draw: Vec::with_capacity(total),
    };
    let mut todo = Vec::new();
    let mut stats = ExtractStats::default();
    for (k, &s) in samples.iter().enumerate() {
        for d in 0..draws {
            let row = table.sample.len();
            table.sample.push(s);
            table.draw.push(d);
            // Draw 0 is the plain image whatever the switches, so share it across augment keys.
            let path = if d == 0 {
                entry_path(&cache_root.join(extractor.id()).join(format!("plain-{}", augmenter.size)), &shas[k], 0)
            } else {
                entry_path(&dir, &shas[k], d)
            };
            match read_entry(&path, dim) {
                Some(v) => {
                    table.values[row * dim..(row + 1) * dim].copy_from_slice(&v);
                    stats.cached += 1;
                }
                None => todo.push((row, k, Job { sample: s, draw: d, path })),
            }
        }
    }
    progress(stats.cached, total);
    let limits = sneaker_vision::DecodeLimits::default();
    for chunk in todo.chunks(batch.max(1)) {
        let inputs: Vec<Vec<f32>> = chunk
            .par_iter()
            .map(|(_, k, job)| {
                let img = sneaker_vision::decode_file(&data.samples[job.sample].path, &limits)?;
                let aug = augmenter.apply(&img, &shas[*k], seed, job.draw);
                Ok(sneaker_vision::to_input_tensor(&aug))
            })
            .collect::<Result<_>>()?;
        let flat: Vec<f32> = inputs.concat();
        let out = extractor.run(&flat, chunk.len())?;
        for (j, (row, _, job)) in chunk.iter().enumerate() {
            let v = &out[j * dim..(j + 1) * dim];
            table.values[row * dim..(row + 1) * dim].copy_from_slice(v);
            write_entry(&job.path, v)?;
        }
        stats.computed += chunk.len();
        progress(stats.cached + stats.computed, total);
    }
    stats.seconds = started.elapsed().as_secs_f64();
    tracing::info!(cached = stats.cached, computed = stats.computed, seconds = stats.seconds, "activations ready");
    Ok((table, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AugmentConfig;
    use crate::dataset::tests::tiny_catalog;

    /// A real (if tiny) extractor: mean of each channel, a function of the pixels only.
    struct ChannelMeans {
        calls: usize,
    }

    impl Extractor for ChannelMeans {
        fn id(&self) -> String {
            "channel-means".into()
        }
        fn dim(&self) -> usize {
            3
        }
        fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>> {
            self.calls += n;
            let plane = sneaker_vision::INPUT_LEN / 3;
            Ok(input.chunks(plane).map(|c| c.iter().sum::<f32>() / plane as f32).take(n * 3).collect())
        }
    }

    #[test]
    fn concatenated_tables_put_each_rows_features_side_by_side() {
        let a = FeatureTable { dim: 2, values: vec![1.0, 2.0, 3.0, 4.0], sample: vec![0, 1], draw: vec![0, 0] };
        let b = FeatureTable { dim: 1, values: vec![9.0, 8.0], sample: vec![0, 1], draw: vec![0, 0] };
        let c = FeatureTable::concat(&[a.clone(), b.clone()]).unwrap();
        assert_eq!((c.dim, c.row(0), c.row(1)), (3, &[1.0, 2.0, 9.0][..], &[3.0, 4.0, 8.0][..]));
        let other = FeatureTable { sample: vec![1, 0], ..b };
        assert!(FeatureTable::concat(&[a, other]).is_err());
        assert!(FeatureTable::concat(&[]).is_err());
    }

    #[test]
    fn second_pass_reads_everything_from_cache() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(&dir.path().join("cat"), &["a", "b"], 3);
        let data = Dataset::open(&dir.path().join("cat"), None).unwrap();
        let aug = Augmenter::new(AugmentConfig::default(), sneaker_vision::INPUT_SIZE);
        let all: Vec<usize> = (0..data.samples.len()).collect();
        let cache = dir.path().join("cache");
        let mut ex = ChannelMeans { calls: 0 };
        let (t1, s1) = extract(&data, &all, 2, &aug, 1, &mut ex, &cache, 4, &mut |_, _| {}).unwrap();
        assert_eq!((s1.cached, s1.computed, ex.calls), (0, 12, 12));
        let (t2, s2) = extract(&data, &all, 2, &aug, 1, &mut ex, &cache, 4, &mut |_, _| {}).unwrap();
        assert_eq!((s2.cached, s2.computed, ex.calls), (12, 0, 12));
        assert_eq!(t1, t2);
        // Draws differ from the plain image; another seed misses the augmented entries only.
        assert_ne!(t1.row(0), t1.row(1));
        let (_, s3) = extract(&data, &all, 2, &aug, 2, &mut ex, &cache, 4, &mut |_, _| {}).unwrap();
        assert_eq!((s3.cached, s3.computed), (6, 6));
    }
}
