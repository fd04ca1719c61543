//! PNG charts drawn with plotters' pure-Rust bitmap backend: training curves, confusion
//! matrices and bar charts (accuracy by view angle, run comparisons).
//!
//! The canvas and its embedded font come from `sneaker_files::chart`, as for every chart.

use std::path::Path;

use plotters::prelude::*;
use sneaker_files::chart::{Area, fonts_ready};

use crate::error::{Result, TrainError};
use crate::fit::EpochRecord;

type Drawn = std::result::Result<(), String>;

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws a chart and writes it as PNG atomically.
fn render(path: &Path, size: (u32, u32), draw: impl FnOnce(Area<'_>) -> Drawn) -> Result<()> {
    sneaker_files::chart::write_png(path, size, |root, _| draw(root.clone()))
        .map_err(|e| TrainError::Plot { path: path.to_owned(), detail: e.to_string() })
}

/// Loss (left) and accuracy (right) per epoch, train vs validation.
pub fn curves(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let text = fonts_ready();
    render(path, (1100, 420), |root| draw_curves(root, history, text))
}

fn draw_curves(root: Area<'_>, history: &[EpochRecord], text: bool) -> Drawn {
    root.fill(&WHITE).map_err(s)?;
    let panels = root.split_evenly((1, 2));
    let epochs = history.len().max(1) as f64;
    type Series<'a> = (&'a str, RGBColor, Box<dyn Fn(&EpochRecord) -> f64 + 'a>);
    let specs: [(&str, Vec<Series>); 2] = [
        ("loss", vec![("train", BLUE, Box::new(|r| r.train_loss)), ("validation", RED, Box::new(|r| r.val_loss))]),
        (
            "accuracy",
            vec![("train", BLUE, Box::new(|r| r.train_acc)), ("validation top-1", RED, Box::new(|r| r.val_top1))],
        ),
    ];
    for (area, (title, series)) in panels.iter().zip(specs) {
        let ymax = history
            .iter()
            .flat_map(|r| series.iter().map(move |sr| (sr.2)(r)))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .max(if title == "accuracy" { 1.0 } else { 1e-3 })
            * 1.05;
        let mut b = ChartBuilder::on(area);
        b.margin(15).x_label_area_size(if text { 35 } else { 5 }).y_label_area_size(if text { 50 } else { 5 });
        if text {
            b.caption(title, ("sans-serif", 22));
        }
        let mut chart = b.build_cartesian_2d(1.0..epochs.max(2.0), 0.0..ymax).map_err(s)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("epoch");
        } else {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(s)?;
        for (name, colour, f) in &series {
            let pts: Vec<(f64, f64)> =
                history.iter().map(|r| (r.epoch as f64, f(r))).filter(|p| p.1.is_finite()).collect();
            let drawn = chart.draw_series(LineSeries::new(pts, colour.stroke_width(2))).map_err(s)?;
            if text {
                let c = *colour;
                drawn.label(*name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            }
        }
        if text {
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(s)?;
        }
    }
    Ok(())
}

/// Horizontal bars (label, value in [0, 1]), e.g. accuracy by view angle or top-1 per run.
pub fn bars(path: &Path, title: &str, items: &[(String, f64)]) -> Result<()> {
    let text = fonts_ready();
    let h = (80 + 28 * items.len()).min(4000) as u32;
    render(path, (900, h), |root| {
        root.fill(&WHITE).map_err(s)?;
        let n = items.len().max(1);
        let mut b = ChartBuilder::on(&root);
        b.margin(15).x_label_area_size(if text { 30 } else { 5 }).y_label_area_size(if text { 260 } else { 5 });
        if text {
            b.caption(title, ("sans-serif", 22));
        }
        let mut chart = b.build_cartesian_2d(0.0..1.0f64, (0..n).into_segmented()).map_err(s)?;
        let labels: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
        let fmt = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => labels.get(*i).cloned().unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.y_label_formatter(&fmt).y_labels(n);
        } else {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(s)?;
        chart
            .draw_series(items.iter().enumerate().map(|(i, (_, v))| {
                Rectangle::new(
                    [(0.0, SegmentValue::Exact(i)), (v.clamp(0.0, 1.0), SegmentValue::Exact(i + 1))],
                    BLUE.mix(0.7).filled(),
                )
            }))
            .map_err(s)?;
        Ok(())
    })
}

/// Confusion matrix as a heat map, rows = truth, columns = prediction, each row normalised.
pub fn confusion(path: &Path, matrix: &[Vec<usize>], labels: &[String]) -> Result<()> {
    let text = fonts_ready();
    let m = matrix.len().max(1);
    let cell = (900 / m).clamp(4, 40) as u32;
    let margin = if text { 230 } else { 10 };
    let side = cell * m as u32;
    render(path, (side + margin + 20, side + 20), |root| {
        root.fill(&WHITE).map_err(s)?;
        for (t, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<usize>().max(1) as f64;
            for (p, &c) in row.iter().enumerate() {
                let v = c as f64 / total;
                let colour = RGBColor((255.0 * (1.0 - v)) as u8, (255.0 * (1.0 - v * 0.7)) as u8, 255);
                let (x, y) = ((margin + p as u32 * cell) as i32, (10 + t as u32 * cell) as i32);
                root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], colour.filled())).map_err(s)?;
            }
            if text && cell >= 8 {
                let style = ("sans-serif", (cell as f64 * 0.8).min(14.0)).into_font();
                let label = labels.get(t).cloned().unwrap_or_default();
                root.draw(&Text::new(label, (5, (10 + t as u32 * cell) as i32), style)).map_err(s)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            lr: 0.1,
            train_loss: 2.0 / epoch as f64,
            train_acc: 0.5,
            val_loss: 1.0,
            val_top1: 0.4,
            val_top5: 0.9,
            seconds: 1.0,
            train_images_per_s: 10.0,
        }
    }

    #[test]
    fn charts_are_png_files() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join("c.png");
        curves(&c, &[record(1), record(2), record(3)]).unwrap();
        bars(&dir.path().join("b.png"), "top-1", &[("a".into(), 0.5), ("b".into(), 0.9)]).unwrap();
        confusion(&dir.path().join("m.png"), &[vec![3, 1], vec![0, 4]], &["a".into(), "b".into()]).unwrap();
        for f in ["c.png", "b.png", "m.png"] {
            let img = image::open(dir.path().join(f)).unwrap();
            assert!(img.width() > 100, "{f}");
        }
    }
}
