//! `sneaker-id scrape` killed with SIGKILL mid-crawl (twice) and started again with the same
//! command must finish with exactly the catalog an uninterrupted run gives, never showing a
//! half-written file or CSV row, and never downloading a kept image twice.

#[path = "../../scrape/tests/fixture/mod.rs"]
mod fixture;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fixture::{Fixture, FixtureConfig};
use sneaker_catalog::Catalog;

fn fixture() -> Fixture {
    Fixture::start_in_thread(FixtureConfig {
        products: 4,
        views: 12,
        latency: Duration::from_millis(25),
        ..Default::default()
    })
}

fn scrape(fx: &Fixture, out: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sneaker-id"));
    cmd.args(["scrape", &fx.url("/shop?page=1"), "--out"])
        .arg(out)
        .args(["--concurrency", "2", "--per-host", "2", "--delay-ms", "0", "--backoff-ms", "50"])
        .args(["--timeout-ms", "1000", "--min-side", "32", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Source URLs of images the journal says are kept (complete lines only).
fn journaled_images(out: &Path) -> HashSet<String> {
    let text = std::fs::read_to_string(out.join(".scrape/journal.jsonl")).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["t"] == "image")
        .filter_map(|v| v["record"]["source_url"].as_str().map(str::to_owned))
        .collect()
}

fn kill_after(mut child: Child, out: &Path, images: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while journaled_images(out).len() < images {
        assert!(child.try_wait().expect("poll child").is_none(), "the crawl ended before it could be killed");
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap");
    assert!(!status.success(), "killed run must not report success");
}

/// What a reader sees in OUT right after a kill: CSVs parse, every listed file is whole.
fn assert_consistent(out: &Path) {
    if !out.join("images.csv").exists() {
        return;
    }
    let catalog = Catalog::open(out).expect("catalog readable after SIGKILL");
    for img in catalog.images() {
        let bytes = std::fs::read(catalog.path_of(img)).expect("listed image exists");
        let decoded = image::load_from_memory(&bytes).expect("listed image is whole");
        assert_eq!(Some(decoded.width()), img.width, "{}", img.file);
    }
    for entry in walkdir::WalkDir::new(out.join("images")).min_depth(2) {
        let entry = entry.expect("walk");
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.starts_with('.') {
            image::load_from_memory(&std::fs::read(entry.path()).expect("read"))
                .expect("no half-written image under its final name");
        }
    }
}

/// images.csv and products.csv with times dropped and the server's port normalised.
fn normalised(out: &Path, port: u16) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for name in ["images.csv", "products.csv", "duplicates.csv"] {
        let text = std::fs::read_to_string(out.join(name)).expect(name);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().expect("header").clone();
        let keep: Vec<usize> = (0..headers.len()).filter(|&i| !headers[i].ends_with("_at")).collect();
        let rows: Vec<String> = reader
            .records()
            .map(|r| {
                let r = r.expect("row");
                keep.iter().map(|&i| r[i].replace(&format!(":{port}"), ":PORT")).collect::<Vec<_>>().join(",")
            })
            .collect();
        files.insert(name.to_owned(), rows.join("\n"));
    }
    files
}

#[test]
fn sigkill_then_resume_gives_the_uninterrupted_catalog() {
    let dir = tempfile::tempdir().expect("temp dir");

    let reference_fx = fixture();
    let reference = dir.path().join("reference");
    assert!(scrape(&reference_fx, &reference).status().expect("run").success());

    let fx = fixture();
    let out = dir.path().join("killed");
    // Path -> requests for it when a kill found it already kept.
    let mut kept_at_kill: BTreeMap<String, u32> = BTreeMap::new();
    for threshold in [8, 30] {
        kill_after(scrape(&fx, &out).spawn().expect("spawn"), &out, threshold);
        assert_consistent(&out);
        for url in journaled_images(&out) {
            let path = reqwest::Url::parse(&url).expect("url").path().to_owned();
            kept_at_kill.entry(path.clone()).or_insert_with(|| fx.count(&path));
        }
    }
    assert!(scrape(&fx, &out).status().expect("resume").success());

    assert_eq!(normalised(&out, fx.addr.port()), normalised(&reference, reference_fx.addr.port()));
    let catalog = Catalog::open(&out).expect("catalog");
    assert_eq!(catalog.images().len(), 4 * 12 + 19, "plain spins plus the special products' kept images");
    assert!(kept_at_kill.len() >= 30);
    for (path, count) in &kept_at_kill {
        assert_eq!(fx.count(path), *count, "{path} was kept before a kill and must not be fetched again");
    }
    for p in fx.products().iter().filter(|p| p.slug.starts_with("Fixture-Runner")) {
        for path in &p.images {
            // At most one in-flight download per worker is lost at each kill.
            assert!((1..=2).contains(&fx.count(path)), "{path}: {}", fx.count(path));
        }
    }
}
