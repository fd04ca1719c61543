//! Where a gallery lives, as `--gallery` names it: a folder (the embedded exact/HNSW gallery) or a
//! `postgres://` connection string (PostgreSQL + pgvector, shared by several servers); and
//! opening either behind [`GalleryBackend`].

use std::path::PathBuf;

use crate::backend::{GalleryBackend, OpenMode};
use crate::error::Result;
use crate::gallery::{Gallery, GalleryConfig};

/// Query parameter of a `postgres://` gallery naming the gallery inside the database
/// (`?gallery=shoes`; default [`DEFAULT_PG_GALLERY`]). It is taken off before connecting.
pub const PG_GALLERY_PARAM: &str = "gallery";
/// The gallery a connection string without `?gallery=` means.
pub const DEFAULT_PG_GALLERY: &str = "default";

/// A gallery's place: parsed from `--gallery`, never failing (a bad connection string is reported
/// when opened, so no parser prints it back with its password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GalleryLocation {
    Folder(PathBuf),
    Postgres(PgLocation),
}

/// A PostgreSQL gallery: the connection string (kept out of `Debug` and `Display`, as it may hold
/// a password) and the gallery's name inside the database.
#[derive(Clone, PartialEq, Eq)]
pub struct PgLocation {
    url: String,
    gallery: String,
}

impl std::fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgLocation({self})")
    }
}

impl PgLocation {
    /// The connection string to hand to the client; never to a log or an error.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The gallery's name inside the database.
    pub fn gallery(&self) -> &str {
        &self.gallery
    }
}

/// `postgres://user@host:port/db?gallery=NAME` with the password and any other parameter left out.
impl std::fmt::Display for PgLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("postgres", ""));
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let shown = match authority.rsplit_once('@') {
            Some((user, host)) => format!("{}@{host}", user.split(':').next().unwrap_or_default()),
            None => authority.to_owned(),
        };
        write!(f, "{scheme}://{shown}/{path} (gallery {})", self.gallery)
    }
}

impl std::str::FromStr for GalleryLocation {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
            return Ok(GalleryLocation::Folder(PathBuf::from(s)));
        }
        let (base, query) = s.split_once('?').unwrap_or((s, ""));
        let mut gallery = DEFAULT_PG_GALLERY.to_owned();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((key, value)) if key == PG_GALLERY_PARAM => gallery = value.to_owned(),
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        Ok(GalleryLocation::Postgres(PgLocation { url, gallery }))
    }
}

impl std::fmt::Display for GalleryLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GalleryLocation::Folder(dir) => write!(f, "{}", dir.display()),
            GalleryLocation::Postgres(pg) => write!(f, "{pg}"),
        }
    }
}

/// Opens the gallery at `location` behind the backend seam, refusing one embedded by another
/// network than `model_id` (a folder's `gallery.bin` header, or the database's gallery table).
pub fn open_gallery(
    location: &GalleryLocation,
    model_id: &str,
    dim: usize,
    mode: OpenMode,
) -> Result<Box<dyn GalleryBackend>> {
    match location {
        GalleryLocation::Folder(dir) => {
            let config = GalleryConfig::default();
            let exists = Gallery::exists(dir);
            let gallery = match mode {
                OpenMode::Existing => Gallery::open(dir, Some(model_id), config)?,
                OpenMode::Create if exists => Gallery::open(dir, Some(model_id), config)?,
                OpenMode::Create | OpenMode::Replace => Gallery::new(model_id, dim, config).stored_in(dir),
            };
            Ok(Box::new(gallery))
        }
        GalleryLocation::Postgres(pg) => open_postgres(pg, model_id, dim, mode),
    }
}

#[cfg(feature = "pgvector")]
fn open_postgres(pg: &PgLocation, model_id: &str, dim: usize, mode: OpenMode) -> Result<Box<dyn GalleryBackend>> {
    let config = crate::pgvector::PgConfig { url: pg.url.clone(), gallery: pg.gallery.clone(), ..Default::default() };
    Ok(Box::new(crate::postgres::PgGallery::open(config, model_id, dim, mode)?))
}

#[cfg(not(feature = "pgvector"))]
fn open_postgres(_: &PgLocation, _: &str, _: usize, _: OpenMode) -> Result<Box<dyn GalleryBackend>> {
    Err(crate::error::GalleryError::NoPostgres)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> GalleryLocation {
        s.parse().unwrap_or_else(|e: std::convert::Infallible| match e {})
    }

    #[test]
    fn folders_and_connection_strings_are_told_apart() {
        assert_eq!(parse("runs/a/gallery"), GalleryLocation::Folder("runs/a/gallery".into()));
        let GalleryLocation::Postgres(pg) = parse("postgresql://bob:pw@db:5433/shop?gallery=shoes&sslmode=disable")
        else {
            panic!("a postgresql:// string is a database")
        };
        assert_eq!((pg.url(), pg.gallery()), ("postgresql://bob:pw@db:5433/shop?sslmode=disable", "shoes"));
        let GalleryLocation::Postgres(pg) = parse("postgres://db/shop") else { panic!("postgres:// too") };
        assert_eq!((pg.url(), pg.gallery()), ("postgres://db/shop", DEFAULT_PG_GALLERY));
    }

    #[test]
    fn the_password_never_shows() {
        let loc = parse("postgres://alice:hunter2@db.example:6543/shop?password=hunter2&gallery=g");
        for text in [loc.to_string(), format!("{loc:?}")] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("alice@db.example:6543/shop") && text.contains("gallery g"), "{text}");
        }
    }
}
