//! Reading a catalog folder: the scraped layout (`images.csv` + `products.csv`) or a plain
//! folder of label sub-folders with an optional `annotations.csv` (a user's own photos).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{CatalogError, Result};
use crate::records::{ImageRecord, Product, is_inside, is_valid_label};
use crate::{ANNOTATIONS_CSV, IMAGES_CSV, PRODUCTS_CSV};

/// File extensions taken as photos when a plain folder is read: those `sneaker-vision` decodes.
pub use sneaker_vision::IMAGE_EXTENSIONS;

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
}

impl Catalog {
    /// Reads the catalog in `dir`, whichever layout it has.
    ///
    /// Rows naming files outside `dir` or odd labels are errors (the CSV may come from
    /// anyone); rows whose file is missing are skipped with a warning, so a catalog stays
    /// usable after a user deletes a bad photo by hand.
    pub fn open(dir: impl AsRef<Path>) -> Result<Catalog> {
        let root = dir.as_ref().to_path_buf();
        let meta = std::fs::metadata(&root).map_err(|e| CatalogError::io(&root, e))?;
        if !meta.is_dir() {
            return Err(CatalogError::NotACatalog { path: root, detail: "not a folder".into() });
        }
        if root.join(IMAGES_CSV).is_file() || root.join(PRODUCTS_CSV).is_file() {
            open_scraped(root)
        } else {
            open_folder(root)
        }
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

    /// All kept images, sorted by file.
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
}

fn read_csv<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<(u64, T)>> {
    let mut reader =
        csv::ReaderBuilder::new().flexible(false).from_path(path).map_err(|e| CatalogError::csv(path, e))?;
    let mut rows = Vec::new();
    for row in reader.deserialize::<T>() {
        let row = row.map_err(|e| CatalogError::csv(path, e))?;
        // The line of the row just read; header is line 1.
        let line = rows.len() as u64 + 2;
        rows.push((line, row));
    }
    Ok(rows)
}

fn bad_row(path: &Path, line: u64, detail: String) -> CatalogError {
    CatalogError::BadRow { path: path.to_path_buf(), line, detail }
}

fn open_scraped(root: PathBuf) -> Result<Catalog> {
    let mut products = BTreeMap::new();
    let products_path = root.join(PRODUCTS_CSV);
    if products_path.is_file() {
        for (line, p) in read_csv::<Product>(&products_path)? {
            if !is_valid_label(&p.label) {
                return Err(bad_row(&products_path, line, format!("bad label {:?}", p.label)));
            }
            products.insert(p.label.clone(), p);
        }
    }
    let mut images = Vec::new();
    let images_path = root.join(IMAGES_CSV);
    if images_path.is_file() {
        for (line, img) in read_csv::<ImageRecord>(&images_path)? {
            check_row(&images_path, line, &img.file, &img.label)?;
            if root.join(&img.file).is_file() {
                images.push(img);
            } else {
                tracing::warn!(file = %img.file, "listed in {IMAGES_CSV} but missing; skipped");
            }
        }
    }
    Ok(finish(root, Layout::Scraped, images, products))
}

fn check_row(csv: &Path, line: u64, file: &str, label: &str) -> Result<()> {
    if !is_inside(file) {
        return Err(bad_row(csv, line, format!("file {file:?} is not inside the catalog")));
    }
    if !is_valid_label(label) {
        return Err(bad_row(csv, line, format!("bad label {label:?}")));
    }
    Ok(())
}

/// The columns of `annotations.csv` we use; others (source_repo, licence, ...) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Annotation {
    file: String,
    label: String,
    brand: Option<String>,
    model: Option<String>,
    colorway: Option<String>,
    view: Option<u32>,
    angle: Option<f32>,
    source_url: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    sha256: Option<String>,
}

fn open_folder(root: PathBuf) -> Result<Catalog> {
    let annotations_path = root.join(ANNOTATIONS_CSV);
    let mut annotations: HashMap<String, Annotation> = HashMap::new();
    if annotations_path.is_file() {
        for (line, a) in read_csv::<Annotation>(&annotations_path)? {
            check_row(&annotations_path, line, &a.file, &a.label)?;
            annotations.insert(a.file.clone(), a);
        }
    }
    let mut images = Vec::new();
    let mut per_label: BTreeMap<String, Vec<Annotation>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&root).min_depth(2).max_depth(2).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let path = e.path().map_or_else(|| root.clone(), Path::to_path_buf);
            CatalogError::io(path, e.into())
        })?;
        let Some(file) = folder_image_file(&root, entry.path()) else { continue };
        let label = file.split('/').next().unwrap_or_default().to_owned();
        let mut record = ImageRecord { file: file.clone(), label: label.clone(), ..Default::default() };
        if let Some(a) = annotations.remove(&file) {
            if a.label != label {
                tracing::warn!(%file, csv_label = %a.label, "annotation label differs from folder; folder wins");
            }
            record.view = a.view;
            record.angle = a.angle;
            record.source_url = a.source_url.clone();
            record.width = a.width;
            record.height = a.height;
            record.sha256 = a.sha256.clone();
            per_label.entry(label).or_default().push(a);
        }
        images.push(record);
    }
    for file in annotations.keys() {
        tracing::warn!(%file, "listed in {ANNOTATIONS_CSV} but missing; skipped");
    }
    if images.is_empty() {
        return Err(CatalogError::NotACatalog {
            path: root,
            detail: format!("no {IMAGES_CSV}/{PRODUCTS_CSV} and no <label>/<image> files"),
        });
    }
    let products = per_label
        .into_iter()
        .map(|(label, rows)| {
            let product = folder_product(&label, &rows);
            (label, product)
        })
        .collect();
    Ok(finish(root, Layout::Folder, images, products))
}

/// `label/name.ext` for a photo two levels down, `None` for anything else (hidden files,
/// other extensions, non-UTF-8 names that could not round-trip through a CSV).
fn folder_image_file(root: &Path, path: &Path) -> Option<String> {
    if !path.is_file() {
        return None;
    }
    let rel = path.strip_prefix(root).ok()?;
    let rel = rel.to_str()?.replace(std::path::MAIN_SEPARATOR, "/");
    let name = rel.rsplit('/').next()?;
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    let hidden = rel.split('/').any(|part| part.starts_with('.'));
    (!hidden && IMAGE_EXTENSIONS.contains(&ext.as_str())).then_some(rel)
}

/// A label's product from its annotation rows: fields that all rows agree on.
fn folder_product(label: &str, rows: &[Annotation]) -> Product {
    fn common(values: impl Iterator<Item = Option<String>>) -> Option<String> {
        let set: BTreeSet<Option<String>> = values.map(|v| v.filter(|s| !s.is_empty())).collect();
        match set.len() {
            1 => set.into_iter().next().flatten(),
            _ => None,
        }
    }
    Product {
        label: label.to_owned(),
        brand: common(rows.iter().map(|r| r.brand.clone())),
        name: common(rows.iter().map(|r| r.model.clone())),
        colorway: common(rows.iter().map(|r| r.colorway.clone())),
        ..Default::default()
    }
}

fn finish(root: PathBuf, layout: Layout, mut images: Vec<ImageRecord>, products: BTreeMap<String, Product>) -> Catalog {
    images.sort_by(|a, b| a.file.cmp(&b.file));
    let labels: BTreeSet<String> = images.iter().map(|i| i.label.clone()).chain(products.keys().cloned()).collect();
    Catalog { root, layout, images, products, labels: labels.into_iter().collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

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
