//! Prometheus metrics of the HTTP layer. Labels use the route *template*
//! (`/api/v1/workspaces/{workspace_id}/members`), never the raw path, so the
//! number of series stays bounded whatever the traffic.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
    pub store: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `visitor` or `agent`.
    pub kind: String,
}

pub struct Metrics {
    registry: Registry,
    /// Open WebSocket sessions, by kind.
    pub ws_sessions: Family<KindLabels, Gauge>,
    /// Frames sent to sockets, by kind.
    pub ws_frames_out: Family<KindLabels, Counter>,
    /// Sockets closed because they stopped reading (slow consumers).
    pub ws_slow_closed: Family<KindLabels, Counter>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpLabels, Histogram>,
    pub http_in_flight: Gauge,
    pub rate_limited: Family<ReasonLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    pub fn new(version: &str, backend: &str) -> Self {
        let mut registry = Registry::with_prefix("kefu");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let http_in_flight = Gauge::default();
        let rate_limited = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by method, route template and status",
            http_duration.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being served now",
            http_in_flight.clone(),
        );
        registry.register(
            "rate_limited_requests",
            "Requests refused by a rate limit, by reason",
            rate_limited.clone(),
        );
        let ws_sessions = Family::<KindLabels, Gauge>::default();
        let ws_frames_out = Family::<KindLabels, Counter>::default();
        let ws_slow_closed = Family::<KindLabels, Counter>::default();
        registry.register(
            "ws_sessions",
            "Open WebSocket sessions on this replica, by kind (visitor, agent)",
            ws_sessions.clone(),
        );
        registry.register(
            "ws_frames_sent",
            "Frames sent to WebSocket clients, by kind",
            ws_frames_out.clone(),
        );
        registry.register(
            "ws_slow_consumer_closes",
            "Sockets closed because they did not take a frame within the send deadline",
            ws_slow_closed.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: version.to_string(),
                store: backend.to_string(),
            })
            .set(1);
        registry.register("build_info", "Build information (always 1)", build);
        Self {
            registry,
            ws_sessions,
            ws_frames_out,
            ws_slow_closed,
            http_requests,
            http_duration,
            http_in_flight,
            rate_limited,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
