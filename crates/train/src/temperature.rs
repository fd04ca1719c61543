//! Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one number
//! T that divides a trained network's logits, chosen to minimise the log-loss on held-out photos.
//! It changes no ranking of labels within a photo, only how sure the probabilities sound, which
//! is what thresholds and the "91 %" a user reads are built on.
//!
//! The log-loss is convex in β = 1/T (a log-sum-exp of β·z minus the linear β·z_y), so its
//! derivative in β, mean(E_p[z] − z_y), only grows: bisection on its sign finds the optimum.

use crate::error::{Result, TrainError};

/// Temperatures outside this range are not calibration but a broken model or a validation set
/// too easy to learn from (every photo right pushes T towards 0): at most 4× sharper or 10×
/// softer than the network as trained.
pub const RANGE: (f64, f64) = (0.25, 10.0);

/// Bisection steps on log β: the bracket shrinks 2⁶⁰-fold, far below any useful precision.
const STEPS: usize = 60;

/// Softmax of `row / t` in f64, numerically stable for large logits.
pub fn softmax(row: &[f32], t: f64) -> Vec<f64> {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    let e: Vec<f64> = row.iter().map(|&v| ((v as f64 - max) / t).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// Mean −ln p(label) of `logits` (row-major `[n, classes]`) at temperature `t`.
pub fn log_loss(logits: &[f32], labels: &[usize], classes: usize, t: f64) -> f64 {
    let n = labels.len().max(1) as f64;
    logits
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, &y)| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
            let lse = row.iter().map(|&v| ((v as f64 - max) / t).exp()).sum::<f64>().ln();
            lse - (row[y] as f64 - max) / t
        })
        .sum::<f64>()
        / n
}

/// d/dβ of the mean log-loss at β = 1/t: mean over rows of E_p[z] − z_y.
fn slope(logits: &[f32], labels: &[usize], classes: usize, beta: f64) -> f64 {
    let n = labels.len().max(1) as f64;
    logits
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, &y)| {
            let p = softmax(row, 1.0 / beta);
            row.iter().zip(&p).map(|(&z, &q)| z as f64 * q).sum::<f64>() - row[y] as f64
        })
        .sum::<f64>()
        / n
}

/// The temperature in [`RANGE`] with the lowest log-loss of `logits` on `labels`. At an end of
/// the range the optimum lies beyond it (e.g. every photo right: sharper is always better), and
/// the end is returned.
pub fn fit(logits: &[f32], labels: &[usize], classes: usize) -> Result<f64> {
    if classes == 0 || labels.is_empty() || logits.len() != labels.len() * classes {
        return Err(TrainError::Config(format!(
            "temperature fit: {} logits for {} photos of {classes} labels",
            logits.len(),
            labels.len()
        )));
    }
    if logits.iter().any(|v| !v.is_finite()) || labels.iter().any(|&y| y >= classes) {
        return Err(TrainError::Config("temperature fit: logits must be finite and labels in range".into()));
    }
    // β runs from 1/max T to 1/min T; search in ln β, where the bracket is balanced.
    let (mut lo, mut hi) = ((1.0 / RANGE.1).ln(), (1.0 / RANGE.0).ln());
    if slope(logits, labels, classes, lo.exp()) >= 0.0 {
        return Ok(RANGE.1);
    }
    if slope(logits, labels, classes, hi.exp()) <= 0.0 {
        return Ok(RANGE.0);
    }
    for _ in 0..STEPS {
        let mid = 0.5 * (lo + hi);
        if slope(logits, labels, classes, mid.exp()) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(1.0 / (0.5 * (lo + hi)).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fitted_temperature_is_the_analytic_optimum() {
        // Every photo has logits [4, 0]; three of four are of label 0. The log-loss
        // −¾·ln σ(4β) − ¼·ln σ(−4β) is lowest where σ(4β) = ¾, i.e. β = ln 3 / 4:
        // T = 4 / ln 3 = 3.6409569...
        let logits: Vec<f32> = [4.0, 0.0].repeat(4);
        let labels = [0, 0, 0, 1];
        let t = fit(&logits, &labels, 2).unwrap();
        assert!((t - 4.0 / 3f64.ln()).abs() < 1e-6, "{t}");
        // It is the minimum: both neighbours are worse.
        let at = |t| log_loss(&logits, &labels, 2, t);
        assert!(at(t) < at(t * 1.01) && at(t) < at(t / 1.01));
    }

    #[test]
    fn temperature_matches_a_python_fit_on_three_classes() {
        // Python 3, golden-section search on the log-loss itself (no numpy here):
        // import math
        // z = [[2,1,0],[0,3,1],[1,0,2.5],[3,0,0],[0,1,1.5],[2,2.5,0]]; y = [0,1,2,1,2,0]
        // def nll(t): return sum(math.log(sum(math.exp((v-max(r))/t) for v in r)) - (r[k]-max(r))/t
        //                        for r, k in zip(z, y)) / len(z)
        // a, b, g = 0.05, 20, (5**.5-1)/2
        // for _ in range(300):
        //     c, d = b-g*(b-a), a+g*(b-a)
        //     (a, b) = (a, d) if nll(c) < nll(d) else (c, b)
        // (a+b)/2, nll((a+b)/2), nll(1)  ->  1.5363413439900762 0.8841150100271987 0.9277970836242325
        let logits = [2., 1., 0., 0., 3., 1., 1., 0., 2.5, 3., 0., 0., 0., 1., 1.5, 2., 2.5, 0.];
        let labels = [0, 1, 2, 1, 2, 0];
        let t = fit(&logits, &labels, 3).unwrap();
        let at = |t| log_loss(&logits, &labels, 3, t);
        // The optimum is where the slope in β changes sign.
        // (β = 1/T: a slightly larger T is a smaller β, before the optimum.)
        assert!(slope(&logits, &labels, 3, 1.0 / (t * 1.001)) < 0.0);
        assert!(slope(&logits, &labels, 3, 1.0 / (t / 1.001)) > 0.0);
        assert!(at(t) <= at(1.0), "scaling never makes the held-out log-loss worse");
        assert!((t - 1.536_341_344).abs() < 1e-6, "{t}");
        assert!((at(t) - 0.884_115_010).abs() < 1e-8 && (at(1.0) - 0.927_797_084).abs() < 1e-8);
    }

    #[test]
    fn a_set_without_mistakes_ends_at_the_sharp_end() {
        let logits = [3.0f32, 0.0, 0.0, 3.0];
        assert_eq!(fit(&logits, &[0, 1], 2).unwrap(), RANGE.0);
        assert!(fit(&logits, &[0], 2).is_err(), "a row count that does not match is refused");
    }
}
