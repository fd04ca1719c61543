//! The catalog every sneaker-id stage reads (scrape writes it; train, the report, the gallery
//! and serve read it), and the one place its files are parsed.
//!
//! Two layouts are accepted by [`Catalog::open`]:
//! - scraped: `images/<label>/<file>`, `products.csv` (one row per product, see [`Product`])
//!   and `images.csv` (one row per kept photo, see [`ImageRecord`]);
//! - a plain folder of `<label>/<image>` sub-folders with an optional `annotations.csv`
//!   (columns `file,label,group,brand,model,colorway,view,angle,...,width,height,sha256`), so
//!   users can bring their own photos.
//!
//! Either way every photo gets a group (one physical product, one spin or shoot), which a
//! train / validation split keeps on one side. [`report`] draws a catalog's charts.
//!
//! Reading goes: `walk` (photos on disk) and `rows` (CSV lines) → `annotations` / `group` →
//! `scraped` / `folder` (one layout each, giving `found`) → `catalog` ([`Catalog`]).

mod annotations;
mod catalog;
mod error;
mod failure;
mod folder;
mod found;
mod group;
mod layout;
mod records;
pub mod report;
mod rows;
mod scraped;
mod walk;
mod write;

pub use catalog::{Catalog, Layout};
pub use error::{CatalogError, Result};
pub use failure::Failure;
pub use found::Skipped;
pub use layout::{ANNOTATIONS_CSV, DUPLICATES_CSV, FAILURES_JSONL, IMAGES_CSV, IMAGES_DIR, PRODUCTS_CSV};
pub use records::{ImageRecord, Product, is_inside, is_valid_label};
/// File extensions taken as photos: those `sneaker-vision` decodes (the one list).
pub use sneaker_vision::IMAGE_EXTENSIONS;
pub use walk::images_in;
pub use write::{write_images, write_products};
