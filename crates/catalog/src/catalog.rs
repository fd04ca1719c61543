//! A catalog folder opened: whichever of the two layouts it has (`scraped.rs`, `folder.rs`),
//! the same records, labels and products, and the list of inputs that yielded nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{CatalogError, Result};
use crate::found::{Found, Skipped};
use crate::layout::{IMAGES_CSV, PRODUCTS_CSV};
use crate::records::{ImageRecord, Product};
use crate::{folder, scraped};

/// Which of the two accepted layouts a catalog folder had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Written by `sneaker-id scrape`: `images.csv`, `products.csv`, `images/<label>/<file>`.
    Scraped,
    /// `<label>/<image>` sub-folders, optionally described by `annotations.csv`.
    Folder,
}

/// A labelled set of product photos, as every stage (train, serve, report) reads it.
#[derive(Debug, Clone)]
pub struct Catalog {
    root: PathBuf,
    layout: Layout,
    images: Vec<ImageRecord>,
    products: BTreeMap<String, Product>,
    labels: Vec<String>,
    skipped: Vec<Skipped>,
}

impl Catalog {
    /// Reads the catalog in `dir`, whichever layout it has.
    ///
    /// Rows naming files outside `dir` or odd labels are errors naming file and line (the CSV
    /// may come from anyone); rows whose file is missing, photos outside label folders and
    /// values that cannot be used are left out, warned about and listed in [`Catalog::skipped`],
    /// so a catalog stays usable after a user deletes a bad photo by hand.
    pub fn open(dir: impl AsRef<Path>) -> Result<Catalog> {
        let root = dir.as_ref().to_path_buf();
        let meta = std::fs::metadata(&root).map_err(|e| CatalogError::io(&root, e))?;
        if !meta.is_dir() {
            return Err(CatalogError::NotACatalog { path: root, detail: "not a folder".into() });
        }
        let (layout, found) = if root.join(IMAGES_CSV).is_file() || root.join(PRODUCTS_CSV).is_file() {
            (Layout::Scraped, scraped::read(&root)?)
        } else {
            (Layout::Folder, folder::read(&root)?)
        };
        if !found.skipped.is_empty() {
            tracing::warn!(
                catalog = %root.display(),
                "{} inputs of the catalog skipped or partly used (see the warnings above)",
                found.skipped.len()
            );
        }
        Ok(Catalog::from_found(root, layout, found))
    }

    fn from_found(root: PathBuf, layout: Layout, found: Found) -> Catalog {
        let Found { mut images, products, skipped } = found;
        // By label, then file: the order training has always read label folders in (a label
        // `air-max` after `air`, though `air-max/` sorts before `air/` as a path).
        images.sort_by(|a, b| a.label.cmp(&b.label).then_with(|| a.file.cmp(&b.file)));
        let labels: BTreeSet<String> = images.iter().map(|i| i.label.clone()).chain(products.keys().cloned()).collect();
        Catalog { root, layout, images, products, labels: labels.into_iter().collect(), skipped }
    }

    /// The catalog folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Labels in sorted order; every label has at least one image or one product row.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// All kept images, sorted by label, then file.
    pub fn images(&self) -> &[ImageRecord] {
        &self.images
    }

    /// Absolute (or `root`-relative) path of an image of this catalog.
    pub fn path_of(&self, image: &ImageRecord) -> PathBuf {
        self.root.join(&image.file)
    }

    /// The images of one label.
    pub fn images_of<'a>(&'a self, label: &'a str) -> impl Iterator<Item = &'a ImageRecord> + 'a {
        self.images.iter().filter(move |i| i.label == label)
    }

    /// Product details for a label, when the catalog has any.
    pub fn product(&self, label: &str) -> Option<&Product> {
        self.products.get(label)
    }

    /// All products, sorted by label.
    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.products.values()
    }

    /// Inputs left out or only partly used, each with its reason (already warned about).
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::layout::ANNOTATIONS_CSV;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, b"not decoded here").expect("write");
    }

    #[test]
    fn plain_folder_with_annotations() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        touch(&root.join("nike_dunk/a.jpg"));
        touch(&root.join("nike_dunk/b.PNG"));
        touch(&root.join("nike_dunk/IMG_0001.HEIC"));
        touch(&root.join("nike_dunk/notes.txt"));
        touch(&root.join("nike_dunk/.hidden.jpg"));
        touch(&root.join("adidas_samba/c.jpeg"));
        touch(&root.join("stray.jpg"));
        std::fs::write(
            root.join(ANNOTATIONS_CSV),
            "file,label,brand,model,colorway,license,width,height,sha256\n\
             nike_dunk/a.jpg,nike_dunk,Nike,Dunk Low,panda,x,10,20,ab\n\
             nike_dunk/b.PNG,nike_dunk,Nike,Dunk Low,,x,,,\n\
             nike_dunk/gone.jpg,nike_dunk,Nike,Dunk Low,,x,,,\n",
        )
        .expect("write csv");
        let catalog = Catalog::open(root).expect("open");
        assert_eq!(catalog.layout(), Layout::Folder);
        assert_eq!(catalog.labels(), &["adidas_samba".to_string(), "nike_dunk".to_string()]);
        let files: Vec<&str> = catalog.images().iter().map(|i| i.file.as_str()).collect();
        assert_eq!(files, ["adidas_samba/c.jpeg", "nike_dunk/IMG_0001.HEIC", "nike_dunk/a.jpg", "nike_dunk/b.PNG"]);
        assert_eq!(catalog.images()[2].width, Some(10));
        let dunk = catalog.product("nike_dunk").expect("annotated label has a product");
        assert_eq!(dunk.brand.as_deref(), Some("Nike"));
        assert_eq!(dunk.name.as_deref(), Some("Dunk Low"));
        // Rows disagree on the colourway ("panda" vs empty), so none is claimed.
        assert_eq!(dunk.colorway, None);
        assert!(catalog.product("adidas_samba").is_none());
        // The colourway makes a group; without one, the file name does.
        let groups: Vec<&str> = catalog.images().iter().map(|i| i.group.as_str()).collect();
        assert_eq!(groups, ["adidas_samba/c", "nike_dunk/IMG_0001", "nike_dunk/panda", "nike_dunk/b"]);
        // What gave nothing is listed with its reason; the hidden file is not an input.
        let mut skipped: Vec<String> = catalog
            .skipped()
            .iter()
            .map(|s| format!("{}: {}", s.path.strip_prefix(root).unwrap_or(&s.path).display(), s.reason))
            .collect();
        skipped.sort();
        assert_eq!(
            skipped,
            [
                "annotations.csv: nike_dunk/gone.jpg is annotated but there is no such photo",
                "nike_dunk/notes.txt: not a photo (by its extension)",
                "stray.jpg: a photo outside any label folder",
            ]
        );
    }

    #[test]
    fn labels_sort_before_files_as_training_always_read_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        touch(&dir.path().join("air-max/1.jpg"));
        touch(&dir.path().join("air/1.jpg"));
        let catalog = Catalog::open(dir.path()).expect("open");
        let files: Vec<&str> = catalog.images().iter().map(|i| i.file.as_str()).collect();
        assert_eq!(files, ["air/1.jpg", "air-max/1.jpg"]);
    }

    #[test]
    fn scraped_rows_of_missing_photos_are_counted_and_old_catalogs_get_a_group_per_product() {
        let dir = tempfile::tempdir().expect("temp dir");
        touch(&dir.path().join("images/dunk/01.jpg"));
        std::fs::write(
            dir.path().join(IMAGES_CSV),
            "file,label,view,angle\nimages/dunk/01.jpg,dunk,1,0\nimages/dunk/02.jpg,dunk,2,10\n",
        )
        .expect("write");
        let catalog = Catalog::open(dir.path()).expect("open");
        assert_eq!(catalog.images().len(), 1);
        assert_eq!(catalog.images()[0].group, "dunk");
        assert_eq!(catalog.skipped().len(), 1);
        assert_eq!(catalog.skipped()[0].line, Some(3));
        assert!(
            catalog.skipped()[0].to_string().ends_with("images.csv: line 3: images/dunk/02.jpg is listed but missing")
        );
    }

    #[test]
    fn hostile_rows_are_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(IMAGES_CSV), "file,label\n../../etc/passwd,x\n").expect("write");
        let err = Catalog::open(dir.path()).expect_err("escape must be refused");
        assert!(err.to_string().contains("not inside the catalog"), "{err}");
        std::fs::write(dir.path().join(IMAGES_CSV), "file,label\nimages/a/1.jpg,..\n").expect("write");
        assert!(Catalog::open(dir.path()).is_err());
    }

    #[test]
    fn empty_folder_is_not_a_catalog() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = Catalog::open(dir.path()).expect_err("empty");
        assert!(matches!(err, CatalogError::NotACatalog { .. }), "{err}");
    }

    #[test]
    fn reads_the_shared_sneakers50_set() {
        let Some(shared) = sneaker_test_support::shared("datasets/sneakers50") else { return };
        let dir = shared.join("datasets/sneakers50");
        let catalog = Catalog::open(&dir).expect("open sneakers50");
        // Counts from ../shared/datasets/README.md: 50 labels, 4212 images.
        assert_eq!(catalog.labels().len(), 50);
        assert_eq!(catalog.images().len(), 4212);
        assert!(catalog.images().iter().all(|i| i.sha256.is_some()));
        let product = catalog.product("adidas_forum_high").expect("annotated");
        assert_eq!(product.brand.as_deref(), Some("Adidas"));
    }
}
