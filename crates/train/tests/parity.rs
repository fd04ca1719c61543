//! The exported ONNX graphs must compute what burn computes (max |Δprob| ≤ 1e-4): the top model
//! alone, the scratch CNN on small images, the whole classifier (backbone + head) against
//! burn's head on the backbone's features, and a fine-tuned classifier against burn's tuned tail
//! on ONNX Runtime's activations at the freeze point. Needs the ONNX Runtime asset (`make assets`).

use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sneaker_model::efficientnet_lite::Variant;
use sneaker_train::export;
use sneaker_train::features::Extractor;
use sneaker_train::head::{self, Head, HeadSpec};
use sneaker_train::onnx_backbone::OrtBackbone;
use sneaker_train::scratch::ScratchCnn;

const TOLERANCE: f32 = 1e-4;

fn runtime() -> Option<OrtBackbone> {
    match OrtBackbone::runtime() {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipped: ONNX Runtime assets not found ({e})");
            None
        }
    }
}

fn max_delta(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

#[test]
fn head_graph_matches_burn() {
    let Some(rt) = runtime() else { return };
    let device = Device::flex();
    device.seed(3);
    for hidden in [0, 16] {
        let spec = HeadSpec { inputs: 32, hidden, classes: 5 };
        let head = Head::new(spec, 0.3, &device);
        let x = random(7 * 32, 11, 3.0);
        let burn_p = head::predict(&head, &x, &device).unwrap();
        let bytes = export::head_only(&head.state_dict(), spec).unwrap();
        let mut ort = rt.open_bytes("head", &bytes, export::PROBS, 5, vec![32]).unwrap();
        let ort_p = ort.run(&x, 7).unwrap();
        let d = max_delta(&burn_p, &ort_p);
        assert!(d <= TOLERANCE, "hidden {hidden}: max |Δprob| {d}");
    }
}

#[test]
fn scratch_cnn_graph_matches_burn() {
    let Some(rt) = runtime() else { return };
    let device = Device::flex();
    device.seed(5);
    // 46 px is the smallest input the four conv+pool stages accept (46→22→10→4→1).
    let (size, classes, n) = (46u32, 4, 3);
    let net = ScratchCnn::new(size, classes, 0.3, &device).unwrap();
    let x = random(n * 3 * 46 * 46, 7, 1.0);
    let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [n, 3, 46, 46]), &device);
    use burn::module::Module;
    let burn_p: Vec<f32> = activation::softmax(net.valid().forward(t), 1).into_data().try_to_vec().unwrap();
    let bytes = net.to_onnx(size, classes).unwrap();
    let mut ort = rt.open_bytes("scratch", &bytes, export::PROBS, classes, vec![3, 46, 46]).unwrap();
    let ort_p = ort.run(&x, n).unwrap();
    let d = max_delta(&burn_p, &ort_p);
    assert!(d <= TOLERANCE, "max |Δprob| {d}");
}

#[test]
fn whole_classifier_matches_burn_head_on_backbone_features() {
    let Some(_) = runtime() else { return };
    let mut bb = OrtBackbone::load().unwrap();
    let device = Device::flex();
    device.seed(9);
    let spec = HeadSpec { inputs: 1280, hidden: 0, classes: 3 };
    let head = Head::new(spec, 0.3, &device);
    // Two smooth synthetic images in the network's input range.
    let n = 2;
    let s = sneaker_vision::INPUT_SIZE as usize;
    let x: Vec<f32> = (0..n * 3 * s * s).map(|i| ((i % 997) as f32 / 498.5 - 1.0) * 0.8).collect();
    use sneaker_train::train::Pretrained;
    let feats = bb.features().unwrap().run(&x, n).unwrap();
    let burn_p = head::predict(&head, &feats, &device).unwrap();
    let bytes = bb.export_with_head(&head.state_dict(), spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, bytes).unwrap();
    let ort_p = bb.open_classifier(&path, 3).unwrap().run(&x, n).unwrap();
    let d = max_delta(&burn_p, &ort_p);
    assert!(d <= TOLERANCE, "max |Δprob| {d}");
}

/// Moves every weight of a module by up to 2 % of itself, so that an export must carry the tuned
/// values to match.
struct Nudge(u64);

impl burn::module::ModuleMapper for Nudge {
    fn map_float<const D: usize>(&mut self, p: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
        self.0 += 1;
        let (id, t, mapper) = p.consume();
        let noise = Tensor::<D>::from_data(
            TensorData::new(random(t.shape().num_elements(), self.0, 0.02), t.shape()),
            &t.device(),
        );
        burn::module::Param::from_mapped_value(id, t.clone() + t.abs() * noise, mapper)
    }
}

#[test]
fn finetuned_classifier_matches_burn_tail_on_frozen_activations() {
    use burn::module::Module;
    use sneaker_train::tail::{self, Tail};
    use sneaker_train::train::Pretrained;
    let Some(_) = runtime() else { return };
    let bb = OrtBackbone::load().unwrap();
    let device = Device::flex();
    device.seed(13);
    // One tuned block (15) + head conv: the smallest real fine-tuning configuration.
    let cut = tail::cut_point(1, 16).unwrap();
    let spec = HeadSpec { inputs: 1280, hidden: 0, classes: 4 };
    let head = Head::new(spec, 0.3, &device);
    let stock = Pretrained::weights(&bb).unwrap();
    let layout = Pretrained::layout(&bb).unwrap();
    let tail = Tail::from_backbone(stock, &layout, cut, head, &device).unwrap();
    // Move every tuned weight away from ImageNet so the export must carry the tuned values.
    let tail = tail.map(&mut Nudge(100));
    let n = 3;
    let s = sneaker_vision::INPUT_SIZE as usize;
    let x: Vec<f32> = (0..n * 3 * s * s).map(|i| ((i % 1009) as f32 / 504.5 - 1.0) * 0.9).collect();
    let acts = bb.activations(cut).unwrap().run(&x, n).unwrap();
    let burn_p = tail::predict(&tail, &layout, tail.trunk.first, &acts, &device).unwrap();
    let dict = tail.state_dict();
    let bytes = export::classifier(&tail::overlay(stock, &dict), &dict, spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, bytes).unwrap();
    let ort_p = bb.open_classifier(&path, 4).unwrap().run(&x, n).unwrap();
    let d = max_delta(&burn_p, &ort_p);
    assert!(d <= TOLERANCE, "max |Δprob| {d}");
    // The stock graph gives other probabilities: the tuned weights really are in the export.
    let stock_tail =
        Tail::from_backbone(stock, &layout, cut, Head::from_state_dict(spec, 0.0, &dict, &device).unwrap(), &device)
            .unwrap();
    let stock_p = tail::predict(&stock_tail, &layout, stock_tail.trunk.first, &acts, &device).unwrap();
    assert!(max_delta(&stock_p, &ort_p) > 1e-3, "nudged weights changed nothing");
}

/// `x` [n,3,s,s] mirrored left-right.
fn mirrored(x: &[f32], s: usize) -> Vec<f32> {
    x.chunks_exact(s).flat_map(|row| row.iter().rev().copied()).collect()
}

/// What the test-time-view tests share: a random 3-class head on the stock backbone, exported
/// plain and with `serving`'s views, and two test photos that are not symmetric left-right.
struct Views {
    rt: OrtBackbone,
    plain: Vec<u8>,
    served: Vec<u8>,
    x: Vec<f32>,
    n: usize,
    s: usize,
}

impl Views {
    fn new(seed: u64, serving: export::Serving) -> Option<Views> {
        use sneaker_train::train::Pretrained;
        let rt = runtime()?;
        let bb = OrtBackbone::load().unwrap();
        let device = Device::flex();
        device.seed(seed);
        let spec = HeadSpec { inputs: 1280, hidden: 0, classes: 3 };
        let head = Head::new(spec, 0.3, &device).state_dict();
        let stock = Pretrained::weights(&bb).unwrap();
        let plain = export::calibrated_classifier(stock, &head, spec, export::Serving::PLAIN).unwrap();
        let served = export::calibrated_classifier(stock, &head, spec, serving).unwrap();
        let (n, s) = (2, sneaker_vision::INPUT_SIZE as usize);
        let x = (0..n * 3 * s * s).map(|i| ((i % 1013) as f32 / 506.5 - 1.0) * 0.9).collect();
        Some(Views { rt, plain, served, x, n, s })
    }

    /// `graph`'s output `name` (`dim` wide) on photos `x`.
    fn run(&self, graph: &[u8], name: &str, dim: usize, x: &[f32]) -> Vec<f32> {
        let shape = vec![3, self.s, self.s];
        self.rt.open_bytes("views", graph, name, dim, shape).unwrap().run(x, self.n).unwrap()
    }

    /// The plain graph's features of photos `x`.
    fn plain_features(&self, x: &[f32]) -> Vec<f32> {
        self.run(&self.plain, export::FEATURES, 1280, x)
    }

    /// The graph with views: its features of the test photos.
    fn served_features(&self) -> Vec<f32> {
        self.run(&self.served, export::FEATURES, 1280, &self.x)
    }
}

#[test]
fn flip_averaged_graph_is_the_mean_of_both_views() {
    let Some(v) = Views::new(17, export::Serving { temperature: 1.0, flip: true, zoom: false }) else { return };
    let m = mirrored(&v.x, v.s);
    let (fx, fm) = (v.plain_features(&v.x), v.plain_features(&m));
    assert!(max_delta(&fx, &fm) > 1e-3, "the test photos look the same mirrored");
    let mean: Vec<f32> = fx.iter().zip(&fm).map(|(a, b)| (a + b) / 2.0).collect();
    assert!(max_delta(&v.served_features(), &mean) <= 1e-4, "features are the mean of the two views");
    let probs = |x: &[f32]| v.run(&v.served, export::PROBS, 3, x);
    assert!(max_delta(&probs(&v.x), &probs(&m)) <= TOLERANCE, "a photo and its mirror get one answer");
}

/// `x` [n,3,s,s]: the centre (`margin` pixels off each side) resized back to s×s, bilinear with
/// half-pixel centres, as ONNX's Resize computes it.
fn zoomed(x: &[f32], s: usize, margin: usize) -> Vec<f32> {
    let kept = s - 2 * margin;
    let scale = s as f32 / kept as f32;
    let at = |o: usize| {
        let p = ((o as f32 + 0.5) / scale - 0.5).clamp(0.0, (kept - 1) as f32);
        let i = (p.floor() as usize).min(kept - 2);
        (i + margin, p - i as f32)
    };
    x.chunks_exact(s * s)
        .flat_map(|plane| {
            (0..s * s).map(move |k| {
                let ((y, fy), (x, fx)) = (at(k / s), at(k % s));
                let v = |yy: usize, xx: usize| plane[yy * s + xx];
                (1.0 - fy) * ((1.0 - fx) * v(y, x) + fx * v(y, x + 1))
                    + fy * ((1.0 - fx) * v(y + 1, x) + fx * v(y + 1, x + 1))
            })
        })
        .collect()
}

#[test]
fn zoomed_graph_is_the_mean_of_the_photo_its_centre_and_their_mirrors() {
    let all = export::Serving { temperature: 1.0, flip: true, zoom: true };
    assert_eq!(all.views(), 4);
    let Some(v) = Views::new(23, all) else { return };
    let (x, s) = (&v.x, v.s);
    let margin = ((1.0 - export::ZOOM_SHARE) * s as f32 / 2.0).round() as usize;
    let z = zoomed(x, s, margin);
    let views = [
        v.plain_features(x),
        v.plain_features(&mirrored(x, s)),
        v.plain_features(&z),
        v.plain_features(&mirrored(&z, s)),
    ];
    assert!(max_delta(&views[0], &views[2]) > 1e-3, "the zoom looks like the photo");
    let mean = |views: &[Vec<f32>]| -> Vec<f32> {
        (0..views[0].len()).map(|k| views.iter().map(|v| v[k]).sum::<f32>() / views.len() as f32).collect()
    };
    let served = v.served_features();
    let d = max_delta(&served, &mean(&views));
    assert!(d <= 1e-3, "features are the mean of the four views (max |Δ| {d})");
    // A zoom two pixels tighter is measurably another view: the check above can tell them apart.
    let z2 = zoomed(x, s, margin + 2);
    let other = [views[0].clone(), views[1].clone(), v.plain_features(&z2), v.plain_features(&mirrored(&z2, s))];
    let wrong = max_delta(&served, &mean(&other));
    assert!(wrong > 10.0 * d, "a tighter zoom is as close ({wrong} vs {d})");
}

#[test]
fn ensemble_graph_averages_its_members() {
    use export::Serving;
    use sneaker_model::Tensor as Stored;
    use sneaker_train::embed_head::{EmbedHead, EmbedSpec};
    use sneaker_train::train::Pretrained;
    let Some(rt) = runtime() else { return };
    let bb = OrtBackbone::load().unwrap();
    let device = Device::flex();
    device.seed(19);
    let stock = Pretrained::weights(&bb).unwrap();
    let spec = EmbedSpec { dim: 8, labels: 3, scale: 30.0, margin: 0.0 };
    // Member 1 tunes the last block and the head conv, member 0 the head conv only: the graph
    // must run the front once and each member's own blocks.
    let member = |seed: u64, tuned: &str| {
        let mut dict = EmbedHead::new(spec, 0.0, &device).state_dict();
        for (k, v) in stock.iter().filter(|(k, _)| k.starts_with(tuned) || k.starts_with("_conv_head")) {
            // BatchNorm's num_batches_tracked is an integer: nothing to nudge.
            let Some(w) = v.to_f32() else { continue };
            let noise = random(w.len(), seed + k.len() as u64, 0.05);
            let nudged: Vec<f32> = w.iter().zip(noise).map(|(a, n)| a * (1.0 + n)).collect();
            dict.insert(k.clone(), Stored::from_f32(v.shape.clone(), &nudged));
        }
        dict
    };
    let (a, b) = (member(1, "_conv_head"), member(2, "_blocks.15."));
    let single = |d: &sneaker_model::StateDict| {
        export::embedder(Variant::Lite0, &sneaker_train::tail::overlay(stock, d), d, spec, Serving::PLAIN).unwrap()
    };
    let lite0 = [(Variant::Lite0, stock)];
    let both =
        export::ensemble_embedder(&lite0, &[(Variant::Lite0, &a), (Variant::Lite0, &b)], spec, Serving::PLAIN).unwrap();
    let (n, s) = (2, sneaker_vision::INPUT_SIZE as usize);
    let x: Vec<f32> = (0..n * 3 * s * s).map(|i| ((i % 1019) as f32 / 509.5 - 1.0) * 0.9).collect();
    let shape = vec![3, s, s];
    let out = |bytes: &[u8], name: &str, dim: usize| {
        rt.open_bytes("m", bytes, name, dim, shape.clone()).unwrap().run(&x, n).unwrap()
    };
    let (la, lb) = (out(&single(&a), export::LOGITS, 3), out(&single(&b), export::LOGITS, 3));
    assert!(max_delta(&la, &lb) > 1e-2, "the members answer alike");
    let mean: Vec<f32> = la.iter().zip(&lb).map(|(p, q)| (p + q) / 2.0).collect();
    let d = max_delta(&out(&both, export::LOGITS, 3), &mean);
    assert!(d <= 1e-3, "ensemble logits are the members' mean: max |Δ| {d}");
    // One unit vector per photo, both members' embeddings side by side.
    let f = out(&both, export::FEATURES, 16);
    for row in f.chunks_exact(16) {
        let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    let fa = out(&single(&a), export::FEATURES, 8);
    let d = max_delta(&f[..8], &fa[..8].iter().map(|v| v / 2f32.sqrt()).collect::<Vec<_>>());
    assert!(d <= 1e-4, "member 0's embedding leads the ensemble's: max |Δ| {d}");
}

#[test]
fn tuned_lite1_embedder_matches_burn_trunk_on_resized_activations() {
    // The last block (20, at Lite1's 8x8) and the head conv: the trunk must take Lite1's shapes.
    tuned_embedder_matches_burn_trunk(Variant::Lite1, 1);
}

#[test]
fn tuned_lite2_embedder_matches_burn_trunk_on_resized_activations() {
    // Stages 5-7 (blocks 11-20, at Lite2's odd 17x17 and 9x9).
    tuned_embedder_matches_burn_trunk(Variant::Lite2, 10);
}

/// A `variant` member tuning its last `unfreeze` blocks: its graph (224² images in, resized to the
/// variant's own side inside) against burn's trunk on the activations the same resize gives.
fn tuned_embedder_matches_burn_trunk(variant: Variant, unfreeze: usize) {
    use burn::module::Module;
    use sneaker_train::embed_head::{EmbedHead, EmbedNet, EmbedSpec};
    use sneaker_train::tail::{self, Trunk};
    use sneaker_train::train::Pretrained;
    let Some(_) = runtime() else { return };
    let bb = OrtBackbone::load_with(&[variant]).unwrap();
    let layout = bb.layout().unwrap();
    assert_eq!((layout.variant, layout.input_size, layout.blocks.len()), (variant, variant.input_size(), 21));
    let device = Device::flex();
    device.seed(23);
    let cut = tail::cut_point(unfreeze, layout.blocks.len()).unwrap();
    let stock = Pretrained::weights(&bb).unwrap();
    let spec = EmbedSpec { dim: 8, labels: 3, scale: 30.0, margin: 0.0 };
    let trunk = Trunk::from_backbone(stock, &layout, cut, &device).unwrap();
    let net = EmbedNet { trunk, head: EmbedHead::new(spec, 0.0, &device) }.map(&mut Nudge(300));
    let n = 2;
    let s = sneaker_vision::INPUT_SIZE as usize;
    let x: Vec<f32> = (0..n * 3 * s * s).map(|i| ((i % 1013) as f32 / 506.5 - 1.0) * 0.9).collect();
    let acts = bb.activations(cut).unwrap().run(&x, n).unwrap();
    assert_eq!(acts.len(), n * layout.activation_shape(cut).unwrap().iter().product::<usize>());
    let burn_p = tail::predict(&net, &layout, net.trunk.first, &acts, &device).unwrap();
    let dict = net.state_dict();
    let bytes = export::embedder(variant, &tail::overlay(stock, &dict), &dict, spec, export::Serving::PLAIN).unwrap();
    let ort_p = bb.open_bytes("member", &bytes, export::PROBS, 3, vec![3, s, s]).unwrap().run(&x, n).unwrap();
    let d = max_delta(&burn_p, &ort_p);
    assert!(d <= TOLERANCE, "{variant}: max |Δprob| {d}");
}

#[test]
fn mixed_backbone_ensemble_averages_its_members() {
    use export::Serving;
    use sneaker_model::Tensor as Stored;
    use sneaker_train::embed_head::{EmbedHead, EmbedSpec};
    use sneaker_train::train::Pretrained;
    let Some(rt) = runtime() else { return };
    let (lite0, lite1) = (rt.weights_of(Variant::Lite0).unwrap(), rt.weights_of(Variant::Lite1).unwrap());
    let device = Device::flex();
    device.seed(29);
    let spec = EmbedSpec { dim: 8, labels: 3, scale: 30.0, margin: 0.0 };
    // Each member's last block and head conv moved off ImageNet, as a tuned member's would be.
    let member = |stock: &sneaker_model::StateDict, last: usize, seed: u64| {
        let mut dict = EmbedHead::new(spec, 0.0, &device).state_dict();
        let tuned = format!("_blocks.{last}.");
        for (k, v) in stock.iter().filter(|(k, _)| k.starts_with(&tuned) || k.starts_with("_conv_head")) {
            let Some(w) = v.to_f32() else { continue };
            let noise = random(w.len(), seed + k.len() as u64, 0.05);
            let nudged: Vec<f32> = w.iter().zip(noise).map(|(a, n)| a * (1.0 + n)).collect();
            dict.insert(k.clone(), Stored::from_f32(v.shape.clone(), &nudged));
        }
        dict
    };
    let (a, b, c) = (member(&lite0, 15, 1), member(&lite1, 20, 2), member(&lite0, 14, 3));
    let stock = [(Variant::Lite0, &lite0), (Variant::Lite1, &lite1)];
    let members = [(Variant::Lite0, &a), (Variant::Lite1, &b), (Variant::Lite0, &c)];
    let all = export::ensemble_embedder(&stock, &members, spec, Serving::PLAIN).unwrap();
    let (n, s) = (2, sneaker_vision::INPUT_SIZE as usize);
    let x: Vec<f32> = (0..n * 3 * s * s).map(|i| ((i % 1021) as f32 / 510.5 - 1.0) * 0.9).collect();
    let logits =
        |bytes: &[u8]| rt.open_bytes("m", bytes, export::LOGITS, 3, vec![3, s, s]).unwrap().run(&x, n).unwrap();
    let single: Vec<Vec<f32>> = members
        .iter()
        .map(|(v, d)| {
            let stock = if *v == Variant::Lite0 { &lite0 } else { &lite1 };
            logits(&export::embedder(*v, &sneaker_train::tail::overlay(stock, d), d, spec, Serving::PLAIN).unwrap())
        })
        .collect();
    assert!(max_delta(&single[0], &single[1]) > 1e-2, "the Lite0 and Lite1 members answer alike");
    let mean: Vec<f32> = (0..single[0].len()).map(|i| single.iter().map(|l| l[i]).sum::<f32>() / 3.0).collect();
    let d = max_delta(&logits(&all), &mean);
    assert!(d <= 1e-3, "ensemble logits are the members' mean: max |Δ| {d}");
    // A member of a backbone whose stock weights are missing is named, not guessed.
    let e = export::ensemble_embedder(&stock[..1], &members, spec, Serving::PLAIN).unwrap_err().to_string();
    assert!(e.contains("EfficientNet-Lite1"), "{e}");
}
