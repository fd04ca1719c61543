//! Start-up facts the `serve` command needs before the app runs: the enrolment token (made fresh
//! at each start unless one is given, and printed with the page URL, as Jupyter does) and where
//! the gallery lives when no run or folder is named.

use std::path::{Path, PathBuf};

use rand::RngCore;

/// A fresh enrolment token: 128 bits from `rand`'s thread generator (a CSPRNG seeded by the
/// operating system), as hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/sneaker-id`, where galleries without a run are kept.
pub fn cache_dir() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache = set("XDG_CACHE_HOME").or_else(|| set("HOME").map(|home| home.join(".cache")))?;
    Some(cache.join("sneaker-id"))
}

/// The gallery of a server with no run and no `--gallery`: `CACHE/gallery` for products enrolled
/// from the page, or, with a catalog, `CACHE/galleries/<folder name>-<digest of its path>` so
/// each catalog keeps its own (and enrolments made while serving it).
pub fn default_gallery_dir(cache: &Path, catalog: Option<&Path>) -> PathBuf {
    match catalog {
        None => cache.join("gallery"),
        Some(dir) => {
            use sha2::{Digest, Sha256};
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
            let digest = hex::encode(&Sha256::digest(dir.as_os_str().as_encoded_bytes())[..6]);
            let name: String = dir
                .file_name()
                .map(|n| {
                    n.to_string_lossy()
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                        .take(40)
                        .collect()
                })
                .unwrap_or_default();
            let name = if name.is_empty() || name.starts_with('.') { "catalog".to_owned() } else { name };
            cache.join("galleries").join(format!("{name}-{digest}"))
        }
    }
}

/// The line `serve` prints once it listens: the page, and the token in a link that hands it over.
pub fn startup_line(url: &str, token: Option<&str>) -> String {
    match token {
        Some(t) => {
            format!("sneaker-id: serving on {url}  (enrolment token: {t}; open {url}?token={t} to add sneakers)")
        }
        None => format!("sneaker-id: serving on {url}  (enrolment is off)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_hex() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn each_catalog_gets_its_own_gallery_and_the_line_carries_the_token() {
        let cache = Path::new("/c");
        assert_eq!(default_gallery_dir(cache, None), Path::new("/c/gallery"));
        let a = default_gallery_dir(cache, Some(Path::new("/no/such/shoes")));
        let b = default_gallery_dir(cache, Some(Path::new("/other/shoes")));
        assert!(
            a.starts_with("/c/galleries") && a.file_name().is_some_and(|n| n.to_string_lossy().starts_with("shoes-"))
        );
        assert_ne!(a, b);
        let line = startup_line("http://127.0.0.1:8080/", Some("abc"));
        assert!(line.starts_with("sneaker-id: serving on http://127.0.0.1:8080/"), "{line}");
        assert!(line.contains("http://127.0.0.1:8080/?token=abc"), "{line}");
    }
}
