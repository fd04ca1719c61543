//! The report's Markdown page: the figures in tables, next to the charts they explain.

use std::fmt::Write as _;
use std::path::Path;

use super::stats::{Stats, summary};
use crate::failure::Failure;
use crate::layout::FAILURES_JSONL;

pub(crate) fn markdown(s: &Stats, dir: &Path) -> String {
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
    let _ = writeln!(md, "| rejected files | {} |", s.rejected.len());
    let _ = writeln!(md, "| catalog inputs skipped | {} |\n", s.skipped.len());

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
    if !s.skipped.is_empty() {
        skipped_table(&mut md, &s.skipped);
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

/// Rows, files and values the catalog could not use, as it warned when opened.
fn skipped_table(md: &mut String, skipped: &[String]) {
    let _ = writeln!(
        md,
        "## Inputs the catalog skipped\n\n{} rows or files gave nothing, or less than they should:\n",
        skipped.len()
    );
    let _ = writeln!(md, "| where and why |\n|---|");
    for s in skipped.iter().take(50) {
        let _ = writeln!(md, "| {} |", s.replace('|', "\\|"));
    }
    if skipped.len() > 50 {
        let _ = writeln!(md, "| ... {} more |", skipped.len() - 50);
    }
    md.push('\n');
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_of_both_layouts() {
        assert_eq!(label_of("images/nike_dunk/01.jpg"), "nike_dunk");
        assert_eq!(label_of("nike_dunk/kg_1.jpg"), "nike_dunk");
    }
}
