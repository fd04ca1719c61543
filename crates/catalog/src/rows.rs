//! Reading a catalog CSV row by row, each row with its line, so every complaint about a row
//! names the file and the line.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{CatalogError, Result};
use crate::records::{is_inside, is_valid_label};

/// The header and the rows of `path`, each row with its 1-based line (the header is line 1).
/// Quoting errors and rows with the wrong number of fields are errors naming the line.
pub(crate) fn read_rows(path: &Path) -> Result<(csv::StringRecord, Vec<(u64, csv::StringRecord)>)> {
    let mut reader =
        csv::ReaderBuilder::new().flexible(false).from_path(path).map_err(|e| CatalogError::csv(path, e))?;
    let header = reader.headers().map_err(|e| CatalogError::csv(path, e))?.clone();
    let mut rows = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| CatalogError::csv(path, e))?;
        let line = row.position().map_or(rows.len() as u64 + 2, |p| p.line());
        rows.push((line, row));
    }
    Ok((header, rows))
}

/// Every row of `path` as a `T` (columns by header name; missing ones take their default).
pub(crate) fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<(u64, T)>> {
    let (header, rows) = read_rows(path)?;
    rows.into_iter()
        .map(|(line, row)| {
            let value = row.deserialize(Some(&header)).map_err(|e| CatalogError::csv(path, e))?;
            Ok((line, value))
        })
        .collect()
}

pub(crate) fn bad_row(path: &Path, line: u64, detail: String) -> CatalogError {
    CatalogError::BadRow { path: path.to_path_buf(), line, detail }
}

/// A row may come from anyone: a file outside the catalog or a label that is not a plain folder
/// name is refused outright rather than skipped, since it is never a slip of the pen.
pub(crate) fn check_file(csv: &Path, line: u64, file: &str) -> Result<()> {
    if is_inside(file) { Ok(()) } else { Err(bad_row(csv, line, format!("file {file:?} is not inside the catalog"))) }
}

pub(crate) fn check_label(csv: &Path, line: u64, label: &str) -> Result<()> {
    if is_valid_label(label) { Ok(()) } else { Err(bad_row(csv, line, format!("bad label {label:?}"))) }
}
