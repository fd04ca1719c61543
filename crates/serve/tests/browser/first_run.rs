//! The first-run journey (issue 12): a server with no trained run and an empty gallery; three
//! products enrolled from the page; a new photo of one of them is named; a picture of no shoe is
//! said to be none; and after a restart the enrolled products are still named.
//!
//! Photos are real product photos from `../shared/datasets/multiview-products` (views 1, 3 and 4
//! enrolled, view 2 — the side view — asked about); pretrained features name these three (also
//! checked in process by `tests/gallery.rs`). The non-shoe picture is made here: a flat sky-like
//! gradient, which the footwear check puts far below its threshold.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use super::*;

/// (folder, file stem, name, brand, colourway, style id) of the enrolled products.
const PRODUCTS: [(&str, &str, &str, &str, &str, &str); 3] = [
    ("adidas_alphaboost", "cdf_Alphaboost", "Adidas Alphaboost", "Adidas", "Core Black", "AB-TEST-1"),
    ("adidas_duramo", "cdf_Duramo", "Adidas Duramo", "Adidas", "Cloud White", "DU-TEST-2"),
    ("adidas_supernova", "cdf_Supernova", "Adidas Supernova", "Adidas", "Solar Red", "SN-TEST-3"),
];
/// The product asked about with a photo it was not enrolled with.
const ASKED: usize = 2;

fn not_a_shoe(dir: &Path) -> PathBuf {
    let img = image::RgbImage::from_fn(480, 360, |x, y| {
        image::Rgb([(90 + y / 6) as u8, (150 + y / 8) as u8, (225 + (x % 24) / 2) as u8])
    });
    let path = dir.join("sky.png");
    img.save(&path).expect("writing the sky picture");
    path
}

/// `POST /api/v1/identify` with one photo over a plain socket; returns the response body.
fn identify(url: &str, photo: &[u8]) -> String {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let boundary = "first-run-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(photo);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut stream = TcpStream::connect(host).expect("connecting to the server");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("socket timeout");
    write!(
        stream,
        "POST /api/v1/identify HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("writing the request");
    stream.write_all(&body).expect("writing the photo");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reading the answer");
    response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or(response)
}

#[test]
fn first_run_enroll_three_products_on_the_page_then_name_a_new_photo_in_chromium() {
    let Some(shared) = shared() else { return };
    let Some((chromium, browser_dir, bin)) = browser_tools() else { return };
    let views = shared.join("datasets/multiview-products");
    let photo = |label: &str, stem: &str, n: u32| views.join(label).join(format!("{stem}-{n}.jpg"));
    let products: Vec<serde_json::Value> = PRODUCTS
        .iter()
        .map(|(label, stem, name, brand, colorway, style_id)| {
            let photos: Vec<String> = [1, 3, 4].iter().map(|&n| photo(label, stem, n).display().to_string()).collect();
            serde_json::json!({"name": name, "brand": brand, "colorway": colorway, "style_id": style_id, "photos": photos})
        })
        .collect();
    let (label, stem, name, ..) = PRODUCTS[ASKED];
    let query = photo(label, stem, 2);
    let work = tempfile::tempdir().expect("temp dir");
    let gallery = work.path().join("gallery");
    let sky = not_a_shoe(work.path());

    let (server, url, token) = start_server(&bin, &gallery);
    assert!(token.len() >= 32, "a generated token is long: {token:?}");
    wait_ready(&url);
    let screenshots = bin.parent().expect("binary has a folder").join("browser-screenshots");
    let products = serde_json::to_string(&products).expect("JSON");
    run_node(
        &browser_dir,
        "first-run.mjs",
        &[
            ("SNEAKER_ID_URL", url.as_ref()),
            ("ENROLL_TOKEN", token.as_ref()),
            ("PRODUCTS", products.as_ref()),
            ("QUERY_PHOTO", query.as_os_str()),
            ("QUERY_NAME", name.as_ref()),
            ("NOT_A_SHOE", sky.as_os_str()),
            ("CHROMIUM", chromium.as_os_str()),
            ("SCREENSHOT_DIR", screenshots.as_os_str()),
        ],
    );
    drop(server);

    // A restart on the same gallery (and a new token) still names the product.
    let (_server, url, second_token) = start_server(&bin, &gallery);
    assert_ne!(second_token, token, "each start makes a new token");
    wait_ready(&url);
    let bytes = std::fs::read(&query).expect("reading the query photo");
    let answer: serde_json::Value = serde_json::from_str(&identify(&url, &bytes)).expect("a JSON answer");
    assert_eq!(answer["predictions"][0]["label"], label, "{answer}");
    assert_eq!(answer["predictions"][0]["product"]["name"], name, "{answer}");
    let photo_url = answer["predictions"][0]["photo"].as_str().expect("the nearest enrolled photo's URL");
    assert_eq!(get_status(&url, photo_url), Some(200), "{photo_url}");
}
