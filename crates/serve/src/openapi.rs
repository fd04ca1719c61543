//! `GET /api/openapi.json`: the API described for client generators and curious users.
//!
//! Written out by hand rather than derived (utoipa) because the API is six routes and a
//! derive crate would add a proc-macro build to every clean build on small CI machines; a test
//! below keeps this document and the router in step.

use axum::Json;
use serde_json::{Value, json};

/// Every documented path with its method; a test checks this is exactly what the router serves.
pub const PATHS: [(&str, &str); 10] = [
    ("post", "/api/v1/identify"),
    ("post", "/api/v1/gallery/products"),
    ("get", "/api/v1/gallery/photos/{id}"),
    ("get", "/api/v1/thumbnails/{label}"),
    ("post", "/api/v1/identify/batch"),
    ("get", "/api/v1/model"),
    ("get", "/v2/health/live"),
    ("get", "/v2/health/ready"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
];

fn identify_params() -> Value {
    json!([
        {"name": "top_k", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 5},
         "description": "How many matches to return (at most the server's max_top_k, 20 by default)."},
        {"name": "remove_background", "in": "query", "schema": {"type": "boolean", "default": false},
         "description": "Cut the shoe out of its background (OpenCV GrabCut from a centred rectangle) and put it on white before classifying; 400 in a build without OpenCV."},
        {"name": "include_image", "in": "query", "schema": {"type": "boolean", "default": false},
         "description": "Return the network's 224×224 view of the photo as a JPEG data URL in image.seen."}
    ])
}

fn errors() -> Value {
    let e = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        "400": e("Malformed request: no image field, bad query value, too many photos."),
        "408": e("The request took longer than the server's timeout."),
        "413": e("The body is larger than the server's limit (20 MB by default)."),
        "415": e("Not an image format the server decodes (JPEG, PNG, WebP, GIF, BMP and HEIC/HEIF are; e.g. AVIF or TIFF: convert to JPEG)."),
        "422": e("Empty, corrupt or truncated image, or more pixels than allowed."),
        "503": e("Busy (Retry-After given) or the model is still loading.")
    })
}

fn upload_body(multiple: bool) -> Value {
    let file = json!({"type": "string", "format": "binary"});
    let image = if multiple { json!({"type": "array", "items": file}) } else { file };
    let mut content = json!({
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {"image": image}}}
    });
    if !multiple {
        content["image/*"] = json!({"schema": {"type": "string", "format": "binary"}});
        content["application/octet-stream"] = json!({"schema": {"type": "string", "format": "binary"}});
    }
    json!({"required": true, "content": content})
}

fn schemas() -> Value {
    json!({
        "Error": {"type": "object", "required": ["error", "kind"], "properties": {
            "error": {"type": "string", "description": "What was wrong, for a person."},
            "kind": {"type": "string", "enum": ["bad_request", "not_found", "too_large", "empty", "unsupported_format",
                "corrupt", "processing", "overloaded", "not_ready", "timeout", "method_not_allowed", "unauthorized",
                "forbidden", "internal"]}}},
        "Product": {"type": "object", "description": "A catalog row (products.csv); all fields but label may be null.",
            "properties": {"label": {"type": "string"}, "name": {"type": "string", "nullable": true},
            "brand": {"type": "string", "nullable": true}, "colorway": {"type": "string", "nullable": true},
            "style_id": {"type": "string", "nullable": true}, "thumbnail_url": {"type": "string", "nullable": true},
            "url": {"type": "string", "nullable": true}, "price": {"type": "number", "nullable": true},
            "currency": {"type": "string", "nullable": true}}, "additionalProperties": true},
        "Identification": {"type": "object", "required": ["verdict", "predictions", "footwear", "image", "timings_ms"], "properties": {
            "verdict": {"type": "string", "enum": verdicts(),
                "description": "match: the top prediction is the answer; not_sure: a sneaker, but not confidently one this server knows (always, at best, without a trained run or enrolled products); not_a_sneaker: the footwear probability is below its threshold. `sneaker-id predict` gives the same names and the same decision."},
            "predictions": {"type": "array", "items": {"type": "object", "required": ["label", "probability"], "properties": {
                "label": {"type": "string"}, "probability": {"type": "number"},
                "similarity": {"type": "number", "description": "Best cosine similarity to this label's gallery photos (only when a gallery answered)."},
                "thumbnail": {"type": "string", "description": "URL of a catalog photo of this label on this server (when a catalog is loaded)."},
                "photo": {"type": "string", "description": "URL of a small thumbnail of this label's enrolled photo nearest to the query, /api/v1/gallery/photos/{id} (when a gallery answered)."},
                "product": {"allOf": [{"$ref": "#/components/schemas/Product"}], "nullable": true}}}},
            "footwear": {"type": "object", "properties": {"probability": {"type": "number"},
                "threshold": {"type": "number"}, "is_footwear": {"type": "boolean"}}},
            "image": {"type": "object", "properties": {"name": {"type": "string"}, "width": {"type": "integer"},
                "height": {"type": "integer"},
                "seen": {"type": "string", "description": "include_image=true: what the network saw (upright, background removed when it was, squashed to 224×224) as a data:image/jpeg;base64 URL."},
                "background_removed": {"type": "boolean", "description": "remove_background=true and GrabCut kept a shoe-sized foreground; otherwise the photo was classified as it was."}}},
            "timings_ms": {"type": "object", "properties": {"decode": {"type": "number"}, "preprocess": {"type": "number"},
                "background_removal": {"type": "number", "description": "Part of preprocess; 0 unless asked for."},
                "queue": {"type": "number"}, "inference": {"type": "number"}, "batch_size": {"type": "integer"}}}}},
        "BatchAnswer": {"type": "object", "properties": {"results": {"type": "array", "items": {"oneOf": [
            {"$ref": "#/components/schemas/Identification"},
            {"type": "object", "properties": {"name": {"type": "string"}, "status": {"type": "integer"},
                "error": {"$ref": "#/components/schemas/Error"}}}]}}}}
    })
}

fn verdicts() -> Value {
    Value::from(sneaker_identify::Verdict::ALL.map(|v| v.name()).to_vec())
}

fn thresholds() -> Value {
    let setting = json!({"type": "object", "properties": {"value": {"type": "number"},
        "source": {"type": "string", "enum": ["default", "calibration", "flag"],
            "description": "default: uncalibrated fall-back; calibration: the run's open_set.json; flag: set when the server was started."}}});
    json!({"type": "object", "description": "The thresholds answers are decided with, and where each came from.",
        "properties": {"footwear": setting, "confidence": setting,
            "similarity": {"allOf": [setting], "nullable": true, "description": "None: no gallery-similarity cut-off."}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// The whole OpenAPI 3.0 document.
pub fn spec() -> Value {
    let mut identify_responses = errors();
    identify_responses["200"] =
        ok("The matches for the photo.", json!({"$ref": "#/components/schemas/Identification"}));
    let mut enroll_responses = errors();
    enroll_responses["201"] = ok(
        "Enrolled.",
        json!({"type": "object", "properties": {"label": {"type": "string"},
        "added": {"type": "integer"}, "duplicates": {"type": "integer"}, "gallery_size": {"type": "integer"}, "saved": {"type": "boolean"}}}),
    );
    enroll_responses["401"] = ok("Missing or wrong token.", json!({"$ref": "#/components/schemas/Error"}));
    enroll_responses["403"] = ok("Enrolment is off on this server.", json!({"$ref": "#/components/schemas/Error"}));
    let mut batch_responses = errors();
    batch_responses["200"] =
        ok("One result or error per photo, in upload order.", json!({"$ref": "#/components/schemas/BatchAnswer"}));
    json!({
        "openapi": "3.0.3",
        "info": {"title": "sneaker-id", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Tells which sneaker is in a photo."},
        "paths": {
            "/api/v1/identify": {"post": {"summary": "Identify the sneaker in one photo",
                "parameters": identify_params(), "requestBody": upload_body(false), "responses": identify_responses}},
            "/api/v1/identify/batch": {"post": {"summary": "Identify several photos in one network batch",
                "parameters": identify_params(), "requestBody": upload_body(true), "responses": batch_responses}},
            "/api/v1/gallery/products": {"post": {"summary": "Enroll a new product from 1-10 photos (identifiable at once, no retraining)",
                "description": "Needs `Authorization: Bearer TOKEN` with the server's enrolment token (printed by `sneaker-id serve` at start-up, or set with --enroll-token); 403 when enrolment is off. Text fields are trimmed and at most 300 characters.",
                "parameters": [
                    {"name": "label", "in": "query", "schema": {"type": "string"}, "description": "Label the product is answered as; default: made from the name (\"Nike Air Max 90\" → nike_air_max_90). One of label and name is required."},
                    {"name": "name", "in": "query", "schema": {"type": "string"}, "description": "Product name shown with matches."},
                    {"name": "brand", "in": "query", "schema": {"type": "string"}},
                    {"name": "colorway", "in": "query", "schema": {"type": "string"}},
                    {"name": "style_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "url", "in": "query", "schema": {"type": "string"}, "description": "The product's page (http or https)."}],
                "requestBody": upload_body(true), "responses": enroll_responses}},
            "/api/v1/gallery/photos/{id}": {"get": {"summary": "Thumbnail of an enrolled photo (the `photo` URL of a prediction)",
                "description": "A JPEG of at most 320 px made when the photo was enrolled; the original is not kept. Ids may change when the server restarts.",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": {"description": "The thumbnail.", "content": {"image/jpeg": {}}},
                              "404": ok("No such photo, or it has no thumbnail.", json!({"$ref": "#/components/schemas/Error"}))}}},
            "/api/v1/thumbnails/{label}": {"get": {"summary": "The catalog's photo of a label (the `thumbnail` URL of a prediction)",
                "parameters": [{"name": "label", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The catalog photo (at most 5 MB read).", "content": {"image/*": {}}},
                              "404": ok("No catalog photo for this label.", json!({"$ref": "#/components/schemas/Error"}))}}},
            "/api/v1/model": {"get": {"summary": "Labels, input size, run id, the thresholds in force and the gallery",
                "responses": {"200": ok("The model.", json!({"type": "object", "properties": {
                    "kind": {"type": "string", "enum": ["imagenet", "trained"]}, "name": {"type": "string"},
                    "run_id": {"type": "string", "nullable": true}, "created": {"type": "string", "nullable": true},
                    "input_size": {"type": "integer"}, "labels": {"type": "array", "items": {"type": "string"}},
                    "products": {"type": "integer"}, "max_batch": {"type": "integer"}, "thresholds": thresholds(),
                    "ready": {"type": "boolean"}, "gallery": {"type": "object", "properties": {
                        "photos": {"type": "integer"}, "labels": {"type": "integer"}, "enrollment": {"type": "boolean"}}}}}))}}},
            "/v2/health/live": {"get": {"summary": "Open Inference Protocol liveness",
                "responses": {"200": ok("The process answers.", json!({"type": "object"}))}}},
            "/v2/health/ready": {"get": {"summary": "Open Inference Protocol readiness",
                "responses": {"200": ok("Model loaded and warmed up.", json!({"type": "object"})),
                              "503": ok("Still loading.", json!({"type": "object"}))}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                "responses": {"200": {"description": "OpenMetrics text.", "content": {"application/openmetrics-text": {}}}}}},
            "/api/openapi.json": {"get": {"summary": "This document",
                "responses": {"200": ok("OpenAPI 3.0 document.", json!({"type": "object"}))}}}
        },
        "components": {"schemas": schemas()}
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_path_is_documented_with_its_method() {
        let spec = spec();
        let paths = spec["paths"].as_object().expect("paths is an object");
        assert_eq!(paths.len(), PATHS.len());
        for (method, path) in PATHS {
            assert!(spec["paths"][path][method].is_object(), "{method} {path} missing");
        }
    }
}
