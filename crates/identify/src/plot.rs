//! The precision/coverage chart of a calibration: how many known sneakers get an answer, and how
//! often answers are right, as the confidence threshold rises; the chosen threshold is marked.

use std::path::Path;

use plotters::prelude::*;

use crate::calibrate::Calibration;
use crate::error::{IdentifyError, Result};

/// A curve of the chart: its legend, colour and the rate it plots.
type Series = (&'static str, RGBColor, fn(&crate::CurvePoint) -> f32);

/// Writes the chart as PNG (atomically).
pub fn precision_coverage_png(path: &Path, c: &Calibration, title: &str) -> Result<()> {
    sneaker_files::chart::write_png(path, (720, 480), |root, text| draw(root, c, title, text))
        .map_err(|e| IdentifyError::Plot { path: path.to_owned(), detail: e.to_string() })
}

fn draw(
    root: &sneaker_files::chart::Area<'_>,
    c: &Calibration,
    title: &str,
    text: bool,
) -> std::result::Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| s(&e))?;
    let mut b = ChartBuilder::on(root);
    b.margin(15).x_label_area_size(40).y_label_area_size(50);
    if text {
        b.caption(title, ("sans-serif", 20));
    }
    let mut chart = b.build_cartesian_2d(0f32..1f32, 0f32..1.02f32).map_err(|e| s(&e))?;
    if text {
        chart.configure_mesh().x_desc("confidence threshold").y_desc("rate").draw().map_err(|e| s(&e))?;
    }
    let series: [Series; 3] = [
        ("coverage (known answered)", BLUE, |p| p.coverage),
        ("precision (answers right)", RED, |p| p.precision),
        ("unknown sneakers rejected", GREEN, |p| p.unknown_rejected),
    ];
    for (name, color, f) in series {
        let line = chart
            .draw_series(LineSeries::new(c.curve.iter().map(|p| (p.confidence, f(p))), color.stroke_width(2)))
            .map_err(|e| s(&e))?;
        if text {
            line.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    let t = c.thresholds.confidence;
    chart.draw_series(LineSeries::new([(t, 0.0), (t, 1.0)], BLACK.stroke_width(1))).map_err(|e| s(&e))?;
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| s(&e))?;
    }
    Ok(())
}
