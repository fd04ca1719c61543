//! The files of a run folder, named once: `sneaker-id train` writes them; predict, evaluate,
//! calibrate, gallery and serve read them.

/// The exported classifier graph (input `input`; outputs `probs` and, for runs on the pretrained
/// backbone, `features`).
pub const MODEL: &str = "model.onnx";
/// Label names, in the order of the graph's `probs`.
pub const LABELS: &str = "labels.json";
/// Labels of the extra catalogs left out of training (a JSON array like `labels.json`; the seed
/// that drew them is in `config.json`): products to evaluate as never seen.
pub const HELD_OUT: &str = "held_out.json";
/// The training configuration the run was made with.
pub const CONFIG: &str = "config.json";
/// What training measured, with the run's id, creation time and catalog.
pub const SUMMARY: &str = "summary.json";
/// Trained weights (safetensors).
pub const WEIGHTS: &str = "weights.safetensors";
/// Per-epoch loss and accuracy.
pub const METRICS: &str = "metrics.csv";
/// The per-epoch curves as a chart.
pub const CURVES: &str = "curves.png";
/// Where an interrupted training resumes from; removed once training finishes.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
/// Calibrated open-set thresholds and fusion settings (`sneaker-id calibrate`).
pub const OPEN_SET: &str = "open_set.json";
/// The run's gallery folder.
pub const GALLERY_DIR: &str = "gallery";
/// `eval/<set>/` folders written by `sneaker-id evaluate`.
pub const EVAL_DIR: &str = "eval";
/// An evaluation's numbers, in its `eval/<set>/` folder.
pub const SCORES: &str = "scores.json";
/// The run's manifest ([`crate::run::RunManifest`]): labels, input size, graph outputs, embedding,
/// when it was made, from which catalog, what it measured.
pub const MANIFEST: &str = "run.json";
