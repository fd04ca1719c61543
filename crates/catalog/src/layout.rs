//! The names of a catalog's files, in one place: what the scraper writes, and what every
//! reader (train, serve, gallery, the report) looks for.

/// Sub-folder of a scraped catalog that holds `<label>/<file>` photos.
pub const IMAGES_DIR: &str = "images";
/// One row per product of a scraped catalog.
pub const PRODUCTS_CSV: &str = "products.csv";
/// One row per kept image of a scraped catalog.
pub const IMAGES_CSV: &str = "images.csv";
/// Optional description of a plain label-folder catalog.
pub const ANNOTATIONS_CSV: &str = "annotations.csv";
/// Downloads a scrape skipped as byte-for-byte duplicates (url, label, view, sha256, same_as).
pub const DUPLICATES_CSV: &str = "duplicates.csv";
/// A scrape's failure log, one JSON object per line (see [`crate::Failure`]).
pub const FAILURES_JSONL: &str = "failures.jsonl";
