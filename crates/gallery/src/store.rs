//! The gallery on disk: one file, `gallery.bin`, in `RUN/gallery/` (or any folder), replaced
//! atomically on every save so a crash leaves the old gallery or the new one.
//!
//! Layout (little-endian), each part checked on load before the next is trusted:
//!
//! | bytes | what |
//! |---|---|
//! | 8 | magic `SNKRGAL\0` |
//! | 4 | format version (1) |
//! | 4 | `dim` |
//! | 8 | `count` |
//! | 4 | length of the embedding model id |
//! | 8 | length of the metadata JSON |
//! | … | embedding model id (UTF-8) |
//! | … | metadata JSON: `{"entries": [...], "products": {...}}` |
//! | count·dim·4 | vectors, f32, row-major |
//! | 4 | CRC-32 of every byte before it |
//!
//! Past the approximate-search threshold the HNSW graph is cached beside it in `hnsw.usearch`
//! (magic `SNKRHNSW`, version, the CRC of the `gallery.bin` it indexes, payload length, USearch's
//! serialisation, CRC-32): a graph that does not belong to the gallery file, or is damaged, is
//! rebuilt instead of trusted.
//!
//! A hand-written format because the vectors are one flat f32 block that must load without a
//! per-number parse (1M × 1280 floats); metadata, which is small, is JSON.

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sneaker_catalog::{Product, is_valid_label};

use crate::approx::{HnswConfig, HnswIndex};
use crate::error::{GalleryError, Result};
use crate::gallery::{Entry, Gallery, GalleryConfig};

/// Sub-folder of a run folder that holds its gallery.
pub use sneaker_model::run_layout::GALLERY_DIR;
/// The gallery file inside a gallery folder.
pub const GALLERY_FILE: &str = "gallery.bin";
/// The cached HNSW graph inside a gallery folder.
pub const HNSW_FILE: &str = "hnsw.usearch";
const MAGIC: &[u8; 8] = b"SNKRGAL\0";
const HNSW_MAGIC: &[u8; 8] = b"SNKRHNSW";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 4 + 8;
/// Bounds that keep a damaged header from asking for absurd allocations.
const MAX_DIM: u32 = 65_536;
const MAX_MODEL_ID: u32 = 4096;
/// Metadata is ~100 bytes per entry; 4 GiB covers tens of millions of photos.
const MAX_META: u64 = 4 << 30;

#[derive(Serialize, Deserialize)]
struct Meta {
    entries: Vec<Entry>,
    products: BTreeMap<String, Product>,
}

/// Writer that keeps a running CRC-32 of what passed through it.
struct Crc<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Gallery {
    /// Writes the gallery to `dir/gallery.bin` (creating `dir`), atomically.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(GALLERY_FILE);
        let io = |source| GalleryError::Io { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let crc = write_atomic(&path, |f| self.write_to(f))?;
        tracing::info!(path = %path.display(), len = self.len(), "saved gallery");
        if let Some(hnsw) = self.approximate() {
            let graph = hnsw.to_bytes()?;
            write_atomic(&dir.join(HNSW_FILE), |f| {
                let mut w = Crc { inner: f, crc: crc32fast::Hasher::new() };
                w.write_all(HNSW_MAGIC)?;
                w.write_all(&VERSION.to_le_bytes())?;
                w.write_all(&crc.to_le_bytes())?;
                w.write_all(&(graph.len() as u64).to_le_bytes())?;
                w.write_all(&graph)?;
                let own = w.crc.clone().finalize();
                w.inner.write_all(&own.to_le_bytes())?;
                w.inner.flush()?;
                Ok(own)
            })?;
        }
        Ok(path)
    }

    /// Writes the gallery file and returns its CRC-32.
    fn write_to(&self, out: &mut dyn Write) -> std::io::Result<u32> {
        let meta = Meta { entries: self.entries().to_vec(), products: self.products().clone() };
        let meta = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        let dim = u32::try_from(self.dim()).map_err(std::io::Error::other)?;
        let mut w = Crc { inner: out, crc: crc32fast::Hasher::new() };
        w.write_all(MAGIC)?;
        w.write_all(&VERSION.to_le_bytes())?;
        w.write_all(&dim.to_le_bytes())?;
        w.write_all(&(self.len() as u64).to_le_bytes())?;
        w.write_all(&(self.model_id().len() as u32).to_le_bytes())?;
        w.write_all(&(meta.len() as u64).to_le_bytes())?;
        w.write_all(self.model_id().as_bytes())?;
        w.write_all(&meta)?;
        let mut buf = Vec::with_capacity(64 * 1024);
        for chunk in self.exact().data().chunks(16 * 1024) {
            buf.clear();
            buf.extend(chunk.iter().flat_map(|x| x.to_le_bytes()));
            w.write_all(&buf)?;
        }
        let crc = w.crc.clone().finalize();
        w.inner.write_all(&crc.to_le_bytes())?;
        w.inner.flush()?;
        Ok(crc)
    }

    /// Loads the gallery in `dir`, refusing it unless it was embedded by `expected_model`
    /// (`None` accepts any, for inspection tools). Damaged or truncated files are errors.
    pub fn open(dir: &Path, expected_model: Option<&str>, config: GalleryConfig) -> Result<Gallery> {
        let path = dir.join(GALLERY_FILE);
        if !path.is_file() {
            return Err(GalleryError::Missing { gallery: dir.display().to_string() });
        }
        let gallery = read(&path, expected_model, config)?.stored_in(dir);
        tracing::info!(path = %path.display(), len = gallery.len(), approximate = gallery.is_approximate(), "loaded gallery");
        Ok(gallery)
    }

    /// Whether `dir` holds a gallery file.
    pub fn exists(dir: &Path) -> bool {
        dir.join(GALLERY_FILE).is_file()
    }
}

/// Replaces `path` atomically with what `write` writes (see `sneaker_files::atomic`).
fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<u32>) -> Result<u32> {
    sneaker_files::write_atomic_with(path, write).map_err(|source| GalleryError::Io { path: path.to_owned(), source })
}

/// The cached HNSW graph of the gallery file whose CRC is `gallery_crc`, if there is a sound one.
fn read_cached_graph(path: &Path, gallery_crc: u32, dim: usize) -> Option<HnswIndex> {
    let bytes = std::fs::read(path).ok()?;
    let problem = |why: &str| {
        tracing::warn!(path = %path.display(), why, "cached HNSW graph not used; rebuilding it");
        None
    };
    if bytes.len() < 28 || &bytes[..8] != HNSW_MAGIC || u32_at(&bytes, 8) != VERSION {
        return problem("not a graph file of this version");
    }
    if u32_at(&bytes, 12) != gallery_crc {
        return problem("it belongs to another gallery file");
    }
    let (body, stored) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32_at(stored, 0) || u64_at(&bytes, 16) != (body.len() - 24) as u64 {
        return problem("damaged");
    }
    match HnswIndex::from_bytes(dim, HnswConfig::default(), &body[24..]) {
        Ok(h) => Some(h),
        Err(e) => problem(&e.to_string()),
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("header slice is 4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("header slice is 8 bytes"))
}

fn read(path: &Path, expected_model: Option<&str>, config: GalleryConfig) -> Result<Gallery> {
    let corrupt = |message: String| GalleryError::Corrupt { path: path.to_owned(), message };
    let io = |source| GalleryError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut crc = crc32fast::Hasher::new();

    let mut header = [0u8; HEADER_LEN];
    if file_len < HEADER_LEN as u64 {
        return Err(corrupt(format!("only {file_len} bytes, shorter than the gallery header")));
    }
    r.read_exact(&mut header).map_err(io)?;
    crc.update(&header);
    if &header[..8] != MAGIC {
        return Err(corrupt("not a sneaker-id gallery file (bad magic bytes)".into()));
    }
    let version = u32_at(&header, 8);
    if version != VERSION {
        return Err(corrupt(format!("gallery format version {version}; this build reads version {VERSION}")));
    }
    let (dim, count, id_len, meta_len) =
        (u32_at(&header, 12), u64_at(&header, 16), u32_at(&header, 24), u64_at(&header, 28));
    if dim == 0 || dim > MAX_DIM || id_len > MAX_MODEL_ID || meta_len > MAX_META {
        return Err(corrupt(format!(
            "implausible header: dim {dim}, model id {id_len} bytes, metadata {meta_len} bytes"
        )));
    }
    // Every size is checked against the file's real length before anything is allocated.
    let expected_len = count
        .checked_mul(u64::from(dim) * 4)
        .and_then(|v| v.checked_add(HEADER_LEN as u64 + u64::from(id_len) + meta_len + 4));
    if expected_len != Some(file_len) {
        return Err(corrupt(format!(
            "{file_len} bytes, but the header describes {} (truncated or damaged)",
            expected_len.map_or_else(|| "an impossible size".to_owned(), |n| format!("{n} bytes"))
        )));
    }
    let mut model_id = vec![0u8; id_len as usize];
    r.read_exact(&mut model_id).map_err(io)?;
    crc.update(&model_id);
    let model_id = String::from_utf8(model_id).map_err(|_| corrupt("model id is not UTF-8".into()))?;
    let mut meta = vec![0u8; meta_len as usize];
    r.read_exact(&mut meta).map_err(io)?;
    crc.update(&meta);

    let count = usize::try_from(count).map_err(|_| corrupt("too many vectors for this machine".into()))?;
    let mut vectors = vec![0f32; count * dim as usize];
    let mut buf = vec![0u8; 64 * 1024];
    for chunk in vectors.chunks_mut(buf.len() / 4) {
        let bytes = &mut buf[..chunk.len() * 4];
        r.read_exact(bytes).map_err(io)?;
        crc.update(bytes);
        for (x, b) in chunk.iter_mut().zip(bytes.chunks_exact(4)) {
            *x = f32::from_le_bytes(b.try_into().expect("chunks_exact(4)"));
        }
    }
    let mut stored = [0u8; 4];
    r.read_exact(&mut stored).map_err(io)?;
    if crc.finalize() != u32::from_le_bytes(stored) {
        return Err(corrupt("checksum mismatch: the file is damaged".into()));
    }
    if let Some(expected) = expected_model.filter(|e| *e != model_id) {
        return Err(GalleryError::ModelMismatch {
            gallery: path.display().to_string(),
            built_with: model_id,
            expected: expected.to_owned(),
        });
    }
    let meta: Meta = serde_json::from_slice(&meta).map_err(|e| corrupt(format!("metadata: {e}")))?;
    if meta.entries.len() != count {
        return Err(corrupt(format!("{} metadata entries for {count} vectors", meta.entries.len())));
    }
    if let Some(bad) = meta.entries.iter().map(|e| &e.label).chain(meta.products.keys()).find(|l| !is_valid_label(l)) {
        return Err(corrupt(format!("bad label {bad:?}")));
    }
    let cached = if count > config.approximate_above {
        let dir = path.parent().unwrap_or(Path::new("."));
        read_cached_graph(&dir.join(HNSW_FILE), u32::from_le_bytes(stored), dim as usize)
    } else {
        None
    };
    Gallery::from_parts(model_id, dim as usize, config, meta.entries, meta.products, vectors, cached)
        .map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::VectorIndex;

    fn sample() -> Gallery {
        let mut g = Gallery::new("model-a", 4, GalleryConfig::default());
        for i in 0..5u32 {
            let label = if i < 3 { "nike_dunk" } else { "adidas_samba" };
            let entry =
                Entry { label: label.into(), source: format!("photos/{i}.jpg"), sha256: Some(format!("{i:064x}")) };
            g.add(entry, &[1.0, i as f32, 0.5, -(i as f32)]).unwrap();
        }
        let product = Product {
            label: "nike_dunk".into(),
            name: Some("Nike Dunk Low".into()),
            brand: Some("Nike".into()),
            ..Default::default()
        };
        g.set_product(product).unwrap();
        g
    }

    #[test]
    fn save_then_open_gives_the_same_gallery() {
        let dir = tempfile::tempdir().unwrap();
        let g = sample();
        let path = g.save(dir.path()).unwrap();
        assert_eq!(path, dir.path().join(GALLERY_FILE));
        let back = Gallery::open(dir.path(), Some("model-a"), GalleryConfig::default()).unwrap();
        assert_eq!(back.entries(), g.entries());
        assert_eq!(back.products(), g.products());
        assert_eq!(back.exact().data(), g.exact().data());
        assert_eq!(back.model_id(), "model-a");
        assert!(back.contains_image(&format!("{:064x}", 3)));
        let q = [1.0, 2.0, 0.5, -2.0];
        assert_eq!(back.search(&q, 3).unwrap(), g.search(&q, 3).unwrap());
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_gallery_of_another_model_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        sample().save(dir.path()).unwrap();
        let err = Gallery::open(dir.path(), Some("model-b"), GalleryConfig::default()).unwrap_err();
        assert!(matches!(err, GalleryError::ModelMismatch { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("model-a") && msg.contains("model-b") && msg.contains(GALLERY_FILE), "{msg}");
        assert!(Gallery::open(dir.path(), None, GalleryConfig::default()).is_ok());
    }

    #[test]
    fn missing_gallery_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let err = Gallery::open(dir.path(), None, GalleryConfig::default()).unwrap_err();
        assert!(matches!(err, GalleryError::Missing { .. }), "{err}");
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample().save(dir.path()).unwrap();
        let good = std::fs::read(&path).unwrap();
        for len in 0..good.len() {
            std::fs::write(&path, &good[..len]).unwrap();
            let err =
                Gallery::open(dir.path(), None, GalleryConfig::default()).expect_err("truncated file must not load");
            assert!(matches!(err, GalleryError::Corrupt { .. }), "truncated to {len}: {err}");
        }
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x20;
            std::fs::write(&path, &bad).unwrap();
            let err =
                Gallery::open(dir.path(), None, GalleryConfig::default()).expect_err("flipped byte must not load");
            assert!(err.to_string().contains(GALLERY_FILE), "flip at {at}: {err}");
        }
        let mut longer = good.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert!(Gallery::open(dir.path(), None, GalleryConfig::default()).is_err());
    }

    #[test]
    fn a_large_loaded_gallery_switches_to_the_approximate_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = sample();
        g.save(dir.path()).unwrap();
        let small = GalleryConfig { approximate_above: 3 };
        let back = Gallery::open(dir.path(), None, small).unwrap();
        assert!(back.is_approximate());
        assert!(!g.is_approximate());
        let q = [1.0, 4.0, 0.5, -4.0];
        assert_eq!(back.search(&q, 1).unwrap()[0].id, g.search(&q, 1).unwrap()[0].id);
        let e = Entry { label: "x".into(), source: "x.jpg".into(), sha256: None };
        g.add(e, &[0.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(g.exact().len(), 6);
    }

    #[test]
    fn the_hnsw_graph_is_cached_and_only_trusted_for_its_own_gallery_file() {
        let dir = tempfile::tempdir().unwrap();
        let small = GalleryConfig { approximate_above: 3 };
        sample().save(dir.path()).unwrap();
        let mut g = Gallery::open(dir.path(), None, small).unwrap();
        g.save(dir.path()).unwrap();
        let graph = dir.path().join(HNSW_FILE);
        assert!(graph.is_file(), "an approximate gallery saves its graph");
        let q = [1.0, 4.0, 0.5, -4.0];
        let want = g.search(&q, 2).unwrap();
        assert_eq!(Gallery::open(dir.path(), None, small).unwrap().search(&q, 2).unwrap(), want);
        // Damaged graph: rebuilt, same answers.
        let mut bytes = std::fs::read(&graph).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&graph, &bytes).unwrap();
        assert_eq!(Gallery::open(dir.path(), None, small).unwrap().search(&q, 2).unwrap(), want);
        // A graph of an older gallery file (one photo fewer) is not used for the new one.
        let old_graph = {
            g.save(dir.path()).unwrap();
            std::fs::read(&graph).unwrap()
        };
        let e = Entry { label: "x".into(), source: "x.jpg".into(), sha256: None };
        g.add(e, &[0.0, 0.0, 1.0, 0.0]).unwrap();
        g.save(dir.path()).unwrap();
        std::fs::write(&graph, old_graph).unwrap();
        let back = Gallery::open(dir.path(), None, small).unwrap();
        assert_eq!(back.approximate().map(|h| h.len()), Some(6));
        assert_eq!(back.search(&[0.0, 0.0, 1.0, 0.0], 1).unwrap()[0].label, "x");
    }
}
