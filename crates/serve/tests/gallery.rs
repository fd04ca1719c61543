//! Enrolment through the API: products enrolled from three photos each (a pair at an angle, the
//! soles, the top view) are identified on another photo (the side view) by the very next request, with no retraining; the gallery is written to disk;
//! enrolment is refused without the right token. Real network, real photos from
//! `../shared/datasets/multiview-products`.

mod common;

use std::time::Duration;

use axum::http::header;
use common::*;
use sneaker_gallery::{Gallery, GalleryConfig};
use sneaker_identify::Identifier;
use sneaker_serve::{App, GalleryOptions, Network, ServeConfig};

const TOKEN: &str = "test-enrol-token";
const PRODUCTS: [(&str, &str); 3] =
    [("adidas_alphaboost", "cdf_Alphaboost"), ("adidas_duramo", "cdf_Duramo"), ("adidas_supernova", "cdf_Supernova")];

fn gallery_app(dir: &std::path::Path) -> App {
    let assets = assets();
    let options = GalleryOptions {
        identifier: Identifier::new(None, None, None),
        dir: Some(dir.to_owned()),
        // The id the pretrained predictor embeds under: its network and the colour part.
        model_id: sneaker_model::predictor::embedding_of(&assets, None).expect("model id").0,
        enroll_token: Some(TOKEN.into()),
    };
    let net =
        Network::new(sneaker_model::predictor::Predictor::pretrained(&assets).expect("the pretrained network loads"));
    let app = App::with_gallery(ServeConfig::default(), Box::new(net), None, Some(options)).expect("the app starts");
    for _ in 0..600 {
        if app.is_ready() {
            return app;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the network did not warm up within 30 s");
}

fn photo(shared: &std::path::Path, label: &str, stem: &str, n: u32) -> Vec<u8> {
    let path = shared.join(format!("datasets/multiview-products/{label}/{stem}-{n}.jpg"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn enroll_request(
    label: &str,
    token: Option<&str>,
    photos: &[(String, Vec<u8>)],
) -> axum::http::Request<axum::body::Body> {
    let parts: Vec<(&str, &str, &[u8])> = photos.iter().map(|(n, b)| ("image", n.as_str(), b.as_slice())).collect();
    let mut request = post_form(&format!("/api/v1/gallery/products?label={label}&brand=adidas"), &parts);
    if let Some(token) = token {
        request.headers_mut().insert(header::AUTHORIZATION, format!("Bearer {token}").parse().expect("header value"));
    }
    request
}

#[tokio::test]
async fn enrolled_products_are_identified_on_their_next_photo() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let app = gallery_app(dir.path());

    // Before any enrolment the server answers with ImageNet classes, as without a gallery.
    let (status, model) = send_json(&app, get("/api/v1/model")).await;
    assert_eq!(status, 200);
    assert_eq!(model["gallery"]["photos"], 0);
    assert_eq!(model["gallery"]["enrollment"], true);

    for (label, stem) in PRODUCTS {
        let photos: Vec<(String, Vec<u8>)> =
            [1, 3, 4].iter().map(|&n| (format!("{stem}-{n}.jpg"), photo(&shared, label, stem, n))).collect();
        let (status, body) = send_json(&app, enroll_request(label, Some(TOKEN), &photos)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["added"], 3, "{body}");
        assert_eq!(body["saved"], true);
    }
    for (label, stem) in PRODUCTS {
        let query = photo(&shared, label, stem, 2);
        let (status, answer) = send_json(&app, post_form("/api/v1/identify", &[("image", "query.jpg", &query)])).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["predictions"][0]["label"], label, "{answer}");
        assert!(answer["predictions"][0]["similarity"].as_f64().is_some(), "{answer}");
        assert_eq!(answer["predictions"][0]["product"]["brand"], "adidas", "{answer}");
    }

    // The same photos again are recognised as duplicates, not enrolled twice.
    let (label, stem) = PRODUCTS[0];
    let again = vec![(format!("{stem}-1.jpg"), photo(&shared, label, stem, 1))];
    let (status, body) = send_json(&app, enroll_request(label, Some(TOKEN), &again)).await;
    assert_eq!((status, body["added"].clone(), body["duplicates"].clone()), (201, 0.into(), 1.into()), "{body}");

    // What was enrolled is on disk, under the embedding model's id.
    let id = sneaker_model::predictor::embedding_of(&assets(), None).expect("model id").0;
    let saved = Gallery::open(dir.path(), Some(&id), GalleryConfig::default()).expect("the saved gallery opens");
    assert_eq!(saved.len(), 9);
    assert_eq!(saved.product("adidas_duramo").and_then(|p| p.brand.as_deref()), Some("adidas"));
}

#[tokio::test]
async fn enrolment_needs_the_token_and_a_usable_label() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = gallery_app(dir.path());
    let photos = vec![("sky.png".to_owned(), sky_png())];
    let (status, body) = send_json(&app, enroll_request("x", None, &photos)).await;
    assert_eq!((status, body["kind"].as_str()), (401, Some("unauthorized")), "{body}");
    let (status, body) = send_json(&app, enroll_request("x", Some("wrong"), &photos)).await;
    assert_eq!((status, body["kind"].as_str()), (401, Some("unauthorized")), "{body}");
    let (status, body) = send_json(&app, enroll_request("..", Some(TOKEN), &photos)).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        send_json(&app, enroll_request("x", Some(TOKEN), &[("a.jpg".into(), b"not an image".to_vec())])).await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(!dir.path().join(sneaker_gallery::GALLERY_FILE).exists(), "nothing was enrolled, nothing written");
}

#[tokio::test]
async fn a_server_without_a_token_refuses_enrolment() {
    let photos = vec![("sky.png".to_owned(), sky_png())];
    let (status, body) = send_json(app(), enroll_request("x", Some(TOKEN), &photos)).await;
    assert_eq!((status, body["kind"].as_str()), (403, Some("forbidden")), "{body}");
}
