//! The catalog layout every sneaker-id stage reads (scrape writes it; train, report and
//! serve read it).
//!
//! Two layouts are accepted by [`Catalog::open`]:
//! - scraped: `images/<label>/<file>`, `products.csv` (one row per product, see [`Product`])
//!   and `images.csv` (one row per kept photo, see [`ImageRecord`]);
//! - a plain folder of `<label>/<image>` sub-folders with an optional `annotations.csv`
//!   (columns `file,label,brand,model,colorway,...,width,height,sha256`), so users can
//!   bring their own photos.

mod error;
mod folder;
mod open;
mod records;
mod write;

pub use error::{CatalogError, Result};
pub use folder::images_in;
pub use open::{Catalog, IMAGE_EXTENSIONS, Layout};
pub use records::{ImageRecord, Product, is_inside, is_valid_label};
pub use write::{write_images, write_products};

/// Sub-folder of a scraped catalog that holds `<label>/<file>` photos.
pub const IMAGES_DIR: &str = "images";
/// One row per product of a scraped catalog.
pub const PRODUCTS_CSV: &str = "products.csv";
/// One row per kept image of a scraped catalog.
pub const IMAGES_CSV: &str = "images.csv";
/// Optional description of a plain label-folder catalog.
pub const ANNOTATIONS_CSV: &str = "annotations.csv";
