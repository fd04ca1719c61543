//! Getting photo bytes out of a request: a multipart form (`image` fields) or a raw image body,
//! never reading more than the body limit.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};

use crate::error::{Result, ServeError};

/// One uploaded file: a name for messages and its bytes.
#[derive(Debug)]
pub struct Upload {
    pub name: String,
    pub bytes: Bytes,
}

/// Multipart field names taken as photos.
const IMAGE_FIELDS: [&str; 2] = ["image", "images"];

/// Reads the photos of `request`: every `image`/`images` field of a multipart form, or the raw
/// body as one photo. `max_files` bounds how many a multipart form may carry.
pub async fn read_uploads(request: Request, limit: usize, max_files: usize) -> Result<Vec<Upload>> {
    if let Some(length) =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
    {
        // Refuse before reading a byte when the client announces too much.
        if length > limit as u64 {
            return Err(ServeError::BodyTooLarge { limit });
        }
    }
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if is_multipart {
        read_multipart(request, limit, max_files).await
    } else {
        let bytes = read_body(request.into_body(), limit).await?;
        Ok(vec![Upload { name: "upload".to_owned(), bytes }])
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // `to_bytes` reports the limit through a `LengthLimitError` source; anything else is
        // a broken connection.
        if is_length_limit(&e) {
            ServeError::BodyTooLarge { limit }
        } else {
            ServeError::BadRequest(format!("could not read the request body: {e}"))
        }
    })
}

fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

async fn read_multipart(request: Request, limit: usize, max_files: usize) -> Result<Vec<Upload>> {
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| ServeError::BadRequest(format!("bad multipart form: {}", e.body_text())))?;
    let mut uploads = Vec::new();
    let mut total = 0usize;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e, limit)),
        };
        let wanted = field.name().is_some_and(|n| IMAGE_FIELDS.contains(&n));
        let name = field.file_name().unwrap_or("upload").to_owned();
        // Other fields are read and dropped: a form may carry extra inputs.
        let bytes = field.bytes().await.map_err(|e| multipart_error(e, limit))?;
        total = total.saturating_add(bytes.len());
        if total > limit {
            return Err(ServeError::BodyTooLarge { limit });
        }
        if wanted {
            if uploads.len() == max_files {
                return Err(ServeError::BadRequest(format!("more than {max_files} photos in one request")));
            }
            uploads.push(Upload { name: sanitise_name(&name), bytes });
        }
    }
    if uploads.is_empty() {
        return Err(ServeError::BadRequest(
            "the form has no `image` field: send the photo as multipart field `image` or as the raw body".into(),
        ));
    }
    Ok(uploads)
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: usize) -> ServeError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ServeError::BodyTooLarge { limit }
    } else {
        ServeError::BadRequest(format!("bad multipart form: {}", e.body_text()))
    }
}

/// File names come from the client: keep them short and printable before they reach messages
/// and logs.
fn sanitise_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(120).collect();
    if clean.trim().is_empty() { "upload".to_owned() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multipart(parts: &[(&str, &str, &[u8])]) -> Request {
        let (content_type, body) = sneaker_test_support::multipart(parts);
        Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("valid request")
    }

    #[tokio::test]
    async fn multipart_image_fields_are_taken_in_order_and_others_ignored() {
        let request = multipart(&[("image", "a.jpg", b"AAA"), ("note", "x", b"zz"), ("image", "b.png", b"BB")]);
        let uploads = read_uploads(request, 1000, 8).await.expect("valid form");
        let names: Vec<_> = uploads.iter().map(|u| (u.name.as_str(), u.bytes.len())).collect();
        assert_eq!(names, [("a.jpg", 3), ("b.png", 2)]);
    }

    #[tokio::test]
    async fn raw_body_over_the_limit_is_413_even_without_content_length() {
        let request = Request::builder().method("POST").body(Body::from(vec![0u8; 2000])).expect("valid request");
        let err = read_uploads(request, 1000, 8).await.expect_err("over the limit");
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn form_without_image_field_says_what_to_send() {
        let request = multipart(&[("photo", "a.jpg", b"AAA")]);
        let err = read_uploads(request, 1000, 8).await.expect_err("no image field");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains("`image`"), "{err}");
    }

    #[tokio::test]
    async fn too_many_files_are_refused() {
        let request = multipart(&[("image", "a", b"1"), ("image", "b", b"2"), ("image", "c", b"3")]);
        let err = read_uploads(request, 1000, 2).await.expect_err("3 > 2");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
