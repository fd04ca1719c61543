//! Classification scores from predicted probabilities: top-1/top-5 accuracy, log-loss, mean
//! per-class accuracy, per-class precision/recall, the confusion matrix and the worst-confused
//! pairs, and how many photos can be answered at 90% precision.

use serde::Serialize;

/// Probabilities are clipped to this before the log, as scikit-learn's `log_loss` does, so one
/// confident mistake costs ln(1e15) ≈ 34.5 instead of infinity.
const LOG_EPS: f32 = 1e-15;

/// Precision and recall of one label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScore {
    pub label: String,
    /// Images of this label in the set.
    pub support: usize,
    pub precision: f64,
    pub recall: f64,
}

/// A (true, predicted) pair and how often the model made that mistake.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub truth: String,
    pub predicted: String,
    pub count: usize,
}

/// All scores of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub n: usize,
    pub top1: f64,
    pub top5: f64,
    pub log_loss: f64,
    /// Mean over labels present in the set of their recall (balanced accuracy).
    pub mean_per_class: f64,
    /// Share of photos answerable at ≥ 90% precision (see [`coverage_at_precision`]).
    pub coverage_at_p90: f64,
    pub per_class: Vec<ClassScore>,
    /// `confusion[truth][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// The most frequent off-diagonal cells, largest first (at most 10).
    pub worst_pairs: Vec<Confusion>,
}

/// Chance that the true class lands in the top `k` of one row, ties broken uniformly at random:
/// 1 or 0 without ties, and exactly k/M for a uniform row (the `random` baseline's expectation).
fn top_k_credit(row: &[f32], truth: usize, k: usize) -> f64 {
    let p = row[truth];
    let above = row.iter().filter(|&&q| q > p).count();
    let tied = row.iter().enumerate().filter(|&(j, &q)| j != truth && q == p).count();
    ((k as f64 - above as f64) / (tied as f64 + 1.0)).clamp(0.0, 1.0)
}

/// Top-1, top-5 and log-loss only: what validation needs every epoch.
pub fn quick(probs: &[f32], classes: usize, labels: &[usize]) -> (f64, f64, f64) {
    let n = labels.len().max(1) as f64;
    let (mut t1, mut t5, mut ll) = (0f64, 0f64, 0f64);
    for (row, &y) in probs.chunks_exact(classes).zip(labels) {
        t1 += top_k_credit(row, y, 1);
        t5 += top_k_credit(row, y, 5);
        ll -= (row[y].clamp(LOG_EPS, 1.0) as f64).ln();
    }
    (t1 / n, t5 / n, ll / n)
}

/// Every score of `probs` (row-major `[n, names.len()]`) against true `labels`.
pub fn score(probs: &[f32], names: &[String], labels: &[usize]) -> Scores {
    let m = names.len();
    assert_eq!(probs.len(), labels.len() * m, "one probability row per label");
    let (top1, top5, log_loss) = quick(probs, m, labels);
    let mut confusion = vec![vec![0usize; m]; m];
    for (row, &y) in probs.chunks_exact(m).zip(labels) {
        let pred = argmax(row);
        confusion[y][pred] += 1;
    }
    let mut per_class = Vec::with_capacity(m);
    let mut recalls = Vec::new();
    for c in 0..m {
        let support: usize = confusion[c].iter().sum();
        let predicted: usize = confusion.iter().map(|r| r[c]).sum();
        let hit = confusion[c][c];
        let recall = if support > 0 { hit as f64 / support as f64 } else { 0.0 };
        if support > 0 {
            recalls.push(recall);
        }
        let precision = if predicted > 0 { hit as f64 / predicted as f64 } else { 0.0 };
        per_class.push(ClassScore { label: names[c].clone(), support, precision, recall });
    }
    let mean_per_class = if recalls.is_empty() { 0.0 } else { recalls.iter().sum::<f64>() / recalls.len() as f64 };
    let mut pairs: Vec<Confusion> = (0..m)
        .flat_map(|t| (0..m).map(move |p| (t, p)))
        .filter(|&(t, p)| t != p && confusion[t][p] > 0)
        .map(|(t, p)| Confusion { truth: names[t].clone(), predicted: names[p].clone(), count: confusion[t][p] })
        .collect();
    pairs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.truth.cmp(&b.truth)));
    pairs.truncate(10);
    let coverage_at_p90 = coverage_at_precision(probs, m, labels, 0.9);
    Scores {
        n: labels.len(),
        top1,
        top5,
        log_loss,
        mean_per_class,
        coverage_at_p90,
        per_class,
        confusion,
        worst_pairs: pairs,
    }
}

/// The largest share of photos whose top-1 answers are still at least `min_precision` right when
/// photos are answered in order of the model's top-1 probability, most confident first. It
/// measures whether confidence can be trusted, which the open-set "not sure" verdicts rest on;
/// 0 when even the most confident answer is wrong.
pub fn coverage_at_precision(probs: &[f32], classes: usize, labels: &[usize], min_precision: f64) -> f64 {
    let mut answers: Vec<(f32, bool)> = probs
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, &y)| {
            let top = argmax(row);
            (row[top], top == y)
        })
        .collect();
    answers.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut right, mut best) = (0usize, 0usize);
    for (i, &(p, ok)) in answers.iter().enumerate() {
        right += ok as usize;
        // A cut can only fall between different probabilities: tied photos are answered together.
        let cut_here = answers.get(i + 1).is_none_or(|next| next.0 < p);
        if cut_here && right as f64 >= min_precision * (i + 1) as f64 {
            best = i + 1;
        }
    }
    best as f64 / labels.len().max(1) as f64
}

/// Index of the largest value (first on ties).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_stops_where_precision_falls_below_the_target() {
        // Two classes; top-1 probabilities 0.9 (right), 0.8 (right), 0.7 (wrong), 0.6 (right).
        // Most confident first: 1/1, 2/2, 2/3, 3/4 right. At 90%: the first two, half the photos;
        // at 75%: all four (3/4 = 0.75).
        let probs = [0.9, 0.1, 0.2, 0.8, 0.3, 0.7, 0.6, 0.4];
        let labels = [0, 1, 0, 0];
        assert_eq!(coverage_at_precision(&probs, 2, &labels, 0.9), 0.5);
        assert_eq!(coverage_at_precision(&probs, 2, &labels, 0.75), 1.0);
        // Ties are answered together: 0.9 right and 0.9 wrong give 1/2 at best.
        assert_eq!(coverage_at_precision(&[0.9, 0.1, 0.9, 0.1], 2, &[0, 1], 0.9), 0.0);
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn uniform_probabilities_give_ln_m_and_chance_accuracy() {
        let m = 7;
        let probs = vec![1.0 / m as f32; 3 * m];
        let s = score(&probs, &names(m), &[0, 3, 6]);
        // log-loss of the uniform model is ln(M) exactly: ln 7 = 1.945910...
        assert!((s.log_loss - 7f64.ln()).abs() < 1e-6, "{}", s.log_loss);
        // Expected accuracy of random choice: 1/M and 5/M.
        assert!((s.top1 - 1.0 / 7.0).abs() < 1e-9);
        assert!((s.top5 - 5.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn hand_computed_small_case() {
        // Rows: truth 0 predicted 0 (p=.7); truth 1 predicted 0 (p(1)=.3); truth 1 predicted 1 (p=.6).
        let probs = [0.7, 0.2, 0.1, 0.5, 0.3, 0.2, 0.1, 0.6, 0.3];
        let s = score(&probs, &names(3), &[0, 1, 1]);
        assert!((s.top1 - 2.0 / 3.0).abs() < 1e-12);
        // -(ln .7 + ln .3 + ln .6)/3 = 0.690...
        let expect = -((0.7f64).ln() + (0.3f64).ln() + (0.6f64).ln()) / 3.0;
        assert!((s.log_loss - expect).abs() < 1e-6);
        assert_eq!(s.confusion, vec![vec![1, 0, 0], vec![1, 1, 0], vec![0, 0, 0]]);
        // recalls 1.0 and 0.5 over the two present classes.
        assert!((s.mean_per_class - 0.75).abs() < 1e-12);
        assert_eq!(s.per_class[0].precision, 0.5);
        assert_eq!(s.worst_pairs, vec![Confusion { truth: "c1".into(), predicted: "c0".into(), count: 1 }]);
    }
}
