//! Crawls of the fixture shop's sitemap-driven face (`fixture/shapes.rs`) from its root URL
//! alone: every product shape with its exact name (UTF-8 from three legacy charsets),
//! brand, style id and largest images; every page and image that yields nothing in the
//! failure log with its reason; compressed responses; and `--refresh`.

mod fixture;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use fixture::{Fixture, FixtureConfig};
use sha2::{Digest, Sha256};
use sneaker_catalog::Catalog;
use sneaker_scrape::{Failure, Progress, ScrapeConfig, label_from};

fn encode(coding: &str, body: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).expect("gzip");
            e.finish().expect("gzip")
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).expect("deflate");
            e.finish().expect("deflate")
        }
        "br" => {
            let mut out = Vec::new();
            let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            e.write_all(body).expect("brotli");
            drop(e);
            out
        }
        other => panic!("no encoder for {other}"),
    }
}

fn shop() -> FixtureConfig {
    FixtureConfig { products: 2, views: 3, faults: false, sitemaps: true, encode: Some(encode), ..Default::default() }
}

fn config(out: &Path, start: String) -> ScrapeConfig {
    ScrapeConfig {
        out: out.to_path_buf(),
        start_urls: vec![start],
        concurrency: 4,
        per_host_concurrency: 4,
        min_delay_ms: 0,
        backoff_base_ms: 50,
        request_timeout_ms: 2_000,
        min_image_side: 32,
        flush_interval_ms: 200,
        ..Default::default()
    }
}

const SJIS_NAME: &str = "オニツカタイガー メキシコ66";

/// label -> (name, brand, style id, sha256 of each image in view order).
type Catalogued = BTreeMap<String, (String, Option<String>, Option<String>, Vec<String>)>;

/// label -> (name, brand, style id, image paths served in view order).
type Expected = BTreeMap<String, (String, Option<&'static str>, Option<&'static str>, Vec<String>)>;

fn expected() -> Expected {
    let mut e = Expected::new();
    let mut add = |name: &str, brand: Option<&'static str>, sku: Option<&'static str>, images: &[&str]| {
        let images = images.iter().map(|s| s.to_string()).collect();
        e.insert(label_from(name), (name.to_owned(), brand, sku, images));
    };
    for (i, brand) in [(0, "Nike"), (1, "Adidas")] {
        let images: Vec<String> = (1..=3).map(|v| format!("/img/Fixture-Runner-{i}/Lv2/img{v:02}.jpg")).collect();
        let refs: Vec<&str> = images.iter().map(String::as_str).collect();
        add(&format!("Fixture Runner {i}"), Some(brand), Some(if i == 0 { "FX-0000" } else { "FX-0001" }), &refs);
    }
    add("Gel-Lyte III Kith", Some("ASICS"), Some("GL3-KITH"), &["/g/graph/1.jpg", "/g/graph/2.jpg"]);
    add("Air Max 1 Red", Some("Nike"), Some("AM1-RED"), &["/g/am1/red.jpg"]);
    add("Air Max 1 Blue", Some("Nike"), Some("AM1-BLUE"), &["/g/am1/blue.jpg"]);
    add("Puma Suede & Classic '68", Some("Puma"), Some("PS-68"), &["/g/suede/1.jpg"]);
    add("Gel Kayano 14", Some("ASICS"), Some("GK14"), &["/g/kayano/1.jpg"]);
    add("Club C 85 Vintage", None, None, &["/g/clubc/1.jpg"]);
    add("Lazy Runner", None, None, &["/g/lazy/a.jpg", "/g/lazy/b-1200.jpg", "/g/lazy/c-large.jpg"]);
    add("Variant Runner", None, Some("VR-1"), &["/g/var/a.jpg", "/g/var/b.jpg"]);
    add("Café Crème Runner", Some("Le Coq Sportif"), None, &["/g/latin1/1.jpg"]);
    add("\u{201c}Zoom\u{201d} Vomero 5 \u{2013} Black", Some("Nike"), Some("VM5-BLK"), &["/g/cp1252/1.jpg"]);
    add(SJIS_NAME, Some("Onitsuka Tiger"), None, &["/g/sjis/1.jpg"]);
    add("Jordan 4 Retro", Some("Jordan"), Some("J4-1"), &["/g/j4/1.jpg"]);
    add("Image Map Runner", Some("Saucony"), Some("IM-1"), &["/g/imap/1.jpg", "/g/imap/2.jpg"]);
    e
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The catalog as it was written.
fn actual(out: &Path) -> Catalogued {
    let catalog = Catalog::open(out).expect("catalog");
    catalog
        .products()
        .map(|p| {
            let mut images: Vec<_> =
                catalog.images_of(&p.label).map(|i| (i.view, i.sha256.clone().unwrap_or_default())).collect();
            images.sort();
            let shas = images.into_iter().map(|(_, s)| s).collect();
            (p.label.clone(), (p.name.clone().unwrap_or_default(), p.brand.clone(), p.style_id.clone(), shas))
        })
        .collect()
}

fn as_actual(e: &Expected) -> Catalogued {
    e.iter()
        .map(|(label, (name, brand, sku, images))| {
            let shas = images.iter().map(|p| sha(&Fixture::image_bytes(p))).collect();
            (label.clone(), (name.clone(), brand.map(str::to_owned), sku.map(str::to_owned), shas))
        })
        .collect()
}

fn failures(out: &Path) -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(out.join(sneaker_scrape::FAILURES_JSONL)).expect("failure log");
    text.lines()
        .map(|l| serde_json::from_str::<Failure>(l).expect("failure line is JSON"))
        .map(|f| (reqwest::Url::parse(&f.url).expect("url").path().to_owned(), f.stage, f.kind))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_from_the_root_url_finds_every_product_shape_through_sitemaps() {
    let fx = Fixture::start(shop()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("catalog");
    let summary = sneaker_scrape::run(config(&out, fx.url("/")), Arc::new(Progress::default())).await.expect("crawl");

    assert_eq!(actual(&out), as_actual(&expected()));
    let catalog = Catalog::open(&out).expect("catalog");
    let jordan = catalog.product("jordan_4_retro").expect("jordan");
    assert_eq!(jordan.url.as_deref(), Some(fx.url("/s/jordan").as_str()), "the canonical URL is the identity");
    let graph = catalog.product("gel_lyte_iii_kith").expect("graph product");
    assert_eq!((graph.price, graph.currency.as_deref()), (Some(130.0), Some("USD")));
    let suede = catalog.product("puma_suede_classic_68").expect("lenient product");
    assert_eq!((suede.price, suede.currency.as_deref()), (Some(65.0), Some("EUR")), "AggregateOffer lowPrice");
    assert_eq!(catalog.product("air_max_1_red").and_then(|p| p.colorway.as_deref()), Some("Red"));
    // CSVs are UTF-8 whatever the page's charset.
    let csv = std::fs::read_to_string(out.join("products.csv")).expect("products.csv is UTF-8");
    assert!(csv.contains(SJIS_NAME) && csv.contains("Café Crème Runner"), "{csv}");

    let expected_failures: BTreeSet<(String, String, String)> = [
        ("/s/gone", "page", "soft_404"),
        ("/s/empty", "page", "no_product"),
        ("/s/broken", "page", "parse_error"),
        ("/s/missing", "page", "http_status"),
        ("/g/kayano/missing.jpg", "image", "http_status"),
        ("/sitemaps/broken.xml", "sitemap", "parse_error"),
    ]
    .iter()
    .map(|(u, s, k)| (u.to_string(), s.to_string(), k.to_string()))
    .collect();
    assert_eq!(failures(&out), expected_failures);
    let kinds: Vec<(&str, usize)> = summary.failure_kinds.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(kinds, [("http_status", 2), ("no_product", 1), ("parse_error", 2), ("soft_404", 1)]);

    // Variants of one image are merged before download: only the largest is requested.
    assert_eq!(fx.count("/g/var/a.jpg?v=2&width=1200"), 1);
    for other in [
        "/g/var/a.jpg?v=1&width=200",
        "/g/var/a.jpg?width=600",
        "/g/var/b.jpg?v=9",
        "/g/lazy/b-320.jpg",
        "/g/lazy/c-small.jpg",
    ] {
        assert_eq!(fx.count(other), 0, "{other} should not be fetched");
    }
    let mut encodings = fx.encodings();
    encodings.sort();
    let encodings: Vec<(&str, &str)> = encodings.iter().map(|(p, e)| (p.as_str(), *e)).collect();
    assert_eq!(encodings, [("/", "br"), ("/s/graph", "gzip"), ("/s/group", "deflate"), ("/sitemap_index.xml", "br")]);
    assert_eq!(fx.count("/sitemaps/products.xml.gz"), 1);
    assert!(fx.hits().iter().all(|h| !h.path.contains("elsewhere")), "foreign sitemaps are not fetched");
    assert_eq!(summary.run.sitemaps, 4, "index, products, pages and the broken one");

    // `catalog report` carries the failure log.
    let report = dir.path().join("report");
    let stats = sneaker_catalog::report::write_report(&out, &report, 32).expect("report");
    assert_eq!(stats.failure_log.len(), 6);
    let md = std::fs::read_to_string(report.join(sneaker_catalog::report::REPORT_MD)).expect("report.md");
    assert!(md.contains("## Failure log") && md.contains("| page | soft_404 |") && md.contains("/s/gone"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_picks_up_new_and_changed_products_and_keeps_what_is_done() {
    let fx = Fixture::start(shop()).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("catalog");
    let cfg = config(&out, fx.url("/"));
    sneaker_scrape::run(cfg.clone(), Arc::new(Progress::default())).await.expect("first crawl");
    let first = actual(&out);
    fx.update();

    // Without --refresh a finished crawl fetches nothing and says what it skipped.
    let before = fx.hits().len();
    let again = sneaker_scrape::run(cfg.clone(), Arc::new(Progress::default())).await.expect("second crawl");
    assert_eq!(fx.hits().len(), before, "a finished crawl refetches nothing without --refresh");
    assert!(again.run.skipped_pages >= 25 && again.run.skipped_images >= 25, "{:?}", again.run);
    assert_eq!(actual(&out), first);

    let refreshed = sneaker_scrape::run(ScrapeConfig { refresh: true, ..cfg }, Arc::new(Progress::default()))
        .await
        .expect("refresh");
    let mut want = expected();
    want.insert("new_arrival".into(), ("New Arrival".into(), Some("Hoka"), Some("NA-1"), vec!["/g/new/1.jpg".into()]));
    want.get_mut("gel_lyte_iii_kith").expect("graph").3.push("/g/graph/3.jpg".into());
    assert_eq!(actual(&out), as_actual(&want));
    let catalog = Catalog::open(&out).expect("catalog");
    assert_eq!(catalog.product("gel_lyte_iii_kith").and_then(|p| p.price), Some(150.0), "changed page re-read");
    assert_eq!(refreshed.run.updated, 1);
    // Listings and sitemaps are revisited, conditionally where the server gave an ETag.
    assert_eq!((fx.count("/sitemap_index.xml"), fx.count("/new"), fx.count("/sitemaps/products.xml.gz")), (2, 2, 2));
    assert!(refreshed.run.unchanged >= 2, "index and /new answer 304: {:?}", refreshed.run);
    // Product pages whose lastmod is older than our copy are not fetched again; nor are images.
    assert_eq!((fx.count("/s/graph"), fx.count("/s/lenient"), fx.count("/p/Fixture-Runner-0")), (2, 1, 1));
    assert_eq!((fx.count("/g/graph/1.jpg"), fx.count("/g/graph/3.jpg")), (1, 1));
}
