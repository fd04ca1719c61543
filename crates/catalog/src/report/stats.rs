//! The figures a catalog report is drawn from, gathered in one pass over the catalog: every
//! photo read and decoded once (sizes, duplicates by SHA-256), plus a scrape's own logs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sneaker_vision::DecodeLimits;

use crate::catalog::Catalog;
use crate::failure::Failure;
use crate::layout::{DUPLICATES_CSV, FAILURES_JSONL};

/// A file the decoder refused or that is too small to learn from.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub file: String,
    pub kind: String,
    pub detail: String,
}

/// Figures the report is drawn from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub labels: usize,
    pub images: usize,
    /// Images per label, sorted by label.
    pub per_label: Vec<(String, usize)>,
    /// (label, name, pairs sold), most sold first, at most 25.
    pub top_sold: Vec<(String, String, u64)>,
    /// Views with a known index, per label that has any.
    pub views_per_product: Vec<(String, usize)>,
    /// Images per 10° angle bin (36 bins), and labels covering each bin.
    pub angle_images: Vec<usize>,
    pub angle_products: Vec<usize>,
    /// Groups of files with identical bytes (two or more files each).
    pub duplicate_groups: Vec<Vec<String>>,
    pub rejected: Vec<Rejected>,
    /// From a scraped catalog's logs: duplicates skipped and failures by kind.
    pub scrape_duplicates: usize,
    pub scrape_failures: BTreeMap<String, usize>,
    /// The scrape's failure log (`failures.jsonl`), in its order.
    pub failure_log: Vec<Failure>,
    /// Inputs the catalog left out or only partly used, with their reasons (file: line: why).
    pub skipped: Vec<String>,
}

/// Reads and decodes every photo of `catalog`; those whose shorter side is below `min_side`
/// count as rejected, as do those that cannot be read or decoded.
pub(crate) fn gather(catalog: &Catalog, min_side: u32) -> Stats {
    let mut per_label: BTreeMap<String, usize> = catalog.labels().iter().map(|l| (l.clone(), 0)).collect();
    let mut by_hash: HashMap<String, Vec<String>> = HashMap::new();
    let mut views: BTreeMap<String, usize> = BTreeMap::new();
    let mut angle_images = vec![0usize; 36];
    let mut angle_labels: Vec<HashSet<&str>> = vec![Default::default(); 36];
    let mut rejected = Vec::new();
    let limits = DecodeLimits::default();
    for img in catalog.images() {
        *per_label.entry(img.label.clone()).or_default() += 1;
        if img.view.is_some() {
            *views.entry(img.label.clone()).or_default() += 1;
        }
        if let Some(angle) = img.angle.filter(|a| a.is_finite()) {
            let bin = (angle.rem_euclid(360.0) / 10.0) as usize % 36;
            angle_images[bin] += 1;
            angle_labels[bin].insert(img.label.as_str());
        }
        let path = catalog.path_of(img);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                rejected.push(Rejected { file: img.file.clone(), kind: "io".into(), detail: e.to_string() });
                continue;
            }
        };
        by_hash.entry(hex::encode(Sha256::digest(&bytes))).or_default().push(img.file.clone());
        match sneaker_vision::decode_bytes(&bytes, &img.file, &limits) {
            Ok(decoded) if decoded.width().min(decoded.height()) < min_side => rejected.push(Rejected {
                file: img.file.clone(),
                kind: "too_small".into(),
                detail: format!("{}x{} px", decoded.width(), decoded.height()),
            }),
            Ok(_) => {}
            Err(e) => rejected.push(Rejected { file: img.file.clone(), kind: e.kind().into(), detail: e.to_string() }),
        }
    }
    let mut duplicate_groups: Vec<Vec<String>> = by_hash.into_values().filter(|g| g.len() > 1).collect();
    duplicate_groups.iter_mut().for_each(|g| g.sort());
    duplicate_groups.sort();
    let mut top_sold: Vec<(String, String, u64)> = catalog
        .products()
        .filter_map(|p| Some((p.label.clone(), p.name.clone().unwrap_or_else(|| p.label.clone()), p.pairs_sold?)))
        .collect();
    top_sold.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    top_sold.truncate(25);
    let (scrape_duplicates, failure_log) = scrape_logs(catalog.root());
    let mut scrape_failures = BTreeMap::new();
    for f in &failure_log {
        *scrape_failures.entry(f.kind.clone()).or_default() += 1;
    }
    Stats {
        labels: per_label.len(),
        images: catalog.images().len(),
        per_label: per_label.into_iter().collect(),
        top_sold,
        views_per_product: views.into_iter().collect(),
        angle_images,
        angle_products: angle_labels.iter().map(|s| s.len()).collect(),
        duplicate_groups,
        rejected,
        scrape_duplicates,
        scrape_failures,
        failure_log,
        skipped: catalog.skipped().iter().map(ToString::to_string).collect(),
    }
}

/// Duplicates counted from a scraped catalog's `duplicates.csv`, and its failure log.
fn scrape_logs(root: &Path) -> (usize, Vec<Failure>) {
    let duplicates =
        std::fs::read_to_string(root.join(DUPLICATES_CSV)).map(|t| t.lines().count().saturating_sub(1)).unwrap_or(0);
    let failures = std::fs::read_to_string(root.join(FAILURES_JSONL))
        .map(|text| text.lines().filter_map(|l| serde_json::from_str::<Failure>(l).ok()).collect())
        .unwrap_or_default();
    (duplicates, failures)
}

/// min, median, mean, max of a list of counts.
pub(crate) fn summary(values: &[usize]) -> (usize, f64, f64, usize) {
    if values.is_empty() {
        return (0, 0.0, 0.0, 0);
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0 };
    let mean = v.iter().sum::<usize>() as f64 / n as f64;
    (v[0], median, mean, v[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_counts() {
        // median of 1,2,3,10 is (2 + 3) / 2; mean is 16 / 4.
        assert_eq!(summary(&[10, 1, 3, 2]), (1, 2.5, 4.0, 10));
        assert_eq!(summary(&[5]), (5, 5.0, 5.0, 5));
    }
}
