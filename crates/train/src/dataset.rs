//! A labelled image set read from the catalog layout (`<label>/<image>`, optional
//! `annotations.csv`) and its seeded train/validation splits.
//!
//! A folder written by `sneaker-id scrape` (`images.csv` + `images/<label>/…`) is read through
//! `sneaker-catalog`, which owns that layout; training keeps only paths, labels, a grouping key
//! and an optional view angle.
//!
//! Every photo is decoded once when the dataset is opened: one that cannot be (truncated,
//! corrupt, unsupported) is left out with a warning naming it and counted in
//! [`Dataset::skipped`], never trained or evaluated on.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::SplitKind;
use crate::error::{Result, TrainError};

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub path: PathBuf,
    /// Index into [`Dataset::labels`].
    pub label: usize,
    /// Images sharing a group (one product / one photo shoot) stay on one side of a `group` split.
    pub group: String,
    /// Viewing angle from the CSV (`angle` or `view` column), when the catalog has one.
    pub angle: Option<String>,
}

/// A photo of the catalog left out of the dataset because it cannot be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub path: PathBuf,
    /// The decoder's reason, starting with the file name.
    pub reason: String,
}

/// Labels (sorted folder names) and their images.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub root: PathBuf,
    pub labels: Vec<String>,
    pub samples: Vec<Sample>,
    /// Photos found but left out: they cannot be decoded.
    pub skipped: Vec<Skipped>,
}

/// Optional per-image columns of `annotations.csv`, keyed by the `file` column.
#[derive(Default)]
struct Annotations {
    by_file: HashMap<String, (Option<String>, Option<String>)>,
}

impl Annotations {
    fn read(root: &Path) -> Result<Self> {
        let path = root.join("annotations.csv");
        if !path.is_file() {
            return Ok(Self::default());
        }
        let mut reader = csv::Reader::from_path(&path).map_err(|e| TrainError::parse(&path, e))?;
        let headers = reader.headers().map_err(|e| TrainError::parse(&path, e))?.clone();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let Some(file_col) = col("file") else {
            return Err(TrainError::parse(&path, "no `file` column"));
        };
        let group_col = col("group").or(col("product"));
        let colorway_col = col("colorway");
        let angle_col = col("angle").or(col("view"));
        let mut by_file = HashMap::new();
        for row in reader.records() {
            let row = row.map_err(|e| TrainError::parse(&path, e))?;
            let get = |c: Option<usize>| {
                c.and_then(|c| row.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
            };
            let Some(file) = get(Some(file_col)) else { continue };
            let group = get(group_col)
                .or_else(|| get(colorway_col).map(|c| format!("{}/{c}", file.split('/').next().unwrap_or(""))));
            by_file.insert(file, (group, get(angle_col)));
        }
        Ok(Annotations { by_file })
    }
}

/// The group of an image without a CSV group: its file stem with a trailing one- or two-digit
/// view number (`shoe-2`, `shoe_03`) removed, so the views of one shoot fall together. Longer
/// numbers (`kg_0001`) are serial numbers of unrelated photos and stay.
fn stem_group(label: &str, path: &Path) -> String {
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

/// The label list of a dataset whose folders / catalog name `found`: `known` (a trained model's
/// labels, for evaluation) when given, and then every found label must be one of them.
fn label_list(found: Vec<String>, known: Option<&[String]>) -> std::result::Result<Vec<String>, String> {
    let labels = match known {
        Some(l) => {
            let unknown: Vec<_> = found.iter().filter(|f| !l.contains(f)).cloned().collect();
            if !unknown.is_empty() {
                return Err(format!("labels the model does not know: {}", unknown.join(", ")));
            }
            l.to_vec()
        }
        None => found,
    };
    if labels.len() < 2 {
        return Err(format!("needs at least 2 labels, found {}", labels.len()));
    }
    Ok(labels)
}

impl Dataset {
    /// Reads `root/<label>/<image>` (image files by extension, sorted for determinism).
    /// When `labels` is given (evaluation against a trained model), folders map onto it and
    /// unknown folders are an error naming them.
    pub fn open(root: &Path, labels: Option<&[String]>) -> Result<Self> {
        if root.join(sneaker_catalog::IMAGES_CSV).is_file() {
            return Self::open_scraped(root, labels);
        }
        let cat_err = |detail: String| TrainError::Catalog { path: root.to_owned(), detail };
        let entries = std::fs::read_dir(root).map_err(|e| TrainError::io(root, e))?;
        let mut folders = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|e| TrainError::io(root, e))?;
            if entry.file_type().map_err(|e| TrainError::io(entry.path(), e))?.is_dir() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') {
                    folders.insert(name, entry.path());
                }
            }
        }
        let labels = label_list(folders.keys().cloned().collect(), labels).map_err(cat_err)?;
        let notes = Annotations::read(root)?;
        let mut samples = Vec::new();
        for (name, dir) in &folders {
            let label = labels.iter().position(|l| l == name).expect("folder names were checked against labels");
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(|e| TrainError::io(dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && sneaker_vision::is_image_path(p))
                .collect();
            files.sort();
            for path in files {
                let rel = format!("{name}/{}", path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default());
                let (group, angle) = notes.by_file.get(&rel).cloned().unwrap_or_default();
                let group = group.unwrap_or_else(|| stem_group(name, &path));
                samples.push(Sample { path, label, group, angle });
            }
        }
        let (samples, skipped) = drop_unreadable(samples);
        if samples.is_empty() {
            return Err(cat_err(no_images(&skipped)));
        }
        tracing::info!(root = %root.display(), labels = labels.len(), images = samples.len(), "dataset opened");
        Ok(Dataset { root: root.to_owned(), labels, samples, skipped })
    }

    /// A scraped catalog: every photo of a product is one shoot (one group), and spin views carry
    /// their angle, so `evaluate` can chart accuracy round the shoe like the reference did.
    fn open_scraped(root: &Path, labels: Option<&[String]>) -> Result<Self> {
        let cat_err = |detail: String| TrainError::Catalog { path: root.to_owned(), detail };
        let catalog = sneaker_catalog::Catalog::open(root).map_err(|e| cat_err(e.to_string()))?;
        let labels = label_list(catalog.labels().to_vec(), labels).map_err(cat_err)?;
        let samples: Vec<Sample> = catalog
            .images()
            .iter()
            .filter_map(|rec| {
                let label = labels.iter().position(|l| *l == rec.label)?;
                // Zero-padded so angle charts sort round the shoe.
                let angle = rec.angle.map(|a| format!("{:03}", a.round() as i64));
                Some(Sample { path: catalog.path_of(rec), label, group: rec.label.clone(), angle })
            })
            .collect();
        let (samples, skipped) = drop_unreadable(samples);
        if samples.is_empty() {
            return Err(cat_err(no_images(&skipped)));
        }
        tracing::info!(root = %root.display(), labels = labels.len(), images = samples.len(), "scraped catalog opened");
        Ok(Dataset { root: root.to_owned(), labels, samples, skipped })
    }

    /// Images per label.
    pub fn counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.labels.len()];
        for s in &self.samples {
            c[s.label] += 1;
        }
        c
    }

    /// Indices of (train, validation) samples, deterministic in `seed`.
    ///
    /// `Random` holds out `round(fraction × n)` images of every label (at least one when the
    /// label has two or more). `Group` shuffles each label's groups and moves whole groups to
    /// validation until the label's share is reached, so no group straddles the split.
    pub fn split(&self, kind: SplitKind, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut train = Vec::new();
        let mut val = Vec::new();
        for label in 0..self.labels.len() {
            let idx: Vec<usize> = (0..self.samples.len()).filter(|&i| self.samples[i].label == label).collect();
            let want = if idx.len() >= 2 { ((idx.len() as f64 * fraction).round() as usize).max(1) } else { 0 };
            match kind {
                SplitKind::Random => {
                    let mut idx = idx;
                    idx.shuffle(&mut rng);
                    val.extend_from_slice(&idx[..want]);
                    train.extend_from_slice(&idx[want..]);
                }
                SplitKind::Group => {
                    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
                    for &i in &idx {
                        groups.entry(self.samples[i].group.as_str()).or_default().push(i);
                    }
                    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
                    groups.shuffle(&mut rng);
                    let mut taken = 0;
                    for (k, g) in groups.iter().enumerate() {
                        // Keep at least one group for training.
                        if taken < want && k + 1 < groups.len() {
                            taken += g.len();
                            val.extend_from_slice(g);
                        } else {
                            train.extend_from_slice(g);
                        }
                    }
                }
            }
        }
        train.sort_unstable();
        val.sort_unstable();
        (train, val)
    }
}

/// Decodes every sample once, on all cores, and keeps those that decode; each one that does
/// not is warned about by name, and the count is warned about once at the end.
fn drop_unreadable(samples: Vec<Sample>) -> (Vec<Sample>, Vec<Skipped>) {
    let limits = sneaker_vision::DecodeLimits::default();
    let errors: Vec<Option<String>> = samples
        .par_iter()
        .map(|s| sneaker_vision::decode_file(&s.path, &limits).err().map(|e| e.to_string()))
        .collect();
    let mut kept = Vec::with_capacity(samples.len());
    let mut skipped = Vec::new();
    for (sample, error) in samples.into_iter().zip(errors) {
        match error {
            None => kept.push(sample),
            Some(reason) => {
                tracing::warn!("skipped {reason}");
                skipped.push(Skipped { path: sample.path, reason });
            }
        }
    }
    if !skipped.is_empty() {
        let total = kept.len() + skipped.len();
        tracing::warn!("{} of {total} photos skipped: they cannot be decoded (see the warnings above)", skipped.len());
    }
    (kept, skipped)
}

fn no_images(skipped: &[Skipped]) -> String {
    match skipped.first() {
        None => "no images found".into(),
        Some(first) => format!("no usable images: all {} cannot be decoded, e.g. {}", skipped.len(), first.reason),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a tiny catalog of flat-colour PNGs: `per_label` images for each label.
    pub(crate) fn tiny_catalog(dir: &Path, labels: &[&str], per_label: usize) {
        for (li, l) in labels.iter().enumerate() {
            std::fs::create_dir_all(dir.join(l)).unwrap();
            for k in 0..per_label {
                let mut img = image::RgbImage::from_pixel(40, 30, image::Rgb([250, 250, 250]));
                // A dark "shoe" whose colour tells the label and position varies per image.
                for y in 10..20 {
                    for x in (5 + k as u32 % 10)..(25 + k as u32 % 10) {
                        img.put_pixel(x, y, image::Rgb([(li * 90 % 256) as u8, 40, (200 - li * 60 % 200) as u8]));
                    }
                }
                img.save(dir.join(l).join(format!("shot{k}-{}.png", k % 2))).unwrap();
            }
        }
    }

    #[test]
    fn opens_folders_and_splits_stratified() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["b_shoe", "a_shoe"], 10);
        std::fs::write(dir.path().join("a_shoe/readme.txt"), "not an image").unwrap();
        let d = Dataset::open(dir.path(), None).unwrap();
        assert_eq!(d.labels, vec!["a_shoe", "b_shoe"]);
        assert_eq!(d.counts(), vec![10, 10]);
        let (tr, va) = d.split(SplitKind::Random, 0.2, 7);
        assert_eq!((tr.len(), va.len()), (16, 4));
        assert_eq!(d.split(SplitKind::Random, 0.2, 7), (tr.clone(), va.clone()), "same seed, same split");
        for l in 0..2 {
            assert_eq!(va.iter().filter(|&&i| d.samples[i].label == l).count(), 2);
        }
    }

    #[test]
    fn group_split_never_straddles_a_group() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["a", "b", "c"], 12);
        let d = Dataset::open(dir.path(), None).unwrap();
        let (tr, va) = d.split(SplitKind::Group, 0.25, 1);
        assert!(!va.is_empty());
        for &v in &va {
            assert!(tr.iter().all(|&t| d.samples[t].group != d.samples[v].group));
        }
    }

    #[test]
    fn unknown_label_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["a", "zz"], 2);
        let e = Dataset::open(dir.path(), Some(&["a".into(), "b".into()])).unwrap_err().to_string();
        assert!(e.contains("zz"), "{e}");
    }

    #[test]
    fn view_suffix_is_dropped_from_groups() {
        assert_eq!(stem_group("x", Path::new("x/RunningAdizero-3.jpg")), "x/RunningAdizero");
        assert_eq!(stem_group("x", Path::new("x/kg_0001.jpg")), "x/kg_0001");
        assert_eq!(stem_group("x", Path::new("x/shoe.jpg")), "x/shoe");
    }

    #[test]
    fn scraped_catalog_gives_spin_angles_and_one_group_per_product() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = Vec::new();
        for label in ["dunk_low", "samba"] {
            std::fs::create_dir_all(dir.path().join("images").join(label)).unwrap();
            for view in 1..=3u32 {
                let file = format!("images/{label}/img{view:02}.png");
                image::RgbImage::new(4, 4).save(dir.path().join(&file)).unwrap();
                let angle = Some((view - 1) as f32 * 10.0);
                records.push(sneaker_catalog::ImageRecord {
                    file,
                    label: label.into(),
                    view: Some(view),
                    angle,
                    ..Default::default()
                });
            }
        }
        sneaker_catalog::write_images(dir.path(), &records).unwrap();
        let d = Dataset::open(dir.path(), None).unwrap();
        assert_eq!(d.labels, vec!["dunk_low", "samba"]);
        assert_eq!(d.counts(), vec![3, 3]);
        let angles: Vec<_> = d.samples.iter().filter(|s| s.label == 1).map(|s| s.angle.clone().unwrap()).collect();
        assert_eq!(angles, vec!["000", "010", "020"]);
        assert!(d.samples.iter().all(|s| s.group == d.labels[s.label]));
        let e = Dataset::open(dir.path(), Some(&["samba".into(), "x".into()])).unwrap_err().to_string();
        assert!(e.contains("dunk_low"), "{e}");
    }

    #[test]
    fn truncated_and_corrupt_photos_are_skipped_by_name_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["a", "b"], 4);
        // A real JPEG cut to its first third, and a PNG whose pixel data is damaged.
        let photo = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([(x * 2) as u8, (y * 3) as u8, 90]));
        let mut jpeg = Vec::new();
        photo.write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
        std::fs::write(dir.path().join("a/cut.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
        let mut png = std::fs::read(dir.path().join("b/shot0-0.png")).unwrap();
        let idat = png.windows(4).position(|w| w == b"IDAT").unwrap();
        png[idat + 12] ^= 0xFF;
        std::fs::write(dir.path().join("b/damaged.png"), &png).unwrap();
        let d = Dataset::open(dir.path(), None).unwrap();
        assert_eq!(d.counts(), vec![4, 4], "only the good photos are kept");
        let skipped: Vec<_> = d.skipped.iter().map(|s| s.path.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(skipped, ["cut.jpg", "damaged.png"]);
        assert!(
            d.skipped[0].reason.contains("cut.jpg") && d.skipped[0].reason.contains("truncated"),
            "{:?}",
            d.skipped[0]
        );
        assert!(d.samples.iter().all(|s| !s.path.ends_with("cut.jpg")));
    }
}
