//! The report's PNG charts, on the canvas every chart uses (`sneaker_files::chart`: embedded
//! DejaVu Sans, atomic PNG writes).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use sneaker_files::chart::{Area, ChartError};

use super::stats::{Stats, summary};
use crate::error::{CatalogError, Result};

const W: u32 = 1000;
const H: u32 = 600;
const BAR: RGBColor = RGBColor(52, 101, 164);
const ACCENT: RGBColor = RGBColor(204, 0, 0);

/// Draws into a fresh white canvas and saves it as `out/name`.
fn png(out: &Path, name: &str, draw: impl FnOnce(&Area) -> std::result::Result<(), String>) -> Result<()> {
    let path = out.join(name);
    sneaker_files::chart::write_png(&path, (W, H), |root, _| draw(root)).map_err(|e| match e {
        ChartError::Draw(detail) => CatalogError::Chart { path: path.clone(), detail },
        ChartError::Io(e) => CatalogError::io(&path, e),
    })
}

/// Tick label for counts: whole numbers only, so small ranges do not read "0 0 0 1 1".
fn integer(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-6 { format!("{v:.0}") } else { String::new() }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A titled canvas saying there is nothing to plot, and why.
fn no_data(area: &Area, title: &str, why: &str) -> std::result::Result<(), String> {
    area.fill(&WHITE).map_err(err)?;
    let (w, h) = area.dim_in_pixel();
    let centre = Pos::new(HPos::Center, VPos::Center);
    let big = ("sans-serif", 30).into_font().color(&BLACK).pos(centre);
    area.draw(&Text::new(title.to_owned(), (w as i32 / 2, h as i32 / 3), big)).map_err(err)?;
    let small = ("sans-serif", 22).into_font().color(&RGBColor(110, 110, 110)).pos(centre);
    area.draw(&Text::new(why.to_owned(), (w as i32 / 2, h as i32 / 2), small)).map_err(err)
}

pub fn draw_all(s: &Stats, out: &Path) -> Result<()> {
    png(out, "images_per_label.png", |a| images_per_label(a, s))?;
    png(out, "top_pairs_sold.png", |a| top_sold(a, s))?;
    png(out, "views_per_product.png", |a| views_per_product(a, s))?;
    png(out, "angle_coverage.png", |a| angle_coverage(a, s))?;
    png(out, "quality.png", |a| quality(a, s))?;
    Ok(())
}

/// Vertical bars `(x0, x1, height)` on numeric axes.
fn bars(
    area: &Area,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_range: (f64, f64),
    data: &[(f64, f64, f64)],
) -> std::result::Result<(), String> {
    let y_max = data.iter().map(|d| d.2).fold(1.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 26))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range.0..x_range.1, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .y_label_formatter(&integer)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(data.iter().map(|&(x0, x1, h)| Rectangle::new([(x0, 0.0), (x1, h)], BAR.filled())))
        .map_err(err)?;
    Ok(())
}

fn images_per_label(area: &Area, s: &Stats) -> std::result::Result<(), String> {
    area.fill(&WHITE).map_err(err)?;
    let counts: Vec<usize> = s.per_label.iter().map(|(_, n)| *n).collect();
    if counts.is_empty() {
        return no_data(area, "Images per label", "the catalog has no images");
    }
    let (left, right) = area.split_horizontally(W * 2 / 5);
    box_plot(&left, &format!("Images per label (n={})", counts.len()), &counts)?;
    let (min, _, _, max) = summary(&counts);
    let bins = 20usize.min(max - min + 1).max(1);
    let width = ((max - min + 1) as f64 / bins as f64).max(1.0);
    let mut hist = vec![0f64; bins];
    for &c in &counts {
        hist[(((c - min) as f64 / width) as usize).min(bins - 1)] += 1.0;
    }
    let data: Vec<(f64, f64, f64)> = hist
        .iter()
        .enumerate()
        .map(|(i, &h)| (min as f64 + i as f64 * width, min as f64 + (i + 1) as f64 * width, h))
        .collect();
    let x_range = (min as f64, min as f64 + bins as f64 * width);
    bars(&right, "Histogram of images per label", "images in the label", "labels", x_range, &data)
}

/// Tukey box plot drawn from primitives: box from the first to the third quartile, median
/// line, whiskers to the furthest values within 1.5 IQR, dots beyond. (plotters' `Boxplot`
/// puts its whiskers at the 1.5 IQR fences themselves, which can lie outside the data.)
fn box_plot(area: &Area, title: &str, counts: &[usize]) -> std::result::Result<(), String> {
    let mut v: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    v.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    let (q1, median, q3) = (quantile(0.25), quantile(0.5), quantile(0.75));
    let iqr = q3 - q1;
    let low = v.iter().copied().find(|x| *x >= q1 - 1.5 * iqr).unwrap_or(q1);
    let high = v.iter().rev().copied().find(|x| *x <= q3 + 1.5 * iqr).unwrap_or(q3);
    let top = v[v.len() - 1] * 1.1 + 1.0;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .y_desc("images")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;
    let line = BAR.stroke_width(2);
    chart.draw_series([Rectangle::new([(0.3, q1), (0.7, q3)], line)]).map_err(err)?;
    for (points, style) in [
        (vec![(0.3, median), (0.7, median)], ACCENT.stroke_width(3)),
        (vec![(0.5, q3), (0.5, high)], line),
        (vec![(0.5, q1), (0.5, low)], line),
        (vec![(0.4, high), (0.6, high)], line),
        (vec![(0.4, low), (0.6, low)], line),
    ] {
        chart.draw_series([PathElement::new(points, style)]).map_err(err)?;
    }
    chart
        .draw_series(v.iter().filter(|x| **x < low || **x > high).map(|&x| Circle::new((0.5, x), 4, BAR.filled())))
        .map_err(err)?;
    let note = format!("median {median}, quartiles {q1}–{q3}, whiskers {low}–{high}");
    area.draw(&Text::new(note, (20, H as i32 - 25), ("sans-serif", 16))).map_err(err)?;
    Ok(())
}

fn top_sold(area: &Area, s: &Stats) -> std::result::Result<(), String> {
    area.fill(&WHITE).map_err(err)?;
    if s.top_sold.is_empty() {
        return no_data(area, "Top 25 products by pairs sold", "no product in this catalog has a pairs-sold figure");
    }
    let n = s.top_sold.len();
    let max = s.top_sold.iter().map(|t| t.2).max().unwrap_or(1) as f64 * 1.1;
    let names: Vec<String> = s.top_sold.iter().map(|t| shorten(&t.1, 34)).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(format!("Top {n} products by pairs sold"), ("sans-serif", 26))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(300)
        .build_cartesian_2d(0f64..max, 0f64..n as f64)
        .map_err(err)?;
    let label_for = |y: &f64| {
        let i = y.floor() as usize;
        // Row 0 is drawn at the top: the best seller first.
        names.get(n.saturating_sub(i + 1)).cloned().unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| if (y.fract() - 0.5).abs() < 0.01 { label_for(y) } else { String::new() })
        .x_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("pairs sold")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(s.top_sold.iter().enumerate().map(|(i, t)| {
            let y = (n - i - 1) as f64;
            Rectangle::new([(0.0, y + 0.15), (t.2 as f64, y + 0.85)], BAR.filled())
        }))
        .map_err(err)?;
    Ok(())
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

fn views_per_product(area: &Area, s: &Stats) -> std::result::Result<(), String> {
    area.fill(&WHITE).map_err(err)?;
    if s.views_per_product.is_empty() {
        return no_data(area, "Views per product", "no image has a view index (not a spin catalog)");
    }
    let max = s.views_per_product.iter().map(|v| v.1).max().unwrap_or(1);
    let mut hist = vec![0f64; max + 1];
    for (_, n) in &s.views_per_product {
        hist[*n] += 1.0;
    }
    let data: Vec<(f64, f64, f64)> =
        hist.iter().enumerate().map(|(v, &h)| (v as f64 + 0.1, v as f64 + 0.9, h)).collect();
    bars(area, "Views per product", "views kept", "products", (0.0, max as f64 + 1.0), &data)
}

fn angle_coverage(area: &Area, s: &Stats) -> std::result::Result<(), String> {
    area.fill(&WHITE).map_err(err)?;
    if s.angle_images.iter().all(|n| *n == 0) {
        return no_data(area, "Angle coverage", "no image has a known angle (not a spin catalog)");
    }
    let data: Vec<(f64, f64, f64)> = s
        .angle_products
        .iter()
        .enumerate()
        .map(|(i, &n)| (i as f64 * 10.0 + 1.0, i as f64 * 10.0 + 9.0, n as f64))
        .collect();
    bars(
        area,
        "Angle coverage: products with a view in each 10° sector",
        "angle (degrees, 0 = img01)",
        "products",
        (0.0, 360.0),
        &data,
    )
}

fn quality(area: &Area, s: &Stats) -> std::result::Result<(), String> {
    area.fill(&WHITE).map_err(err)?;
    let mut rows: Vec<(String, usize)> = vec![
        ("duplicate files".into(), s.duplicate_groups.iter().map(|g| g.len() - 1).sum()),
        ("skipped while scraping (dup)".into(), s.scrape_duplicates),
    ];
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &s.rejected {
        *kinds.entry(r.kind.as_str()).or_default() += 1;
    }
    rows.extend(kinds.into_iter().map(|(k, n)| (format!("rejected: {k}"), n)));
    rows.extend(s.scrape_failures.iter().map(|(k, n)| (format!("scrape failure: {k}"), *n)));
    let n = rows.len();
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(5) as f64 * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption("Duplicates and rejected files", ("sans-serif", 26))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(280)
        .build_cartesian_2d(0f64..max, 0f64..n as f64)
        .map_err(err)?;
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            let i = y.floor() as usize;
            if (y.fract() - 0.5).abs() < 0.01 {
                names.get(n.saturating_sub(i + 1)).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_label_formatter(&integer)
        .x_desc("files")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, r)| {
            let y = (n - i - 1) as f64;
            let color = if i < 2 { BAR } else { ACCENT };
            Rectangle::new([(0.0, y + 0.2), (r.1 as f64, y + 0.8)], color.filled())
        }))
        .map_err(err)?;
    for (i, r) in rows.iter().enumerate() {
        let y = (n - i - 1) as f64 + 0.5;
        chart.draw_series([Text::new(format!(" {}", r.1), (r.1 as f64, y), ("sans-serif", 15))]).map_err(err)?;
    }
    Ok(())
}
