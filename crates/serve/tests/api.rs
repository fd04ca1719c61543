//! The HTTP API in-process (`oneshot`) on the real pretrained network: answers, errors, limits,
//! batch, model description, health, metrics, OpenAPI and the page.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shoe_photo_is_footwear_with_ranked_imagenet_matches() {
    let Some(photo) = shoe_photo() else { return };
    let (status, json) =
        send_json(app(), post_form("/api/v1/identify?top_k=3&include_image=true", &[("image", "af1.jpg", &photo)]))
            .await;
    assert_eq!(status, 200, "{json}");
    // The pretrained network puts most of its mass on shoe classes for a studio sneaker shot.
    assert_eq!(json["footwear"]["is_footwear"], true, "{json}");
    assert!(json["footwear"]["probability"].as_f64().expect("number") > 0.5, "{json}");
    assert_ne!(json["verdict"], "not_a_sneaker");
    let predictions = json["predictions"].as_array().expect("predictions list");
    assert_eq!(predictions.len(), 3);
    let probs: Vec<f64> = predictions.iter().map(|p| p["probability"].as_f64().expect("number")).collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "not sorted: {probs:?}");
    let shoes = ["running shoe", "Loafer", "clog", "sandal", "cowboy boot"];
    let top = predictions[0]["label"].as_str().expect("label");
    assert!(shoes.contains(&top), "top ImageNet class {top:?} is not a shoe class: {json}");
    assert_eq!(json["image"]["name"], "af1.jpg");
    assert!(json["image"]["seen"].as_str().expect("seen image").starts_with("data:image/jpeg;base64,"));
    for key in ["decode", "preprocess", "inference"] {
        assert!(json["timings_ms"][key].as_f64().is_some(), "timings_ms.{key} missing: {json}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_of_the_sky_is_not_a_sneaker() {
    let (status, json) = send_json(app(), post_raw("/api/v1/identify", sky_png())).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["verdict"], "not_a_sneaker", "{json}");
    assert_eq!(json["footwear"]["is_footwear"], false);
    assert!(json["image"].get("seen").is_none(), "seen image only when asked for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_body_and_multipart_give_the_same_answer() {
    let png = sky_png();
    let (_, a) = send_json(app(), post_raw("/api/v1/identify?top_k=5", png.clone())).await;
    let (_, b) = send_json(app(), post_form("/api/v1/identify?top_k=5", &[("image", "sky.png", &png)])).await;
    assert_eq!(a["predictions"], b["predictions"]);
    assert_eq!(a["footwear"], b["footwear"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_with_a_kind_and_the_right_status() {
    let text = b"just some notes, not a photo".to_vec();
    let cases: Vec<(axum::http::Request<axum::body::Body>, u16, &str)> = vec![
        (post_form("/api/v1/identify", &[("image", "notes.txt", &text)]), 415, "unsupported_format"),
        (post_raw("/api/v1/identify", Vec::new()), 422, "empty"),
        (post_form("/api/v1/identify", &[("photo", "x.png", &sky_png())]), 400, "bad_request"),
        (post_raw("/api/v1/identify?top_k=0", sky_png()), 400, "bad_request"),
        (post_raw("/api/v1/identify?top_k=many", sky_png()), 400, "bad_request"),
        (post_raw("/api/v1/identify?colour=red", sky_png()), 400, "bad_request"),
        (post_raw("/api/v1/identify", vec![0u8; 21 * 1024 * 1024]), 413, "too_large"),
        (get("/api/v1/identify"), 405, "method_not_allowed"),
        (get("/no/such/page"), 404, "not_found"),
    ];
    for (request, status, kind) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let (got, json) = send_json(app(), request).await;
        assert_eq!((got, json["kind"].as_str()), (status, Some(kind)), "{what}: {json}");
        assert!(!json["error"].as_str().expect("error message").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_format_message_names_the_file() {
    let (_, json) = send_json(app(), post_form("/api/v1/identify", &[("image", "notes.txt", b"hello")])).await;
    assert!(json["error"].as_str().expect("message").contains("notes.txt"), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_answers_each_photo_in_order_with_per_photo_errors() {
    let sky = sky_png();
    let (status, json) = send_json(
        app(),
        post_form(
            "/api/v1/identify/batch?top_k=2",
            &[("image", "a.png", &sky), ("image", "b.txt", b"not an image"), ("image", "c.png", &sky)],
        ),
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["image"]["name"], "a.png");
    assert_eq!(results[1]["name"], "b.txt");
    assert_eq!(results[1]["status"], 415);
    assert_eq!(results[1]["error"]["kind"], "unsupported_format");
    assert_eq!(results[2]["image"]["name"], "c.png");
    // Same photo in the same network batch → the same answer.
    assert_eq!(results[0]["predictions"], results[2]["predictions"]);
    assert_eq!(results[0]["predictions"].as_array().map(Vec::len), Some(2));
    assert!(results[0]["timings_ms"]["batch_size"].as_u64().expect("batch size") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_health_metrics_and_openapi_describe_the_server() {
    let (status, model) = send_json(app(), get("/api/v1/model")).await;
    assert_eq!(status, 200);
    assert_eq!(model["kind"], "imagenet");
    assert_eq!(model["input_size"], 224);
    assert_eq!(model["labels"].as_array().map(Vec::len), Some(1000));
    assert_eq!(model["labels"][770], "running shoe");
    assert_eq!(model["ready"], true);

    assert_eq!(send_json(app(), get("/v2/health/live")).await, (200, serde_json::json!({"live": true})));
    assert_eq!(send_json(app(), get("/v2/health/ready")).await, (200, serde_json::json!({"ready": true})));

    send(app(), post_raw("/api/v1/identify", sky_png())).await;
    let (status, headers, body) = send(app(), get("/metrics")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().expect("ascii").contains("openmetrics-text"));
    let text = String::from_utf8(body).expect("utf-8");
    assert!(
        text.contains(r#"sneaker_id_http_requests_total{route="/api/v1/identify",method="POST",status="200"}"#),
        "{text}"
    );
    assert!(text.contains("sneaker_id_inference_batch_size_bucket"), "{text}");
    assert!(text.contains("sneaker_id_inference_queue_depth"), "{text}");

    let (status, spec) = send_json(app(), get("/api/openapi.json")).await;
    assert_eq!(status, 200);
    assert_eq!(spec["openapi"], "3.0.3");
    // Every documented route is served: the right method never gets 404 or 405.
    for (method, path) in sneaker_serve::DOCUMENTED_PATHS {
        let request = axum::http::Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(path)
            .body(axum::body::Body::empty())
            .expect("valid request");
        let (status, _, body) = send(app(), request).await;
        let body = String::from_utf8_lossy(&body);
        // A handler may answer 404 for a missing item; the router's own 404 says "no route".
        assert!(status != 405 && !body.contains("no route for"), "{method} {path} answered {status}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_has_labelled_controls_and_local_assets_only() {
    let (status, headers, body) = send(app(), get("/")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let html = String::from_utf8(body).expect("utf-8");
    for needle in [
        r#"<label class="button" for="file-input">"#,
        r#"capture="environment""#,
        r#"<label for="top-k">"#,
        r#"role="alert""#,
        "No trained sneaker model is loaded",
        "sneaker-id train",
    ] {
        assert!(html.contains(needle), "page lacks {needle:?}");
    }
    assert!(!html.contains("{{"), "unfilled placeholder in the page");
    assert!(!html.contains("//cdn") && !html.contains("https://"), "the page must not load remote assets");
    for (path, mime) in
        [("/assets/app.js", "text/javascript"), ("/assets/style.css", "text/css"), ("/favicon.ico", "image/svg+xml")]
    {
        let (status, headers, _) = send(app(), get(path)).await;
        assert_eq!(status, 200, "{path}");
        assert!(headers["content-type"].to_str().expect("ascii").starts_with(mime), "{path}");
    }
    let (status, json): (u16, Value) = send_json(app(), get("/assets/../Cargo.toml")).await;
    assert_eq!(status, 404, "{json}");
}

/// Share of near-white pixels in a `data:image/jpeg;base64,` preview.
fn white_share(data_url: &str) -> f64 {
    use base64::Engine;
    let b64 = data_url.strip_prefix("data:image/jpeg;base64,").expect("a JPEG data URL");
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("valid base64");
    let img = image::load_from_memory(&bytes).expect("a decodable JPEG").to_rgb8();
    let white = img.pixels().filter(|p| p.0.iter().all(|&c| c >= 235)).count();
    white as f64 / f64::from(img.width() * img.height())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_background_answers_with_the_cut_out_the_network_saw() {
    // A phone photo from sneakers50-wild-dev: an Air Force 1 on a busy, non-white background.
    let Some(shared) = shared() else { return };
    let path = shared.join("datasets/sneakers50-wild-dev/nike_air_force_1_low/kg_0018.jpg");
    let photo = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let form = |query: &str| {
        post_form(&format!("/api/v1/identify?include_image=true{query}"), &[("image", "wild.jpg", &photo)])
    };
    let (status, plain) = send_json(app(), form("")).await;
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain["image"]["background_removed"], false);
    let (status, cut) = send_json(app(), form("&remove_background=true")).await;
    assert_eq!(status, 200, "{cut}");
    assert_eq!(cut["image"]["background_removed"], true, "{}", cut["image"]["background_removed"]);
    assert!(cut["timings_ms"]["background_removal"].as_f64().expect("number") > 0.0);
    let before = white_share(plain["image"]["seen"].as_str().expect("seen"));
    let after = white_share(cut["image"]["seen"].as_str().expect("seen"));
    // The surroundings turn white: the preview gains at least a fifth of its area in white.
    assert!(after > before + 0.2, "white share {before:.2} -> {after:.2}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_background_refuses_hostile_files_with_4xx() {
    let mut truncated =
        encode(&image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8, y as u8, 7])), image::ImageFormat::Jpeg);
    truncated.truncate(truncated.len() / 2);
    let cases = [Vec::new(), b"GIF89a? not really".to_vec(), truncated, b"%PDF-1.7".to_vec(), sky_png()[..60].to_vec()];
    for bytes in cases {
        let (got, json) = send_json(app(), post_raw("/api/v1/identify?remove_background=true", bytes)).await;
        assert!((400..500).contains(&got), "{got}: {json}");
        assert!(!json["error"].as_str().expect("an error message").is_empty());
    }
    // A photo too small to cut out is classified as it is, not refused.
    let tiny = encode(&image::RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9])), image::ImageFormat::Png);
    let (status, json) = send_json(app(), post_raw("/api/v1/identify?remove_background=true", tiny)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["image"]["background_removed"], false);
}
