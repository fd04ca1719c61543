//! The rows of a catalog: one [`Product`] per label (`products.csv`) and one [`ImageRecord`]
//! per kept photo (`images.csv`), with the column names every stage reads.

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

/// One kept photo of a catalog (a row of `images.csv`).
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
    fn files_must_stay_inside_the_catalog() {
        assert!(is_inside("images/a/01.jpg"));
        for bad in ["", "/etc/passwd", "../x.jpg", "images/../../x", "./a.jpg", "a\\..\\b", "a\0"] {
            assert!(!is_inside(bad), "{bad:?} should be rejected");
        }
    }
}
