//! The one way photos are found in folders. [`images_in`] is what every command uses for a folder
//! it is given (`predict DIR`, `gallery add DIR`, `calibrate --not-footwear DIR`): recursive.
//! [`label_folder_files`] is the label-folder catalog's walk: `<label>/<file>`, exactly two levels.
//! Both follow links, skip hidden files and folders, and take the decoder's own extension list.

use std::path::{Path, PathBuf};

use crate::error::{CatalogError, Result};

/// Entries of `dir` down to `max_depth`, hidden ones (and what is below them) left out, links
/// followed, in file-name order.
fn walk(dir: &Path, max_depth: usize) -> impl Iterator<Item = Result<walkdir::DirEntry>> + '_ {
    let hidden = |e: &walkdir::DirEntry| e.depth() > 0 && e.file_name().to_str().is_some_and(|n| n.starts_with('.'));
    walkdir::WalkDir::new(dir)
        .follow_links(true)
        .max_depth(max_depth)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(move |e| !hidden(e))
        .map(move |entry| {
            entry.map_err(|e| {
                let path = e.path().unwrap_or(dir).to_owned();
                CatalogError::io(
                    path,
                    e.into_io_error().unwrap_or_else(|| std::io::Error::other("a folder links to itself")),
                )
            })
        })
}

/// Image files in `dir` or below it, sorted.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in walk(dir, usize::MAX) {
        let entry = entry?;
        if entry.file_type().is_file() && sneaker_vision::is_image_path(entry.path()) {
            found.push(entry.into_path());
        }
    }
    found.sort();
    Ok(found)
}

/// What the walk of a label-folder catalog saw at one path below its root.
#[derive(Debug, PartialEq)]
pub(crate) enum Seen {
    /// `label/name.ext`, `/`-separated: a photo of `label`.
    Photo(String),
    /// Anything else one or two levels down that will not be read, with why; the root's own
    /// files that are not photos (`annotations.csv`, a README) are not mentioned.
    Unused(PathBuf, &'static str),
}

/// Photos of `root/<label>/`, and what else lies there that will not be read.
pub(crate) fn label_folder_files(root: &Path) -> Result<Vec<Seen>> {
    let mut seen = Vec::new();
    for entry in walk(root, 2) {
        let entry = entry?;
        let path = entry.path();
        let is_file = entry.file_type().is_file();
        let is_photo = is_file && sneaker_vision::is_image_path(path);
        match entry.depth() {
            1 if is_photo => seen.push(Seen::Unused(path.to_owned(), "a photo outside any label folder")),
            2 if is_photo => match relative(root, path) {
                Some(file) => seen.push(Seen::Photo(file)),
                None => seen.push(Seen::Unused(path.to_owned(), "its name is not valid UTF-8")),
            },
            2 if is_file => seen.push(Seen::Unused(path.to_owned(), "not a photo (by its extension)")),
            2 => seen.push(Seen::Unused(
                path.to_owned(),
                "a folder inside a label folder (photos are read one level down only)",
            )),
            _ => {}
        }
    }
    Ok(seen)
}

/// `label/name` of a path two levels below `root`, `None` if it is not UTF-8 (it could not
/// round-trip through a CSV).
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_folders_follows_links_and_skips_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("photos");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".cache")).unwrap();
        for f in ["b.jpg", "a.PNG", "notes.txt", "sub/c.webp", ".hidden.jpg", ".cache/d.jpg", "e.jfif"] {
            std::fs::write(root.join(f), b"x").unwrap();
        }
        std::fs::write(dir.path().join("outside.heic"), b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("outside.heic"), root.join("linked.heic")).unwrap();
        let names: Vec<String> =
            images_in(&root).unwrap().iter().map(|p| p.strip_prefix(&root).unwrap().display().to_string()).collect();
        let mut expected = vec!["a.PNG", "b.jpg", "e.jfif", "sub/c.webp"];
        if cfg!(unix) {
            expected.insert(3, "linked.heic");
        }
        assert_eq!(names, expected);
    }

    #[test]
    fn label_folders_are_read_two_levels_down_and_the_rest_is_accounted_for() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in ["dunk/b.jpg", "dunk/a.PNG", "dunk/notes.txt", "dunk/.DS_Store", "dunk/deeper/c.jpg", "stray.jpg"] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), b"x").unwrap();
        }
        std::fs::write(root.join("annotations.csv"), b"file\n").unwrap();
        let seen = label_folder_files(root).unwrap();
        let photos: Vec<&str> =
            seen.iter().filter_map(|s| if let Seen::Photo(f) = s { Some(f.as_str()) } else { None }).collect();
        assert_eq!(photos, ["dunk/a.PNG", "dunk/b.jpg"]);
        let mut unused: Vec<String> = seen
            .iter()
            .filter_map(|s| {
                if let Seen::Unused(p, _) = s {
                    Some(p.strip_prefix(root).unwrap().display().to_string())
                } else {
                    None
                }
            })
            .collect();
        unused.sort();
        assert_eq!(unused, ["dunk/deeper", "dunk/notes.txt", "stray.jpg"]);
    }
}
