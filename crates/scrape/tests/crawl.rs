//! End-to-end crawls of the fixture marketplace over real loopback HTTP: the exact catalog,
//! the failure log, politeness (robots.txt, Crawl-delay, Retry-After, User-Agent), resume
//! without refetching, CSV+template input, and dry runs.

mod fixture;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fixture::{Fixture, FixtureConfig};
use sha2::{Digest, Sha256};
use sneaker_catalog::{Catalog, Layout};
use sneaker_scrape::{Failure, Progress, ScrapeConfig};

fn config(out: &Path, start: Vec<String>) -> ScrapeConfig {
    ScrapeConfig {
        out: out.to_path_buf(),
        start_urls: start,
        concurrency: 4,
        per_host_concurrency: 4,
        min_delay_ms: 0,
        backoff_base_ms: 50,
        backoff_max_ms: 5_000,
        request_timeout_ms: 1_000,
        min_image_side: 32,
        flush_interval_ms: 200,
        ..Default::default()
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// (file, label, view, angle, sha256 of the bytes the fixture serves at `served`).
type Expected = (String, String, Option<u32>, Option<f32>, String);

fn expected_images(views: u32) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut add = |label: &str, view: u32, angle: Option<f32>, ext: &str, served: &str| {
        let file = format!("images/{label}/{view:02}.{ext}");
        out.push((file, label.to_owned(), Some(view), angle, sha(&Fixture::image_bytes(served))));
    };
    for i in 0..3 {
        for v in 1..=views {
            let angle = (v - 1) as f32 * 360.0 / views as f32;
            add(
                &format!("fixture_runner_{i}"),
                v,
                Some(angle),
                "jpg",
                &format!("/img/Fixture-Runner-{i}/Lv2/img{v:02}.jpg"),
            );
        }
    }
    for v in 1..=4 {
        let angle = Some((v - 1) as f32 * 90.0);
        add("nike_dunk_low", v, angle, "jpg", &format!("/img/Nike-Dunk-Low/Lv2/img{v:02}.jpg"));
        add("nike_dunk_low_2", v, angle, "jpg", &format!("/img/Nike-Dunk-Low-Cyr/Lv2/img{v:02}.jpg"));
    }
    add("etc_passwd", 1, None, "png", "/g/etc/front.png");
    add("etc_passwd", 2, None, "png", "/g/etc/back.png");
    add("con_", 1, None, "jpg", "/g/con/a.jpg");
    add("con_", 2, None, "jpg", "/g/con/b.jpg");
    let long = "air_".repeat(20);
    add(long.trim_end_matches('_'), 1, None, "jpg", "/g/long/a.jpg");
    add("samba_og_fallback", 1, None, "jpg", "/g/samba/1.jpg");
    add("samba_og_fallback", 2, None, "jpg", "/g/samba/2.jpg");
    // Faulty Runner: a 10-view spin (36° apart) of which 1, 2 (slow), 3 (dropped) and 7
    // (redirected to /cdn/moved/img07.jpg) are kept.
    for v in [1, 2, 3] {
        add("faulty_runner", v, Some((v - 1) as f32 * 36.0), "jpg", &format!("/img/Faulty-Runner/Lv2/img{v:02}.jpg"));
    }
    add("faulty_runner", 7, Some(216.0), "jpg", "/cdn/moved/img07.jpg");
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn actual_images(catalog: &Catalog) -> Vec<Expected> {
    let mut out: Vec<Expected> = catalog
        .images()
        .iter()
        .map(|i| (i.file.clone(), i.label.clone(), i.view, i.angle, i.sha256.clone().unwrap_or_default()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn failures(out: &Path) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(out.join(sneaker_scrape::FAILURES_JSONL)).expect("failure log");
    text.lines()
        .map(|l| serde_json::from_str::<Failure>(l).expect("failure line is JSON"))
        .map(|f| (reqwest::Url::parse(&f.url).expect("url").path().to_owned(), f.kind))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_crawl_gives_the_exact_catalog_politely_and_resumes_without_refetching() {
    let fx = Fixture::start(FixtureConfig { crawl_delay: Some(0.005), ..Default::default() }).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("catalog");
    let cfg = config(&out, vec![fx.url("/shop?page=1")]);
    let progress = Arc::new(Progress::default());
    let summary = sneaker_scrape::run(cfg.clone(), progress.clone()).await.expect("crawl");

    let catalog = Catalog::open(&out).expect("the crawl output is a catalog");
    assert_eq!(catalog.layout(), Layout::Scraped);
    assert_eq!(actual_images(&catalog), expected_images(6));
    for img in catalog.images() {
        let bytes = std::fs::read(catalog.path_of(img)).expect("listed file exists");
        assert_eq!(Some(sha(&bytes)), img.sha256, "{}", img.file);
        assert_eq!((img.width, img.height), (Some(80), Some(80)), "{}", img.file);
    }
    assert_eq!(summary.catalog_images, 3 * 6 + 19);
    assert_eq!(summary.catalog_products, 10);

    let dunk = catalog.product("nike_dunk_low").expect("product row");
    assert_eq!(dunk.name.as_deref(), Some("Nike Dunk Low"));
    assert_eq!(dunk.style_id.as_deref(), Some("SP-Nike-Dunk-Low"));
    let look_alike = catalog.product("nike_dunk_low_2").expect("look-alike keeps its own label");
    assert_eq!(look_alike.name.as_deref(), Some("N\u{0456}ke Dunk Low"));
    let runner = catalog.product("fixture_runner_1").expect("reached through a redirect");
    assert_eq!(runner.pairs_sold, Some(10_000 - 37));
    assert_eq!(runner.url.as_deref(), Some(fx.url("/p/Fixture-Runner-1").as_str()));
    assert_eq!(runner.price, Some(120.0));
    assert_eq!(catalog.product("samba_og_fallback").and_then(|p| p.brand.as_deref()), Some("Nike"));

    let expected_failures: BTreeSet<(String, String)> = [
        ("/img/Faulty-Runner/Lv2/img04.jpg", "corrupt"),
        ("/img/Faulty-Runner/Lv2/img05.jpg", "unsupported_format"),
        ("/img/Faulty-Runner/Lv2/img06.jpg", "too_small"),
        ("/img/Faulty-Runner/Lv2/img09.jpg", "http_status"),
        ("/private/img10.jpg", "robots"),
        ("/private/hidden", "robots"),
    ]
    .iter()
    .map(|(u, k)| (u.to_string(), k.to_string()))
    .collect();
    assert_eq!(failures(&out), expected_failures);
    let dups = std::fs::read_to_string(out.join(sneaker_scrape::DUPLICATES_CSV)).expect("duplicates");
    assert_eq!(dups.lines().count(), 2, "{dups}");
    assert!(dups.contains("img08.jpg") && dups.contains("images/fixture_runner_0/01.jpg"), "{dups}");

    // Politeness.
    assert_eq!(fx.count("/robots.txt"), 1);
    assert_eq!(fx.count("/private/hidden") + fx.count("/private/img10.jpg"), 0, "robots.txt disallows /private/");
    assert!(fx.hits().iter().all(|h| h.user_agent.starts_with("sneaker-id/")));
    assert_eq!(fx.count("/p/Nike-Dunk-Low"), 3, "two 500s, then success");
    assert_eq!(fx.count("/img/Faulty-Runner/Lv2/img02.jpg"), 2, "timed out once");
    assert_eq!(fx.count("/img/Faulty-Runner/Lv2/img03.jpg"), 2, "dropped once");
    assert_eq!(fx.count("/img/Faulty-Runner/Lv2/img05.jpg"), 1, "a verdict on content is not retried");
    let page2: Vec<_> = fx.hits().into_iter().filter(|h| h.path == "/shop?page=2").collect();
    assert_eq!(page2.len(), 2, "429 once");
    assert!(page2[1].at - page2[0].at >= Duration::from_secs(1), "Retry-After: 1 honoured");
    for p in fx.products().iter().filter(|p| p.slug.starts_with("Fixture-Runner")) {
        for path in &p.images {
            assert_eq!(fx.count(path), 1, "{path} fetched once");
        }
    }

    // OUT/images on its own is a plain label-folder catalog with the same images and views.
    let folder = Catalog::open(out.join("images")).expect("OUT/images is a folder catalog");
    assert_eq!(folder.layout(), Layout::Folder);
    let strip = |v: Vec<Expected>| -> Vec<Expected> {
        v.into_iter().map(|(f, l, v, a, s)| (f.trim_start_matches("images/").to_owned(), l, v, a, s)).collect()
    };
    assert_eq!(actual_images(&folder), strip(expected_images(6)));
    assert_eq!(folder.product("nike_dunk_low").and_then(|p| p.name.as_deref()), Some("Nike Dunk Low"));

    // Run again: everything is in the journal, so nothing is fetched and nothing changes.
    let before = fx.hits().len();
    let csv_before = std::fs::read_to_string(out.join("images.csv")).expect("images.csv");
    let again = sneaker_scrape::run(cfg, Arc::new(Progress::default())).await.expect("second run");
    assert_eq!(fx.hits().len(), before, "a finished crawl refetches nothing");
    assert_eq!(again.run.images_saved, 0);
    assert_eq!(std::fs::read_to_string(out.join("images.csv")).expect("images.csv"), csv_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_csv_with_a_spin_template() {
    let fx = Fixture::start(FixtureConfig { faults: false, ..Default::default() }).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("products.csv");
    std::fs::write(
        &csv,
        "Name,Brand,Categories,Colorway,Deadstock sold,Gender,Style id,Thumbnail_url,url,index,label\n\
         Fixture Runner 0,Nike,sneakers,Black,900,men,FX-0000,,https://shop.test/p/0,0,\n\
         Fixture Runner 2,Jordan,sneakers,Red,\"1,200\",women,FX-0002,,https://shop.test/p/2,1,my_label\n",
    )
    .expect("write csv");
    let out = dir.path().join("out");
    let cfg = ScrapeConfig {
        products_csv: Some(csv),
        image_template: Some(fx.url("/img/{slug}/Lv2/img{index:02}.jpg")),
        views: 6,
        ..config(&out, Vec::new())
    };
    sneaker_scrape::run(cfg, Arc::new(Progress::default())).await.expect("crawl");
    let catalog = Catalog::open(&out).expect("catalog");
    assert_eq!(catalog.labels(), &["fixture_runner_0".to_string(), "my_label".to_string()]);
    let mine: Vec<_> = catalog.images_of("my_label").collect();
    assert_eq!(mine.len(), 6);
    // View 4 of a 6-view spin is (4 - 1) * 360 / 6 = 180°.
    assert_eq!((mine[3].view, mine[3].angle), (Some(4), Some(180.0)));
    assert_eq!(mine[3].sha256, Some(sha(&Fixture::image_bytes("/img/Fixture-Runner-2/Lv2/img04.jpg"))));
    let p = catalog.product("my_label").expect("product");
    assert_eq!((p.pairs_sold, p.gender.as_deref()), (Some(1200), Some("women")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawl_delay_spaces_requests_to_a_host() {
    let delay = 0.2f32;
    let fx = Fixture::start(FixtureConfig {
        products: 2,
        views: 2,
        faults: false,
        crawl_delay: Some(delay),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(&dir.path().join("out"), vec![fx.url("/shop?page=1")]);
    sneaker_scrape::run(cfg, Arc::new(Progress::default())).await.expect("crawl");
    let hits = fx.hits();
    // robots.txt, 1 listing, /about, 2 product pages, 4 images.
    assert_eq!(hits.len(), 9, "{hits:?}");
    for pair in hits[1..].windows(2) {
        let gap = pair[1].at - pair[0].at;
        // Lower bound only (sleeps never end early); half the delay leaves room for jitter
        // in when the server sees a request.
        assert!(gap >= Duration::from_secs_f32(delay / 2.0), "{gap:?} between {} and {}", pair[0].path, pair[1].path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plans_and_writes_nothing() {
    let fx = Fixture::start(FixtureConfig { faults: false, ..Default::default() }).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let cfg = ScrapeConfig { dry_run: true, ..config(&out, vec![fx.url("/shop?page=1")]) };
    let summary = sneaker_scrape::run(cfg, Arc::new(Progress::default())).await.expect("dry run");
    assert!(!out.exists(), "dry run created {}", out.display());
    let planned: Vec<(&str, usize)> = summary.planned.iter().map(|p| (p.label.as_str(), p.images)).collect();
    assert_eq!(planned, [("fixture_runner_0", 6), ("fixture_runner_1", 6), ("fixture_runner_2", 6)]);
    assert_eq!(summary.run.images_planned, 18);
    assert!(fx.hits().iter().all(|h| !h.path.starts_with("/img/")), "dry run fetched an image");
}
