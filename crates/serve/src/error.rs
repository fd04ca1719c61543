//! The one error type of the web app, mapped to HTTP status codes and the JSON error body in one
//! place, so every route answers failures the same way.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sneaker_vision::VisionError;

/// Why a request could not be answered. Client errors carry a message meant for the user;
/// server errors are logged in full and answered with a generic message.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request is malformed: missing `image` field, bad query value, unknown route.
    #[error("{0}")]
    BadRequest(String),
    /// No route answers this path.
    #[error("{0}")]
    NotFound(String),
    /// A protected route (enrolment) without the right token.
    #[error("{0}")]
    Unauthorized(String),
    /// A route switched off in this server's configuration.
    #[error("{0}")]
    Forbidden(String),
    /// The body is bigger than the configured limit.
    #[error("the upload is larger than the {limit} byte limit")]
    BodyTooLarge { limit: usize },
    /// The bytes are not a usable image (empty, unsupported, corrupt, too many pixels).
    #[error(transparent)]
    Image(#[from] VisionError),
    /// The inference queue is full: the client should retry a little later.
    #[error("the server is busy ({queued} photos waiting); retry in {retry_after_s} s")]
    Overloaded { queued: usize, retry_after_s: u64 },
    /// The network is still loading or warming up.
    #[error("the model is still loading; retry shortly")]
    NotReady,
    /// The request took longer than the configured timeout.
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    /// Anything that is our fault: ONNX Runtime failed, the inference thread died.
    #[error("{0}")]
    Internal(String),
    /// A configuration or start-up problem (bad `--model` folder, port in use).
    #[error("{0}")]
    Setup(String),
}

/// `Result` with [`ServeError`].
pub type Result<T> = std::result::Result<T, ServeError>;

/// The JSON body of every error answer.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub kind: String,
}

impl ServeError {
    /// HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServeError::NotFound(_) => StatusCode::NOT_FOUND,
            ServeError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServeError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServeError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::Image(e) => match e {
                VisionError::UnsupportedFormat { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                // Empty, corrupt, too many pixels: the request was understood but the content
                // cannot be processed. (`Io` cannot happen for bytes already in memory.)
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            ServeError::Overloaded { .. } | ServeError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ServeError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ServeError::Internal(_) | ServeError::Setup(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable short code for the `kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            ServeError::BadRequest(_) => "bad_request",
            ServeError::NotFound(_) => "not_found",
            ServeError::Unauthorized(_) => "unauthorized",
            ServeError::Forbidden(_) => "forbidden",
            ServeError::BodyTooLarge { .. } => "too_large",
            ServeError::Image(e) => e.kind(),
            ServeError::Overloaded { .. } => "overloaded",
            ServeError::NotReady => "not_ready",
            ServeError::Timeout(_) => "timeout",
            ServeError::Internal(_) | ServeError::Setup(_) => "internal",
        }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() && !matches!(status, StatusCode::SERVICE_UNAVAILABLE) {
            // Clients never see internals; the operator finds them in the log.
            tracing::error!(error = %self, "request failed");
            "internal error; the server log has the details".to_owned()
        } else {
            self.to_string()
        };
        let body = ErrorBody { error: message, kind: self.kind().to_owned() };
        let mut response = (status, Json(body)).into_response();
        if let ServeError::Overloaded { retry_after_s, .. } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
        }
        if let ServeError::NotReady = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_errors_map_to_4xx_with_the_vision_kind() {
        let cases = [
            (VisionError::Empty { name: "a".into() }, 422, "empty"),
            (VisionError::UnsupportedFormat { name: "a".into(), detail: "x".into() }, 415, "unsupported_format"),
            (VisionError::Corrupt { name: "a".into(), detail: "x".into() }, 422, "corrupt"),
            (VisionError::TooLarge { name: "a".into(), detail: "x".into() }, 422, "too_large"),
        ];
        for (err, status, kind) in cases {
            let err = ServeError::from(err);
            assert_eq!(err.status().as_u16(), status);
            assert_eq!(err.kind(), kind);
        }
    }

    #[test]
    fn overload_answers_503_with_retry_after() {
        let response = ServeError::Overloaded { queued: 3, retry_after_s: 2 }.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[tokio::test]
    async fn internal_errors_do_not_leak_details() {
        let response = ServeError::Internal("ort: /secret/path failed".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 10_000).await.expect("body");
        let body: ErrorBody = serde_json::from_slice(&body).expect("JSON error body");
        assert_eq!(body.kind, "internal");
        assert!(!body.error.contains("secret"), "{}", body.error);
    }
}
