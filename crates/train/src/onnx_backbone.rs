//! The pretrained EfficientNet-Lites and ONNX Runtime as training needs them, over
//! `sneaker-model`: cached feature extraction (one or several frozen backbones), export of
//! backbones + head as one graph, and runners for exported classifiers.

use std::path::Path;

use ndarray::{ArrayView4, ArrayViewD};
use sha2::{Digest, Sha256};
use sneaker_model::StateDict;
use sneaker_model::assets::Assets;
use sneaker_model::efficientnet_lite::{
    EfficientNetLite, FEATURE_DIM, FEATURES, GRAPH_VERSION, INPUT_SIZE, Layout, Variant, activation_name,
};
use sneaker_model::onnx::{BATCH, Dim, GraphBuilder};
use sneaker_model::predictor::Predictor;
use sneaker_model::runtime::{Backbone, Runtime, Session};

use crate::error::{Result, TrainError};
use crate::export;
use crate::features::Extractor;
use crate::head::HeadSpec;
use crate::pipeline::Pretrained;

/// Shape check shared by the runners: `n` CHW images of [`sneaker_vision::INPUT_SIZE`]².
fn image_view(input: &[f32], n: usize) -> Result<ArrayView4<'_, f32>> {
    let s = sneaker_vision::INPUT_SIZE as usize;
    ArrayView4::from_shape((n, 3, s, s), input)
        .map_err(|e| TrainError::Config(format!("input batch of {} floats for {n} images: {e}", input.len())))
}

/// Pooled features of the stock backbone.
struct FeatureRunner {
    backbone: Backbone,
    id: String,
}

impl Extractor for FeatureRunner {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn dim(&self) -> usize {
        FEATURE_DIM
    }
    fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>> {
        let out = self.backbone.run(image_view(input, n)?)?;
        Ok(out.features.iter().copied().collect())
    }
}

/// Any graph with one input and an output `output` of width `dim`, on images or other tensors.
pub struct GraphRunner {
    session: Session,
    output: String,
    dim: usize,
    /// Shape of one input item (e.g. `[3, 224, 224]` or `[1280]`).
    item: Vec<usize>,
    id: String,
}

impl GraphRunner {
    pub fn new(session: Session, output: &str, dim: usize, item: Vec<usize>, id: String) -> Result<Self> {
        if !session.output_names().iter().any(|o| o == output) {
            return Err(TrainError::Config(format!(
                "graph has no output {output:?} (has {:?})",
                session.output_names()
            )));
        }
        Ok(GraphRunner { session, output: output.to_owned(), dim, item, id })
    }
}

impl Extractor for GraphRunner {
    fn id(&self) -> String {
        self.id.clone()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn input_size(&self) -> u32 {
        // `item` is [3, S, S] for image graphs.
        self.item.last().map_or(sneaker_vision::INPUT_SIZE, |&s| s as u32)
    }
    fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>> {
        let mut shape = vec![n];
        shape.extend_from_slice(&self.item);
        let view = ArrayViewD::from_shape(shape, input)
            .map_err(|e| TrainError::Config(format!("input of {} floats for {n} items: {e}", input.len())))?;
        let mut out = self.session.run_dyn(view)?;
        let a =
            out.0.remove(&self.output).ok_or_else(|| TrainError::Config(format!("graph gave no {:?}", self.output)))?;
        if a.len() != n * self.dim {
            return Err(TrainError::Config(format!(
                "output {:?} has {} values for {n}×{}",
                self.output,
                a.len(),
                self.dim
            )));
        }
        Ok(a.iter().copied().collect())
    }
}

/// A run's [`Predictor`] as evaluation runs it: label probabilities of 224² images, the same
/// pass `predict` and the server make.
pub struct RunProbs {
    predictor: Predictor,
}

impl RunProbs {
    pub fn open(run_dir: &Path) -> Result<Self> {
        let assets = Assets::locate()?;
        Ok(RunProbs { predictor: Predictor::open(&assets, Some(run_dir))? })
    }

    pub fn labels(&self) -> &[String] {
        self.predictor.labels()
    }
}

impl Extractor for RunProbs {
    fn id(&self) -> String {
        self.predictor.embedding_id().to_owned()
    }
    fn dim(&self) -> usize {
        self.predictor.labels().len()
    }
    fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>> {
        Ok(self.predictor.probs(image_view(input, n)?)?.iter().copied().collect())
    }
}

/// One frozen backbone: its weights and what runs it on 224² images.
struct Frozen {
    variant: Variant,
    weights: StateDict,
    runner: Box<dyn Extractor>,
}

/// EfficientNet-Lite weights + ONNX Runtime.
pub struct OrtBackbone {
    assets: Option<Assets>,
    runtime: Runtime,
    /// In the order their features are concatenated.
    backbones: Vec<Frozen>,
}

impl OrtBackbone {
    /// The runtime only (enough to run exported classifiers: `evaluate`).
    pub fn runtime() -> Result<Self> {
        let assets = Assets::locate()?;
        let runtime = Runtime::from_assets(&assets)?;
        Ok(OrtBackbone { assets: Some(assets), runtime, backbones: Vec::new() })
    }

    /// Runtime, Lite0's graph and weights (training).
    pub fn load() -> Result<Self> {
        Self::load_with(&[Variant::Lite0])
    }

    /// Runtime and the frozen `backbones` (fetching Lite1/Lite2 weights on first use). Lite0 runs
    /// its cached stock graph, under the same feature-cache id as always; the others run a graph
    /// that takes the same 224² images and resizes them to the variant's own size first.
    pub fn load_with(backbones: &[Variant]) -> Result<Self> {
        let mut me = Self::runtime()?;
        let assets = me.assets.clone().expect("runtime() sets assets");
        for &variant in backbones {
            let weights = assets.weights_of(variant)?;
            let runner: Box<dyn Extractor> = if variant == Variant::Lite0 {
                Box::new(FeatureRunner { backbone: Backbone::load(&assets)?, id: weights_id(&weights) })
            } else {
                let id = format!("{variant}-v{GRAPH_VERSION}-{}-{FEATURES}-from{INPUT_SIZE}", digest(&weights));
                let bytes = resized_features_graph(variant, &weights)?;
                Box::new(me.open_bytes(&id, &bytes, FEATURES, FEATURE_DIM, vec![3, INPUT_SIZE, INPUT_SIZE])?)
            };
            me.backbones.push(Frozen { variant, weights, runner });
        }
        Ok(me)
    }

    /// The tuned backbone: the first loaded (a tuned run configures exactly one).
    fn tuned(&self) -> Result<&Frozen> {
        self.backbones.first().ok_or_else(|| TrainError::Config("no backbone weights loaded".into()))
    }

    /// The tuned backbone's weights, for fine-tuning and block activations.
    pub fn weights(&self) -> Result<&StateDict> {
        Ok(&self.tuned()?.weights)
    }

    /// A runner for an ONNX classifier over images (`probs` of width `classes`).
    pub fn open_graph(&self, onnx: &Path, classes: usize) -> Result<Box<dyn Extractor>> {
        self.open_graph_output(onnx, export::PROBS, classes)
    }

    /// A runner for output `output` (of width `dim`) of an ONNX graph over images.
    pub fn open_graph_output(&self, onnx: &Path, output: &str, dim: usize) -> Result<Box<dyn Extractor>> {
        let session = Session::from_file(&self.runtime, onnx)?;
        // A scratch run may take smaller images than the backbone's 224; its graph says which.
        let s = session.image_size();
        Ok(Box::new(GraphRunner::new(session, output, dim, vec![3, s, s], onnx.display().to_string())?))
    }

    /// A runner over serialised ONNX bytes: `output` of width `dim`, items of shape `item`.
    pub fn open_bytes(
        &self,
        label: &str,
        bytes: &[u8],
        output: &str,
        dim: usize,
        item: Vec<usize>,
    ) -> Result<GraphRunner> {
        let session = Session::from_bytes(&self.runtime, label, bytes)?;
        GraphRunner::new(session, output, dim, item, label.to_owned())
    }
}

/// Cache identity of Lite0's weights: graph writer version + a hash of a few tensors' bytes.
fn weights_id(w: &StateDict) -> String {
    format!("lite0-v{GRAPH_VERSION}-{}-{FEATURES}", digest(w))
}

/// A short hash of a weight set's stem and head tensors.
fn digest(w: &StateDict) -> String {
    let mut h = Sha256::new();
    for (name, t) in w.iter().filter(|(n, _)| n.contains("_conv_head") || n.contains("_conv_stem")) {
        h.update(name.as_bytes());
        h.update(&t.data);
    }
    hex::encode(h.finalize())[..12].to_owned()
}

/// `variant`'s pooled features of 224² images, resized inside the graph to its own input size:
/// the same path [`crate::export::ensemble`] writes, so training sees what serving will.
fn resized_features_graph(variant: Variant, weights: &StateDict) -> Result<Vec<u8>> {
    let mut g = GraphBuilder::new(&format!("efficientnet_{variant}_from_{INPUT_SIZE}"));
    let input = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(INPUT_SIZE), Dim::Fixed(INPUT_SIZE)])?;
    let f = EfficientNetLite::of(variant, weights)?.pooled_features(&mut g, &input, INPUT_SIZE)?;
    g.output(&f, FEATURES, &[BATCH, Dim::Fixed(FEATURE_DIM)])?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

/// The activation after block `after_block` of 224² images, resized inside the graph to the
/// network's own input size where it differs (Lite1, Lite2): the front [`crate::export`] writes.
fn activations_graph(net: &EfficientNetLite<'_>, after_block: usize) -> Result<Vec<u8>> {
    let variant = net.layout().variant;
    let mut g = GraphBuilder::new(&format!("efficientnet_{variant}_block{after_block}_from_{INPUT_SIZE}"));
    let input = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(INPUT_SIZE), Dim::Fixed(INPUT_SIZE)])?;
    let x = export::front(&mut g, net, &input, after_block + 1)?;
    let [c, h, w] = net.layout().activation_shape(after_block)?;
    g.output(&x, &activation_name(after_block), &[BATCH, Dim::Fixed(c), Dim::Fixed(h), Dim::Fixed(w)])?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

impl Pretrained for OrtBackbone {
    fn id(&self) -> String {
        self.backbones.iter().map(|b| b.runner.id()).collect::<Vec<_>>().join("+")
    }
    fn features(&mut self) -> Result<&mut dyn Extractor> {
        match self.backbones.first_mut() {
            Some(b) => Ok(b.runner.as_mut()),
            None => Err(TrainError::Config("backbone not loaded".into())),
        }
    }
    fn feature_extractors(&mut self) -> Result<Vec<&mut dyn Extractor>> {
        if self.backbones.is_empty() {
            return Err(TrainError::Config("backbone not loaded".into()));
        }
        Ok(self.backbones.iter_mut().map(|b| b.runner.as_mut() as &mut dyn Extractor).collect())
    }
    fn export_with_head(&self, head: &StateDict, spec: HeadSpec) -> Result<Vec<u8>> {
        match &self.backbones[..] {
            // Lite0 alone: the graph runs have always had, node for node.
            [only] if only.variant == Variant::Lite0 => export::classifier(&only.weights, head, spec),
            all => export::ensemble(&all.iter().map(|b| (b.variant, &b.weights)).collect::<Vec<_>>(), head, spec),
        }
    }
    fn open_classifier(&self, onnx: &Path, classes: usize) -> Result<Box<dyn Extractor>> {
        self.open_graph(onnx, classes)
    }
    fn open_logits(&self, onnx: &Path, classes: usize) -> Result<Box<dyn Extractor>> {
        self.open_graph_output(onnx, export::LOGITS, classes)
    }
    fn weights(&self) -> Result<&StateDict> {
        OrtBackbone::weights(self)
    }
    fn weights_of(&self, variant: Variant) -> Result<StateDict> {
        match self.backbones.iter().find(|b| b.variant == variant) {
            Some(b) => Ok(b.weights.clone()),
            None => {
                let assets = self.assets.as_ref().ok_or_else(|| TrainError::Config("assets not located".into()))?;
                Ok(assets.weights_of(variant)?)
            }
        }
    }
    fn tuning(&self, variant: Variant) -> Result<Box<dyn Pretrained>> {
        Ok(Box::new(OrtBackbone::load_with(&[variant])?))
    }
    fn layout(&self) -> Result<Layout> {
        let tuned = self.tuned()?;
        Ok(Layout::read(tuned.variant, &tuned.weights)?)
    }
    fn activations(&self, after_block: usize) -> Result<Box<dyn Extractor>> {
        let Frozen { variant, weights, .. } = self.tuned()?;
        let net = EfficientNetLite::of(*variant, weights)?;
        let [c, h, w] = net.layout().activation_shape(after_block)?;
        let s = sneaker_vision::INPUT_SIZE as usize;
        // The cut point is part of the cache key: activations of another block never mix. Lite0's
        // keeps the id its cached activations have always had (the same layers compute them).
        let id = if *variant == Variant::Lite0 {
            format!("{}-block{after_block}", weights_id(weights))
        } else {
            format!("{variant}-v{GRAPH_VERSION}-{}-block{after_block}-from{INPUT_SIZE}", digest(weights))
        };
        let bytes = activations_graph(&net, after_block)?;
        Ok(Box::new(self.open_bytes(&id, &bytes, &activation_name(after_block), c * h * w, vec![3, s, s])?))
    }
}
