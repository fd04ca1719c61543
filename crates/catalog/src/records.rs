//! The rows of a catalog: one [`Product`] per label (`products.csv`) and one [`ImageRecord`]
//! per kept photo (`images.csv`, or a label folder's photos and `annotations.csv`), with the
//! column names every stage reads.

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

/// One product (one label) of a catalog: what the web server shows next to a prediction.
///
/// Columns follow the reference project's annotation CSV (brand, category, colourway,
/// deadstock sold, gender, style id, thumbnail url, url) plus where and when it was fetched.
/// Every field but `label` may be empty: a user's own photo folder knows little.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Product {
    /// Folder name under `images/` and class name for training; unique in the catalog.
    pub label: String,
    /// Product name as the shop shows it, e.g. "Nike Air Max 90 Infrared".
    pub name: Option<String>,
    pub brand: Option<String>,
    pub category: Option<String>,
    pub colorway: Option<String>,
    /// "Deadstock sold" in the reference data: how many pairs the marketplace sold.
    pub pairs_sold: Option<u64>,
    pub gender: Option<String>,
    /// Manufacturer style code (schema.org `sku`), e.g. "CT1685-100".
    pub style_id: Option<String>,
    pub release_date: Option<String>,
    pub price: Option<f64>,
    pub currency: Option<String>,
    pub thumbnail_url: Option<String>,
    /// The product's canonical page.
    pub url: Option<String>,
    /// The page or CSV file the record was read from.
    pub source_url: Option<String>,
    /// RFC 3339 UTC time the record was fetched.
    pub fetched_at: Option<String>,
}

/// One kept photo of a catalog (a row of `images.csv`, or a photo of a label folder with what
/// `annotations.csv` says about it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageRecord {
    /// Path relative to the catalog folder, `/`-separated, e.g. `images/nike_air_max_90/01.jpg`.
    pub file: String,
    pub label: String,
    /// 1-based position in the product's spin or gallery, when known (`img01` is view 1).
    pub view: Option<u32>,
    /// Degrees round the shoe for spin views (view 1 = 0°), when known.
    pub angle: Option<f32>,
    pub source_url: Option<String>,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bytes: Option<u64>,
    pub fetched_at: Option<String>,
    /// Photos of one physical product (one spin, one shoot) share a group, and a train /
    /// validation split keeps a group on one side, so near-identical views cannot leak across.
    /// Never empty in a [`crate::Catalog`]: where the files do not say, `Catalog::open` derives
    /// it (see `group.rs`).
    pub group: String,
    /// The view's name when annotations give words instead of numbers (`side`, `heel`, `top`).
    pub view_name: Option<String>,
}

impl ImageRecord {
    /// How evaluation names this photo's viewpoint: degrees zero-padded so names sort round the
    /// shoe (`045`), else the view's name; `None` when the catalog says nothing about it.
    pub fn angle_label(&self) -> Option<String> {
        match self.angle.filter(|a| a.is_finite()) {
            Some(degrees) => Some(format!("{:03}", degrees.round() as i64)),
            None => self.view_name.clone(),
        }
    }
}

/// A label is a single plain path component: not empty, not `.`/`..`, no separators or NUL.
pub fn is_valid_label(label: &str) -> bool {
    !label.is_empty() && label != "." && label != ".." && !label.contains(['/', '\\', '\0']) && label.len() <= 255
}

/// A relative file inside the catalog: only plain components, no `..`, not absolute.
pub fn is_inside(file: &str) -> bool {
    !file.is_empty()
        && !file.contains('\0')
        && !file.contains('\\')
        && Path::new(file).components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_single_plain_components() {
        assert!(is_valid_label("nike_air_max_90"));
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert!(!is_valid_label(bad), "{bad:?} should be rejected");
        }
        assert!(!is_valid_label(&"x".repeat(256)));
    }

    #[test]
    fn angle_labels_sort_round_the_shoe_and_keep_named_views() {
        let at = |angle, view_name: Option<&str>| {
            ImageRecord { angle, view_name: view_name.map(str::to_owned), ..Default::default() }.angle_label()
        };
        assert_eq!(at(Some(45.4), None).as_deref(), Some("045"));
        assert_eq!(at(Some(180.0), Some("side")).as_deref(), Some("180"));
        assert_eq!(at(None, Some("side")).as_deref(), Some("side"));
        assert_eq!(at(Some(f32::NAN), None), None);
    }

    #[test]
    fn files_must_stay_inside_the_catalog() {
        assert!(is_inside("images/a/01.jpg"));
        for bad in ["", "/etc/passwd", "../x.jpg", "images/../../x", "./a.jpg", "a\\..\\b", "a\0"] {
            assert!(!is_inside(bad), "{bad:?} should be rejected");
        }
    }
}
