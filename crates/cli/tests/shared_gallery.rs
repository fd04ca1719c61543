//! Scale-out on one PostgreSQL gallery: `gallery build` fills it from a catalog, two real
//! `sneaker-id serve` processes on loopback open it, a product enrolled through one (the page's
//! enrol API) is identified by the other by its very next request, and `predict` finds it too.
//! Real PostgreSQL + pgvector (`sneaker_test_support::PgServer`), the real pretrained network, real
//! photos from `../shared/datasets/multiview-products`. The connection string carries a password
//! that must show up in no log.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sneaker_test_support::{PgServer, shared};

mod common;

use common::server::{serve, wait_ready};
use sneaker_test_support::multipart;

const TOKEN: &str = "shared-gallery-token";
/// Never checked by the loopback server (trust authentication), so it can only leak.
const PASSWORD: &str = "do-not-log-this-pw";
/// In the gallery before any server starts.
const CATALOG: [&str; 2] = ["adidas_alphaboost", "adidas_supernova"];
/// Enrolled through the first server from three photos; the fourth asks the second server.
const ENROLLED: (&str, &str) = ("adidas_duramo", "cdf_Duramo");

fn run_ok(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_sneaker-id")).args(args).output().expect("sneaker-id starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sneaker-id {:?}: {stderr}", args.first());
    assert!(!stderr.contains(PASSWORD), "the password was printed: {stderr}");
    out
}

/// Views every product is known by (a pair at an angle, the soles, the top); view 2, the side,
/// is what is asked about, so no product has an unfair head start.
const VIEWS: [u32; 3] = [1, 3, 4];

/// A `<label>/` catalog of links to the shared photos of [`VIEWS`] (nothing is copied); returns
/// how many photos it holds.
fn link_catalog(dataset: &Path, labels: &[&str], to: &Path) -> usize {
    let mut linked = 0;
    for label in labels {
        std::fs::create_dir_all(to.join(label)).expect("mkdir");
        for entry in std::fs::read_dir(dataset.join(label)).expect("product folder") {
            let photo = entry.expect("entry").path();
            let name = photo.file_name().expect("file name").to_string_lossy().into_owned();
            if VIEWS.iter().any(|n| name.ends_with(&format!("-{n}.jpg"))) {
                std::os::unix::fs::symlink(&photo, to.join(label).join(&name)).expect("symlink");
                linked += 1;
            }
        }
    }
    linked
}

fn photo(dataset: &Path, n: u32) -> PathBuf {
    let (label, stem) = ENROLLED;
    dataset.join(label).join(format!("{stem}-{n}.jpg"))
}

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("a body");
    (status, serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_enrolled_through_one_server_is_identified_by_the_other() {
    let Some(shared) = shared("datasets/multiview-products") else { return };
    let Some(pg) = PgServer::start() else { return };
    let dataset = shared.join("datasets/multiview-products");
    let gallery = format!("{}?gallery=shop", pg.url().replace("postgres@", &format!("postgres:{PASSWORD}@")));
    let tmp = tempfile::tempdir().expect("temp dir");
    let catalog = tmp.path().join("catalog");
    let catalog_photos = link_catalog(&dataset, &CATALOG, &catalog);
    assert_eq!(catalog_photos, CATALOG.len() * VIEWS.len(), "the shared photo set changed");
    run_ok(&["gallery", "build", "--gallery", &gallery, "--data", catalog.to_str().expect("utf-8")]);

    // Started together: both set the gallery up at once, which must not trip over itself.
    let logs = [tmp.path().join("a.log"), tmp.path().join("b.log")];
    let args = ["--gallery", gallery.as_str(), "--enroll-token", TOKEN];
    let (_a, a) = serve(&args, &logs[0]);
    let (_b, b) = serve(&args, &logs[1]);
    let http = reqwest::Client::new();
    wait_ready(&http, &a).await;
    wait_ready(&http, &b).await;

    let (label, stem) = ENROLLED;
    let bytes: Vec<(String, Vec<u8>)> =
        VIEWS.iter().map(|&n| (format!("{stem}-{n}.jpg"), std::fs::read(photo(&dataset, n)).expect("photo"))).collect();
    let parts: Vec<(&str, &str, &[u8])> = bytes.iter().map(|(n, b)| ("image", n.as_str(), b.as_slice())).collect();
    let (content_type, body) = multipart(&parts);
    let enrolled = http
        .post(format!("{a}/api/v1/gallery/products?label={label}&name=Duramo&brand=adidas"))
        .bearer_auth(TOKEN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("server A answers");
    let (status, body) = json(enrolled).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["added"].as_u64(), body["saved"].as_bool()), (Some(3), Some(true)), "{body}");
    assert_eq!(body["gallery_size"].as_u64(), Some(catalog_photos as u64 + 3), "{body}");

    // Server B never saw the enrolment, yet names the product on another photo of it.
    let query = std::fs::read(photo(&dataset, 2)).expect("photo");
    let answer = http
        .post(format!("{b}/api/v1/identify"))
        .header("content-type", "image/jpeg")
        .body(query)
        .send()
        .await
        .expect("server B answers");
    let (status, answer) = json(answer).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["predictions"][0]["label"], label, "{answer}");
    assert_eq!(answer["predictions"][0]["product"]["brand"], "adidas", "{answer}");
    let (_, model) = json(http.get(format!("{b}/api/v1/model")).send().await.expect("server B answers")).await;
    assert_eq!(model["gallery"]["photos"].as_u64(), Some(catalog_photos as u64 + 3), "{model}");
    assert_eq!(model["gallery"]["labels"].as_u64(), Some(3), "{model}");

    // The command line reads the same gallery.
    let photo2 = photo(&dataset, 2);
    let out = run_ok(&["predict", "--json", "--gallery", &gallery, photo2.to_str().expect("utf-8")]);
    let line: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(line["predictions"][0]["label"], label, "{line}");

    for log in &logs {
        let text = std::fs::read_to_string(log).expect("a server log");
        assert!(!text.contains(PASSWORD), "{}: the password was logged:\n{text}", log.display());
    }
}

#[test]
fn searching_a_database_gallery_never_built_says_so() {
    let Some(pg) = PgServer::start() else { return };
    let empty = tempfile::tempdir().expect("temp dir");
    let gallery = format!("{}?gallery=nothing_here", pg.url());
    let out = Command::new(env!("CARGO_BIN_EXE_sneaker-id"))
        .args(["gallery", "search", "--gallery", &gallery])
        .arg(empty.path().join("x.jpg"))
        .output()
        .expect("sneaker-id starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("no gallery here"), "{stderr}");
    assert!(stderr.contains("nothing_here"), "the error names the gallery: {stderr}");
}
