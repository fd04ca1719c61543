//! The PostgreSQL + pgvector gallery against a real server: a throwaway cluster on a free loopback
//! port (`sneaker_test_support::PgServer`). Index results are compared with brute-force top-k
//! computed here; the gallery backend is checked as two servers use it, through two handles.
//!
//! Scale numbers (dependencies are optimised in dev builds, and the work is the server's):
//! `cargo test -p sneaker-gallery --test pgvector -- --ignored --nocapture measure_scale`
//! (sizes from `PGVECTOR_BENCH_SIZES`, default 10000,100000).

use std::str::FromStr;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use sneaker_catalog::Product;
use sneaker_gallery::{
    Entry, GalleryError, GalleryLocation, Hit, OpenMode, PgConfig, PgGallery, PgVectorIndex, VectorIndex, l2_normalise,
    open_gallery,
};
use sneaker_test_support::PgServer;

fn config(server: &PgServer, gallery: &str) -> PgConfig {
    PgConfig { url: server.url(), gallery: gallery.into(), ..PgConfig::default() }
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
    two_handles_share_one_gallery(&server);
}

fn exact_search_matches_brute_force_and_persists(server: &PgServer) {
    let dim = 64;
    let data: Vec<(u64, Vec<f32>)> =
        unit_vectors(2_000, dim, 1).into_iter().enumerate().map(|(i, v)| (i as u64 * 7 + u64::MAX / 2, v)).collect();
    let mut index = PgVectorIndex::open(config(server, "exact"), dim).expect("open");
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
    let index = PgVectorIndex::open(config(server, "exact"), dim).expect("reopen");
    assert_eq!(index.len(), 2_000, "the failed batch must have stored nothing");
    check_all(&index);
    match PgVectorIndex::open(config(server, "exact"), 32) {
        Err(GalleryError::Dimension { expected: 64, got: 32 }) => {}
        other => panic!("reopening a 64-d gallery as 32-d: {:?}", other.err()),
    }
    // Galleries are separate tables; names are validated.
    let other = PgVectorIndex::open(config(server, "other"), dim).expect("second gallery");
    assert_eq!(other.len(), 0);
    assert!(other.search(&queries[0], 3).expect("empty search").is_empty());
    assert!(PgVectorIndex::open(config(server, "x\"; drop table t; --"), dim).is_err());

    // Unreachable server: the error names the target, never the password.
    let mut cfg = config(server, "exact");
    cfg.url = "postgresql://alice:hunter2secret@127.0.0.1:1/db".into();
    cfg.connect_timeout = std::time::Duration::from_secs(2);
    let err = PgVectorIndex::open(cfg, dim).err().expect("port 1 refuses").to_string();
    assert!(err.contains("alice@127.0.0.1:1/db") && !err.contains("hunter2secret"), "{err}");
}

fn ann_index_past_threshold_keeps_recall(server: &PgServer) {
    let dim = 64;
    let data: Vec<(u64, Vec<f32>)> =
        unit_vectors(6_000, dim, 10).into_iter().enumerate().map(|(i, v)| (i as u64, v)).collect();
    let cfg = PgConfig { ann_threshold: 5_000, ..config(server, "ann") };
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

fn entry(label: &str, n: u32) -> Entry {
    Entry { label: label.into(), source: format!("{label}/{n}.jpg"), sha256: Some(format!("{label}-{n}")) }
}

/// What two servers do: each opens the gallery by its `--gallery postgres://...` location, and
/// each sees at once what the other enrolled, with its product details and photo hashes.
fn two_handles_share_one_gallery(server: &PgServer) {
    let location: GalleryLocation = format!("{}?gallery=shared", server.url()).parse().expect("infallible");
    let open = |model: &str, mode| open_gallery(&location, model, 8, mode);
    match open("m1", OpenMode::Existing) {
        Err(GalleryError::Missing { gallery }) => assert!(gallery.contains("shared"), "{gallery}"),
        other => panic!("a gallery never made: {other:?}"),
    }
    let mut a = open("m1", OpenMode::Create).expect("create");
    let b = open("m1", OpenMode::Existing).expect("open the same gallery");
    assert!(b.is_empty().expect("empty"));
    let product = Product { label: "blue".into(), name: Some("Blue Court".into()), ..Default::default() };
    a.set_product(product).expect("product");
    let mut ids = Vec::new();
    for (label, axis) in [("red", 0), ("blue", 1)] {
        for n in 0..2u32 {
            let mut v = [0.1 * n as f32; 8];
            v[axis] = 2.0; // any scale: stored normalised
            ids.push(a.add(entry(label, n), &v).expect("add"));
        }
    }
    assert_eq!(a.add(entry("red", 0), &[1.0; 8]).expect("same bytes again"), ids[0], "one row per photo");
    assert!(matches!(a.add(entry("../x", 9), &[1.0; 8]), Err(GalleryError::BadLabel(_))));
    assert!(matches!(a.add(entry("x", 9), &[1.0; 7]), Err(GalleryError::Dimension { expected: 8, got: 7 })));

    // b never enrolled anything, yet sees it all.
    assert_eq!((b.len().expect("len"), b.labels().expect("labels")), (4, vec!["blue".to_owned(), "red".to_owned()]));
    assert!(b.contains_image("blue-1").expect("lookup") && !b.contains_image("green-0").expect("lookup"));
    assert_eq!(b.entry(ids[2]).expect("entry"), Some(entry("blue", 0)));
    let found = b.search(&[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 3).expect("search");
    assert_eq!(found.iter().map(|m| m.label.as_str()).collect::<Vec<_>>(), ["blue", "blue", "red"]);
    assert!((found[0].similarity - 1.0).abs() < 1e-5, "{found:?}");
    assert_eq!(found[0].product.as_ref().and_then(|p| p.name.as_deref()), Some("Blue Court"));
    assert_eq!(found[0].sha256.as_deref(), Some("blue-0"));
    let labels = b.search_labels(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 4).expect("labels");
    assert_eq!((labels[0].label.as_str(), labels[0].votes), ("red", 2));

    // A catalog update through one leaves the other without the photos.
    assert_eq!(a.retain(&mut |e| e.source != "red/1.jpg").expect("retain"), 1);
    assert_eq!(b.len().expect("len"), 3);

    // Another embedding model is refused by name, without the connection's secrets.
    let secret =
        GalleryLocation::from_str(&server.url().replace("postgres@", "postgres:hunter2@")).expect("infallible");
    let GalleryLocation::Postgres(pg) = secret else { panic!("a database location") };
    let cfg = PgConfig { url: pg.url().to_owned(), gallery: "shared".into(), ..PgConfig::default() };
    let err = PgGallery::open(cfg, "m2", 8, OpenMode::Create).expect_err("another model");
    let text = err.to_string();
    assert!(matches!(err, GalleryError::ModelMismatch { .. }), "{text}");
    assert!(text.contains("m1") && text.contains("m2") && !text.contains("hunter2"), "{text}");
    // Rebuilding replaces it, for the new model.
    let c = open("m2", OpenMode::Replace).expect("replace");
    assert!(c.is_empty().expect("empty") && c.products().expect("products").is_empty());
    assert!(matches!(open("m1", OpenMode::Existing), Err(GalleryError::ModelMismatch { .. })));
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
        let cfg = PgConfig { ann_threshold: usize::MAX, ..config(&server, &format!("bench{n}")) };
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
