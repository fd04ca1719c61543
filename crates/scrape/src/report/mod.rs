//! `sneaker-id catalog report`: the reference project's exploration of a catalog as PNG
//! charts and a Markdown page — images per label, top products by pairs sold, views per
//! product and angle coverage, duplicate and rejected files.

mod charts;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sneaker_catalog::Catalog;
use sneaker_vision::DecodeLimits;

use crate::error::{Result, ScrapeError};
use crate::journal::Failure;
use crate::store::{DUPLICATES_CSV, FAILURES_JSONL};

/// Name of the Markdown page written next to the charts.
pub const REPORT_MD: &str = "report.md";

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
}

/// Reads the catalog in `dir`, checks every image, writes PNGs and `report.md` to `out`.
/// Images whose shorter side is below `min_side` count as rejected.
pub fn write_report(dir: &Path, out: &Path, min_side: u32) -> Result<Stats> {
    let catalog = Catalog::open(dir)?;
    std::fs::create_dir_all(out).map_err(|e| ScrapeError::io(out, e))?;
    let stats = gather(&catalog, min_side)?;
    charts::draw_all(&stats, out)?;
    let md = markdown(&stats, dir);
    crate::write_atomic_with(&out.join(REPORT_MD), |w| w.write_all(md.as_bytes()))?;
    Ok(stats)
}

fn gather(catalog: &Catalog, min_side: u32) -> Result<Stats> {
    let mut per_label: BTreeMap<String, usize> = catalog.labels().iter().map(|l| (l.clone(), 0)).collect();
    let mut by_hash: HashMap<String, Vec<String>> = HashMap::new();
    let mut views: BTreeMap<String, usize> = BTreeMap::new();
    let mut angle_images = vec![0usize; 36];
    let mut angle_labels: Vec<std::collections::HashSet<&str>> = vec![Default::default(); 36];
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
    Ok(Stats {
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
    })
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

/// Rows of the failure log shown in the report; the rest are counted.
const FAILURE_ROWS: usize = 200;

fn failure_table(md: &mut String, log: &[Failure]) {
    let _ = writeln!(
        md,
        "\n## Failure log\n\n{} pages, sitemaps and images gave nothing (`{FAILURES_JSONL}`).\n",
        log.len()
    );
    let _ = writeln!(md, "| stage | reason | URL | label | detail |\n|---|---|---|---|---|");
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    for f in log.iter().take(FAILURE_ROWS) {
        let label = f.label.as_deref().map(|l| format!("`{l}`")).unwrap_or_default();
        let _ = writeln!(md, "| {} | {} | {} | {label} | {} |", f.stage, f.kind, cell(&f.url), cell(&f.detail));
    }
    if log.len() > FAILURE_ROWS {
        let _ = writeln!(md, "| ... | | {} more | | |", log.len() - FAILURE_ROWS);
    }
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

fn markdown(s: &Stats, dir: &Path) -> String {
    let counts: Vec<usize> = s.per_label.iter().map(|(_, n)| *n).collect();
    let (min, median, mean, max) = summary(&counts);
    let dup_files: usize = s.duplicate_groups.iter().map(Vec::len).sum();
    let mut md = String::new();
    let _ = writeln!(md, "# Catalog report: `{}`\n", dir.display());
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| labels | {} |\n| images | {} |", s.labels, s.images);
    let _ = writeln!(md, "| images per label (min / median / mean / max) | {min} / {median} / {mean:.1} / {max} |");
    let _ = writeln!(md, "| products with pairs sold | {} |", s.top_sold.len());
    let _ =
        writeln!(md, "| images with a view index | {} |", s.views_per_product.iter().map(|(_, n)| n).sum::<usize>());
    let _ = writeln!(md, "| duplicate groups (files) | {} ({dup_files}) |", s.duplicate_groups.len());
    let _ = writeln!(md, "| rejected files | {} |\n", s.rejected.len());

    let _ = writeln!(md, "## Images per label\n\n![images per label](images_per_label.png)\n");
    let mut sorted = s.per_label.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let fmt = |v: &[(String, usize)]| v.iter().map(|(l, n)| format!("`{l}` {n}")).collect::<Vec<_>>().join(", ");
    let _ = writeln!(md, "Fewest: {}.\n", fmt(&sorted[..sorted.len().min(5)]));
    let _ = writeln!(md, "Most: {}.\n", fmt(&sorted[sorted.len().saturating_sub(5)..]));

    let _ = writeln!(md, "## Top 25 products by pairs sold\n\n![top products](top_pairs_sold.png)\n");
    if s.top_sold.is_empty() {
        let _ = writeln!(md, "No product in this catalog has a pairs-sold figure.\n");
    } else {
        let _ = writeln!(md, "| # | label | name | pairs sold |\n|---|---|---|---|");
        for (i, (label, name, sold)) in s.top_sold.iter().enumerate() {
            let _ = writeln!(md, "| {} | `{label}` | {} | {sold} |", i + 1, name.replace('|', "\\|"));
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Views per product and angle coverage\n");
    let _ = writeln!(md, "![views per product](views_per_product.png)\n\n![angle coverage](angle_coverage.png)\n");
    if s.views_per_product.is_empty() {
        let _ = writeln!(md, "No image has a view index or angle (not a spin catalog).\n");
    } else {
        let covered = s.angle_images.iter().filter(|n| **n > 0).count();
        let _ = writeln!(
            md,
            "{} products have view indices; {covered} of 36 10° sectors have at least one image.\n",
            s.views_per_product.len()
        );
    }

    let _ = writeln!(md, "## Duplicates and rejected files\n\n![duplicates and rejected](quality.png)\n");
    if !s.duplicate_groups.is_empty() {
        let cross = s.duplicate_groups.iter().filter(|g| labels_of(g) > 1).count();
        let _ = writeln!(
            md,
            "{} groups of identical files; {cross} span more than one label (label noise).\n",
            s.duplicate_groups.len()
        );
        let _ = writeln!(md, "| files with identical bytes |\n|---|");
        for g in s.duplicate_groups.iter().take(30) {
            let _ = writeln!(md, "| {} |", g.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" = "));
        }
        if s.duplicate_groups.len() > 30 {
            let _ = writeln!(md, "| ... {} more groups |", s.duplicate_groups.len() - 30);
        }
        md.push('\n');
    }
    if !s.rejected.is_empty() {
        let _ = writeln!(md, "| rejected file | reason | detail |\n|---|---|---|");
        for r in s.rejected.iter().take(50) {
            let _ = writeln!(md, "| `{}` | {} | {} |", r.file, r.kind, r.detail.replace('|', "\\|"));
        }
        md.push('\n');
    }
    if s.scrape_duplicates > 0 || !s.scrape_failures.is_empty() {
        let _ = writeln!(md, "Scrape logs: {} downloads skipped as duplicates; failures by kind:", s.scrape_duplicates);
        for (kind, n) in &s.scrape_failures {
            let _ = writeln!(md, "- {kind}: {n}");
        }
    }
    if !s.failure_log.is_empty() {
        failure_table(&mut md, &s.failure_log);
    }
    md
}

fn labels_of(group: &[String]) -> usize {
    let labels: std::collections::HashSet<&str> = group.iter().map(|f| label_of(f)).collect();
    labels.len()
}

/// The label folder of a catalog file (`images/<label>/x` or `<label>/x`).
fn label_of(file: &str) -> &str {
    let mut parts = file.rsplit('/');
    parts.next();
    parts.next().unwrap_or("")
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

    #[test]
    fn label_of_both_layouts() {
        assert_eq!(label_of("images/nike_dunk/01.jpg"), "nike_dunk");
        assert_eq!(label_of("nike_dunk/kg_1.jpg"), "nike_dunk");
    }
}
