//! The run folder: everything a training run leaves behind, under fixed names that `evaluate`,
//! `report`, `predict` and the web server read back.
//!
//! `config.json` (the settings it ran with), `labels.json` (JSON array, index = output column),
//! `weights.safetensors` (trained tensors, PyTorch-style names), `model.onnx` (the whole
//! classifier: input `input` [N,3,224,224] → output `probs` [N,M]), `metrics.csv` (one row per
//! epoch), `curves.png`, `summary.json`, and while training `checkpoint.safetensors`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sneaker_model::{DType, StateDict};

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::fit::EpochRecord;

pub use sneaker_model::run_layout::{
    CHECKPOINT, CONFIG as CONFIG_JSON, CURVES as CURVES_PNG, HELD_OUT as HELD_OUT_JSON, LABELS as LABELS_JSON,
    METRICS as METRICS_CSV, MODEL as MODEL_ONNX, SUMMARY as SUMMARY_JSON, WEIGHTS,
};

/// Facts about a finished run, for `report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Summary {
    /// Names this run in the server's `GET /api/v1/model`: the folder's name and when it was
    /// written (`finetune-20261203T100512Z`).
    #[serde(default)]
    pub run_id: String,
    /// When training finished, RFC 3339 (UTC).
    #[serde(default)]
    pub created: String,
    pub model: String,
    pub data: PathBuf,
    pub classes: usize,
    pub train_images: usize,
    pub val_images: usize,
    /// Photos of the catalog left out because they cannot be decoded (truncated, corrupt).
    #[serde(default)]
    pub skipped_images: usize,
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub val_top1: f64,
    pub val_top5: f64,
    pub val_log_loss: f64,
    /// Seconds computing (or reading cached) frozen activations.
    pub extract_seconds: f64,
    /// Seconds in the training loop.
    pub train_seconds: f64,
    /// Mean training throughput (examples through forward + backward + update per second).
    pub train_images_per_s: f64,
    /// Whole command, wall clock.
    pub wall_seconds: f64,
}

/// Writes `bytes` to `path` so a crash leaves the old file or the new one, never half of one.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    sneaker_files::write_atomic(path, bytes).map_err(|e| TrainError::io(path, e))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("plain data serialises");
    atomic_write(path, text.as_bytes())
}

/// A run folder (created on first write).
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub fn create(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|e| TrainError::io(path, e))?;
        Ok(RunDir { path: path.to_owned() })
    }

    /// An existing run; fails naming the folder when it has no `labels.json`.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join(LABELS_JSON).is_file() {
            return Err(TrainError::Run {
                path: path.to_owned(),
                detail: format!("no {LABELS_JSON}: not a training run folder"),
            });
        }
        Ok(RunDir { path: path.to_owned() })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write_config(&self, cfg: &TrainConfig) -> Result<()> {
        write_json(&self.file(CONFIG_JSON), cfg)
    }

    pub fn config(&self) -> Result<TrainConfig> {
        TrainConfig::from_json_file(&self.file(CONFIG_JSON))
    }

    pub fn write_labels(&self, labels: &[String]) -> Result<()> {
        write_json(&self.file(LABELS_JSON), &labels)
    }

    /// `held_out.json`: the extra catalogs' labels left out of training (the seed is in the config).
    pub fn write_held_out(&self, labels: &[String], seed: u64) -> Result<()> {
        tracing::info!(labels = labels.len(), seed, "labels held out of training listed in {HELD_OUT_JSON}");
        write_json(&self.file(HELD_OUT_JSON), &labels)
    }

    pub fn labels(&self) -> Result<Vec<String>> {
        let p = self.file(LABELS_JSON);
        let text = std::fs::read_to_string(&p).map_err(|e| TrainError::io(&p, e))?;
        serde_json::from_str(&text).map_err(|e| TrainError::parse(&p, e))
    }

    pub fn write_summary(&self, s: &Summary) -> Result<()> {
        write_json(&self.file(SUMMARY_JSON), s)
    }

    pub fn summary(&self) -> Result<Summary> {
        let p = self.file(SUMMARY_JSON);
        let text = std::fs::read_to_string(&p).map_err(|e| TrainError::io(&p, e))?;
        serde_json::from_str(&text).map_err(|e| TrainError::parse(&p, e))
    }

    pub fn write_metrics(&self, history: &[EpochRecord]) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in history {
            w.serialize(r).map_err(|e| TrainError::parse(self.file(METRICS_CSV), e))?;
        }
        let bytes = w.into_inner().map_err(|e| TrainError::parse(self.file(METRICS_CSV), e))?;
        atomic_write(&self.file(METRICS_CSV), &bytes)
    }

    pub fn metrics(&self) -> Result<Vec<EpochRecord>> {
        let p = self.file(METRICS_CSV);
        let mut r = csv::Reader::from_path(&p).map_err(|e| TrainError::parse(&p, e))?;
        r.deserialize().map(|row| row.map_err(|e| TrainError::parse(&p, e))).collect()
    }
}

/// Writes a [`StateDict`] as safetensors, with string `metadata` in the header.
pub fn write_safetensors(path: &Path, dict: &StateDict, metadata: &HashMap<String, String>) -> Result<()> {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = dict
        .iter()
        .map(|(name, t)| {
            let dtype = match t.dtype {
                DType::F32 => safetensors::Dtype::F32,
                DType::I64 => safetensors::Dtype::I64,
            };
            let view = safetensors::tensor::TensorView::new(dtype, t.shape.clone(), &t.data)
                .expect("StateDict tensors hold exactly shape.product() elements");
            (name.clone(), view)
        })
        .collect();
    let bytes = safetensors::serialize(views, Some(metadata.clone())).map_err(|e| TrainError::parse(path, e))?;
    atomic_write(path, &bytes)
}

/// Reads a safetensors file (f32 and i64 tensors) and its metadata.
pub fn read_safetensors(path: &Path) -> Result<(StateDict, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::io(path, e))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| TrainError::parse(path, e))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| TrainError::parse(path, e))?;
    let mut dict = StateDict::new();
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::I64 => DType::I64,
            other => return Err(TrainError::parse(path, format!("tensor {name}: unsupported dtype {other:?}"))),
        };
        dict.insert(name, sneaker_model::Tensor { dtype, shape: view.shape().to_vec(), data: view.data().to_vec() });
    }
    Ok((dict, meta.metadata().clone().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(&dir.path().join("run")).unwrap();
        assert!(RunDir::open(&run.path).is_err(), "no labels yet");
        run.write_labels(&["a".into(), "b".into()]).unwrap();
        assert_eq!(RunDir::open(&run.path).unwrap().labels().unwrap(), vec!["a", "b"]);
        let cfg = TrainConfig { epochs: 3, ..Default::default() };
        run.write_config(&cfg).unwrap();
        assert_eq!(run.config().unwrap(), cfg);
        let rec = EpochRecord {
            epoch: 1,
            lr: 0.1,
            train_loss: 1.0,
            train_acc: 0.5,
            val_loss: 1.2,
            val_top1: 0.4,
            val_top5: 0.8,
            seconds: 2.0,
            train_images_per_s: 100.0,
        };
        run.write_metrics(std::slice::from_ref(&rec)).unwrap();
        assert_eq!(run.metrics().unwrap(), vec![rec]);
        let mut dict = StateDict::new();
        dict.insert("w".into(), sneaker_model::Tensor::from_f32(vec![2, 1], &[1.5, -2.0]));
        let meta = HashMap::from([("model".to_string(), "bottleneck".to_string())]);
        run.write_safetensors_test(&dict, &meta);
        let (back, m) = read_safetensors(&run.file(WEIGHTS)).unwrap();
        assert_eq!(back, dict);
        assert_eq!(m["model"], "bottleneck");
    }

    impl RunDir {
        fn write_safetensors_test(&self, dict: &StateDict, meta: &HashMap<String, String>) {
            write_safetensors(&self.file(WEIGHTS), dict, meta).unwrap();
        }
    }
}
