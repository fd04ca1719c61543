//! Forward + backward time of the tail's layers in burn Flex at their real shapes (batch 64, 7×7):
//! 1x1 convs as `Conv2d` vs as one matmul (why `tail::pointwise` exists), and the depthwise convs as
//! a grouped `Conv2d` vs the hand-written op (why `depthwise` exists).
//!
//! usage: cargo run --release -p sneaker-train --example bench_layers
use std::time::Instant;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::tensor::{Device, Distribution, Tensor};
use sneaker_train::depthwise::{Geometry, depthwise};
use sneaker_train::tail::pointwise;

fn main() {
    let device = Device::flex().autodiff();
    let (n, s) = (64, 7);
    for (cin, cout) in [(192, 1152), (1152, 192), (320, 1280)] {
        let x = Tensor::<4>::random([n, cin, s, s], Distribution::Default, &device).require_grad();
        let conv = Conv2dConfig::new([cin, cout], [1, 1]).init(&device);
        for _ in 0..2 {
            let t = Instant::now();
            let g = conv.forward(x.clone()).sum().backward();
            let _ = conv.weight.grad(&g).unwrap();
            let a = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let g = pointwise(&conv, x.clone().permute([0, 2, 3, 1])).sum().backward();
            let _ = conv.weight.grad(&g).unwrap();
            let b = t.elapsed().as_secs_f64();
            println!("1x1 {cin}->{cout}: conv2d {a:.3} s, matmul {b:.3} s");
        }
    }
    let c = 1152;
    let x = Tensor::<4>::random([n, c, s, s], Distribution::Default, &device).require_grad();
    for k in [3, 5] {
        let conv = Conv2dConfig::new([c, c], [k, k])
            .with_groups(c)
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .init(&device);
        let t = Instant::now();
        let y = conv.forward(x.clone());
        let f = t.elapsed().as_secs_f64();
        let g = y.sum().backward();
        let _ = conv.weight.grad(&g).unwrap();
        println!(
            "depthwise {k}x{k} {c} grouped Conv2d: forward {f:.3} s, forward+backward {:.3} s",
            t.elapsed().as_secs_f64()
        );
        let geometry = Geometry { kernel: k, stride: 1, pad_begin: k / 2, pad_end: k / 2 };
        for _ in 0..2 {
            // A fresh graph each time: a backward pass consumes the one it ran on.
            let xl = x.clone().permute([0, 2, 3, 1]);
            let bias = conv.bias.as_ref().expect("a bias").val();
            let t = Instant::now();
            let y = depthwise(xl, conv.weight.val(), bias, geometry);
            let f = t.elapsed().as_secs_f64();
            let g = y.sum().backward();
            let _ = conv.weight.grad(&g).unwrap();
            println!(
                "depthwise {k}x{k} {c} op (channels last): forward {f:.3} s, forward+backward {:.3} s",
                t.elapsed().as_secs_f64()
            );
        }
    }
}
