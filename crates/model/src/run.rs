//! A run folder and its manifest, `run.json`: what `sneaker-id train` leaves and everything else
//! reads (predict, evaluate, calibrate, gallery, serve), so no reader re-derives a fact from file
//! names, modification times or by opening the graph.
//!
//! Folders written before the manifest existed still open: their facts are gathered once from
//! `labels.json`, `summary.json`/`config.json` and the graph itself (see [`Run::open`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::assets::Assets;
use crate::efficientnet_lite::FEATURES;
use crate::error::{ModelError, Result};
use crate::run_layout;
use crate::runtime::{Runtime, Session};

/// Version of the manifest's layout; a reader refuses a newer one rather than misread it.
pub const MANIFEST_FORMAT: u32 = 1;

/// Output of every run's graph: class probabilities `[N, M]`.
pub const PROBS: &str = "probs";

/// Where a run's gallery embeddings come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddingSource {
    /// The run's own graph has a `features` output (bottleneck, finetune): its tuned backbone.
    Run,
    /// The graph has none (scratch CNN, random baseline): the pretrained ImageNet backbone.
    Pretrained,
}

/// The embedding a run's gallery must be built with, named by a digest of the graph that makes
/// it: a gallery is refused when searched with vectors of any other network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Embedding {
    pub source: EmbeddingSource,
    pub model_id: String,
    /// Width of the vectors (1280 for pooled backbone features, less for a trained embedding).
    /// Manifests written before trained embeddings existed have none: they are 1280 wide.
    #[serde(default = "pooled_width")]
    pub dim: usize,
}

fn pooled_width() -> usize {
    crate::efficientnet_lite::FEATURE_DIM
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub format: u32,
    /// Names the run in `GET /api/v1/model`: folder name and creation time.
    pub run_id: String,
    /// When training finished, RFC 3339 (UTC).
    pub created: String,
    /// Model kind: `random`, `scratch`, `bottleneck` or `finetune`.
    pub kind: String,
    /// Label names, in the order of the graph's `probs` columns.
    pub labels: Vec<String>,
    /// Side of the square images the graph takes.
    pub input_size: u32,
    /// The graph's output names (`probs`, and `features` when it can embed by itself).
    pub outputs: Vec<String>,
    pub embedding: Embedding,
    /// The catalog trained on (its `products.csv` describes the labels), if known.
    pub catalog: Option<PathBuf>,
    /// Validation numbers of the kept epoch: `val_top1`, `val_top5`, `val_log_loss`, ...
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// An opened run folder.
#[derive(Debug, Clone)]
pub struct Run {
    dir: PathBuf,
    manifest: RunManifest,
}

/// What training knows about a finished run; [`Run::create`] adds what the graph says.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run_id: String,
    pub created: String,
    pub kind: String,
    pub labels: Vec<String>,
    pub input_size: u32,
    pub catalog: Option<PathBuf>,
    pub metrics: BTreeMap<String, f64>,
}

impl Run {
    /// Writes the manifest of the run in `dir`, whose `model.onnx` is already written: its
    /// outputs are read from the graph and its embedding named by digest.
    pub fn create(assets: &Assets, dir: &Path, facts: NewRun) -> Result<Run> {
        let model_path = dir.join(run_layout::MODEL);
        let outputs = graph_outputs(&model_path)?;
        if !outputs.iter().any(|o| o == PROBS) {
            return Err(ModelError::Mismatch(format!(
                "{}: the graph has no `{PROBS}` output (outputs: {outputs:?})",
                model_path.display()
            )));
        }
        let manifest = RunManifest {
            format: MANIFEST_FORMAT,
            run_id: facts.run_id,
            created: facts.created,
            kind: facts.kind,
            labels: facts.labels,
            input_size: facts.input_size,
            embedding: embedding_for(assets, &model_path, &outputs)?,
            outputs,
            catalog: facts.catalog,
            metrics: facts.metrics,
        };
        Run::write(dir, &manifest)
    }

    /// Opens `dir`: its `run.json`, or for a folder written before manifests, the same facts
    /// gathered from its older files. Fails naming the folder when it is not a run at all.
    pub fn open(assets: &Assets, dir: &Path) -> Result<Run> {
        let path = dir.join(run_layout::MANIFEST);
        let manifest = match std::fs::read(&path) {
            Ok(bytes) => parse_manifest(&path, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => legacy_manifest(assets, dir)?,
            Err(source) => return Err(ModelError::Io { path, source }),
        };
        Ok(Run { dir: dir.to_owned(), manifest })
    }

    /// Writes `manifest` into `dir` atomically; the last step of training.
    pub fn write(dir: &Path, manifest: &RunManifest) -> Result<Run> {
        let path = dir.join(run_layout::MANIFEST);
        let bytes = serde_json::to_vec_pretty(manifest).expect("plain data serialises");
        sneaker_files::write_atomic(&path, &bytes).map_err(|source| ModelError::Io { path, source })?;
        Ok(Run { dir: dir.to_owned(), manifest: manifest.clone() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file of the run folder, by its `run_layout` name.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn manifest(&self) -> &RunManifest {
        &self.manifest
    }

    pub fn labels(&self) -> &[String] {
        &self.manifest.labels
    }

    /// The id galleries built for this run carry.
    pub fn embedding_id(&self) -> &str {
        &self.manifest.embedding.model_id
    }

    /// The catalog trained on, resolved against the run folder when stored relative.
    pub fn catalog(&self) -> Option<PathBuf> {
        let c = self.manifest.catalog.as_ref()?;
        Some(if c.is_absolute() { c.clone() } else { self.dir.join(c) })
    }
}

fn parse_manifest(path: &Path, bytes: &[u8]) -> Result<RunManifest> {
    let bad = |detail: String| ModelError::BadWeights { path: path.to_owned(), detail };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    let format = value.get("format").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if format > u64::from(MANIFEST_FORMAT) {
        return Err(bad(format!(
            "manifest format {format} is newer than this sneaker-id reads ({MANIFEST_FORMAT}); update sneaker-id"
        )));
    }
    let manifest: RunManifest = serde_json::from_value(value).map_err(|e| bad(format!("not a run manifest: {e}")))?;
    if manifest.labels.is_empty() {
        return Err(bad("the run has no labels".into()));
    }
    Ok(manifest)
}

/// Output names of the ONNX graph at `path`, read from the file (no runtime needed).
pub fn graph_outputs(path: &Path) -> Result<Vec<String>> {
    Ok(graph_output_infos(path)?.into_iter().filter_map(|o| o.name).collect())
}

fn graph_output_infos(path: &Path) -> Result<Vec<crate::onnx_proto::ValueInfoProto>> {
    use prost::Message;
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: path.to_owned(), source })?;
    let model = crate::onnx_proto::ModelProto::decode(bytes.as_slice())
        .map_err(|e| ModelError::BadWeights { path: path.to_owned(), detail: format!("not an ONNX graph: {e}") })?;
    Ok(model.graph.map(|g| g.output).unwrap_or_default())
}

/// The fixed last dimension of the graph output `name` (`[N, D]` → D), when the graph says.
pub fn graph_output_width(path: &Path, name: &str) -> Result<Option<usize>> {
    use crate::onnx_proto::{tensor_shape_proto::dimension::Value, type_proto};
    let infos = graph_output_infos(path)?;
    let Some(info) = infos.iter().find(|o| o.name.as_deref() == Some(name)) else { return Ok(None) };
    let Some(type_proto::Value::TensorType(t)) = info.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Ok(None);
    };
    Ok(match t.shape.as_ref().and_then(|s| s.dim.last()).and_then(|d| d.value.as_ref()) {
        Some(Value::DimValue(v)) if *v > 0 => Some(*v as usize),
        _ => None,
    })
}

/// Reads a run's `labels.json`: a non-empty JSON array of strings.
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io { path: path.to_owned(), source })?;
    let labels: Vec<String> = serde_json::from_str(&text).map_err(|e| ModelError::BadWeights {
        path: path.to_owned(),
        detail: format!("not a JSON array of labels: {e}"),
    })?;
    if labels.is_empty() {
        return Err(ModelError::BadWeights { path: path.to_owned(), detail: "no labels".into() });
    }
    Ok(labels)
}

/// The embedding a graph with these `outputs` at `model_path` gives.
pub fn embedding_for(assets: &Assets, model_path: &Path, outputs: &[String]) -> Result<Embedding> {
    Ok(if outputs.iter().any(|o| o == FEATURES) {
        Embedding {
            source: EmbeddingSource::Run,
            model_id: format!("run-model@{}", file_digest(model_path)?),
            dim: graph_output_width(model_path, FEATURES)?.unwrap_or_else(pooled_width),
        }
    } else {
        Embedding {
            source: EmbeddingSource::Pretrained,
            model_id: pretrained_embedding_id(assets)?,
            dim: pooled_width(),
        }
    })
}

/// The id of the pretrained backbone's embedding (what a gallery without a run is built with).
pub fn pretrained_embedding_id(assets: &Assets) -> Result<String> {
    Ok(format!("efficientnet-lite0-imagenet@{}", file_digest(&assets.backbone_onnx()?)?))
}

/// First 16 hex digits of a file's SHA-256: enough to tell graphs apart, short enough to read.
pub fn file_digest(path: &Path) -> Result<String> {
    let io = |source| ModelError::Io { path: path.to_owned(), source };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

/// The fields of an old `summary.json` / `config.json` a manifest needs; others are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LegacyFacts {
    run_id: Option<String>,
    created: Option<String>,
    data: Option<PathBuf>,
    model: Option<serde_json::Value>,
    val_top1: Option<f64>,
    val_top5: Option<f64>,
    val_log_loss: Option<f64>,
}

fn read_legacy(path: &Path) -> Result<LegacyFacts> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ModelError::BadWeights { path: path.to_owned(), detail: format!("not readable JSON: {e}") }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LegacyFacts::default()),
        Err(source) => Err(ModelError::Io { path: path.to_owned(), source }),
    }
}

/// A manifest for a folder trained before `run.json` existed.
fn legacy_manifest(assets: &Assets, dir: &Path) -> Result<RunManifest> {
    let labels_path = dir.join(run_layout::LABELS);
    if !labels_path.is_file() {
        return Err(ModelError::Io {
            path: dir.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("not a run folder: it has neither {} nor {}", run_layout::MANIFEST, run_layout::LABELS),
            ),
        });
    }
    let labels = read_labels(&labels_path)?;
    let model_path = dir.join(run_layout::MODEL);
    let session = Session::from_file(&Runtime::from_assets(assets)?, &model_path)?;
    let outputs = session.output_names().to_vec();
    let input_size = session.image_size() as u32;
    let embedding = embedding_for(assets, &model_path, &outputs)?;
    let summary = read_legacy(&dir.join(run_layout::SUMMARY))?;
    let config = read_legacy(&dir.join(run_layout::CONFIG))?;
    let run_id = summary
        .run_id
        .or(config.run_id)
        .filter(|id| !id.is_empty())
        .or_else(|| dir.canonicalize().ok()?.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "run".into());
    let created = summary.created.or(config.created).filter(|c| !c.is_empty()).or_else(|| {
        let modified = std::fs::metadata(&model_path).ok()?.modified().ok()?;
        Some(humantime::format_rfc3339_seconds(modified).to_string())
    });
    let kind = summary.model.or(config.model).and_then(|m| m.as_str().map(str::to_owned)).unwrap_or_default();
    let metrics =
        [("val_top1", summary.val_top1), ("val_top5", summary.val_top5), ("val_log_loss", summary.val_log_loss)]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v.filter(|v| v.is_finite())?)))
            .collect();
    tracing::debug!(run = %dir.display(), "no {}: facts read from the older run files", run_layout::MANIFEST);
    Ok(RunManifest {
        format: MANIFEST_FORMAT,
        run_id,
        created: created.unwrap_or_default(),
        kind,
        labels,
        input_size,
        outputs,
        embedding,
        catalog: summary.data.or(config.data),
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> RunManifest {
        RunManifest {
            format: MANIFEST_FORMAT,
            run_id: "r-1".into(),
            created: "2026-12-03T10:00:00Z".into(),
            kind: "bottleneck".into(),
            labels: vec!["a".into(), "b".into()],
            input_size: 224,
            outputs: vec![PROBS.into(), FEATURES.into()],
            embedding: Embedding { source: EmbeddingSource::Run, model_id: "run-model@0123".into(), dim: 1280 },
            catalog: Some("../catalog".into()),
            metrics: BTreeMap::from([("val_top1".into(), 0.5)]),
        }
    }

    #[test]
    fn manifest_round_trips_and_resolves_the_catalog() {
        let dir = tempfile::tempdir().expect("tempdir");
        Run::write(dir.path(), &manifest()).expect("written");
        let assets = Assets::locate().expect("assets present (run `make assets`)");
        let run = Run::open(&assets, dir.path()).expect("opens without touching the graph");
        assert_eq!(run.manifest(), &manifest());
        assert_eq!(run.embedding_id(), "run-model@0123");
        assert_eq!(run.catalog(), Some(dir.path().join("../catalog")));
    }

    #[test]
    fn newer_or_broken_manifests_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let assets = Assets::locate().expect("assets present (run `make assets`)");
        let path = dir.path().join(run_layout::MANIFEST);
        let mut newer = serde_json::to_value(manifest()).expect("json");
        newer["format"] = (MANIFEST_FORMAT + 1).into();
        std::fs::write(&path, newer.to_string()).expect("write");
        let err = Run::open(&assets, dir.path()).expect_err("newer format").to_string();
        assert!(err.contains("newer") && err.contains("run.json"), "{err}");
        std::fs::write(&path, "{\"format\": 1}").expect("write");
        let err = Run::open(&assets, dir.path()).expect_err("fields missing").to_string();
        assert!(err.contains("not a run manifest"), "{err}");
    }

    #[test]
    fn read_labels_rejects_bad_files_with_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.json");
        std::fs::write(&path, "{\"a\": 1}").expect("write");
        let err = read_labels(&path).expect_err("an object is not a label list").to_string();
        assert!(err.contains("labels.json"), "{err}");
        std::fs::write(&path, "[]").expect("write");
        assert!(read_labels(&path).is_err());
        std::fs::write(&path, "[\"nike_dunk_low\", \"adidas_samba\"]").expect("write");
        assert_eq!(read_labels(&path).expect("valid"), vec!["nike_dunk_low", "adidas_samba"]);
    }

    #[test]
    fn a_folder_that_is_no_run_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let assets = Assets::locate().expect("assets present (run `make assets`)");
        let err = Run::open(&assets, dir.path()).expect_err("empty folder").to_string();
        assert!(err.contains("not a run folder"), "{err}");
    }
}
