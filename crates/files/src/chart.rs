//! The canvas every PNG chart is drawn on: plotters' pure-Rust bitmap backend on a white RGB
//! buffer, text in DejaVu Sans embedded by the `dejavu` crate (no system font needed), encoded
//! by `image` and written atomically.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

/// What a chart is drawn on.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Registers DejaVu Sans (normal and bold) as "sans-serif" once. False if that failed: charts are
/// then drawn without text rather than not at all.
pub fn fonts_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let ok = [(FontStyle::Normal, dejavu::sans::regular()), (FontStyle::Bold, dejavu::sans::bold())]
            .into_iter()
            .all(|(style, bytes)| plotters::style::register_font("sans-serif", style, bytes).is_ok());
        if !ok {
            tracing::error!("the embedded DejaVu Sans font did not load; charts will have no text");
        }
        ok
    })
}

/// Why a chart was not written.
#[derive(Debug)]
pub enum ChartError {
    /// Drawing failed (plotters' message).
    Draw(String),
    /// Encoding or writing the PNG failed.
    Io(std::io::Error),
}

impl std::fmt::Display for ChartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChartError::Draw(e) => write!(f, "drawing: {e}"),
            ChartError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ChartError {}

/// Draws a `width`×`height` chart with `draw` (given the white canvas and whether text can be
/// drawn) and writes it to `path` as PNG, atomically.
pub fn write_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Area<'_>, bool) -> Result<(), String>,
) -> Result<(), ChartError> {
    let text = fonts_ready();
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        draw(&root, text).map_err(ChartError::Draw)?;
        root.present().map_err(|e| ChartError::Draw(e.to_string()))?;
    }
    let img = image::RgbImage::from_raw(width, height, buf).expect("the buffer was sized for the image");
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| ChartError::Io(std::io::Error::other(e)))?;
    crate::atomic::write_atomic(path, &png).map_err(ChartError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_a_png_of_the_asked_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        write_png(&path, (120, 80), |root, _| {
            root.fill(&BLUE).map_err(|e| e.to_string())?;
            Ok(())
        })
        .unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (120, 80));
        assert_eq!(img.get_pixel(10, 10).0, [0, 0, 255]);
        assert!(write_png(&path, (10, 10), |_, _| Err("no".into())).is_err());
    }
}
