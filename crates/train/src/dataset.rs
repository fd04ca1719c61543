//! A labelled image set for training and evaluation, built from a catalog's records
//! ([`sneaker_catalog::Catalog`], which reads both layouts: scraped, and label folders with
//! `annotations.csv`). Training keeps of each photo its path, label, group and view angle; how
//! it is split into train and validation is in `split.rs`.
//!
//! Every photo is decoded once when the dataset is built: one that cannot be (truncated,
//! corrupt, unsupported) is left out with a warning naming it and counted in
//! [`Dataset::skipped`], never trained or evaluated on.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sneaker_catalog::Catalog;

use crate::error::{Result, TrainError};

/// One labelled image.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub path: PathBuf,
    /// Index into [`Dataset::labels`].
    pub label: usize,
    /// Images sharing a group (one product / one photo shoot) stay on one side of a `group` split.
    pub group: String,
    /// Viewing angle (`045`, or a view's name such as `side`), when the catalog has one.
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

/// The label list of a dataset whose catalog names `found`: `known` (a trained model's labels,
/// for evaluation) when given, and then every found label must be one of them.
fn label_list(found: &[String], known: Option<&[String]>) -> std::result::Result<Vec<String>, String> {
    let labels = match known {
        Some(l) => {
            let unknown: Vec<_> = found.iter().filter(|f| !l.contains(f)).cloned().collect();
            if !unknown.is_empty() {
                return Err(format!("labels the model does not know: {}", unknown.join(", ")));
            }
            l.to_vec()
        }
        None => found.to_vec(),
    };
    if labels.len() < 2 {
        return Err(format!("needs at least 2 labels, found {}", labels.len()));
    }
    Ok(labels)
}

impl Dataset {
    /// Opens the catalog in `root` (either layout) and builds the dataset from it; see
    /// [`Dataset::from_catalog`].
    pub fn open(root: &Path, labels: Option<&[String]>) -> Result<Self> {
        Self::from_catalog(&Catalog::open(root)?, labels)
    }

    /// Every photo of `catalog` that decodes, in the catalog's order (by label, then file).
    /// When `labels` is given (evaluation against a trained model), the catalog's labels map
    /// onto it and labels the model does not know are an error naming them.
    pub fn from_catalog(catalog: &Catalog, labels: Option<&[String]>) -> Result<Self> {
        let root = catalog.root();
        let cat_err = |detail: String| TrainError::Catalog { path: root.to_owned(), detail };
        let labels = label_list(catalog.labels(), labels).map_err(cat_err)?;
        let samples: Vec<Sample> = catalog
            .images()
            .iter()
            .filter_map(|rec| {
                // Always found: label_list checked every catalog label against `labels`.
                let label = labels.iter().position(|l| *l == rec.label)?;
                Some(Sample { path: catalog.path_of(rec), label, group: rec.group.clone(), angle: rec.angle_label() })
            })
            .collect();
        let (samples, skipped) = drop_unreadable(samples);
        if samples.is_empty() {
            return Err(cat_err(no_images(&skipped)));
        }
        tracing::info!(root = %root.display(), labels = labels.len(), images = samples.len(), "dataset opened");
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
}

/// The labels of `extras` that `main` lacks, sorted, of which a `fraction` (rounded) is drawn
/// by `seed` to be left out of training: a fixed, written-down set of never-seen products.
pub fn held_out_labels(main: &Dataset, extras: &[Dataset], fraction: f64, seed: u64) -> Vec<String> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut candidates: Vec<String> =
        extras.iter().flat_map(|d| d.labels.iter()).filter(|l| !main.labels.contains(l)).cloned().collect();
    candidates.sort();
    candidates.dedup();
    let n = (candidates.len() as f64 * fraction).round() as usize;
    candidates.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut held: Vec<String> = candidates.into_iter().take(n).collect();
    held.sort();
    held
}

impl Dataset {
    /// `self` and `extras` as one dataset over the sorted union of their labels, without the
    /// photos of `held_out` labels. Groups are prefixed by the catalog's position so equal
    /// group names of two catalogs stay apart.
    pub fn merge(self, extras: Vec<Dataset>, held_out: &[String]) -> Result<Dataset> {
        let parts: Vec<Dataset> = std::iter::once(self).chain(extras).collect();
        let mut labels: Vec<String> =
            parts.iter().flat_map(|d| d.labels.iter()).filter(|l| !held_out.contains(l)).cloned().collect();
        labels.sort();
        labels.dedup();
        let (mut samples, mut skipped) = (Vec::new(), Vec::new());
        for (i, d) in parts.iter().enumerate() {
            for s in &d.samples {
                let Ok(label) = labels.binary_search(&d.labels[s.label]) else { continue };
                let group = if i == 0 { s.group.clone() } else { format!("{i}:{}", s.group) };
                samples.push(Sample { path: s.path.clone(), label, group, angle: s.angle.clone() });
            }
            skipped.extend(d.skipped.iter().cloned());
        }
        let root = parts[0].root.clone();
        if labels.len() < 2 {
            return Err(TrainError::Catalog { path: root, detail: "fewer than 2 labels left to train on".into() });
        }
        Ok(Dataset { root, labels, samples, skipped })
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
    fn merged_catalogs_share_labels_and_hold_out_a_seeded_share_of_the_extra_ones() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tiny_catalog(a.path(), &["x", "y"], 2);
        tiny_catalog(b.path(), &["y", "p", "q", "r", "s"], 1);
        let (main, extra) = (Dataset::open(a.path(), None).unwrap(), Dataset::open(b.path(), None).unwrap());
        let held = held_out_labels(&main, std::slice::from_ref(&extra), 0.5, 7);
        assert_eq!(held.len(), 2, "half of p, q, r, s; never a main label: {held:?}");
        assert!(held.iter().all(|l| ["p", "q", "r", "s"].contains(&l.as_str())));
        assert_eq!(held, held_out_labels(&main, std::slice::from_ref(&extra), 0.5, 7), "fixed by the seed");
        let m = main.merge(vec![extra], &held).unwrap();
        assert_eq!(m.labels.len(), 4, "{:?}", m.labels);
        assert!(held.iter().all(|h| !m.labels.contains(h)));
        let y = m.labels.iter().position(|l| l == "y").unwrap();
        assert_eq!(m.counts()[y], 3, "y's photos from both catalogs are one label");
        assert_eq!(m.samples.len(), 2 * 2 + 1 + 2);
        assert!(m.samples.iter().filter(|s| s.path.starts_with(b.path())).all(|s| s.group.starts_with("1:")));
    }

    #[test]
    fn unknown_label_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["a", "zz"], 2);
        let e = Dataset::open(dir.path(), Some(&["a".into(), "b".into()])).unwrap_err().to_string();
        assert!(e.contains("zz"), "{e}");
    }

    #[test]
    fn folder_annotations_give_groups_and_angles_in_words_or_degrees() {
        let dir = tempfile::tempdir().unwrap();
        tiny_catalog(dir.path(), &["a", "b"], 3);
        std::fs::write(
            dir.path().join(sneaker_catalog::ANNOTATIONS_CSV),
            "file,label,group,colorway,angle\n\
             a/shot0-0.png,a,spin7,,side\n\
             a/shot1-1.png,a,,panda,45\n\
             a/shot2-0.png,a,,,not an angle at all 12\n",
        )
        .unwrap();
        let d = Dataset::open(dir.path(), None).unwrap();
        let a: Vec<(&str, Option<&str>)> =
            d.samples.iter().filter(|s| s.label == 0).map(|s| (s.group.as_str(), s.angle.as_deref())).collect();
        assert_eq!(
            a,
            [("spin7", Some("side")), ("a/panda", Some("045")), ("a/shot2", Some("not an angle at all 12"))],
            "the group column, else the colourway, else the file name; angles as degrees or words"
        );
        assert!(d.samples.iter().filter(|s| s.label == 1).all(|s| s.angle.is_none()));
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
        assert!(d.samples.iter().all(|s| s.group == d.labels[s.label]), "a scraped product is one group");
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
