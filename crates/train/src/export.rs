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
use sneaker_model::efficientnet_lite::{EfficientNetLite, FEATURE_DIM, INPUT_SIZE, Variant};
use sneaker_model::onnx::{Attr, BATCH, Dim, GraphBuilder, weight};

use crate::embed_head::{self, EmbedSpec};
use crate::error::{Result, TrainError};
use crate::head::HeadSpec;

/// Graph output with the class probabilities (what `predict`, `evaluate` and the server read).
pub const PROBS: &str = "probs";
pub const LOGITS: &str = "logits";
pub const FEATURES: &str = "features";

/// How a trained network answers once served: the temperature its `probs` are divided by, and
/// which extra views of each photo it averages: its mirror image (`flip`) and a zoom on its
/// centre (`zoom`, the middle [`ZOOM_SHARE`] of each side, resized back to the input size). Each
/// view costs one more pass of the backbone: flip and zoom together see every photo four times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Serving {
    pub temperature: f32,
    pub flip: bool,
    pub zoom: bool,
}

/// The share of each side the zoomed view keeps. Phone photos show the shoe smaller and less
/// centred than the catalog's; a closer look beside the whole photo helped every network measured
/// (BENCHMARKS.md "Test-time views").
pub const ZOOM_SHARE: f32 = 0.75;

impl Serving {
    /// What training exports before calibration: raw probabilities, one view.
    pub const PLAIN: Serving = Serving { temperature: 1.0, flip: false, zoom: false };

    /// How many views of each photo the graph averages.
    pub fn views(&self) -> usize {
        (1 + usize::from(self.flip)) * (1 + usize::from(self.zoom))
    }

    fn doc(&self) -> &'static str {
        match (self.flip, self.zoom) {
            (false, false) => "",
            (true, false) => ", pooled features averaged over the photo and its mirror image",
            (false, true) => ", pooled features averaged over the photo and a zoom on its centre",
            (true, true) => ", pooled features averaged over the photo, a zoom on its centre and both mirrored",
        }
    }
}

/// `input` [N,3,224,224] through `net` to its pooled features [N,1280]. With extra views
/// ([`Serving::views`]), they go through as one batch of V·N and their pooled features are
/// averaged. For a linear top model that is the mean of the views' logits; it costs one pass of
/// the head, and galleries store the one averaged embedding.
fn pooled(g: &mut GraphBuilder, net: &EfficientNetLite<'_>, serving: Serving) -> Result<String> {
    let x = input_views(g, serving)?;
    let x = front(g, net, &x, net.layout().blocks.len())?;
    let f = net.features(g, &x)?;
    mean_of_views(g, &f, serving)
}

/// `net`'s front on 224² images `x` (the photos, or [`input_views`]): resized to the network's own
/// input size where it differs (Lite1, Lite2), the stem and blocks `..blocks`.
pub(crate) fn front(g: &mut GraphBuilder, net: &EfficientNetLite<'_>, x: &str, blocks: usize) -> Result<String> {
    let side = net.layout().input_size;
    let mut x = if side == INPUT_SIZE { x.to_owned() } else { g.resize(x, side)? };
    x = net.stem(g, &x)?;
    for i in 0..blocks {
        x = net.block(g, i, &x)?;
    }
    Ok(x)
}

/// The graph's `input`, with the views [`Serving`] asks for appended along the batch, as blocks
/// of N: [photo, zoom] then the mirror image of both.
fn input_views(g: &mut GraphBuilder, serving: Serving) -> Result<String> {
    let input = g.input("input", &[BATCH, Dim::Fixed(3), Dim::Fixed(INPUT_SIZE), Dim::Fixed(INPUT_SIZE)])?;
    let mut x = input.clone();
    if serving.zoom {
        let side = INPUT_SIZE as i64;
        let margin = ((1.0 - ZOOM_SHARE) * INPUT_SIZE as f32 / 2.0).round() as i64;
        let starts = g.constant_i64("zoom_starts", &[2], &[margin, margin])?;
        let ends = g.constant_i64("zoom_ends", &[2], &[side - margin, side - margin])?;
        let axes = g.constant_i64("zoom_axes", &[2], &[2, 3])?;
        let centre = g.node("Slice", &[&input, &starts, &ends, &axes], Vec::new());
        // Scales rather than sizes: the batch dimension is not known here. The scale is nudged up
        // so that floor(kept · scale) is exactly the input size.
        let scale = side as f32 / (side - 2 * margin) as f32 + 1e-6;
        let scales = g.initializer("zoom_scales", &[4], &[1.0, 1.0, scale, scale])?;
        let zoomed = g.node("Resize", &[&centre, "", &scales], vec![("mode", Attr::Str("linear".into()))]);
        x = g.node("Concat", &[&input, &zoomed], vec![("axis", Attr::Int(0))]);
    }
    if !serving.flip {
        return Ok(x);
    }
    let starts = g.constant_i64("flip_starts", &[1], &[-1])?;
    let ends = g.constant_i64("flip_ends", &[1], &[i64::MIN])?;
    let axes = g.constant_i64("flip_axes", &[1], &[3])?;
    let steps = g.constant_i64("flip_steps", &[1], &[-1])?;
    let mirrored = g.node("Slice", &[&x, &starts, &ends, &axes, &steps], Vec::new());
    Ok(g.node("Concat", &[&x, &mirrored], vec![("axis", Attr::Int(0))]))
}

/// Pooled features [V·N, 1280] of [`input_views`] → [N, 1280], the mean of the V views.
fn mean_of_views(g: &mut GraphBuilder, f: &str, serving: Serving) -> Result<String> {
    let views = serving.views();
    if views == 1 {
        return Ok(f.to_owned());
    }
    let shape = g.constant_i64("views_shape", &[3], &[views as i64, -1, FEATURE_DIM as i64])?;
    let stacked = g.node("Reshape", &[f, &shape], Vec::new());
    Ok(g.node("ReduceMean", &[&stacked], vec![("axes", Attr::ints(&[0])), ("keepdims", Attr::Int(0))]))
}

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
    calibrated_classifier(backbone, head, spec, Serving::PLAIN)
}

/// [`classifier`] whose `probs` are softmax(`logits` / `temperature`), averaged over the views asked for.
pub fn calibrated_classifier(
    backbone: &StateDict,
    head: &StateDict,
    spec: HeadSpec,
    serving: Serving,
) -> Result<Vec<u8>> {
    let mut g = GraphBuilder::new("sneaker_classifier");
    g.set_doc(format!("EfficientNet-Lite0 + trained top model {spec:?}{}", serving.doc()));
    let f = pooled(&mut g, &EfficientNetLite::new(backbone), serving)?;
    g.output(&f, FEATURES, &[BATCH, Dim::Fixed(FEATURE_DIM)])?;
    append_head(&mut g, &f, head, spec, serving.temperature)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

/// An embedding run's graph: `backbone` (with its tuned blocks) → pooled features → the
/// projection → L2-normalised `features` [N, dim] (what galleries store) → cosine logits over the
/// training labels, s·ê·p̂ᵀ, with the proxies normalised and scaled here so the graph is one Gemm →
/// `logits`, `probs` = softmax(logits / `temperature`).
pub fn embedder(
    variant: Variant,
    backbone: &StateDict,
    head: &StateDict,
    spec: EmbedSpec,
    serving: Serving,
) -> Result<Vec<u8>> {
    let mut g = GraphBuilder::new("sneaker_embedder");
    g.set_doc(format!(
        "{} + {}-d embedding + cosine classifier over {} labels{}",
        variant.title(),
        spec.dim,
        spec.labels,
        serving.doc()
    ));
    let f = pooled(&mut g, &EfficientNetLite::of(variant, backbone)?, serving)?;
    let e = unit_embedding(&mut g, &f, head, spec)?;
    g.output(&e, FEATURES, &[BATCH, Dim::Fixed(spec.dim)])?;
    let p = g.initializer("head.cosine.weight", &[spec.labels, spec.dim], &scaled_proxies(head, spec, spec.scale)?)?;
    let zero = g.initializer("head.cosine.bias", &[spec.labels], &vec![0.0; spec.labels])?;
    let logits = g.linear(&e, &p, &zero);
    output_logits_and_probs(&mut g, &logits, spec.labels, serving.temperature)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

/// Several embedding runs over the same labels as one graph. Members are grouped by backbone
/// (`members[m].0`); each group's frozen front (`stock`'s weights of that variant, resized input,
/// stem and blocks up to the first block any of its members tuned) runs once on the shared views;
/// each member's tuned blocks, projection and normalisation run beside each other (initializers
/// prefixed `member{k}/`, other variants' fronts `lite2/`). `features` is the members' unit
/// embeddings side by side, divided by √k: a unit vector [N, k·dim] whose cosine with another is
/// the mean of the members' cosines. `logits` are the mean of the members' cosine logits (one
/// Gemm against the proxies laid side by side and scaled by s/√k).
pub fn ensemble_embedder(
    stock: &[(Variant, &StateDict)],
    members: &[(Variant, &StateDict)],
    spec: EmbedSpec,
    serving: Serving,
) -> Result<Vec<u8>> {
    let k = members.len();
    let stock_of = |v: Variant| {
        stock.iter().find(|(s, _)| *s == v).map(|(_, w)| *w).ok_or_else(|| {
            TrainError::Config(format!("a member is tuned from {}, whose stock weights were not given", v.title()))
        })
    };
    if let [(variant, dict)] = members {
        return embedder(*variant, &crate::tail::overlay(stock_of(*variant)?, dict), dict, spec, serving);
    }
    let mut variants: Vec<Variant> = Vec::new();
    for (v, _) in members {
        if !variants.contains(v) {
            variants.push(*v);
        }
    }
    let names: Vec<&str> = variants.iter().map(|v| v.title()).collect();
    let mut g = GraphBuilder::new("sneaker_embedder");
    g.set_doc(format!(
        "{} x {k} members, {}-d embedding each + cosine classifier over {} labels{}",
        names.join(" + "),
        spec.dim,
        spec.labels,
        serving.doc()
    ));
    let views = input_views(&mut g, serving)?;
    let mut embeddings = vec![String::new(); k];
    let mut proxies = vec![Vec::new(); k];
    for variant in variants {
        let group: Vec<usize> = (0..k).filter(|&m| members[m].0 == variant).collect();
        let stock = stock_of(variant)?;
        let front_net = EfficientNetLite::of(variant, stock)?;
        let blocks = front_net.layout().blocks.len();
        let shared = group.iter().map(|&m| first_tuned_block(members[m].1, blocks)).min().unwrap_or(blocks);
        // Lite0's front keeps the unprefixed names it always had.
        g.set_scope(&if variant == Variant::Lite0 { String::new() } else { format!("{variant}/") });
        let x = front(&mut g, &front_net, &views, shared)?;
        for m in group {
            let dict = members[m].1;
            g.set_scope(&format!("member{m}/"));
            let backbone = crate::tail::overlay(stock, dict);
            let net = EfficientNetLite::of(variant, &backbone)?;
            let mut y = x.clone();
            for i in shared..blocks {
                y = net.block(&mut g, i, &y)?;
            }
            let f = net.features(&mut g, &y)?;
            let f = mean_of_views(&mut g, &f, serving)?;
            embeddings[m] = unit_embedding(&mut g, &f, dict, spec)?;
            proxies[m] = scaled_proxies(dict, spec, spec.scale / (k as f32).sqrt())?;
        }
    }
    g.set_scope("");
    let refs: Vec<&str> = embeddings.iter().map(String::as_str).collect();
    let joined = g.node("Concat", &refs, vec![("axis", Attr::Int(1))]);
    let e = g.node("LpNormalization", &[&joined], vec![("axis", Attr::Int(1)), ("p", Attr::Int(2))]);
    let width = k * spec.dim;
    g.output(&e, FEATURES, &[BATCH, Dim::Fixed(width)])?;
    // Row j: every member's proxy of label j, side by side.
    let side_by_side: Vec<f32> = (0..spec.labels)
        .flat_map(|j| proxies.iter().flat_map(move |p| p[j * spec.dim..(j + 1) * spec.dim].iter().copied()))
        .collect();
    let p = g.initializer("head.cosine.weight", &[spec.labels, width], &side_by_side)?;
    let zero = g.initializer("head.cosine.bias", &[spec.labels], &vec![0.0; spec.labels])?;
    let logits = g.linear(&e, &p, &zero);
    output_logits_and_probs(&mut g, &logits, spec.labels, serving.temperature)?;
    Ok(sneaker_model::onnx::encode(&g.finish()))
}

/// The first MBConv block whose weights `tuned` carries (`blocks`, the network's count, when none).
fn first_tuned_block(tuned: &StateDict, blocks: usize) -> usize {
    (0..blocks).find(|i| tuned.keys().any(|k| k.starts_with(&format!("_blocks.{i}.")))).unwrap_or(blocks)
}

/// Pooled features `f` → the head's projection → L2-normalised [N, dim].
fn unit_embedding(g: &mut GraphBuilder, f: &str, head: &StateDict, spec: EmbedSpec) -> Result<String> {
    let (wn, bn) = (format!("{}.weight", embed_head::PROJECT), format!("{}.bias", embed_head::PROJECT));
    let w = g.initializer(&wn, &[spec.dim, FEATURE_DIM], &weight(head, &wn, &[spec.dim, FEATURE_DIM])?)?;
    let b = g.initializer(&bn, &[spec.dim], &weight(head, &bn, &[spec.dim])?)?;
    let projected = g.linear(f, &w, &b);
    Ok(g.node("LpNormalization", &[&projected], vec![("axis", Attr::Int(1)), ("p", Attr::Int(2))]))
}

/// The head's proxies [labels, dim], each normalised and multiplied by `scale`.
fn scaled_proxies(head: &StateDict, spec: EmbedSpec, scale: f32) -> Result<Vec<f32>> {
    let mut proxies = weight(head, embed_head::PROXIES, &[spec.labels, spec.dim])?;
    for row in proxies.chunks_mut(spec.dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v *= scale / norm);
    }
    Ok(proxies)
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
