//! Depthwise convolution for the trainable tail as a burn backend extension: forward and backward
//! written by hand on channels-last tensors (kernels in [`kernels`]).
//!
//! burn 0.22 computes a grouped `Conv2d`'s weight gradient with one small conv per channel group,
//! which made the 5×5 depthwise convs over 1152 channels most of a fine-tuning step. Here the op
//! is one extension method, [`DepthwiseBackend::depthwise_nhwc`], run on Flex by the kernels and
//! given its backward pass in the `Autodiff` implementation, the extension points burn documents
//! (`#[backend_extension]`, `Backward`). Only Flex is routed: it is the backend training runs on.

mod kernels;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};

use kernels::Dims;
pub use kernels::Geometry;

#[backend_extension(Flex, Autodiff)]
pub trait DepthwiseBackend: Backend {
    /// `x [n, h, w, c]`, `weight [c, 1, k, k]`, `bias [c]` → `[n, ho, wo, c]`.
    fn depthwise_nhwc(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad_begin: usize,
        pad_end: usize,
    ) -> FloatTensor<Self>;
}

/// The kernels a backend runs the op and its gradients with (Flex only).
pub trait DepthwiseKernels: Backend {
    fn forward(x: FloatTensor<Self>, w: FloatTensor<Self>, b: FloatTensor<Self>, g: Geometry) -> FloatTensor<Self>;
    /// Gradients of `(x, weight, bias)` from the output's gradient.
    fn backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        g: Geometry,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Depthwise conv of a channels-last `x [n, h, w, c]` with a grouped-conv `weight [c, 1, k, k]` and
/// `bias [c]`; differentiable in all three on an autodiff device.
pub fn depthwise(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, g: Geometry) -> Tensor<4> {
    let [_, one, k, k2] = weight.dims();
    assert!(one == 1 && k == g.kernel && k2 == k, "depthwise weight {:?} for a {k}x{k} kernel", weight.dims());
    Tensor::from_dispatch(Dispatch::depthwise_nhwc(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        g.stride,
        g.pad_begin,
        g.pad_end,
    ))
}

fn geometry(weight: &FlexTensor, stride: usize, pad_begin: usize, pad_end: usize) -> Geometry {
    Geometry { kernel: weight.layout().shape()[2], stride, pad_begin, pad_end }
}

impl DepthwiseBackend for Flex {
    fn depthwise_nhwc(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        pad_begin: usize,
        pad_end: usize,
    ) -> FlexTensor {
        let g = geometry(&weight, stride, pad_begin, pad_end);
        <Flex as DepthwiseKernels>::forward(x, weight, bias, g)
    }
}

/// The tensor's f32 values in row-major order (copied once, only when it is a strided view).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => s.into(),
        None => t.to_contiguous().into_data().try_into_vec::<f32>().expect("the tail trains in f32").into(),
    }
}

fn dims(t: &FlexTensor) -> Dims {
    let s = t.layout().shape();
    Dims { n: s[0], h: s[1], w: s[2], c: s[3] }
}

fn tensor(v: Vec<f32>, shape: impl Into<Vec<usize>>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape.into()))
}

impl DepthwiseKernels for Flex {
    fn forward(x: FlexTensor, w: FlexTensor, b: FlexTensor, g: Geometry) -> FlexTensor {
        let d = dims(&x);
        let taps = kernels::to_taps(&values(&w), d.c, g.kernel);
        let out = kernels::forward(&values(&x), d, &taps, &values(&b), g);
        tensor(out, [d.n, g.out_size(d.h), g.out_size(d.w), d.c])
    }

    fn backward(x: FlexTensor, w: FlexTensor, grad: FlexTensor, g: Geometry) -> (FlexTensor, FlexTensor, FlexTensor) {
        let d = dims(&x);
        let (k, c) = (g.kernel, d.c);
        let taps = kernels::to_taps(&values(&w), c, k);
        let grad = values(&grad);
        let gx = kernels::input_grad(&grad, d, &taps, g);
        let (gw, gb) = kernels::weight_grad(&values(&x), d, &grad, g);
        (tensor(gx, [d.n, d.h, d.w, c]), tensor(kernels::from_taps(&gw, c, k), [c, 1, k, k]), tensor(gb, [c]))
    }
}

#[derive(Debug)]
struct DepthwiseBackward;

impl<B: DepthwiseKernels> Backward<B, 3> for DepthwiseBackward {
    type State = (NodeId, NodeId, Geometry);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, w_state, g) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let w = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(w_state);
        let (gx, gw, gb) = B::backward(x, w, grad, g);
        for (node, grad) in [(node_x, gx), (node_w, gw), (node_b, gb)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: DepthwiseKernels, C: CheckpointStrategy> DepthwiseBackend for Autodiff<B, C> {
    fn depthwise_nhwc(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad_begin: usize,
        pad_end: usize,
    ) -> FloatTensor<Self> {
        let kernel = burn::backend::TensorMetadata::shape(weight.primitive())[2];
        let g = Geometry { kernel, stride, pad_begin, pad_end };
        match DepthwiseBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = (prep.checkpoint(&x), prep.checkpoint(&weight), g);
                prep.finish(state, B::forward(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), g))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::forward(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), g))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution};

    /// Max |a − b| of two tensors.
    fn gap<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// The op against burn's own grouped `Conv2d` (channels first) on the same numbers: output and
    /// the gradients of input, weight and bias, for the tail's kernel / stride / padding cases.
    #[test]
    fn matches_the_grouped_conv_and_its_gradients() {
        let device = Device::flex().autodiff();
        // (channels, side, kernel, stride, pad before, pad after): TF SAME for these sides, Lite0's
        // even ones and the odd ones of Lite1 (15) and Lite2 (17, 9).
        for (c, side, k, s, pb, pe) in [
            (8, 7, 5, 1, 2, 2),
            (6, 14, 5, 2, 1, 2),
            (5, 9, 3, 1, 1, 1),
            (4, 8, 3, 2, 0, 1),
            (8, 17, 5, 2, 2, 2),
            (8, 15, 5, 2, 2, 2),
            (8, 9, 5, 1, 2, 2),
            (16, 17, 5, 1, 2, 2),
        ] {
            let g = Geometry { kernel: k, stride: s, pad_begin: pb, pad_end: pe };
            let mut conv = Conv2dConfig::new([c, c], [k, k])
                .with_stride([s, s])
                .with_groups(c)
                .with_padding(PaddingConfig2d::Explicit(pb, pb, pe, pe))
                .init(&device);
            let w = Tensor::<4>::random([c, 1, k, k], Distribution::Default, &device).require_grad();
            let b = Tensor::<1>::random([c], Distribution::Default, &device).require_grad();
            conv.weight = Param::from_tensor(w.clone());
            conv.bias = Some(Param::from_tensor(b.clone()));
            let x = Tensor::<4>::random([3, c, side, side], Distribution::Default, &device).require_grad();
            let xl = x.clone().permute([0, 2, 3, 1]);
            let reference = conv.forward(x.clone());
            let ours = depthwise(xl, w.clone(), b.clone(), g).permute([0, 3, 1, 2]);
            assert_eq!(ours.dims(), reference.dims());
            assert!(gap(ours.clone(), reference.clone()) < 1e-5, "forward, case {c} {side} {k} {s}");
            // A loss that weights every output differently, so every gradient entry is checked.
            let weights = Tensor::<4>::random(reference.dims(), Distribution::Default, &device);
            let gr = (reference * weights.clone()).sum().backward();
            let go = (ours * weights).sum().backward();
            let pair = |t: &Tensor<1>| (t.grad(&gr).unwrap(), t.grad(&go).unwrap());
            let (rb, ob) = pair(&b);
            // Relative: these sums run over every output pixel (up to ~450 here), and the two
            // implementations add in different orders.
            let tolerance = |t: &Tensor<1>| 1e-5 * t.clone().abs().max().into_scalar::<f32>().max(1.0);
            assert!(gap(rb.clone(), ob) < tolerance(&rb), "bias gradient, case {c} {side} {k} {s}");
            let (rw, ow) = (w.grad(&gr).unwrap(), w.grad(&go).unwrap());
            let rw_flat = rw.clone().flatten::<1>(0, 3);
            assert!(gap(rw, ow) < tolerance(&rw_flat), "weight gradient, case {c} {side} {k} {s}");
            let (rx, ox) = (x.grad(&gr).unwrap(), x.grad(&go).unwrap());
            assert!(gap(rx, ox) < 1e-5, "input gradient, case {c} {side} {k} {s}");
        }
    }

    #[test]
    fn runs_without_autodiff() {
        let device = Device::flex();
        let g = Geometry { kernel: 3, stride: 1, pad_begin: 1, pad_end: 1 };
        let x = Tensor::<4>::ones([1, 4, 4, 2], &device);
        let w = Tensor::<4>::ones([2, 1, 3, 3], &device);
        let b = Tensor::<1>::zeros([2], &device);
        let y: Vec<f32> = depthwise(x, w, b, g).into_data().try_to_vec().unwrap();
        // Corner pixels see 4 of the 9 taps, edges 6, the inside all 9.
        assert_eq!(&y[..8], &[4.0, 4.0, 6.0, 6.0, 6.0, 6.0, 4.0, 4.0]);
        assert_eq!(y[2 * (4 + 1)], 9.0);
    }
}
