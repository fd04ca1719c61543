//! The router: routes and the middleware every request passes (timeout, metrics,
//! JSON errors for whatever axum answers by itself).

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on};
use tower_http::trace::TraceLayer;

use crate::error::ServeError;
use crate::state::AppState;
use crate::{api, gallery, openapi, page, photos};

/// The routes as declared: the router, and the API routes it serves (method, path), which the
/// OpenAPI test compares with what is documented, both ways.
pub(crate) struct Routes {
    router: Router<AppState>,
    pub(crate) api: Vec<(String, &'static str)>,
}

impl Routes {
    /// A route of the page itself (HTML, its assets), not part of the documented API.
    fn page<H: Handler<T, AppState>, T: 'static>(mut self, path: &'static str, handler: H) -> Routes {
        self.router = self.router.route(path, get(handler));
        self
    }

    fn api<H: Handler<T, AppState>, T: 'static>(mut self, method: Method, path: &'static str, handler: H) -> Routes {
        let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
        self.router = self.router.route(path, on(filter, handler));
        self.api.push((method.as_str().to_ascii_lowercase(), path));
        self
    }
}

pub(crate) fn routes() -> Routes {
    Routes { router: Router::new(), api: Vec::new() }
        .page("/", page::index)
        .page("/assets/{file}", page::asset)
        .page("/favicon.ico", page::favicon)
        .api(Method::POST, "/api/v1/identify", api::identify)
        .api(Method::POST, "/api/v1/identify/batch", api::identify_batch)
        .api(Method::GET, "/api/v1/model", api::model)
        .api(Method::POST, "/api/v1/gallery/products", gallery::enroll)
        .api(Method::GET, "/api/v1/gallery/photos/{id}", photos::photo)
        .api(Method::GET, "/api/v1/thumbnails/{label}", page::thumbnail)
        .api(Method::GET, "/api/openapi.json", openapi::document)
        .api(Method::GET, "/v2/health/live", api::live)
        .api(Method::GET, "/v2/health/ready", api::ready)
        .api(Method::GET, "/metrics", api::metrics)
}

/// All routes with their middleware.
pub fn router(state: AppState) -> Router {
    routes()
        .router
        .fallback(not_found)
        // Multipart reads honour this; raw bodies are bounded in `upload` with the same value.
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_answer)
                .on_failure(()),
        )
        .with_state(state)
}

/// The span of one request (target `access`): its method and route, and the network batch its
/// photos went through, recorded by the identify handlers.
fn request_span(request: &Request) -> tracing::Span {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    tracing::info_span!(target: "access", "request", method = %request.method(), route = %route, batch_size = tracing::field::Empty)
}

/// One line per request, as it is answered: status and latency, inside the request's span.
fn log_answer(response: &Response, latency: std::time::Duration, _span: &tracing::Span) {
    let latency_ms = (latency.as_secs_f64() * 1e5).round() / 100.0;
    tracing::info!(target: "access", status = response.status().as_u16(), latency_ms, "answered");
}

async fn not_found(request: Request) -> ServeError {
    ServeError::NotFound(format!("no route for {} {}", request.method(), request.uri().path()))
}

/// Whole-request deadline, upload included, so a slow client cannot hold a slot forever.
async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.config.request_timeout();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ServeError::Timeout(limit.as_secs()).into_response(),
    }
}

/// Answers axum produces by itself (405, a rejected extractor) come without a JSON body;
/// give them one so every error a client sees has the same shape.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let message = status.canonical_reason().unwrap_or("error").to_owned();
    let kind = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let body = serde_json::json!({ "error": message, "kind": kind }).to_string();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

/// Counts every answer by route template and status.
async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    state.metrics.observe_request(&route, &method, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_served_are_the_routes_documented() {
        let served: std::collections::BTreeSet<(String, String)> =
            routes().api.into_iter().map(|(m, p)| (m, p.to_owned())).collect();
        let documented = crate::openapi::PATHS.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
        assert_eq!(served, documented, "served (left) and documented (right) API routes differ");
    }
}
