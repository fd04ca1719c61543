//! The one way every command lists the photos in a folder it is given (`predict DIR`, `gallery
//! add DIR`, `calibrate --not-footwear DIR`): recursive, links followed, hidden files and folders
//! skipped, decodable extensions only (the decoder's own list), sorted so output is stable.

use std::path::{Path, PathBuf};

use crate::error::{CatalogError, Result};

/// Image files in `dir` or below it, sorted.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let hidden = |e: &walkdir::DirEntry| e.depth() > 0 && e.file_name().to_str().is_some_and(|n| n.starts_with('.'));
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true).into_iter().filter_entry(|e| !hidden(e)) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_owned();
            CatalogError::io(
                path,
                e.into_io_error().unwrap_or_else(|| std::io::Error::other("a folder links to itself")),
            )
        })?;
        if entry.file_type().is_file() && sneaker_vision::is_image_path(entry.path()) {
            found.push(entry.into_path());
        }
    }
    found.sort();
    Ok(found)
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
}
