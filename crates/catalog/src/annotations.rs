//! A label folder's optional `annotations.csv`, read leniently: people write it by hand or in a
//! spreadsheet, so columns may be missing, numbers may be words (`angle` = `side`) and cells may
//! have spaces. Only a hostile row (a file outside the catalog) is an error; a value that cannot
//! be used is dropped, and the row, the column and the reason are noted.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Result;
use crate::found::Found;
use crate::layout::ANNOTATIONS_CSV;
use crate::rows::{bad_row, check_file, read_rows};

/// What one row says about one photo. Columns read: `file` (required), `label`, `group` (or
/// `product`), `brand`, `model`, `colorway`, `view`, `angle`, `source_url`, `width`, `height`,
/// `sha256`; others (licence, notes...) are ignored.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Annotation {
    /// The line of the row, to name it when the photo turns out to be missing.
    pub line: u64,
    pub label: Option<String>,
    pub group: Option<String>,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub colorway: Option<String>,
    pub view: Option<u32>,
    pub angle: Option<f32>,
    /// `angle` or `view` given as words (`side`, `heel`).
    pub view_name: Option<String>,
    pub source_url: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sha256: Option<String>,
}

/// The rows of `root/annotations.csv` by their `file` column (empty when there is no such file).
/// A file listed twice keeps its last row; the earlier one is noted in `found`.
pub(crate) fn read(root: &Path, found: &mut Found) -> Result<HashMap<String, Annotation>> {
    let path = root.join(ANNOTATIONS_CSV);
    let mut by_file = HashMap::new();
    if !path.is_file() {
        return Ok(by_file);
    }
    let (header, rows) = read_rows(&path)?;
    let column = |names: &[&str]| names.iter().find_map(|n| header.iter().position(|h| h.trim() == *n));
    let Some(file_col) = column(&["file"]) else {
        return Err(bad_row(&path, 1, "no `file` column (the photo's path, e.g. `nike_dunk/01.jpg`)".into()));
    };
    let cols = Columns {
        label: column(&["label"]),
        group: column(&["group", "product"]),
        brand: column(&["brand"]),
        model: column(&["model"]),
        colorway: column(&["colorway"]),
        view: column(&["view"]),
        angle: column(&["angle"]),
        source_url: column(&["source_url"]),
        width: column(&["width"]),
        height: column(&["height"]),
        sha256: column(&["sha256"]),
    };
    for (line, row) in rows {
        let Some(file) = cell(&row, Some(file_col)) else {
            found.skip(&path, Some(line), "no file named in the `file` column".into());
            continue;
        };
        check_file(&path, line, &file)?;
        let annotation = cols.annotation(&row, line, &mut |reason| found.skip(&path, Some(line), reason));
        if let Some(earlier) = by_file.insert(file.clone(), annotation) {
            found.skip(&path, Some(earlier.line), format!("{file} is annotated again on line {line}, which is used"));
        }
    }
    Ok(by_file)
}

/// Where each known column is in the header.
struct Columns {
    label: Option<usize>,
    group: Option<usize>,
    brand: Option<usize>,
    model: Option<usize>,
    colorway: Option<usize>,
    view: Option<usize>,
    angle: Option<usize>,
    source_url: Option<usize>,
    width: Option<usize>,
    height: Option<usize>,
    sha256: Option<usize>,
}

impl Columns {
    fn annotation(&self, row: &csv::StringRecord, line: u64, note: &mut dyn FnMut(String)) -> Annotation {
        let text = |c| cell(row, c);
        let mut whole = |name: &str, c| {
            let value = text(c)?;
            match value.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    note(format!("{name} {value:?} is not a whole number; left blank"));
                    None
                }
            }
        };
        let (width, height) = (whole("width", self.width), whole("height", self.height));
        let mut annotation = Annotation {
            line,
            label: text(self.label),
            group: text(self.group),
            brand: text(self.brand),
            model: text(self.model),
            colorway: text(self.colorway),
            source_url: text(self.source_url),
            sha256: text(self.sha256),
            width,
            height,
            ..Default::default()
        };
        if let Some(view) = text(self.view) {
            match view.parse::<u32>() {
                Ok(n) => annotation.view = Some(n),
                Err(_) => annotation.view_name = Some(view),
            }
        }
        if let Some(angle) = text(self.angle) {
            match degrees(&angle) {
                Some(Ok(a)) => annotation.angle = Some(a),
                Some(Err(())) => note(format!("angle {angle:?} is not a finite number of degrees; left blank")),
                // Words name the view; they take the place of a `view` given as words.
                None => annotation.view_name = Some(angle),
            }
        }
        annotation
    }
}

/// A trimmed, non-empty cell.
fn cell(row: &csv::StringRecord, column: Option<usize>) -> Option<String> {
    column.and_then(|c| row.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Degrees from `90`, `90.5`, `90°` or `90 deg`: `Some(Ok)`; a number that is not finite
/// (`NaN`, `inf`): `Some(Err)`; words (`side`): `None`.
fn degrees(text: &str) -> Option<std::result::Result<f32, ()>> {
    let number = text.trim_end_matches("degrees").trim_end_matches("deg").trim_end_matches('°').trim_end();
    let value: f32 = number.parse().ok()?;
    Some(if value.is_finite() { Ok(value) } else { Err(()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(csv: &str) -> (Result<HashMap<String, Annotation>>, Found) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ANNOTATIONS_CSV), csv).unwrap();
        let mut found = Found::default();
        (read(dir.path(), &mut found), found)
    }

    #[test]
    fn angles_may_be_degrees_or_words_and_bad_numbers_are_noted() {
        let (rows, found) = read_text(
            "file,label,angle,view,width,group\n\
             a/1.jpg,a,90°,2,10, shoot1 \n\
             a/2.jpg,a,side,,wide,\n\
             a/3.jpg,a,NaN,front,,\n\
             a/4.jpg,a,,,,\n",
        );
        let rows = rows.unwrap();
        assert_eq!(
            (rows["a/1.jpg"].angle, rows["a/1.jpg"].view, rows["a/1.jpg"].width),
            (Some(90.0), Some(2), Some(10))
        );
        assert_eq!(rows["a/1.jpg"].group.as_deref(), Some("shoot1"));
        assert_eq!((rows["a/2.jpg"].angle, rows["a/2.jpg"].view_name.as_deref()), (None, Some("side")));
        assert_eq!(rows["a/3.jpg"].view_name.as_deref(), Some("front"));
        assert_eq!(rows["a/4.jpg"], Annotation { line: 5, label: Some("a".into()), ..Default::default() });
        let reasons: Vec<String> = found.skipped.iter().map(ToString::to_string).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].ends_with("line 3: width \"wide\" is not a whole number; left blank"), "{reasons:?}");
        assert!(reasons[1].contains("line 4: angle \"NaN\""), "{reasons:?}");
    }

    #[test]
    fn product_column_names_the_group_and_repeats_keep_the_last_row() {
        let (rows, found) = read_text("file,product\na/1.jpg,p1\n,p2\na/1.jpg,p3\n");
        let rows = rows.unwrap();
        assert_eq!(rows["a/1.jpg"].group.as_deref(), Some("p3"));
        let reasons: Vec<String> = found.skipped.iter().map(ToString::to_string).collect();
        assert!(reasons[0].contains("line 3: no file named"), "{reasons:?}");
        assert!(reasons[1].contains("line 2: a/1.jpg is annotated again on line 4"), "{reasons:?}");
    }

    #[test]
    fn missing_file_column_and_escaping_files_are_errors_with_the_line() {
        let (rows, _) = read_text("label,angle\na,1\n");
        assert!(rows.unwrap_err().to_string().contains("line 1: no `file` column"));
        let (rows, _) = read_text("file\nok/1.jpg\n../../etc/passwd\n");
        let e = rows.unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("not inside the catalog"), "{e}");
    }

    #[test]
    fn ragged_rows_are_errors_with_the_line() {
        let (rows, _) = read_text("file,label\na/1.jpg,a\na/2.jpg\n");
        let e = rows.unwrap_err().to_string();
        assert!(e.contains("line: 3"), "{e}");
    }
}
