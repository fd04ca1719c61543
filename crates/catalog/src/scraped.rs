//! The layout `sneaker-id scrape` writes: `products.csv` (one row per product), `images.csv` (one
//! row per kept photo) and the photos under `images/<label>/`.

use std::path::Path;

use crate::error::Result;
use crate::found::Found;
use crate::group;
use crate::layout::{IMAGES_CSV, PRODUCTS_CSV};
use crate::records::{ImageRecord, Product};
use crate::rows::{check_file, check_label, read_csv};

/// Both CSV files of `root`. A listed photo that is missing is noted and left out, so a catalog
/// stays usable after a user deletes a bad photo by hand.
pub(crate) fn read(root: &Path) -> Result<Found> {
    let mut found = Found::default();
    let products_path = root.join(PRODUCTS_CSV);
    if products_path.is_file() {
        for (line, product) in read_csv::<Product>(&products_path)? {
            check_label(&products_path, line, &product.label)?;
            let label = product.label.clone();
            if found.products.insert(label.clone(), product).is_some() {
                let reason = format!("product {label} is listed again here; this later row is used");
                found.skip(&products_path, Some(line), reason);
            }
        }
    }
    let images_path = root.join(IMAGES_CSV);
    if images_path.is_file() {
        for (line, mut image) in read_csv::<ImageRecord>(&images_path)? {
            check_file(&images_path, line, &image.file)?;
            check_label(&images_path, line, &image.label)?;
            if !root.join(&image.file).is_file() {
                found.skip(&images_path, Some(line), format!("{} is listed but missing", image.file));
                continue;
            }
            // Catalogs scraped before images.csv had a `group` column: a product is one group.
            if image.group.trim().is_empty() {
                image.group = group::of_product(&image.label);
            }
            found.images.push(image);
        }
    }
    Ok(found)
}
