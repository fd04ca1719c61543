//! Train / validation splits of a [`Dataset`], seeded and stratified by label; the `group` kind
//! keeps every group (one physical product, one spin or shoot, as the catalog says) on one side.

use std::collections::{BTreeMap, HashMap};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::config::SplitKind;
use crate::dataset::Dataset;

impl Dataset {
    /// Indices of (train, validation) samples, deterministic in `seed`.
    ///
    /// `Random` holds out `round(fraction × n)` images of every label (at least one when the
    /// label has two or more). `Group` shuffles each label's groups and moves whole groups to
    /// validation until the label's share is reached, so no group straddles the split; a group
    /// found under two labels (one shoot filed twice) follows the side its first label gave it.
    pub fn split(&self, kind: SplitKind, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut train = Vec::new();
        let mut val = Vec::new();
        // Whether each group went to validation, across labels.
        let mut held_out: HashMap<&str, bool> = HashMap::new();
        for label in 0..self.labels.len() {
            let idx: Vec<usize> = (0..self.samples.len()).filter(|&i| self.samples[i].label == label).collect();
            let want = if idx.len() >= 2 { ((idx.len() as f64 * fraction).round() as usize).max(1) } else { 0 };
            match kind {
                SplitKind::Random => {
                    let mut idx = idx;
                    idx.shuffle(&mut rng);
                    val.extend_from_slice(&idx[..want]);
                    train.extend_from_slice(&idx[want..]);
                }
                SplitKind::Group => {
                    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
                    for &i in &idx {
                        groups.entry(self.samples[i].group.as_str()).or_default().push(i);
                    }
                    let mut groups: Vec<(&str, Vec<usize>)> = groups.into_iter().collect();
                    groups.shuffle(&mut rng);
                    let mut taken = 0;
                    for (k, (name, g)) in groups.iter().enumerate() {
                        // Keep at least one group for training.
                        let to_val = *held_out.entry(*name).or_insert(taken < want && k + 1 < groups.len());
                        if to_val {
                            taken += g.len();
                            val.extend_from_slice(g);
                        } else {
                            train.extend_from_slice(g);
                        }
                    }
                }
            }
        }
        train.sort_unstable();
        val.sort_unstable();
        (train, val)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tests::tiny_catalog;

    #[test]
    fn opens_folders_and_splits_stratified() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["b_shoe", "a_shoe"], 10);
        std::fs::write(dir.path().join("a_shoe/readme.txt"), "not an image").unwrap();
        let d = Dataset::open(dir.path(), None).unwrap();
        assert_eq!(d.labels, vec!["a_shoe", "b_shoe"]);
        assert_eq!(d.counts(), vec![10, 10]);
        let (tr, va) = d.split(SplitKind::Random, 0.2, 7);
        assert_eq!((tr.len(), va.len()), (16, 4));
        assert_eq!(d.split(SplitKind::Random, 0.2, 7), (tr.clone(), va.clone()), "same seed, same split");
        for l in 0..2 {
            assert_eq!(va.iter().filter(|&&i| d.samples[i].label == l).count(), 2);
        }
    }

    #[test]
    fn group_split_never_straddles_a_group() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["a", "b", "c"], 12);
        let d = Dataset::open(dir.path(), None).unwrap();
        let (tr, va) = d.split(SplitKind::Group, 0.25, 1);
        assert!(!va.is_empty());
        for &v in &va {
            assert!(tr.iter().all(|&t| d.samples[t].group != d.samples[v].group));
        }
    }

    #[test]
    fn a_group_under_two_labels_stays_on_one_side() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["a", "b"], 8);
        let mut rows = String::from("file,group\n");
        for label in ["a", "b"] {
            for k in 0..8 {
                // shot0 and shot1 of both labels are one shoot; the rest are a group each.
                let group = if k < 2 { "shared".to_owned() } else { format!("{label}{k}") };
                rows.push_str(&format!("{label}/shot{k}-{}.png,{group}\n", k % 2));
            }
        }
        std::fs::write(dir.path().join(sneaker_catalog::ANNOTATIONS_CSV), rows).unwrap();
        let d = Dataset::open(dir.path(), None).unwrap();
        for seed in 0..20 {
            let (tr, va) = d.split(SplitKind::Group, 0.3, seed);
            let in_val = va.iter().filter(|&&i| d.samples[i].group == "shared").count();
            let in_train = tr.iter().filter(|&&i| d.samples[i].group == "shared").count();
            assert!(in_val == 0 || in_train == 0, "seed {seed}: shared group split {in_train} / {in_val}");
        }
    }
}
