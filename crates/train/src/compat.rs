//! Test only: the label-folder reader train used before the catalog owned both layouts, kept
//! frozen (CSV parsing, folder walk, group and angle rules as they were), so every catalog in
//! `../shared/datasets` is checked to give the same labels, samples and splits through
//! [`Dataset::from_catalog`] as it did through this.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::config::SplitKind;
use crate::dataset::{Dataset, Sample};

/// `(group, angle)` by the `file` column of `annotations.csv`, as the old reader took them.
fn old_annotations(root: &Path) -> HashMap<String, (Option<String>, Option<String>)> {
    let path = root.join("annotations.csv");
    let mut by_file = HashMap::new();
    if !path.is_file() {
        return by_file;
    }
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let file_col = col("file").expect("old reader: a `file` column");
    let group_col = col("group").or(col("product"));
    let colorway_col = col("colorway");
    let angle_col = col("angle").or(col("view"));
    for row in reader.records() {
        let row = row.unwrap();
        let get =
            |c: Option<usize>| c.and_then(|c| row.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let Some(file) = get(Some(file_col)) else { continue };
        let group = get(group_col)
            .or_else(|| get(colorway_col).map(|c| format!("{}/{c}", file.split('/').next().unwrap_or(""))));
        by_file.insert(file, (group, get(angle_col)));
    }
    by_file
}

fn old_stem_group(label: &str, path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let trimmed = stem.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = stem.len() - trimmed.len();
    let base = if (1..=2).contains(&digits) && (trimmed.ends_with('-') || trimmed.ends_with('_')) {
        trimmed.trim_end_matches(['-', '_'])
    } else {
        stem
    };
    format!("{label}/{base}")
}

/// The old `Dataset::open` of a label-folder catalog, before decoding.
fn old_open(root: &Path) -> (Vec<String>, Vec<Sample>) {
    let mut folders = BTreeMap::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                folders.insert(name, entry.path());
            }
        }
    }
    let labels: Vec<String> = folders.keys().cloned().collect();
    let notes = old_annotations(root);
    let mut samples = Vec::new();
    for (name, dir) in &folders {
        let label = labels.iter().position(|l| l == name).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && sneaker_vision::is_image_path(p))
            .collect();
        files.sort();
        for path in files {
            let rel = format!("{name}/{}", path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default());
            let (group, angle) = notes.get(&rel).cloned().unwrap_or_default();
            let group = group.unwrap_or_else(|| old_stem_group(name, &path));
            samples.push(Sample { path, label, group, angle });
        }
    }
    (labels, samples)
}

#[test]
fn every_shared_catalog_gives_the_labels_samples_and_splits_it_gave_before() {
    const SETS: [&str; 4] = ["sneakers50", "packshots-nike-adidas", "sneakers50-wild-dev", "multiview-products"];
    for set in SETS {
        let Some(shared) = sneaker_test_support::shared(&format!("datasets/{set}")) else { return };
        let root = shared.join("datasets").join(set);
        let catalog = sneaker_catalog::Catalog::open(&root).unwrap_or_else(|e| panic!("{set}: {e}"));
        let skipped: Vec<String> = catalog.skipped().iter().map(ToString::to_string).collect();
        assert!(skipped.is_empty(), "{set}: the shared catalogs are clean, yet: {skipped:?}");
        let new = Dataset::from_catalog(&catalog, None).unwrap_or_else(|e| panic!("{set}: {e}"));
        let (labels, mut samples) = old_open(&root);
        // The old reader dropped the same undecodable photos, after listing them.
        samples.retain(|s| !new.skipped.iter().any(|k| k.path == s.path));
        assert_eq!(new.labels, labels, "{set}: labels");
        assert_eq!(new.samples.len(), samples.len(), "{set}: sample count");
        for (n, o) in new.samples.iter().zip(&samples) {
            assert_eq!(n, o, "{set}: sample");
        }
        let old = Dataset { root: root.clone(), labels, samples, skipped: new.skipped.clone() };
        for (kind, fraction, seed) in
            [(SplitKind::Random, 0.2, 0), (SplitKind::Group, 0.2, 0), (SplitKind::Group, 0.3, 7)]
        {
            assert_eq!(new.split(kind, fraction, seed), old.split(kind, fraction, seed), "{set}: {kind:?} split");
        }
    }
}
