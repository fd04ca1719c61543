//! The labelled photos the examples classify, shared between them.

use std::path::{Path, PathBuf};

use sneaker_vision::is_image_path;

/// `(photo, label index)` for the first `per_label` images (by name) under each `DATA/<label>/`
/// whose label the run knows.
pub fn list(
    data: &Path,
    labels: &[String],
    per_label: usize,
) -> Result<Vec<(PathBuf, usize)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for (index, label) in labels.iter().enumerate() {
        let dir = data.join(label);
        if !dir.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_image_path(p)).collect();
        files.sort();
        out.extend(files.into_iter().take(per_label).map(|p| (p, index)));
    }
    if out.is_empty() {
        return Err(format!("{}: no photos under label folders the run knows", data.display()).into());
    }
    Ok(out)
}
