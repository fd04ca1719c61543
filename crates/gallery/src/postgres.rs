//! The gallery in PostgreSQL + pgvector, behind [`GalleryBackend`]: what several servers share.
//! Vectors and what is known about each photo (label, source, SHA-256) are one row of the
//! [`PgVectorIndex`] table, so an enrolment is one atomic `INSERT`; product details sit in a table
//! beside it, and the embedding model each gallery was built with in `sneaker_galleries`. Every
//! read asks the database, so a photo enrolled through one server is found by the others at once.
//!
//! Tables of gallery `NAME`: `sneaker_gallery_NAME` (id, embedding, label, source, sha256),
//! `sneaker_products_NAME` (label, product as JSON), sequence `sneaker_gallery_NAME_ids`.

use std::collections::BTreeMap;
use std::path::Path;

use ::pgvector::Vector;
use postgres::Client;
use sneaker_catalog::{Product, is_valid_label};

use crate::backend::GalleryBackend;
use crate::backend::OpenMode;
use crate::error::{GalleryError, Result};
use crate::gallery::{Entry, Match};
use crate::index::{VectorIndex, l2_normalise};
use crate::pgvector::{PgConfig, PgVectorIndex, backend, connect, table_name, why};
use crate::similarity::Similarity;

/// One row per gallery: its embedding model and width.
const REGISTRY: &str = "sneaker_galleries";
/// Advisory lock held while a gallery's tables are set up, so two servers starting together do
/// not both create them (`CREATE ... IF NOT EXISTS` is not safe against a concurrent twin).
const SETUP_LOCK: i64 = 0x736e_6b72_6761_6c31;

/// A gallery stored in PostgreSQL. See the module docs.
pub struct PgGallery {
    index: PgVectorIndex,
    model_id: String,
    name: String,
    table: String,
    products: String,
    ids: String,
}

impl std::fmt::Debug for PgGallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgGallery")
            .field("gallery", &self.name)
            .field("server", &self.index.target())
            .field("model_id", &self.model_id)
            .field("dim", &self.index.dim())
            .finish()
    }
}

impl PgGallery {
    /// Connects and opens gallery `config.gallery` (see [`OpenMode`]), refusing one built with
    /// another embedding model than `model_id`.
    pub fn open(config: PgConfig, model_id: &str, dim: usize, mode: OpenMode) -> Result<PgGallery> {
        let name = config.gallery.clone();
        let table = table_name(&name)?;
        let (mut setup, target) = connect(&config)?;
        let location = format!("PostgreSQL gallery {name} on {target}");
        let fail = |what: &str, e: postgres::Error| backend(format!("{what} ({location}): {}", why(&e)));
        setup.execute("SELECT pg_advisory_lock($1)", &[&SETUP_LOCK]).map_err(|e| fail("waiting for setup", e))?;
        let opened = Self::set_up(&mut setup, config, model_id, dim, mode, &location);
        // Closing the connection would release the lock too; this just says so sooner.
        let _ = setup.execute("SELECT pg_advisory_unlock($1)", &[&SETUP_LOCK]);
        let (index, products, ids) = opened?;
        tracing::info!(gallery = %name, server = %target, model_id, "PostgreSQL gallery open");
        Ok(PgGallery { index, model_id: model_id.to_owned(), name, table, products, ids })
    }

    fn set_up(
        setup: &mut Client,
        config: PgConfig,
        model_id: &str,
        dim: usize,
        mode: OpenMode,
        location: &str,
    ) -> Result<(PgVectorIndex, String, String)> {
        let name = config.gallery.clone();
        let table = table_name(&name)?;
        let (products, ids) = (format!("\"sneaker_products_{name}\""), format!("\"sneaker_gallery_{name}_ids\""));
        let fail = |what: &'static str| move |e: postgres::Error| backend(format!("{what} ({location}): {}", why(&e)));
        setup
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {REGISTRY} (name text PRIMARY KEY, model_id text NOT NULL, \
                 dim integer NOT NULL, created timestamptz NOT NULL DEFAULT now())"
            ))
            .map_err(fail("creating the gallery registry"))?;
        if mode == OpenMode::Replace {
            setup
                .batch_execute(&format!("DROP TABLE IF EXISTS {table}, {products}; DROP SEQUENCE IF EXISTS {ids}"))
                .map_err(fail("dropping the old gallery"))?;
            setup
                .execute(&format!("DELETE FROM {REGISTRY} WHERE name = $1"), &[&name])
                .map_err(fail("dropping the old gallery"))?;
        }
        let row = setup
            .query_opt(&format!("SELECT model_id, dim FROM {REGISTRY} WHERE name = $1"), &[&name])
            .map_err(fail("reading the gallery registry"))?;
        match row {
            Some(row) => {
                let (built_with, stored_dim): (String, i32) = (row.get(0), row.get(1));
                if built_with != model_id {
                    let gallery = location.to_owned();
                    return Err(GalleryError::ModelMismatch { gallery, built_with, expected: model_id.to_owned() });
                }
                if stored_dim != dim as i32 {
                    return Err(GalleryError::Dimension { expected: stored_dim.max(0) as usize, got: dim });
                }
            }
            None if mode == OpenMode::Existing => return Err(GalleryError::Missing { gallery: location.to_owned() }),
            None => {}
        }
        let index = PgVectorIndex::open(config, dim)?;
        setup
            .batch_execute(&format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS label text, ADD COLUMN IF NOT EXISTS source text, \
                 ADD COLUMN IF NOT EXISTS sha256 text UNIQUE; \
                 CREATE TABLE IF NOT EXISTS {products} (label text PRIMARY KEY, product text NOT NULL); \
                 CREATE SEQUENCE IF NOT EXISTS {ids}"
            ))
            .map_err(fail("creating the gallery's tables"))?;
        setup
            .execute(
                &format!(
                    "INSERT INTO {REGISTRY} (name, model_id, dim) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING"
                ),
                &[&name, &model_id, &(dim as i32)],
            )
            .map_err(fail("registering the gallery"))?;
        Ok((index, products, ids))
    }

    /// Turns a failed statement into an error naming what was being done and where.
    fn fail<'a>(&'a self, what: &'a str) -> impl Fn(postgres::Error) -> GalleryError + 'a {
        move |e| backend(format!("{what} ({}): {}", self.location(), why(&e)))
    }

    /// The label of each of `ids` (`None` for a row removed meanwhile), in one query.
    fn labels_of(&self, ids: &[u64]) -> Result<Vec<Option<String>>> {
        let wanted: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        let sql = format!("SELECT id, label FROM {} WHERE id = ANY($1) AND label IS NOT NULL", self.table);
        let found: BTreeMap<i64, String> =
            self.rows("reading labels", &sql, &[&wanted])?.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(wanted.iter().map(|id| found.get(id).cloned()).collect())
    }

    fn rows(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>> {
        self.index.client()?.query(sql, params).map_err(self.fail(what))
    }

    fn products_of(&self, labels: Vec<String>) -> Result<BTreeMap<String, Product>> {
        let sql = format!("SELECT label, product FROM {} WHERE label = ANY($1)", self.products);
        self.rows("reading products", &sql, &[&labels])?.iter().map(|r| product_row(r.get(0), r.get(1))).collect()
    }
}

/// A product stored as JSON; a row that no longer parses is named, not skipped.
fn product_row(label: String, json: String) -> Result<(String, Product)> {
    let product = serde_json::from_str(&json)
        .map_err(|e| backend(format!("product {label:?} in the database does not parse: {e}")))?;
    Ok((label, product))
}

fn entry_row(row: &postgres::Row, from: usize) -> Entry {
    Entry {
        label: row.get(from),
        source: row.get::<_, Option<String>>(from + 1).unwrap_or_default(),
        sha256: row.get(from + 2),
    }
}

impl GalleryBackend for PgGallery {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.index.dim()
    }

    fn location(&self) -> String {
        format!("PostgreSQL gallery {} on {}", self.name, self.index.target())
    }

    fn thumbnails_dir(&self) -> Option<&Path> {
        None
    }

    fn len(&self) -> Result<usize> {
        let sql = format!("SELECT count(*) FROM {} WHERE label IS NOT NULL", self.table);
        let count: i64 = self.rows("counting photos", &sql, &[])?.first().map_or(0, |r| r.get(0));
        Ok(count.max(0) as usize)
    }

    fn is_empty(&self) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {} WHERE label IS NOT NULL)", self.table);
        Ok(!self.rows("looking for photos", &sql, &[])?.first().is_some_and(|r| r.get::<_, bool>(0)))
    }

    fn labels(&self) -> Result<Vec<String>> {
        let sql = format!("SELECT DISTINCT label FROM {} WHERE label IS NOT NULL", self.table);
        let mut labels: Vec<String> = self.rows("listing labels", &sql, &[])?.iter().map(|r| r.get(0)).collect();
        labels.sort();
        Ok(labels)
    }

    fn product(&self, label: &str) -> Result<Option<Product>> {
        Ok(self.products_of(vec![label.to_owned()])?.remove(label))
    }

    fn products(&self) -> Result<BTreeMap<String, Product>> {
        let sql = format!("SELECT label, product FROM {}", self.products);
        self.rows("reading products", &sql, &[])?.iter().map(|r| product_row(r.get(0), r.get(1))).collect()
    }

    fn set_product(&mut self, product: Product) -> Result<()> {
        if !is_valid_label(&product.label) {
            return Err(GalleryError::BadLabel(product.label));
        }
        let json = serde_json::to_string(&product).map_err(|e| backend(format!("product {:?}: {e}", product.label)))?;
        let sql = format!(
            "INSERT INTO {} (label, product) VALUES ($1, $2) ON CONFLICT (label) DO UPDATE SET product = EXCLUDED.product",
            self.products
        );
        self.index.client()?.execute(&sql, &[&product.label, &json]).map_err(self.fail("saving a product"))?;
        Ok(())
    }

    fn contains_image(&self, sha256: &str) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {} WHERE sha256 = $1)", self.table);
        Ok(self.rows("looking up a photo", &sql, &[&sha256])?.first().is_some_and(|r| r.get::<_, bool>(0)))
    }

    fn entry(&self, id: u64) -> Result<Option<Entry>> {
        let sql = format!("SELECT label, source, sha256 FROM {} WHERE id = $1 AND label IS NOT NULL", self.table);
        Ok(self.rows("reading a photo", &sql, &[&(id as i64)])?.first().map(|r| entry_row(r, 0)))
    }

    fn add(&mut self, entry: Entry, embedding: &[f32]) -> Result<u64> {
        if !is_valid_label(&entry.label) {
            return Err(GalleryError::BadLabel(entry.label));
        }
        crate::exact::check_vector(self.dim(), embedding)?;
        let mut v = embedding.to_vec();
        l2_normalise(&mut v)?;
        // Another server may have enrolled the same bytes since `contains_image`: keep theirs.
        let insert = format!(
            "INSERT INTO {} (id, embedding, label, source, sha256) VALUES (nextval('{}'), $1, $2, $3, $4) \
             ON CONFLICT (sha256) DO NOTHING RETURNING id",
            self.table, self.ids
        );
        let params: [&(dyn postgres::types::ToSql + Sync); 4] =
            [&Vector::from(v), &entry.label, &entry.source, &entry.sha256];
        let inserted = self.rows("enrolling a photo", &insert, &params)?;
        let id: i64 = match inserted.first() {
            Some(row) => {
                self.index.note_added(1)?;
                row.get(0)
            }
            None => {
                let sql = format!("SELECT id FROM {} WHERE sha256 = $1", self.table);
                let found = self.rows("looking up a photo", &sql, &[&entry.sha256])?;
                found.first().map(|r| r.get(0)).ok_or_else(|| backend("an enrolled photo vanished".into()))?
            }
        };
        Ok(id as u64)
    }

    fn retain(&mut self, keep: &mut dyn FnMut(&Entry) -> bool) -> Result<usize> {
        let sql = format!("SELECT id, label, source, sha256 FROM {} WHERE label IS NOT NULL", self.table);
        let drop: Vec<i64> = self
            .rows("listing photos", &sql, &[])?
            .iter()
            .filter(|r| !keep(&entry_row(r, 1)))
            .map(|r| r.get(0))
            .collect();
        if drop.is_empty() {
            return Ok(0);
        }
        let sql = format!("DELETE FROM {} WHERE id = ANY($1)", self.table);
        let removed = self.index.client()?.execute(&sql, &[&drop]).map_err(self.fail("removing photos"))?;
        Ok(removed as usize)
    }

    fn search(&self, embedding: &[f32], k: usize) -> Result<Vec<Match>> {
        crate::exact::check_vector(self.dim(), embedding)?;
        let hits = Similarity::of(self.model_id()).search(&self.index, embedding, k, &|ids| self.labels_of(ids))?;
        let ids: Vec<i64> = hits.iter().map(|h| h.id as i64).collect();
        let sql =
            format!("SELECT id, label, source, sha256 FROM {} WHERE id = ANY($1) AND label IS NOT NULL", self.table);
        let entries: BTreeMap<i64, Entry> =
            self.rows("reading matches", &sql, &[&ids])?.iter().map(|r| (r.get(0), entry_row(r, 1))).collect();
        let labels: Vec<String> = entries.values().map(|e| e.label.clone()).collect();
        let products = self.products_of(labels)?;
        // Hits whose row was removed meanwhile (a catalog update elsewhere) are left out.
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let entry = entries.get(&(h.id as i64))?;
                Some(Match {
                    id: h.id,
                    label: entry.label.clone(),
                    similarity: h.similarity,
                    source: entry.source.clone(),
                    sha256: entry.sha256.clone(),
                    product: products.get(&entry.label).cloned(),
                })
            })
            .collect())
    }

    fn save(&self) -> Result<bool> {
        Ok(true)
    }
}
