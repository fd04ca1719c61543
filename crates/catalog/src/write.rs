//! Saving a catalog's CSV files atomically: a reader sees the old file or the new one,
//! never half of one, even if the writer is killed mid-write.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{CatalogError, Result};
use crate::layout::{IMAGES_CSV, PRODUCTS_CSV};
use crate::records::{ImageRecord, Product};

/// Replaces `path` atomically with what `write` writes (see `sneaker_files::atomic`).
fn atomic_write(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    sneaker_files::write_atomic_with(path, write).map_err(|e| CatalogError::io(path, e))
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    atomic_write(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for row in rows {
            writer.serialize(row).map_err(std::io::Error::other)?;
        }
        writer.flush()
    })
}

/// Writes `products.csv` in `dir`, one row per product.
pub fn write_products(dir: &Path, products: &[Product]) -> Result<()> {
    if products.is_empty() {
        // csv writes no header for zero rows; write it by hand so the file is still readable.
        return atomic_write(&dir.join(PRODUCTS_CSV), |w| w.write_all(PRODUCTS_HEADER.as_bytes()));
    }
    write_csv(&dir.join(PRODUCTS_CSV), products)
}

/// Writes `images.csv` in `dir`, one row per kept image (taken by reference, so a large
/// catalog is not copied to be saved).
pub fn write_images<'a>(dir: &Path, images: impl IntoIterator<Item = &'a ImageRecord>) -> Result<()> {
    let mut images = images.into_iter().peekable();
    if images.peek().is_none() {
        return atomic_write(&dir.join(IMAGES_CSV), |w| w.write_all(IMAGES_HEADER.as_bytes()));
    }
    atomic_write(&dir.join(IMAGES_CSV), |w| {
        let mut writer = csv::Writer::from_writer(w);
        for row in images {
            writer.serialize(row).map_err(std::io::Error::other)?;
        }
        writer.flush()
    })
}

const PRODUCTS_HEADER: &str = "label,name,brand,category,colorway,pairs_sold,gender,style_id,\
release_date,price,currency,thumbnail_url,url,source_url,fetched_at\n";
const IMAGES_HEADER: &str = "file,label,view,angle,source_url,sha256,width,height,bytes,fetched_at,group,view_name\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn headers_match_the_serialised_columns() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_products(dir.path(), &[Product { label: "a".into(), ..Default::default() }]).expect("write");
        write_images(dir.path(), &[ImageRecord { file: "x".into(), label: "a".into(), ..Default::default() }])
            .expect("write");
        let products = std::fs::read_to_string(dir.path().join(PRODUCTS_CSV)).expect("read");
        let images = std::fs::read_to_string(dir.path().join(IMAGES_CSV)).expect("read");
        assert_eq!(products.lines().next(), PRODUCTS_HEADER.lines().next());
        assert_eq!(images.lines().next(), IMAGES_HEADER.lines().next());
    }

    #[test]
    fn round_trips_through_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("images/air_max")).expect("mkdir");
        std::fs::write(dir.path().join("images/air_max/01.jpg"), b"x").expect("write");
        let product = Product {
            label: "air_max".into(),
            name: Some("Air Max 90, \"Infrared\"".into()),
            pairs_sold: Some(1234),
            price: Some(129.5),
            ..Default::default()
        };
        let image = ImageRecord {
            file: "images/air_max/01.jpg".into(),
            label: "air_max".into(),
            view: Some(1),
            angle: Some(0.0),
            width: Some(10),
            group: "air_max".into(),
            ..Default::default()
        };
        write_products(dir.path(), std::slice::from_ref(&product)).expect("write");
        write_images(
            dir.path(),
            &[
                image.clone(),
                ImageRecord { file: "images/air_max/02.jpg".into(), label: "air_max".into(), ..Default::default() },
            ],
        )
        .expect("write");
        let catalog = Catalog::open(dir.path()).expect("open");
        assert_eq!(catalog.product("air_max"), Some(&product));
        // 02.jpg is listed but not on disk, so it is skipped.
        assert_eq!(catalog.images(), &[image]);
        assert_eq!(catalog.labels(), &["air_max".to_string()]);
    }

    #[test]
    fn empty_catalog_files_are_readable() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_products(dir.path(), &[]).expect("write");
        write_images(dir.path(), &[]).expect("write");
        let catalog = Catalog::open(dir.path()).expect("open");
        assert!(catalog.images().is_empty() && catalog.labels().is_empty());
    }
}
