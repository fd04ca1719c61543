//! The depthwise convolution's three loops on plain slices, channels last.
//!
//! Channels last puts the `C` values of one pixel next to each other, so every inner loop is a
//! multiply-add over `C` contiguous floats (672 or 1152 in the tail) whatever the stride or kernel:
//! the compiler vectorises it, and `pulp` compiles it for the widest instruction set the CPU has
//! (AVX2/AVX-512 here; the release profile targets plain x86-64). burn 0.22's grouped `Conv2d`
//! instead runs one small conv per channel for the weight gradient.

use rayon::prelude::*;

/// Square kernel, stride and TF "SAME" padding (`begin` before, `end` after, per axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub kernel: usize,
    pub stride: usize,
    pub pad_begin: usize,
    pub pad_end: usize,
}

impl Geometry {
    /// Output side for an input side.
    pub fn out_size(&self, input: usize) -> usize {
        (input + self.pad_begin + self.pad_end - self.kernel) / self.stride + 1
    }

    /// The input index that output `o` reads through tap `t`, if it falls inside the input.
    #[inline(always)]
    fn tap(&self, o: usize, t: usize, input: usize) -> Option<usize> {
        let i = (o * self.stride + t).checked_sub(self.pad_begin)?;
        (i < input).then_some(i)
    }
}

/// `[n, h, w, c]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

/// `acc[i] += a[i] * b[i]`: the one loop everything below is made of.
#[inline(always)]
fn mul_add(acc: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &x), &y) in acc.iter_mut().zip(a).zip(b) {
        *o += x * y;
    }
}

/// Every (output pixel, tap, input pixel) of one sample, in a fixed order.
#[inline(always)]
fn for_each_tap(d: Dims, g: Geometry, mut f: impl FnMut(usize, usize, usize)) {
    let (ho, wo) = (g.out_size(d.h), g.out_size(d.w));
    for oy in 0..ho {
        for ox in 0..wo {
            for ky in 0..g.kernel {
                let Some(iy) = g.tap(oy, ky, d.h) else { continue };
                for kx in 0..g.kernel {
                    let Some(ix) = g.tap(ox, kx, d.w) else { continue };
                    f(oy * wo + ox, ky * g.kernel + kx, iy * d.w + ix);
                }
            }
        }
    }
}

/// `x [n, h, w, c]`, taps `[k·k, c]`, bias `[c]` → `[n, ho, wo, c]`.
pub fn forward(x: &[f32], d: Dims, taps: &[f32], bias: &[f32], g: Geometry) -> Vec<f32> {
    let (ho, wo, c) = (g.out_size(d.h), g.out_size(d.w), d.c);
    let mut out = vec![0.0f32; d.n * ho * wo * c];
    let arch = pulp::Arch::new();
    out.par_chunks_mut(ho * wo * c).enumerate().for_each(|(s, out)| {
        let x = &x[s * d.h * d.w * c..][..d.h * d.w * c];
        arch.dispatch(|| {
            for px in out.chunks_exact_mut(c) {
                px.copy_from_slice(bias);
            }
            for_each_tap(d, g, |o, t, i| {
                mul_add(&mut out[o * c..][..c], &x[i * c..][..c], &taps[t * c..][..c]);
            });
        });
    });
    out
}

/// Gradient of the input: `grad [n, ho, wo, c]` → `[n, h, w, c]`.
pub fn input_grad(grad: &[f32], d: Dims, taps: &[f32], g: Geometry) -> Vec<f32> {
    let (ho, wo, c) = (g.out_size(d.h), g.out_size(d.w), d.c);
    let mut gx = vec![0.0f32; d.n * d.h * d.w * c];
    let arch = pulp::Arch::new();
    gx.par_chunks_mut(d.h * d.w * c).enumerate().for_each(|(s, gx)| {
        let grad = &grad[s * ho * wo * c..][..ho * wo * c];
        arch.dispatch(|| {
            for_each_tap(d, g, |o, t, i| {
                mul_add(&mut gx[i * c..][..c], &grad[o * c..][..c], &taps[t * c..][..c]);
            });
        });
    });
    gx
}

/// Samples summed per task by [`weight_grad`]: fixed, so the sum's order (and its rounding) does
/// not depend on the number of threads, and training stays reproducible.
const SAMPLES_PER_TASK: usize = 4;

/// Gradients of the taps `[k·k, c]` and of the bias `[c]`.
pub fn weight_grad(x: &[f32], d: Dims, grad: &[f32], g: Geometry) -> (Vec<f32>, Vec<f32>) {
    let (ho, wo, c, taps) = (g.out_size(d.h), g.out_size(d.w), d.c, g.kernel * g.kernel);
    let arch = pulp::Arch::new();
    let partial: Vec<(Vec<f32>, Vec<f32>)> = (0..d.n.div_ceil(SAMPLES_PER_TASK))
        .into_par_iter()
        .map(|task| {
            let (mut gw, mut gb) = (vec![0.0f32; taps * c], vec![0.0f32; c]);
            let samples = task * SAMPLES_PER_TASK..((task + 1) * SAMPLES_PER_TASK).min(d.n);
            arch.dispatch(|| {
                for s in samples {
                    let x = &x[s * d.h * d.w * c..][..d.h * d.w * c];
                    let grad = &grad[s * ho * wo * c..][..ho * wo * c];
                    for px in grad.chunks_exact(c) {
                        for (b, &v) in gb.iter_mut().zip(px) {
                            *b += v;
                        }
                    }
                    for_each_tap(d, g, |o, t, i| {
                        mul_add(&mut gw[t * c..][..c], &grad[o * c..][..c], &x[i * c..][..c]);
                    });
                }
            });
            (gw, gb)
        })
        .collect();
    let (mut gw, mut gb) = (vec![0.0f32; taps * c], vec![0.0f32; c]);
    for (w, b) in &partial {
        gw.iter_mut().zip(w).for_each(|(a, v)| *a += v);
        gb.iter_mut().zip(b).for_each(|(a, v)| *a += v);
    }
    (gw, gb)
}

/// `[c, 1, k, k]` (burn's and ONNX's grouped-conv weight) → taps `[k·k, c]`.
pub fn to_taps(weight: &[f32], c: usize, k: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; weight.len()];
    for ch in 0..c {
        for tap in 0..k * k {
            t[tap * c + ch] = weight[ch * k * k + tap];
        }
    }
    t
}

/// Taps `[k·k, c]` → `[c, 1, k, k]`.
pub fn from_taps(taps: &[f32], c: usize, k: usize) -> Vec<f32> {
    let mut w = vec![0.0f32; taps.len()];
    for ch in 0..c {
        for tap in 0..k * k {
            w[ch * k * k + tap] = taps[tap * c + ch];
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_sizes() {
        // TF SAME: 14 → 7 at stride 2 with a 5x5 kernel pads 1 before and 2 after.
        let g = Geometry { kernel: 5, stride: 2, pad_begin: 1, pad_end: 2 };
        assert_eq!(g.out_size(14), 7);
        assert_eq!(g.tap(0, 0, 14), None);
        assert_eq!(g.tap(0, 1, 14), Some(0));
        assert_eq!(g.tap(6, 4, 14), None);
    }

    #[test]
    fn taps_round_trip() {
        let w: Vec<f32> = (0..3 * 9).map(|i| i as f32).collect();
        assert_eq!(from_taps(&to_taps(&w, 3, 3), 3, 3), w);
        let t = to_taps(&w, 3, 3);
        assert_eq!((t[1], t[3]), (9.0, 1.0), "tap 0 of channel 1 follows tap 0 of channel 0; tap 1 comes after all 3");
    }
}
