//! Shared set-up for the web app tests: the real pretrained network (assets fetched by
//! `make assets`), an app on it, real photos from `../shared` when present, and request helpers.

#![allow(dead_code)] // each test file uses a different subset

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, header};
use serde_json::Value;
use sneaker_model::assets::Assets;
use sneaker_serve::{App, Network, ServeConfig};
use tower::ServiceExt;

pub fn assets() -> Assets {
    Assets::locate().expect("network assets should be present: run `make assets`")
}

/// One app on the pretrained network per test binary; loading the network takes a while.
pub fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| start(ServeConfig::default()))
}

/// A fresh app with `config`, ready (network warmed up) when returned.
pub fn start(config: ServeConfig) -> App {
    let net =
        Network::new(sneaker_model::predictor::Predictor::pretrained(&assets()).expect("the pretrained network loads"));
    let app = App::new(config, Box::new(net), None).expect("the app starts");
    for _ in 0..600 {
        if app.is_ready() {
            return app;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the network did not warm up within 30 s");
}

/// `../shared`, or `None` after saying the test is skipped (a failure under `CI=true`).
pub fn shared() -> Option<PathBuf> {
    sneaker_test_support::shared("")
}

/// A studio photo of a Nike Air Force 1 Low from sneakers50 (the Makefile's demo photo).
pub fn shoe_photo() -> Option<Vec<u8>> {
    let path =
        shared()?.join("datasets/sneakers50/nike_air_force_1_low/nikecom_air-force-1-07-lv8-mens-shoes-7bCM7s.jpg");
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// A 320×240 sky-like gradient as PNG: a photo with no shoe in it.
pub fn sky_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(90 + y / 4) as u8, (150 + y / 5) as u8, (230 + (x % 20) / 2) as u8])
    });
    encode(&img, image::ImageFormat::Png)
}

pub fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).expect("encoding into memory");
    out
}

pub fn post_form(uri: &str, parts: &[(&str, &str, &[u8])]) -> Request<Body> {
    let (content_type, body) = sneaker_test_support::multipart(parts);
    Request::post(uri).header(header::CONTENT_TYPE, content_type).body(Body::from(body)).expect("valid request")
}

pub fn post_raw(uri: &str, bytes: Vec<u8>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(bytes))
        .expect("valid request")
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("valid request")
}

/// Sends `request` through the router in-process; returns status, headers and body bytes.
pub async fn send(app: &App, request: Request<Body>) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    let response: Response<Body> = app.router().oneshot(request).await.expect("router is infallible");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024).await.expect("response body");
    (status, headers, body.to_vec())
}

/// Like [`send`] but parses the body as JSON (failing the test if it is not).
pub async fn send_json(app: &App, request: Request<Body>) -> (u16, Value) {
    let (status, headers, body) = send(app, request).await;
    let json: Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "status {status}, content-type {:?}: body is not JSON ({e}): {}",
            headers.get(header::CONTENT_TYPE),
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )
    });
    (status, json)
}
