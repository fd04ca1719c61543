//! ImageNet-1k class names in the standard index order (0 = tench ... 999 = toilet tissue), and
//! which classes are footwear, for reading the pretrained classifier's output.
//!
//! `data/imagenet_classes.tsv` holds one line per class index: WordNet synset, a tab, the
//! comma-separated lemmas. It was made from `timm/data/_info/imagenet_synsets.txt` and
//! `timm/data/_info/imagenet_synset_to_lemma.txt` in the PyPI wheel `timm` 1.0.31 (Apache-2.0),
//! fetched with `python3 -m pip download --no-deps timm`.

use std::sync::LazyLock;

/// Number of ImageNet-1k classes, the width of the pretrained classifier's output.
pub const NUM_CLASSES: usize = 1000;

/// The ImageNet classes that are shoes: clog, cowboy boot, Loafer, running shoe, sandal.
/// (Sock and shoe shop are near misses: not footwear, and not a shoe on its own.)
pub const FOOTWEAR: &[usize] = &[502, 514, 630, 770, 774];

const TSV: &str = include_str!("../data/imagenet_classes.tsv");

/// (synset, lemmas) per class index.
static CLASSES: LazyLock<Vec<(&'static str, &'static str)>> =
    LazyLock::new(|| TSV.lines().filter_map(|l| l.split_once('\t')).collect());

/// The common name of class `i`, e.g. "running shoe" for 770; "unknown class" past the end.
pub fn class_name(i: usize) -> &'static str {
    lemmas(i).and_then(|l| l.split(", ").next()).unwrap_or("unknown class")
}

/// All names of class `i` as listed in WordNet, e.g. "tench, Tinca tinca".
pub fn lemmas(i: usize) -> Option<&'static str> {
    CLASSES.get(i).map(|&(_, lemmas)| lemmas)
}

/// The WordNet id of class `i`, e.g. "n04120489" for running shoe.
pub fn synset(i: usize) -> Option<&'static str> {
    CLASSES.get(i).map(|&(synset, _)| synset)
}

/// Total probability the classifier gives to footwear, from softmax output over ImageNet classes.
/// Indices missing from a shorter slice count as zero.
pub fn footwear_probability(probs: &[f32]) -> f32 {
    FOOTWEAR.iter().filter_map(|&i| probs.get(i)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_every_class_once() {
        assert_eq!(CLASSES.len(), NUM_CLASSES);
        assert_eq!(TSV.lines().count(), NUM_CLASSES, "every line must be synset<TAB>lemmas");
        let mut synsets: Vec<_> = CLASSES.iter().map(|c| c.0).collect();
        synsets.sort_unstable();
        synsets.dedup();
        assert_eq!(synsets.len(), NUM_CLASSES);
        assert!(CLASSES.iter().all(|(s, l)| s.starts_with('n') && s.len() == 9 && !l.is_empty()));
    }

    #[test]
    fn known_indices() {
        // Indices from the standard ImageNet-1k order (torchvision / timm class index lists).
        assert_eq!(class_name(0), "tench");
        assert_eq!(lemmas(0), Some("tench, Tinca tinca"));
        assert_eq!(class_name(1), "goldfish");
        assert_eq!(class_name(502), "clog");
        assert_eq!(class_name(514), "cowboy boot");
        assert_eq!(class_name(630), "Loafer");
        assert_eq!(class_name(770), "running shoe");
        assert_eq!(synset(770), Some("n04120489"));
        assert_eq!(class_name(774), "sandal");
        assert_eq!(class_name(806), "sock");
        assert_eq!(class_name(999), "toilet tissue");
        assert_eq!(class_name(1000), "unknown class");
        assert_eq!(synset(1000), None);
    }

    #[test]
    fn footwear_sums_only_shoes() {
        let mut probs = vec![0.0f32; NUM_CLASSES];
        for (&i, p) in FOOTWEAR.iter().zip([0.05, 0.1, 0.15, 0.2, 0.25]) {
            probs[i] = p;
        }
        probs[806] = 0.2; // sock
        probs[788] = 0.05; // shoe shop
        assert!((footwear_probability(&probs) - 0.75).abs() < 1e-6);
        assert!((footwear_probability(&probs[..600]) - 0.15).abs() < 1e-6);
        assert_eq!(footwear_probability(&[]), 0.0);
    }
}
