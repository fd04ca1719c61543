//! The labelled photos the examples classify and the run that classifies them, shared between them.

use std::path::{Path, PathBuf};

use sneaker_model::assets::Assets;
use sneaker_model::predictor::Predictor;
use sneaker_vision::is_image_path;

/// What an example's command line `RUN DATA [PER_LABEL]` names.
// Compiled into each example, which reads only the fields it needs.
#[allow(dead_code)]
pub struct Setup {
    pub run: PathBuf,
    pub data: PathBuf,
    pub assets: Assets,
    /// RUN's classifier.
    pub classifier: Predictor,
    /// `(photo, label index)`: DATA's photos of labels the run knows (the first PER_LABEL of each, all by default).
    pub photos: Vec<(PathBuf, usize)>,
}

pub fn from_args(example: &str) -> Result<Setup, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, data, rest @ ..] = args.as_slice() else {
        return Err(format!("usage: {example} RUN DATA [PER_LABEL]").into());
    };
    let per_label = match rest.first() {
        Some(n) => n.parse().map_err(|e| format!("PER_LABEL {n:?}: {e}"))?,
        None => usize::MAX,
    };
    let assets = Assets::locate()?;
    let classifier = Predictor::open(&assets, Some(Path::new(run)))?;
    let photos = list(Path::new(data), classifier.labels(), per_label)?;
    Ok(Setup { run: run.into(), data: data.into(), assets, classifier, photos })
}

/// `(photo, label index)` for the first `per_label` images (by name) under each `DATA/<label>/`
/// whose label the run knows.
fn list(data: &Path, labels: &[String], per_label: usize) -> Result<Vec<(PathBuf, usize)>, Box<dyn std::error::Error>> {
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
