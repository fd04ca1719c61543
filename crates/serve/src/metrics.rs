//! Prometheus metrics for `GET /metrics`: requests and latency by route and status, the
//! inference queue depth and the sizes and durations of network batches.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the per-request metrics. `route` is the matched route template (e.g.
/// `/api/v1/identify`), never the raw path, so scanners cannot blow up the label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    queue_depth: Gauge,
    batch_size: Histogram,
    batch_seconds: Histogram,
}

/// Shared handle to the server's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

fn latency_histogram() -> Histogram {
    // 1 ms .. ~33 s
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sneaker_id");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register("http_request_duration_seconds", "Time from request to response headers", latency.clone());
        let queue_depth = Gauge::default();
        registry.register(
            "inference_queue_depth",
            "Requests waiting for the network when the last batch started",
            queue_depth.clone(),
        );
        let batch_size = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
        registry.register("inference_batch_size", "Images per network call", batch_size.clone());
        let batch_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register("inference_batch_duration_seconds", "Duration of one network call", batch_seconds.clone());
        Metrics(Arc::new(Inner { registry, requests, latency, queue_depth, batch_size, batch_seconds }))
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let labels = RequestLabels { route: route.to_owned(), method: method.to_owned(), status };
        self.0.requests.get_or_create(&labels).inc();
        self.0.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn set_queue_depth(&self, depth: usize) {
        self.0.queue_depth.set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    pub fn observe_batch(&self, size: usize, elapsed: Duration) {
        self.0.batch_size.observe(size as f64);
        self.0.batch_seconds.observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition (which Prometheus scrapes as its text format).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        prometheus_client::encoding::text::encode(&mut out, &self.0.registry)
            .expect("encoding metrics into a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_requests_by_route_and_status_and_batches() {
        let metrics = Metrics::new();
        metrics.observe_request("/api/v1/identify", "POST", 200, Duration::from_millis(12));
        metrics.observe_request("/api/v1/identify", "POST", 200, Duration::from_millis(30));
        metrics.observe_request("/api/v1/identify", "POST", 415, Duration::from_millis(1));
        metrics.observe_batch(8, Duration::from_millis(80));
        metrics.set_queue_depth(3);
        let text = metrics.render();
        assert!(
            text.contains(r#"sneaker_id_http_requests_total{route="/api/v1/identify",method="POST",status="200"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"status="415"} 1"#), "{text}");
        assert!(text.contains("sneaker_id_inference_queue_depth 3"), "{text}");
        assert!(text.contains("sneaker_id_inference_batch_size_count 1"), "{text}");
        assert!(text.contains("sneaker_id_http_request_duration_seconds_bucket"), "{text}");
    }
}
