//! ONNX Runtime through `ort`: one process-wide environment loaded from the shipped shared library,
//! sessions over graphs written by this crate, and the EfficientNet-Lite0 backbone on top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::{Array2, ArrayD, ArrayView4, ArrayViewD, Ix2};
use ort::environment::Environment;
use ort::session::Session as OrtSession;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::TensorRef;

use crate::assets::Assets;
use crate::efficientnet_lite::{FEATURE_DIM, FEATURES, IMAGENET_CLASSES, INPUT_SIZE, LOGITS};
use crate::error::{ModelError, Result};

/// `ort` loads the library once per process; a second `init_from` would fail, so the environment
/// is kept here and handed out to every caller.
static ENVIRONMENT: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

/// Handle on the process-wide ONNX Runtime environment. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    env: Environment,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Runtime")
    }
}

impl Runtime {
    /// Loads ONNX Runtime from `library` (e.g. `libonnxruntime.so.1.32.0`) on first call; later
    /// calls return the same environment (a different path is ignored with a warning).
    pub fn init(library: &Path) -> Result<Runtime> {
        let mut slot = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((loaded, env)) = slot.as_ref() {
            if loaded != library {
                tracing::warn!(loaded = %loaded.display(), asked = %library.display(), "ONNX Runtime already loaded from another path");
            }
            return Ok(Runtime { env: env.clone() });
        }
        if !library.is_file() {
            return Err(ModelError::MissingAsset { what: "ONNX Runtime library", path: library.to_owned() });
        }
        let env = ort::init_from(library)
            .map_err(|e| ModelError::Runtime(format!("loading {}: {e}", library.display())))?
            .with_name("sneaker-id")
            .build()?;
        tracing::info!(library = %library.display(), "ONNX Runtime loaded");
        *slot = Some((library.to_owned(), env.clone()));
        Ok(Runtime { env })
    }

    /// The runtime shipped in the asset directory.
    pub fn from_assets(assets: &Assets) -> Result<Runtime> {
        Runtime::init(&assets.runtime_library())
    }

    /// CPU session options: every graph optimisation (`All` ⊇ level 3: fusions plus NCHWc
    /// layout) and the configured intra-op threads.
    fn session_builder(&self, config: &SessionConfig) -> Result<SessionBuilder> {
        let builder = OrtSession::builder(&self.env)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(ort::Error::from)?
            .with_intra_threads(config.intra_threads.max(1))
            .map_err(ort::Error::from)?
            .with_config_entry("session.intra_op.allow_spinning", if config.spin { "1" } else { "0" })
            .map_err(ort::Error::from)?;
        Ok(builder)
    }
}

/// Per-session CPU settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Threads one run may use inside an operator. Default: one per available core; lower it when
    /// several sessions run at once.
    pub intra_threads: usize,
    /// Let idle pool threads spin-wait for work. Off by default: on a small shared machine the
    /// spinning steals the cores that image decoding and other requests need (2 vCPUs under load:
    /// batch-1 wall time 22 ms without spinning, 28–44 ms with).
    pub spin: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { intra_threads: std::thread::available_parallelism().map_or(1, |n| n.get()), spin: false }
    }
}

/// Float32 outputs of one run, by graph output name.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs(pub BTreeMap<String, ArrayD<f32>>);

impl Outputs {
    pub fn get(&self, name: &str) -> Result<&ArrayD<f32>> {
        self.0.get(name).ok_or_else(|| ModelError::Runtime(format!("graph has no output {name:?}")))
    }

    /// Takes output `name` out as a 2-D array (e.g. `[N, 1280]` features).
    pub fn take2(&mut self, name: &str) -> Result<Array2<f32>> {
        let a = self.0.remove(name).ok_or_else(|| ModelError::Runtime(format!("graph has no output {name:?}")))?;
        let shape = a.shape().to_vec();
        a.into_dimensionality::<Ix2>()
            .map_err(|_| ModelError::Runtime(format!("output {name:?} has shape {shape:?}, expected 2-D")))
    }
}

/// One ONNX graph ready to run on the CPU. Has a single float32 input.
pub struct Session {
    inner: OrtSession,
    label: String,
    input_name: String,
    /// Declared input shape; `None` for open dimensions such as the batch.
    input_dims: Vec<Option<usize>>,
    output_names: Vec<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("label", &self.label).field("input_dims", &self.input_dims).finish()
    }
}

impl Session {
    /// A session over serialised ONNX bytes; `label` names it in errors and logs.
    pub fn from_bytes(rt: &Runtime, label: &str, bytes: &[u8]) -> Result<Session> {
        Session::from_bytes_with(rt, label, bytes, &SessionConfig::default())
    }

    pub fn from_bytes_with(rt: &Runtime, label: &str, bytes: &[u8], config: &SessionConfig) -> Result<Session> {
        let inner = rt
            .session_builder(config)?
            .commit_from_memory(bytes)
            .map_err(|e| ModelError::Runtime(format!("{label}: {e}")))?;
        Session::wrap(inner, label.to_owned())
    }

    /// A session over an `.onnx` file.
    pub fn from_file(rt: &Runtime, path: &Path) -> Result<Session> {
        Session::from_file_with(rt, path, &SessionConfig::default())
    }

    pub fn from_file_with(rt: &Runtime, path: &Path, config: &SessionConfig) -> Result<Session> {
        if !path.is_file() {
            return Err(ModelError::Io { path: path.to_owned(), source: std::io::ErrorKind::NotFound.into() });
        }
        let label = path.display().to_string();
        let inner = rt
            .session_builder(config)?
            .commit_from_file(path)
            .map_err(|e| ModelError::Runtime(format!("{label}: {e}")))?;
        Session::wrap(inner, label)
    }

    fn wrap(inner: OrtSession, label: String) -> Result<Session> {
        let [input] = inner.inputs() else {
            return Err(ModelError::Runtime(format!(
                "{label}: expected one graph input, found {}",
                inner.inputs().len()
            )));
        };
        let shape = input
            .dtype()
            .tensor_shape()
            .ok_or_else(|| ModelError::Runtime(format!("{label}: graph input is not a tensor")))?;
        let input_dims = shape.iter().map(|&d| usize::try_from(d).ok()).collect();
        let input_name = input.name().to_owned();
        let output_names = inner.outputs().iter().map(|o| o.name().to_owned()).collect();
        Ok(Session { inner, label, input_name, input_dims, output_names })
    }

    /// Declared input shape, `None` where open (the batch).
    pub fn input_dims(&self) -> &[Option<usize>] {
        &self.input_dims
    }

    /// Side of the square images the graph takes (its last input dimension): 224 for the
    /// backbone and most runs, smaller for a scratch CNN trained at another size.
    pub fn image_size(&self) -> usize {
        self.input_dims.last().copied().flatten().unwrap_or(INPUT_SIZE)
    }

    pub fn output_names(&self) -> &[String] {
        &self.output_names
    }

    /// Runs a 4-D (NCHW) batch.
    pub fn run(&mut self, input: ArrayView4<'_, f32>) -> Result<Outputs> {
        self.run_dyn(input.into_dyn())
    }

    /// Runs an input of any rank; checks it against the declared shape first, so a wrong shape is
    /// an error naming both shapes rather than a failure deep inside the runtime.
    pub fn run_dyn(&mut self, input: ArrayViewD<'_, f32>) -> Result<Outputs> {
        self.check_shape(input.shape())?;
        let contiguous = input.as_standard_layout();
        let tensor = TensorRef::from_array_view(&contiguous)?;
        let outputs = self
            .inner
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| ModelError::Runtime(format!("{}: {e}", self.label)))?;
        let mut named = BTreeMap::new();
        for (name, value) in outputs.iter() {
            let array = value
                .try_extract_array::<f32>()
                .map_err(|e| ModelError::Runtime(format!("{}: output {name}: {e}", self.label)))?;
            named.insert(name.to_owned(), array.to_owned());
        }
        Ok(Outputs(named))
    }

    fn check_shape(&self, shape: &[usize]) -> Result<()> {
        let fits = shape.len() == self.input_dims.len()
            && shape.iter().zip(&self.input_dims).all(|(&got, want)| want.is_none_or(|w| w == got));
        if !fits || shape.first() == Some(&0) {
            let want: Vec<String> =
                self.input_dims.iter().map(|d| d.map_or_else(|| "N".to_owned(), |d| d.to_string())).collect();
            return Err(ModelError::Input(format!(
                "{}: input has shape {shape:?}, the graph takes [{}] with N ≥ 1",
                self.label,
                want.join(", ")
            )));
        }
        Ok(())
    }
}

/// What the backbone gives for a batch of N images.
#[derive(Debug, Clone, PartialEq)]
pub struct BackboneOutput {
    /// `[N, 1280]` pooled features.
    pub features: Array2<f32>,
    /// `[N, 1000]` ImageNet logits (before softmax).
    pub logits: Array2<f32>,
}

/// Pretrained EfficientNet-Lite0 on ONNX Runtime: normalised `[N,3,224,224]` in, features and
/// ImageNet logits out.
#[derive(Debug)]
pub struct Backbone {
    session: Session,
}

impl Backbone {
    /// Builds (once, cached in the asset dir) and loads the backbone graph.
    pub fn load(assets: &Assets) -> Result<Backbone> {
        Backbone::load_with(assets, &SessionConfig::default())
    }

    pub fn load_with(assets: &Assets, config: &SessionConfig) -> Result<Backbone> {
        let rt = Runtime::from_assets(assets)?;
        let path = assets.backbone_onnx()?;
        Ok(Backbone { session: Session::from_file_with(&rt, &path, config)? })
    }

    /// `batch`: `[N, 3, 224, 224]`, values `(pixel/255 - 0.5)/0.5`, RGB.
    pub fn run(&mut self, batch: ArrayView4<'_, f32>) -> Result<BackboneOutput> {
        let (_, c, h, w) = batch.dim();
        if (c, h, w) != (3, INPUT_SIZE, INPUT_SIZE) {
            return Err(ModelError::Input(format!(
                "backbone takes [N, 3, {INPUT_SIZE}, {INPUT_SIZE}] images, got {:?}",
                batch.shape()
            )));
        }
        let mut out = self.session.run(batch)?;
        let features = out.take2(FEATURES)?;
        let logits = out.take2(LOGITS)?;
        debug_assert_eq!((features.ncols(), logits.ncols()), (FEATURE_DIM, IMAGENET_CLASSES));
        Ok(BackboneOutput { features, logits })
    }

    /// The underlying session (for callers that want its declared shapes).
    pub fn session(&self) -> &Session {
        &self.session
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{BATCH, Dim, GraphBuilder, SmallCnn, SmallCnnSpec, Window, encode};
    use ndarray::{Array4, array};

    fn runtime() -> Runtime {
        let assets = Assets::locate().expect("assets present (run `make assets`)");
        Runtime::from_assets(&assets).expect("ONNX Runtime loads")
    }

    fn session(g: GraphBuilder) -> Session {
        Session::from_bytes(&runtime(), "test graph", &encode(&g.finish())).expect("graph is valid")
    }

    #[test]
    fn conv_uses_explicit_asymmetric_pads() {
        // x[i][j] = 4i + j on a 4x4 image, 3x3 all-ones kernel, stride 2, pads (top,left,bottom,right)
        // = (0,0,1,1) as TF "SAME" gives: window sums by hand are 45, 39 / 66, 50. PyTorch-style
        // symmetric (1,1,1,1) padding would give 10, 24 / 51, 90 instead.
        let mut g = GraphBuilder::new("conv");
        let x = g.input("input", &[BATCH, Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(4)]).unwrap();
        let w = g.initializer("w", &[1, 1, 3, 3], &[1.0; 9]).unwrap();
        let win = Window { kernel: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] };
        let y = g.conv(&x, &w, None, win, 1);
        g.output(&y, "y", &[BATCH, Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(2)]).unwrap();
        let input = Array4::from_shape_fn((1, 1, 4, 4), |(_, _, i, j)| (4 * i + j) as f32);
        let out = session(g).run(input.view()).unwrap();
        let y = out.get("y").unwrap();
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), [45.0, 39.0, 66.0, 50.0]);
    }

    #[test]
    fn batch_is_open_and_ops_compose() {
        // relu6(x) + x, pooled per channel, then a 2->1 linear layer w = [1, -1], b = 0.5.
        // Sample 0: channel 0 = [-1, 8] -> [0+-1, 6+8] = [-1, 14] -> mean 6.5; channel 1 = [2, 3] -> [4, 6] -> 5.
        // logit = 6.5 - 5 + 0.5 = 2. Sample 1 is sample 0 times 0 -> logit 0.5.
        let mut g = GraphBuilder::new("chain");
        let x = g.input("input", &[BATCH, Dim::Fixed(2), Dim::Fixed(1), Dim::Fixed(2)]).unwrap();
        let r = g.relu6(&x);
        let s = g.add(&r, &x);
        let p = g.global_average_pool(&s);
        let f = g.flatten(&p, 1);
        let w = g.initializer("w", &[1, 2], &[1.0, -1.0]).unwrap();
        let b = g.initializer("b", &[1], &[0.5]).unwrap();
        let y = g.linear(&f, &w, &b);
        g.output(&y, "y", &[BATCH, Dim::Fixed(1)]).unwrap();
        let mut sess = session(g);
        assert_eq!(sess.input_dims(), [None, Some(2), Some(1), Some(2)]);
        let input = array![[[[-1.0f32, 8.0]], [[2.0, 3.0]]], [[[0.0, 0.0]], [[0.0, 0.0]]]];
        let mut out = sess.run(input.view()).unwrap();
        assert_eq!(out.take2("y").unwrap(), array![[2.0f32], [0.5]]);
    }

    #[test]
    fn wrong_shape_is_an_error_not_a_panic() {
        let mut g = GraphBuilder::new("id");
        let x = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(8), Dim::Fixed(8)]).unwrap();
        let y = g.relu(&x);
        g.output(&y, "y", &[BATCH, Dim::Fixed(3), Dim::Fixed(8), Dim::Fixed(8)]).unwrap();
        let mut sess = session(g);
        let err = sess.run(Array4::zeros((1, 3, 8, 9)).view()).unwrap_err();
        assert!(matches!(err, ModelError::Input(_)), "{err}");
        assert!(err.to_string().contains("[N, 3, 8, 8]"), "{err}");
        assert!(sess.run(Array4::zeros((0, 3, 8, 8)).view()).is_err());
        assert!(sess.run(Array4::zeros((2, 3, 8, 8)).view()).is_ok());
    }

    #[test]
    fn small_cnn_runs_and_gives_probabilities() {
        let spec = SmallCnnSpec {
            input_size: 16,
            in_channels: 3,
            conv_channels: vec![4],
            kernel: 3,
            pool: 2,
            fc_widths: vec![6, 3],
        };
        let cnn = SmallCnn::new(spec).unwrap();
        let weights = cnn
            .parameter_shapes()
            .into_iter()
            .map(|(n, s)| {
                let len: usize = s.iter().product();
                let values: Vec<f32> = (0..len).map(|i| ((i * 7919) % 13) as f32 / 13.0 - 0.4).collect();
                (n, crate::Tensor::from_f32(s, &values))
            })
            .collect();
        let bytes = encode(&cnn.build(&weights).unwrap());
        let mut sess = Session::from_bytes(&runtime(), "small cnn", &bytes).unwrap();
        let input = Array4::from_shape_fn((2, 3, 16, 16), |(n, c, i, j)| ((n + c + i * j) % 5) as f32 / 5.0);
        let mut out = sess.run(input.view()).unwrap();
        let probs = out.take2("probs").unwrap();
        assert_eq!(probs.dim(), (2, 3));
        for row in probs.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-5, "{row}");
        }
    }
}
