//! The PostgreSQL + pgvector gallery against a real server: a throwaway cluster started on a free
//! loopback port from the binaries `scripts/pg-test-server.sh bindir` finds, stopped on drop
//! (also when a check fails). Results are compared with brute-force top-k computed here.
//!
//! Scale numbers (dependencies are optimised in dev builds, and the work is the server's):
//! `cargo test -p sneaker-gallery --test pgvector -- --ignored --nocapture measure_scale`
//! (sizes from `PGVECTOR_BENCH_SIZES`, default 10000,100000).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sneaker_gallery::{GalleryError, Hit, PgConfig, PgVectorIndex, VectorIndex, l2_normalise};

const SKIP: &str =
    "skipped: PostgreSQL server binaries not found (install postgresql + pgvector, see scripts/ci-deps.sh)";

/// A cluster in a temp dir, run as `postgres` when we are root (initdb refuses root).
struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PgServer {
    /// None when the binaries are missing outside CI (after saying so); panics in CI.
    fn start() -> Option<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test-server.sh");
        let found = Command::new("bash").arg(&script).arg("bindir").output().expect("bash runs");
        if !found.status.success() {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL with pgvector not found: run `scripts/pg-test-server.sh install` (called by scripts/ci-deps.sh) as root"
            );
            eprintln!("{SKIP}");
            return None;
        }
        let bin = PathBuf::from(String::from_utf8_lossy(&found.stdout).trim());
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let dir = tempfile::tempdir().expect("temp dir");
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let server = Self { bin, dir, port, as_postgres };
        let data = server.dir.path().join("data");
        run(server.cmd("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]));
        let opts = format!("-p {port} -k {} -c listen_addresses=127.0.0.1", server.dir.path().display());
        let log = server.dir.path().join("log");
        run(server
            .cmd("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &opts, "start"]));
        Some(server)
    }

    fn cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn config(&self, gallery: &str) -> PgConfig {
        PgConfig { url: self.url(), gallery: gallery.into(), ..PgConfig::default() }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self.cmd("pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]).output();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Gallery-like data: `n` unit vectors around `n / 10` random product directions (ten photos
/// each, cosine ~0.8 to their product). Uniform random vectors would have no neighbours worth
/// the name in 1280-d, the worst case for any graph index and unlike real embeddings.
fn clustered_vectors(n: usize, dim: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let centres = unit_vectors(n.div_ceil(10), dim, seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let mut around = |c: &Vec<f32>| {
        // Noise of norm ~0.75 next to a unit centre: cos ~ 1 / sqrt(1 + 0.75^2) = 0.8.
        let sigma = 0.75 / (dim as f32).sqrt();
        let mut v: Vec<f32> = c.iter().map(|x| x + sigma * (rng.random::<f32>() - 0.5) * 12f32.sqrt()).collect();
        l2_normalise(&mut v).expect("non-zero");
        v
    };
    let data = (0..n).map(|i| around(&centres[i / 10])).collect();
    let queries = (0..100).map(|i| around(&centres[(i * 7919) % centres.len()])).collect();
    (data, queries)
}

fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            l2_normalise(&mut v).expect("random vector is non-zero");
            v
        })
        .collect()
}

/// Brute-force top-k by dot product: the reference every search is held to.
fn exact_top_k(data: &[(u64, Vec<f32>)], query: &[f32], k: usize) -> Vec<Hit> {
    let mut all: Vec<Hit> =
        data.iter().map(|(id, v)| Hit { id: *id, similarity: v.iter().zip(query).map(|(a, b)| a * b).sum() }).collect();
    all.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    all.truncate(k);
    all
}

fn recall(found: &[Hit], truth: &[Hit]) -> f64 {
    let hits = truth.iter().filter(|t| found.iter().any(|f| f.id == t.id)).count();
    hits as f64 / truth.len() as f64
}

#[test]
fn pgvector_gallery_on_a_real_server() {
    let Some(server) = PgServer::start() else { return };
    exact_search_matches_brute_force_and_persists(&server);
    ann_index_past_threshold_keeps_recall(&server);
}

fn exact_search_matches_brute_force_and_persists(server: &PgServer) {
    let dim = 64;
    let data: Vec<(u64, Vec<f32>)> =
        unit_vectors(2_000, dim, 1).into_iter().enumerate().map(|(i, v)| (i as u64 * 7 + u64::MAX / 2, v)).collect();
    let mut index = PgVectorIndex::open(server.config("exact"), dim).expect("open");
    assert_eq!((index.dim(), index.len()), (dim, 0));
    // Most through COPY, the tail one row at a time: both paths must store the same thing.
    let rows = index.add_batch(data[..1_990].iter().map(|(id, v)| (*id, v.as_slice()))).expect("batch");
    assert_eq!(rows, 1_990);
    for (id, v) in &data[1_990..] {
        index.add(*id, v).expect("add");
    }
    assert_eq!(index.len(), 2_000);
    assert!(!index.has_ann_index(), "2000 rows is under the default threshold");

    let queries = unit_vectors(20, dim, 2);
    let check_all = |index: &PgVectorIndex| {
        for q in &queries {
            let got = index.search(q, 10).expect("search");
            let want = exact_top_k(&data, q, 10);
            assert_eq!(got.iter().map(|h| h.id).collect::<Vec<_>>(), want.iter().map(|h| h.id).collect::<Vec<_>>());
            for (g, w) in got.iter().zip(&want) {
                assert!((g.similarity - w.similarity).abs() < 1e-5, "{g:?} vs {w:?}");
            }
        }
    };
    check_all(&index);
    assert_eq!(index.search(&queries[0], 0).expect("k = 0"), vec![]);
    assert_eq!(index.search(&queries[0], 5_000).expect("k > len").len(), 2_000);

    // Wrong sizes are named, before or by the database.
    assert!(matches!(index.add(1, &[0.5; 63]), Err(GalleryError::Dimension { expected: 64, got: 63 })));
    assert!(matches!(index.search(&[0.5; 65], 3), Err(GalleryError::Dimension { expected: 64, got: 65 })));
    assert!(matches!(index.add(9, &[f32::NAN; 64]), Err(GalleryError::InvalidVector)));
    match index.add(data[0].0, &data[0].1) {
        Err(GalleryError::DuplicateId(id)) if id == data[0].0 => {}
        other => panic!("adding an existing id: {other:?}"),
    }
    // A failed batch (duplicate inside) stores nothing.
    let fresh = unit_vectors(2, dim, 3);
    let batch = [(5u64, fresh[0].as_slice()), (data[1].0, fresh[1].as_slice())];
    assert!(index.add_batch(batch).is_err());
    drop(index);

    // Reopen: the rows are the database's, not the process's.
    let index = PgVectorIndex::open(server.config("exact"), dim).expect("reopen");
    assert_eq!(index.len(), 2_000, "the failed batch must have stored nothing");
    check_all(&index);
    match PgVectorIndex::open(server.config("exact"), 32) {
        Err(GalleryError::Dimension { expected: 64, got: 32 }) => {}
        other => panic!("reopening a 64-d gallery as 32-d: {:?}", other.err()),
    }
    // Galleries are separate tables; names are validated.
    let other = PgVectorIndex::open(server.config("other"), dim).expect("second gallery");
    assert_eq!(other.len(), 0);
    assert!(other.search(&queries[0], 3).expect("empty search").is_empty());
    assert!(PgVectorIndex::open(server.config("x\"; drop table t; --"), dim).is_err());

    // Unreachable server: the error names the target, never the password.
    let mut cfg = server.config("exact");
    cfg.url = "postgresql://alice:hunter2secret@127.0.0.1:1/db".into();
    cfg.connect_timeout = std::time::Duration::from_secs(2);
    let err = PgVectorIndex::open(cfg, dim).err().expect("port 1 refuses").to_string();
    assert!(err.contains("alice@127.0.0.1:1/db") && !err.contains("hunter2secret"), "{err}");
}

fn ann_index_past_threshold_keeps_recall(server: &PgServer) {
    let dim = 64;
    let data: Vec<(u64, Vec<f32>)> =
        unit_vectors(6_000, dim, 10).into_iter().enumerate().map(|(i, v)| (i as u64, v)).collect();
    let cfg = PgConfig { ann_threshold: 5_000, ..server.config("ann") };
    let mut index = PgVectorIndex::open(cfg.clone(), dim).expect("open");
    index.add_batch(data[..4_000].iter().map(|(id, v)| (*id, v.as_slice()))).expect("batch 1");
    assert!(!index.has_ann_index());
    index.add_batch(data[4_000..].iter().map(|(id, v)| (*id, v.as_slice()))).expect("batch 2");
    assert!(index.has_ann_index(), "6000 rows is past the 5000 threshold");

    // The planner really answers from the graph.
    let mut client = postgres::Client::connect(&server.url(), postgres::NoTls).expect("connect");
    let plan: Vec<String> = client
        .query(
            &format!(
                "EXPLAIN SELECT id FROM {} ORDER BY embedding <#> (SELECT embedding FROM {} LIMIT 1) LIMIT 10",
                index.table(),
                index.table()
            ),
            &[],
        )
        .expect("explain")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(plan.iter().any(|l| l.contains("sneaker_gallery_ann_ann")), "{plan:#?}");

    let queries = unit_vectors(50, dim, 11);
    let mut total = 0.0;
    for q in &queries {
        let truth = exact_top_k(&data, q, 10);
        assert_eq!(recall(&index.search_exact(q, 10).expect("exact"), &truth), 1.0);
        total += recall(&index.search(q, 10).expect("ann"), &truth);
    }
    let mean = total / queries.len() as f64;
    eprintln!("HNSW recall@10 on 6000 random 64-d vectors: {mean:.3}");
    // Random 64-d vectors are a hard case for HNSW (no cluster structure); ef_search 100 on 6000
    // rows measured ~0.99 here.
    assert!(mean >= 0.9, "HNSW recall@10 {mean:.3} against brute force");
    // k beyond the search beam still returns k rows.
    assert_eq!(index.search(&queries[0], 150).expect("k = 150").len(), 150);
    drop(index);
    assert!(PgVectorIndex::open(cfg, dim).expect("reopen").has_ann_index());
}

/// Insert throughput, query latency and recall at gallery sizes of 1280-d unit vectors.
#[test]
#[ignore = "benchmark: minutes at 100k vectors"]
fn measure_scale() {
    let Some(server) = PgServer::start() else { return };
    let sizes = std::env::var("PGVECTOR_BENCH_SIZES").unwrap_or_else(|_| "10000,100000".into());
    let dim = 1280;
    println!("| vectors | insert (vec/s) | exact p50 / p99 (ms) | HNSW build (s) | HNSW p50 / p99 (ms) | recall@10 |");
    println!("|---|---|---|---|---|---|");
    for n in sizes.split(',').map(|s| s.trim().parse::<usize>().expect("size")) {
        let (vectors, queries) = clustered_vectors(n, dim, n as u64);
        let data: Vec<(u64, Vec<f32>)> = vectors.into_iter().enumerate().map(|(i, v)| (i as u64, v)).collect();
        let cfg = PgConfig { ann_threshold: usize::MAX, ..server.config(&format!("bench{n}")) };
        let mut index = PgVectorIndex::open(cfg, dim).expect("open");
        let t = Instant::now();
        for chunk in data.chunks(10_000) {
            index.add_batch(chunk.iter().map(|(id, v)| (*id, v.as_slice()))).expect("batch");
        }
        let insert = n as f64 / t.elapsed().as_secs_f64();
        let timed = |f: &dyn Fn(&[f32]) -> Vec<Hit>| {
            let mut ms = Vec::new();
            let mut out = Vec::new();
            for q in &queries {
                let t = Instant::now();
                out.push(f(q));
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            ms.sort_by(f64::total_cmp);
            (ms[ms.len() / 2], ms[ms.len() * 99 / 100], out)
        };
        let (e50, e99, exact) = timed(&|q| index.search_exact(q, 10).expect("exact"));
        let t = Instant::now();
        index.build_ann_index().expect("build");
        let build = t.elapsed().as_secs_f64();
        let (a50, a99, ann) = timed(&|q| index.search(q, 10).expect("ann"));
        let r = ann.iter().zip(&exact).map(|(a, e)| recall(a, e)).sum::<f64>() / queries.len() as f64;
        println!("| {n} | {insert:.0} | {e50:.1} / {e99:.1} | {build:.1} | {a50:.2} / {a99:.2} | {r:.3} |");
    }
}
