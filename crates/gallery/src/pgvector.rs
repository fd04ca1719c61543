//! Gallery on PostgreSQL + pgvector: the [`VectorIndex`] seam backed by one table per gallery,
//! `embedding vector(DIM)`, ranked by pgvector's negative inner product `<#>` (vectors are unit
//! length, so this is cosine similarity), with an HNSW index (IVFFlat on pgvector < 0.5) built
//! once the table passes [`PgConfig::ann_threshold`] rows.
//!
//! When to switch from the embedded index to PostgreSQL:
//! - the gallery no longer fits comfortably in one serving machine's RAM (1M x 1280-d f32 is
//!   ~5 GB of vectors before any graph), or its load time at start-up is too long;
//! - several serving machines must answer from the same gallery, or products enrolled on one
//!   (the page, `gallery add`) must be seen at once by all, without copying files around;
//! - the gallery needs the database's backups, point-in-time recovery and replicas instead of
//!   a file per run. Below ~100k vectors on one machine the embedded index is simpler and faster
//!   (no network round trip per query).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ::pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{Kind, Type};
use postgres::{Client, NoTls, Statement};
use serde::{Deserialize, Serialize};

use crate::error::{GalleryError, Result};
use crate::index::{Hit, VectorIndex};

/// Environment variable holding the connection string (`postgresql://user:pass@host:port/db`).
pub const PG_URL_ENV: &str = "SNEAKER_ID_PG_URL";

/// pgvector's upper bound for `hnsw.ef_search`.
const HNSW_EF_SEARCH_MAX: usize = 1000;

/// Widest vector kept inline in the table row (4 bytes a value must fit an 8 kB page).
const PLAIN_STORAGE_MAX_DIM: usize = 1900;

/// Where the gallery lives and how it is indexed. Defaults suit a catalog-scale gallery.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PgConfig {
    /// Connection string; never logged or put in errors (it may hold a password).
    #[serde(skip_serializing)]
    pub url: String,
    /// Gallery name: `[a-z0-9_]`, 1 to 40 characters; the table is `sneaker_gallery_<name>`.
    pub gallery: String,
    /// Rows past which the approximate index is built; below it every query is an exact scan,
    /// which at 1280-d stays in the low milliseconds and has perfect recall.
    pub ann_threshold: usize,
    /// HNSW graph degree and build beam (pgvector's defaults).
    pub hnsw_m: u32,
    pub hnsw_ef_construction: u32,
    /// HNSW search beam; raised to `k` per query when `k` is larger (HNSW returns at most that many).
    pub hnsw_ef_search: u32,
    /// Memory for the index build; an HNSW graph that outgrows it builds many times slower.
    pub maintenance_work_mem: String,
    pub connect_timeout: Duration,
}

impl Default for PgConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            gallery: "default".into(),
            ann_threshold: 20_000,
            hnsw_m: 16,
            hnsw_ef_construction: 64,
            hnsw_ef_search: 100,
            maintenance_work_mem: "1GB".into(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for PgConfig {
    /// Everything but the connection string, which may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConfig")
            .field("gallery", &self.gallery)
            .field("ann_threshold", &self.ann_threshold)
            .field("hnsw_m", &self.hnsw_m)
            .field("hnsw_ef_construction", &self.hnsw_ef_construction)
            .field("hnsw_ef_search", &self.hnsw_ef_search)
            .finish_non_exhaustive()
    }
}

impl PgConfig {
    /// Defaults with the connection string taken from [`PG_URL_ENV`].
    pub fn from_env(gallery: &str) -> Result<Self> {
        let url = std::env::var(PG_URL_ENV).map_err(|_| GalleryError::Backend(format!("{PG_URL_ENV} is not set")))?;
        Ok(Self { url, gallery: gallery.into(), ..Self::default() })
    }
}

/// Which approximate index the installed pgvector can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnKind {
    Hnsw,
    IvfFlat,
}

/// A gallery table in PostgreSQL. One connection, serialised by a mutex: the trait searches
/// through `&self`, and a serving process wanting parallel queries opens one index per worker.
pub struct PgVectorIndex {
    client: Mutex<Client>,
    config: PgConfig,
    table: String,
    dim: usize,
    len: Mutex<usize>,
    ann: AnnKind,
    ann_built: bool,
    search: Statement,
    search_exact: Statement,
    vector_type: Type,
    /// `user@host:port/db`, for messages.
    target: String,
}

impl PgVectorIndex {
    /// Connect, create the extension and the gallery's table if missing, and check that an
    /// existing table stores `dim`-dimensional vectors.
    pub fn open(config: PgConfig, dim: usize) -> Result<Self> {
        let table = table_name(&config.gallery)?;
        if !(1..=16_000).contains(&dim) {
            return Err(backend(format!("dimension {dim} is outside pgvector's 1..=16000")));
        }
        let (mut client, target) = connect(&config)?;

        let sql = |what: &str, e: postgres::Error| backend(format!("{what} on {target}: {}", why(&e)));
        client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS vector")
            .map_err(|e| sql("CREATE EXTENSION vector (install pgvector on the server)", e))?;
        let version: String = client
            .query_one("SELECT extversion FROM pg_extension WHERE extname = 'vector'", &[])
            .map_err(|e| sql("reading pgvector's version", e))?
            .get(0);
        let ann = if version_at_least(&version, (0, 5)) { AnnKind::Hnsw } else { AnnKind::IvfFlat };
        let (count, ann_built) = ensure_table(&mut client, &table, dim).map_err(|e| match e {
            Setup::Dimension(stored) => GalleryError::Dimension { expected: stored, got: dim },
            Setup::Sql(what, e) => sql(&what, e),
        })?;
        let session = format!(
            "SET hnsw.ef_search = {}; SET maintenance_work_mem = '{}'",
            config.hnsw_ef_search.clamp(1, HNSW_EF_SEARCH_MAX as u32),
            config.maintenance_work_mem.replace('\'', "")
        );
        client.batch_execute(&session).map_err(|e| sql("setting session options", e))?;
        let search = client
            .prepare(&format!("SELECT id, -(embedding <#> $1) FROM {table} ORDER BY embedding <#> $1 LIMIT $2"))
            .map_err(|e| sql("preparing the search query", e))?;
        // Ordering by the negated expression is not an order the index serves, so this is always
        // a full scan (a GUC like enable_indexscan would not reach a cached generic plan).
        let search_exact = client
            .prepare(&format!(
                "SELECT id, -(embedding <#> $1) AS similarity FROM {table} ORDER BY similarity DESC LIMIT $2"
            ))
            .map_err(|e| sql("preparing the exact search query", e))?;
        let row = client
            .query_one(
                "SELECT t.oid, n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typname = 'vector'",
                &[],
            )
            .map_err(|e| sql("looking up the vector type", e))?;
        let vector_type = Type::new("vector".into(), row.get(0), Kind::Simple, row.get(1));
        tracing::info!(%target, %table, dim, rows = count, pgvector = %version, ann_built, "gallery table open");
        Ok(Self {
            client: Mutex::new(client),
            config,
            table,
            dim,
            len: Mutex::new(count),
            ann,
            ann_built,
            search,
            search_exact,
            vector_type,
            target,
        })
    }

    /// The quoted table name this gallery lives in.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// `user@host:port/db` of the server, for messages (never the password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The connection, for the gallery's own queries beside the vectors (`PgGallery`).
    pub(crate) fn client(&self) -> Result<MutexGuard<'_, Client>> {
        lock(&self.client)
    }

    /// Counts rows another statement on [`Self::client`] inserted, and builds the approximate
    /// index once they pass the threshold.
    pub(crate) fn note_added(&mut self, rows: usize) -> Result<()> {
        *lock(&self.len)? += rows;
        self.build_ann_if_due()
    }

    /// Which approximate index this server builds past the threshold.
    pub fn ann_kind(&self) -> AnnKind {
        self.ann
    }

    /// Store many vectors in one `COPY ... FROM STDIN BINARY`: all or none (a duplicate id
    /// fails the whole batch), tens of thousands of rows per second instead of one round trip each.
    pub fn add_batch<'a, I>(&mut self, items: I) -> Result<u64>
    where
        I: IntoIterator<Item = (u64, &'a [f32])>,
    {
        let (dim, table) = (self.dim, self.table.clone());
        let types = [Type::INT8, self.vector_type.clone()];
        let mut client = lock(&self.client)?;
        let sink = client
            .copy_in(&format!("COPY {table} (id, embedding) FROM STDIN BINARY"))
            .map_err(|e| backend(format!("starting COPY into {table}: {}", why(&e))))?;
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        for (id, vector) in items {
            // Dropping the writer unfinished aborts the COPY, so a bad vector stores nothing.
            check(vector, dim)?;
            writer
                .write(&[&db_id(id), &Vector::from(vector.to_vec())])
                .map_err(|e| backend(format!("COPY into {table}: {}", why(&e))))?;
        }
        let rows = writer.finish().map_err(|e| backend(format!("COPY into {table}: {}", why(&e))))?;
        drop(client);
        *lock(&self.len)? += rows as usize;
        self.build_ann_if_due()?;
        Ok(rows)
    }

    /// The exact top `k` by a full scan, whatever indexes exist: the reference the approximate
    /// index is measured against.
    pub fn search_exact(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, k, true)
    }

    /// Whether the approximate index exists (found at open or built since).
    pub fn has_ann_index(&self) -> bool {
        self.ann_built
    }

    /// Build the approximate index now, whatever the table's size (idempotent).
    pub fn build_ann_index(&mut self) -> Result<()> {
        let (table, name, cfg) = (&self.table, ann_index_name(&self.table), &self.config);
        let sql = match self.ann {
            AnnKind::Hnsw => format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw (embedding vector_ip_ops) WITH (m = {}, ef_construction = {})",
                cfg.hnsw_m, cfg.hnsw_ef_construction
            ),
            // pgvector's advice: rows / 1000 lists up to 1M rows.
            AnnKind::IvfFlat => format!(
                "CREATE INDEX IF NOT EXISTS {name} ON {table} USING ivfflat (embedding vector_ip_ops) WITH (lists = {})",
                (self.len() / 1000).max(10)
            ),
        };
        let started = std::time::Instant::now();
        lock(&self.client)?
            .batch_execute(&sql)
            .map_err(|e| backend(format!("building {:?} index on {table}: {}", self.ann, why(&e))))?;
        tracing::info!(%table, kind = ?self.ann, secs = started.elapsed().as_secs_f32(), "ANN index built");
        self.ann_built = true;
        Ok(())
    }

    fn build_ann_if_due(&mut self) -> Result<()> {
        if !self.ann_built && self.len() >= self.config.ann_threshold {
            self.build_ann_index()?;
        }
        Ok(())
    }

    fn ef_search(&self) -> usize {
        (self.config.hnsw_ef_search as usize).clamp(1, HNSW_EF_SEARCH_MAX)
    }

    fn search_with(&self, query: &[f32], k: usize, exact: bool) -> Result<Vec<Hit>> {
        check(query, self.dim)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(k).map_err(|_| backend(format!("k = {k} is too large")))?;
        let q = Vector::from(query.to_vec());
        let mut client = lock(&self.client)?;
        let fail = |e: postgres::Error| backend(format!("searching {}: {}", self.table, why(&e)));
        // Per-query settings, in a transaction (SET LOCAL) so they cannot leak into the next query.
        let mut local: Vec<String> = Vec::new();
        // The graph returns at most ef_search rows (capped at 1000 by pgvector): scan instead.
        let exact = exact || (self.ann == AnnKind::Hnsw && k > HNSW_EF_SEARCH_MAX);
        let statement = if exact { &self.search_exact } else { &self.search };
        match self.ann {
            _ if exact => {}
            AnnKind::Hnsw if k > self.ef_search() => local.push(format!("SET LOCAL hnsw.ef_search = {k}")),
            AnnKind::Hnsw => {}
            // IVFFlat recall depends on probing ~sqrt(lists) of the lists.
            AnnKind::IvfFlat => {
                let probes = ((self.len() / 1000).max(10) as f64).sqrt().ceil() as usize;
                local.push(format!("SET LOCAL ivfflat.probes = {probes}"));
            }
        }
        let rows = if local.is_empty() {
            client.query(statement, &[&q, &limit]).map_err(fail)?
        } else {
            let mut tx = client.transaction().map_err(fail)?;
            tx.batch_execute(&local.join("; ")).map_err(fail)?;
            let rows = tx.query(statement, &[&q, &limit]).map_err(fail)?;
            tx.commit().map_err(fail)?;
            rows
        };
        Ok(rows.iter().map(|r| Hit { id: r.get::<_, i64>(0) as u64, similarity: r.get::<_, f64>(1) as f32 }).collect())
    }
}

impl VectorIndex for PgVectorIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    /// Rows as this process knows them (counted at open, plus its own adds): another machine's
    /// enrolments show up in searches at once, but in this count only after reopening.
    fn len(&self) -> usize {
        self.len.lock().map(|n| *n).unwrap_or_else(|poisoned| *poisoned.into_inner())
    }

    fn add(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        check(vector, self.dim)?;
        let q = format!("INSERT INTO {} (id, embedding) VALUES ($1, $2)", self.table);
        lock(&self.client)?.execute(&q, &[&db_id(id), &Vector::from(vector.to_vec())]).map_err(|e| match e.code() {
            Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => GalleryError::DuplicateId(id),
            _ => backend(format!("inserting id {id} into {}: {}", self.table, why(&e))),
        })?;
        *lock(&self.len)? += 1;
        self.build_ann_if_due()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, k, false)
    }
}

/// A connection to the server `config.url` names, and its `user@host:port/db` for messages.
pub(crate) fn connect(config: &PgConfig) -> Result<(Client, String)> {
    let mut pg: postgres::Config = config
        .url
        .parse()
        .map_err(|e| backend(format!("the PostgreSQL connection string is not valid: {}", why(&e))))?;
    pg.connect_timeout(config.connect_timeout);
    pg.application_name("sneaker-id gallery");
    let target = describe(&pg);
    let client = pg.connect(NoTls).map_err(|e| backend(format!("connecting to {target}: {}", why(&e))))?;
    Ok((client, target))
}

/// Why [`ensure_table`] failed: a table of another width, or a statement (what it was doing).
enum Setup {
    Dimension(usize),
    Sql(String, postgres::Error),
}

/// Create the gallery table if missing and check its width; return its rows and whether the
/// approximate index exists.
fn ensure_table(client: &mut Client, table: &str, dim: usize) -> std::result::Result<(usize, bool), Setup> {
    let create =
        format!("CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, embedding vector({dim}) NOT NULL)");
    client.batch_execute(&create).map_err(|e| Setup::Sql(format!("creating table {table}"), e))?;
    if dim <= PLAIN_STORAGE_MAX_DIM {
        // pgvector stores vectors out of line (TOAST) by default; a 1280-d row then costs a TOAST
        // lookup on every exact scan. Inline, one row still fits a page and scans read straight.
        let plain = format!("ALTER TABLE {table} ALTER COLUMN embedding SET STORAGE PLAIN");
        client.batch_execute(&plain).map_err(|e| Setup::Sql(format!("setting {table}'s storage"), e))?;
    }
    // pgvector keeps the dimension in the column's type modifier.
    let stored: i32 = client
        .query_one(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = $1::text::regclass AND attname = 'embedding'",
            &[&table],
        )
        .map_err(|e| Setup::Sql(format!("reading {table}'s dimension"), e))?
        .get(0);
    if stored != dim as i32 {
        return Err(Setup::Dimension(stored.max(0) as usize));
    }
    let count: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .map_err(|e| Setup::Sql(format!("counting {table}"), e))?
        .get(0);
    let ann_name = ann_index_name(table);
    let ann_built: bool = client
        .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&ann_name])
        .map_err(|e| Setup::Sql(format!("looking up index {ann_name}"), e))?
        .get(0);
    Ok((count.max(0) as usize, ann_built))
}

/// `sneaker_gallery_<name>`, double-quoted; names are restricted so quoting is belt and braces.
pub(crate) fn table_name(gallery: &str) -> Result<String> {
    let ok = !gallery.is_empty()
        && gallery.len() <= 40
        && gallery.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(backend(format!("gallery name {gallery:?}: use 1 to 40 of a-z, 0-9 and '_' (it names a table)")));
    }
    Ok(format!("\"sneaker_gallery_{gallery}\""))
}

/// The approximate index's name, beside its table (validated `[a-z0-9_]`, in quotes).
fn ann_index_name(table: &str) -> String {
    format!("\"{}_ann\"", table.trim_matches('"'))
}

/// ids are u64 to the caller and bigint to PostgreSQL: a bit-for-bit reinterpretation keeps
/// them unique and round-trips exactly (ids past i64::MAX read back as negative in SQL only).
fn db_id(id: u64) -> i64 {
    id as i64
}

fn check(v: &[f32], dim: usize) -> Result<()> {
    if v.len() != dim {
        return Err(GalleryError::Dimension { expected: dim, got: v.len() });
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(GalleryError::InvalidVector);
    }
    Ok(())
}

/// "user@host:port/db" for messages: never the password, never the raw URL.
fn describe(pg: &postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    let user = pg.get_user().unwrap_or("?");
    format!("{user}@{host}:{port}/{}", pg.get_dbname().unwrap_or(user))
}

fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    v >= (major, minor)
}

/// The error and its causes ("error serializing parameter 0" alone does not say why).
pub(crate) fn why(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>> {
    m.lock().map_err(|_| backend("gallery connection poisoned by an earlier panic".into()))
}

pub(crate) fn backend(message: String) -> GalleryError {
    GalleryError::Backend(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_validated_and_quoted() {
        assert_eq!(table_name("sneakers50").unwrap(), "\"sneaker_gallery_sneakers50\"");
        for bad in ["", "a;drop table x", "Upper", "a\"b", "a-b", &"x".repeat(41)] {
            assert!(table_name(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn pgvector_versions_compare_numerically() {
        assert!(version_at_least("0.6.2", (0, 5)));
        assert!(version_at_least("0.10.0", (0, 5)));
        assert!(!version_at_least("0.4.4", (0, 5)));
    }

    #[test]
    fn descriptions_never_hold_the_password() {
        let pg: postgres::Config = "postgresql://alice:s3cret@db.example:6543/shop".parse().unwrap();
        let text = describe(&pg);
        assert_eq!(text, "alice@db.example:6543/shop");
        assert!(!text.contains("s3cret"));
    }

    #[test]
    fn ids_round_trip_through_bigint() {
        for id in [0, 1, i64::MAX as u64, u64::MAX] {
            assert_eq!(db_id(id) as u64, id);
        }
    }

    #[test]
    fn wrong_dimension_and_nan_are_refused_before_the_database() {
        assert!(matches!(check(&[1.0, 0.0], 3), Err(GalleryError::Dimension { expected: 3, got: 2 })));
        assert!(matches!(check(&[f32::NAN], 1), Err(GalleryError::InvalidVector)));
    }
}
