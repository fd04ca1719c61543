//! ONNX graphs of trained classifiers: EfficientNet-Lite0 (stock or with fine-tuned blocks) +
//! the trained top model as one graph, input `input` [N,3,224,224] → outputs `probs` [N,M],
//! `logits` [N,M] and `features` [N,1280]; the same over several frozen backbones whose features
//! are concatenated ([`ensemble`]); and the top model alone on features, for parity tests that
//! need no backbone.
//!
//! A calibrated run divides its logits by its temperature inside the graph (`probs` =
//! softmax(`logits` / T), `logits` stay raw), so predict, serve, evaluate and the gallery read
//! calibrated probabilities without knowing there is a temperature.

use sneaker_model::StateDict;
use sneaker_model::efficientnet_lite::{EfficientNetLite, FEATURE_DIM, INPUT_SIZE, NUM_BLOCKS, Variant};
use sneaker_model::onnx::{Attr, BATCH, Dim, GraphBuilder, weight};

use crate::embed_head::{self, EmbedSpec};
use crate::error::{Result, TrainError};
use crate::head::HeadSpec;

/// Graph output with the class probabilities (what `predict`, `evaluate` and the server read).
pub const PROBS: &str = "probs";
pub const LOGITS: &str = "logits";
pub const FEATURES: &str = "features";

/// Appends the top model on `x` [N, spec.inputs]; outputs `logits` and `probs` =
/// softmax(logits / `temperature`).
fn append_head(g: &mut GraphBuilder, x: &str, head: &StateDict, spec: HeadSpec, temperature: f32) -> Result<()> {
    let layers = spec.layers();
    let mut x = x.to_owned();
    for (j, &(i, o)) in layers.iter().enumerate() {
        let (wn, bn) = (format!("head.fc{j}.weight"), format!("head.fc{j}.bias"));
        let w = g.initializer(&wn, &[o, i], &weight(head, &wn, &[o, i])?)?;
        let b = g.initializer(&bn, &[o], &weight(head, &bn, &[o])?)?;
        x = g.linear(&x, &w, &b);
        if j + 1 < layers.len() {
            x = g.relu(&x);
        }
    }
    output_logits_and_probs(g, &x, spec.classes, temperature)
}

/// Outputs `logits` [N, classes] as they are and `probs` = softmax(logits / `temperature`).
fn output_logits_and_probs(g: &mut GraphBuilder, logits: &str, classes: usize, temperature: f32) -> Result<()> {
    // At T = 1 the graph stays exactly what it was before temperatures existed.
    let scaled = if temperature == 1.0 {
        logits.to_owned()
    } else {
        let t = g.scalar(temperature);
        g.node("Div", &[logits, &t], Vec::new())
    };
    let probs = g.softmax(&scaled, 1);
    g.output(logits, LOGITS, &[BATCH, Dim::Fixed(classes)])?;
    g.output(&probs, PROBS, &[BATCH, Dim::Fixed(classes)])?;
    Ok(())
}

/// The whole classifier: `backbone` weights (stock, or with fine-tuned blocks swapped in) and
/// `head` ([`crate::head::Head::state_dict`] names).
pub fn classifier(backbone: &StateDict, head: &StateDict, spec: HeadSpec) -> Result<Vec<u8>> {
    calibrated_classifier(backbone, head, spec, 1.0)
}

/// [`classifier`] whose `probs` are softmax(`logits` / `temperature`).
pub fn calibrated_classifier(
    backbone: &StateDict,
    head: &StateDict,
    spec: HeadSpec,
    temperature: f32,
) -> Result<Vec<u8>> {
    let net = EfficientNetLite::new(backbone);
    let mut g = GraphBuilder::new("sneaker_classifier");
    g.set_doc(format!("EfficientNet-Lite0 + trained top model {spec:?}"));
    let input = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(INPUT_SIZE), Dim::Fixed(INPUT_SIZE)])?;
    let mut x = net.stem(&mut g, &input)?;
    for i in 0..NUM_BLOCKS {
        x = net.block(&mut g, i, &x)?;
    }
    let f = net.features(&mut g, &x)?;
    g.output(&f, FEATURES, &[BATCH, Dim::Fixed(FEATURE_DIM)])?;
    append_head(&mut g, &f, head, spec, temperature)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

/// An embedding run's graph: `backbone` (with its tuned blocks) → pooled features → the
/// projection → L2-normalised `features` [N, dim] (what galleries store) → cosine logits over the
/// training labels, s·ê·p̂ᵀ, with the proxies normalised and scaled here so the graph is one Gemm →
/// `logits`, `probs` = softmax(logits / `temperature`).
pub fn embedder(backbone: &StateDict, head: &StateDict, spec: EmbedSpec, temperature: f32) -> Result<Vec<u8>> {
    let net = EfficientNetLite::new(backbone);
    let mut g = GraphBuilder::new("sneaker_embedder");
    g.set_doc(format!("EfficientNet-Lite0 + {}-d embedding + cosine classifier over {} labels", spec.dim, spec.labels));
    let input = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(INPUT_SIZE), Dim::Fixed(INPUT_SIZE)])?;
    let mut x = net.stem(&mut g, &input)?;
    for i in 0..NUM_BLOCKS {
        x = net.block(&mut g, i, &x)?;
    }
    let f = net.features(&mut g, &x)?;
    let (wn, bn) = (format!("{}.weight", embed_head::PROJECT), format!("{}.bias", embed_head::PROJECT));
    let w = g.initializer(&wn, &[spec.dim, FEATURE_DIM], &weight(head, &wn, &[spec.dim, FEATURE_DIM])?)?;
    let b = g.initializer(&bn, &[spec.dim], &weight(head, &bn, &[spec.dim])?)?;
    let projected = g.linear(&f, &w, &b);
    let e = g.node("LpNormalization", &[&projected], vec![("axis", Attr::Int(1)), ("p", Attr::Int(2))]);
    g.output(&e, FEATURES, &[BATCH, Dim::Fixed(spec.dim)])?;
    let mut proxies = weight(head, embed_head::PROXIES, &[spec.labels, spec.dim])?;
    for row in proxies.chunks_mut(spec.dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v *= spec.scale / norm);
    }
    let p = g.initializer("head.cosine.weight", &[spec.labels, spec.dim], &proxies)?;
    let zero = g.initializer("head.cosine.bias", &[spec.labels], &vec![0.0; spec.labels])?;
    let logits = g.linear(&e, &p, &zero);
    output_logits_and_probs(&mut g, &logits, spec.labels, temperature)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

/// Frozen backbones side by side, one input: `input` [N,3,224,224] — the size every front end
/// decodes to and the footwear check needs — resized inside the graph to each backbone's own
/// (240 for Lite1, 260 for Lite2), their pooled features concatenated [N, 1280·k] into the top
/// model. `features` stays the first backbone's [N,1280], so galleries keep their width.
/// Each backbone's initializers are prefixed with its name (`lite1/_conv_stem.weight`).
pub fn ensemble(backbones: &[(Variant, &StateDict)], head: &StateDict, spec: HeadSpec) -> Result<Vec<u8>> {
    let names: Vec<&str> = backbones.iter().map(|(v, _)| v.name()).collect();
    let mut g = GraphBuilder::new("sneaker_classifier");
    g.set_doc(format!("EfficientNet-{} + trained top model {spec:?}", names.join("+")));
    let input = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(INPUT_SIZE), Dim::Fixed(INPUT_SIZE)])?;
    let mut pooled = Vec::with_capacity(backbones.len());
    for (variant, weights) in backbones {
        g.set_scope(&format!("{variant}/"));
        pooled.push(EfficientNetLite::of(*variant, weights)?.pooled_features(&mut g, &input, INPUT_SIZE)?);
    }
    g.set_scope("");
    let first = pooled.first().ok_or_else(|| TrainError::Config("an ensemble needs a backbone".into()))?;
    g.output(first, FEATURES, &[BATCH, Dim::Fixed(FEATURE_DIM)])?;
    let refs: Vec<&str> = pooled.iter().map(String::as_str).collect();
    // [N, 1280·k]
    let joined = if refs.len() == 1 { first.clone() } else { g.node("Concat", &refs, vec![("axis", Attr::Int(1))]) };
    append_head(&mut g, &joined, head, spec, 1.0)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

/// The top model alone: input `input` [N, spec.inputs] → `logits`, `probs`.
pub fn head_only(head: &StateDict, spec: HeadSpec) -> Result<Vec<u8>> {
    let mut g = GraphBuilder::new("sneaker_head");
    let input = g.input("input", &[BATCH, Dim::Fixed(spec.inputs)])?;
    append_head(&mut g, &input, head, spec, 1.0)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}
