//! The layout a user brings: `<label>/<image>` sub-folders, optionally described by
//! `annotations.csv` (a row per photo: its group, angle, brand, model, colourway...).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::annotations::{self, Annotation};
use crate::error::{CatalogError, Result};
use crate::found::Found;
use crate::group;
use crate::layout::{ANNOTATIONS_CSV, IMAGES_CSV, PRODUCTS_CSV};
use crate::records::{ImageRecord, Product};
use crate::walk::{Seen, label_folder_files};

/// Every photo two levels below `root`, with what `annotations.csv` says about it. The folder
/// names the label: an annotation that says otherwise is noted and overruled.
pub(crate) fn read(root: &Path) -> Result<Found> {
    let mut found = Found::default();
    let mut notes = annotations::read(root, &mut found)?;
    let annotations_path = root.join(ANNOTATIONS_CSV);
    let mut per_label: BTreeMap<String, Vec<Annotation>> = BTreeMap::new();
    for seen in label_folder_files(root)? {
        let file = match seen {
            Seen::Photo(file) => file,
            Seen::Unused(path, why) => {
                found.skip(path, None, why.into());
                continue;
            }
        };
        let (label, name) = file.split_once('/').unwrap_or(("", file.as_str()));
        let (label, name) = (label.to_owned(), name.to_owned());
        let note = notes.remove(&file);
        if let Some(a) = &note
            && a.label.as_ref().is_some_and(|l| *l != label)
        {
            let reason =
                format!("{file} is labelled {:?} here but sits in folder {label:?}; the folder is used", a.label);
            found.skip(&annotations_path, Some(a.line), reason);
        }
        found.images.push(record(file.clone(), &label, &name, note.as_ref()));
        if let Some(a) = note {
            per_label.entry(label).or_default().push(a);
        }
    }
    let mut left: Vec<(String, Annotation)> = notes.into_iter().collect();
    left.sort_by_key(|(_, a)| a.line);
    for (file, a) in left {
        found.skip(&annotations_path, Some(a.line), format!("{file} is annotated but there is no such photo"));
    }
    if found.images.is_empty() {
        return Err(CatalogError::NotACatalog {
            path: root.to_owned(),
            detail: format!("no {IMAGES_CSV}/{PRODUCTS_CSV} and no <label>/<image> files"),
        });
    }
    found.products = per_label.into_iter().map(|(label, rows)| (label.clone(), product(&label, &rows))).collect();
    Ok(found)
}

/// The record of the photo `file` (`label/name`): its annotation's details and group, else a
/// group guessed from the file name.
fn record(file: String, label: &str, name: &str, note: Option<&Annotation>) -> ImageRecord {
    let Some(a) = note else {
        return ImageRecord {
            group: group::of_file_name(label, name),
            file,
            label: label.to_owned(),
            ..Default::default()
        };
    };
    let group = a
        .group
        .clone()
        .or_else(|| a.colorway.as_deref().map(|c| group::of_colorway(label, c)))
        .unwrap_or_else(|| group::of_file_name(label, name));
    ImageRecord {
        file,
        label: label.to_owned(),
        view: a.view,
        angle: a.angle,
        view_name: a.view_name.clone(),
        source_url: a.source_url.clone(),
        sha256: a.sha256.clone(),
        width: a.width,
        height: a.height,
        group,
        ..Default::default()
    }
}

/// A label's product from its annotation rows: the fields all rows agree on.
fn product(label: &str, rows: &[Annotation]) -> Product {
    fn common<'a>(values: impl Iterator<Item = Option<&'a String>>) -> Option<String> {
        let set: BTreeSet<Option<&String>> = values.collect();
        match set.len() {
            1 => set.into_iter().next().flatten().cloned(),
            _ => None,
        }
    }
    Product {
        label: label.to_owned(),
        brand: common(rows.iter().map(|r| r.brand.as_ref())),
        name: common(rows.iter().map(|r| r.model.as_ref())),
        colorway: common(rows.iter().map(|r| r.colorway.as_ref())),
        ..Default::default()
    }
}
