//! ONNX graphs of trained classifiers: EfficientNet-Lite0 (stock or with fine-tuned blocks) +
//! the trained top model as one graph, input `input` [N,3,224,224] → outputs `probs` [N,M],
//! `logits` [N,M] and `features` [N,1280]; and the top model alone on features, for parity
//! tests that need no backbone.

use sneaker_model::StateDict;
use sneaker_model::efficientnet_lite::{EfficientNetLite, FEATURE_DIM, INPUT_SIZE, NUM_BLOCKS};
use sneaker_model::onnx::{BATCH, Dim, GraphBuilder, weight};

use crate::error::Result;
use crate::head::HeadSpec;

/// Graph output with the class probabilities (what `predict`, `evaluate` and the server read).
pub const PROBS: &str = "probs";
pub const LOGITS: &str = "logits";
pub const FEATURES: &str = "features";

/// Appends the top model on `x` [N, spec.inputs]; outputs `logits` and `probs`.
fn append_head(g: &mut GraphBuilder, x: &str, head: &StateDict, spec: HeadSpec) -> Result<()> {
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
    let probs = g.softmax(&x, 1);
    g.output(&x, LOGITS, &[BATCH, Dim::Fixed(spec.classes)])?;
    g.output(&probs, PROBS, &[BATCH, Dim::Fixed(spec.classes)])?;
    Ok(())
}

/// The whole classifier: `backbone` weights (stock, or with fine-tuned blocks swapped in) and
/// `head` ([`crate::head::Head::state_dict`] names).
pub fn classifier(backbone: &StateDict, head: &StateDict, spec: HeadSpec) -> Result<Vec<u8>> {
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
    append_head(&mut g, &f, head, spec)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

/// The top model alone: input `input` [N, spec.inputs] → `logits`, `probs`.
pub fn head_only(head: &StateDict, spec: HeadSpec) -> Result<Vec<u8>> {
    let mut g = GraphBuilder::new("sneaker_head");
    let input = g.input("input", &[BATCH, Dim::Fixed(spec.inputs)])?;
    append_head(&mut g, &input, head, spec)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}
