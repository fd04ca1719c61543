//! What the tests of every crate share. `../shared` (real photos, golden tensors) sits beside the
//! repository on developers' machines and in CI, but not in a user's clone: there a test that
//! needs it says it is skipped and passes. In CI (`CI=true`) it must be there, so a CI that lost
//! it fails instead of staying green with half the suite skipped. The same holds for the
//! PostgreSQL server the database gallery's tests start ([`PgServer`]).

use std::path::{Path, PathBuf};

mod postgres;

pub use postgres::PgServer;

/// `$SNEAKER_ID_SHARED`, else `../shared` beside the workspace; whether or not it exists.
pub fn shared_root() -> PathBuf {
    std::env::var_os("SNEAKER_ID_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// Whether this run is CI's (`CI=true`), where nothing may be skipped for want of `../shared`.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `../shared`, when it holds `needs` (e.g. `"datasets/multiview-products"`; `""` for the folder
/// itself). Without it: `None` after printing `skipped: ...` (the caller returns), or, on CI, a
/// panic naming what is missing.
pub fn shared(needs: &str) -> Option<PathBuf> {
    match locate(&shared_root(), needs, on_ci()) {
        Ok(found) => found,
        Err(message) => panic!("{message}"),
    }
}

/// Prints why a test is skipped, in the one form the suite's logs are searched for.
pub fn skip(why: &str) {
    eprintln!("skipped: {why}");
}

fn locate(root: &Path, needs: &str, ci: bool) -> Result<Option<PathBuf>, String> {
    let wanted = root.join(needs);
    if wanted.exists() {
        return Ok(Some(root.to_owned()));
    }
    if ci {
        return Err(format!(
            "CI=true but {} is missing: CI must run the tests that need ../shared (set SNEAKER_ID_SHARED)",
            wanted.display()
        ));
    }
    skip(&format!("../shared not found ({} is missing)", wanted.display()));
    Ok(None)
}

/// A `multipart/form-data` body of `(field, file name, bytes)` parts, and its content type: what a
/// browser's upload form sends, for tests of the server's upload routes.
pub fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "sneaker-id-test-boundary";
    let mut body = Vec::new();
    for (field, file, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_shared_skips_locally_and_fails_on_ci() {
        let dir = std::env::temp_dir();
        assert_eq!(locate(&dir, "", false), Ok(Some(dir.clone())));
        assert_eq!(locate(&dir, "no/such/folder", false), Ok(None));
        let err = locate(&dir, "no/such/folder", true).unwrap_err();
        assert!(err.contains("CI=true") && err.contains("no/such/folder"), "{err}");
    }
}
