//! Prometheus metrics (`docs/operations/metrics.md`): the HTTP and socket
//! layer's own, the service layer's ([`ServiceMetrics`]), and what is read
//! at scrape time from the bus, the connection pool and the process.
//!
//! Labels use the route *template* (`/api/v1/workspaces/{workspace_id}/members`),
//! never the raw path, so the number of series stays bounded whatever the
//! traffic.

use kefu_domain::bus::Bus;
use kefu_domain::store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::sync::{Arc, OnceLock};

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// `select`, `insert`, `update`, `delete` or `other`.
    pub op: &'static str,
}

/// Statement latency by kind, fed by the log layer that watches the
/// database driver's statement events (one per process).
pub fn db_query_duration() -> &'static Family<OpLabels, Histogram> {
    static H: OnceLock<Family<OpLabels, Histogram>> = OnceLock::new();
    H.get_or_init(|| {
        Family::new_with_constructor(|| {
            // 100 µs … ~3 s.
            Histogram::new(exponential_buckets(0.0001, 2.0, 15))
        })
    })
}

/// The kind of a SQL statement, from its first word (a `WITH …` statement
/// may write: `other`).
pub fn statement_op(sql: &str) -> &'static str {
    let word = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    match word.to_ascii_lowercase().as_str() {
        "select" => "select",
        "insert" => "insert",
        "update" => "update",
        "delete" => "delete",
        _ => "other",
    }
}

pub struct Metrics {
    registry: Registry,
    /// The unprefixed `process_*` series and the runtime's gauges.
    process: Registry,
    /// When this replica started (Unix seconds), for both start-time series.
    started: f64,
    /// Open WebSocket sessions, by kind.
    pub ws_sessions: Family<KindLabels, Gauge>,
    /// Frames sent to sockets, by kind.
    pub ws_frames_out: Family<KindLabels, Counter>,
    /// Text frames received from sockets, by kind.
    pub ws_frames_in: Family<KindLabels, Counter>,
    /// A message's age when its frame goes out, by kind.
    pub ws_delivery: Family<KindLabels, Histogram>,
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

/// Read at every scrape: the bus's counters, the pool, the process.
struct Sampled {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    limits: Arc<dyn kefu_domain::limits::Limits>,
    started: f64,
}

impl std::fmt::Debug for Sampled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sampled")
    }
}

pub(crate) fn counter<N: prometheus_client::encoding::EncodeCounterValue + Copy + 'static>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: N,
) -> std::fmt::Result
where
    ConstCounter<N>: EncodeMetric,
{
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

pub(crate) fn gauge<N>(e: &mut DescriptorEncoder, name: &str, help: &str, v: N) -> std::fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for Sampled {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let b = self.bus.stats();
        gauge(
            &mut e,
            "bus_connected",
            "1 while the event bus is usable (always 1 in process)",
            i64::from(self.bus.healthy()),
        )?;
        counter(
            &mut e,
            "bus_published",
            "Events handed to the shared bus (Redis)",
            b.published,
        )?;
        counter(
            &mut e,
            "bus_publish_failures",
            "Events that did not reach the shared bus (clients catch up from the database)",
            b.publish_failures,
        )?;
        counter(
            &mut e,
            "bus_received",
            "Events received from other replicas",
            b.received,
        )?;
        counter(
            &mut e,
            "bus_decode_failures",
            "Events from other replicas this version could not read",
            b.decode_failures,
        )?;
        counter(
            &mut e,
            "bus_lag_seconds",
            "Publish-to-receive delay of received events, summed (divide by kefu_bus_lag_samples_total)",
            b.lag_seconds_sum,
        )?;
        counter(
            &mut e,
            "bus_lag_samples",
            "Received events that carried their publish time",
            b.lag_count,
        )?;
        counter(
            &mut e,
            "ratelimit_backend_errors",
            "Limit checks the shared backend (Redis) failed or did not answer in time; this \
             replica's own counters decided them",
            self.limits.backend_errors(),
        )?;
        let p = self.store.pool_stats();
        let fam = e.encode_descriptor(
            "db_pool_connections",
            "Pooled database connections, by state (in_use, idle)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        let mut fam = fam;
        for (state, v) in [("in_use", p.in_use()), ("idle", p.idle)] {
            let labels = [("state", state)];
            ConstGauge::new(i64::from(v)).encode(fam.encode_family(&labels)?)?;
        }
        gauge(
            &mut e,
            "db_pool_max_connections",
            "The most connections the pool may open",
            i64::from(p.max),
        )?;
        gauge(
            &mut e,
            "process_start_time_seconds",
            "Unix time this replica started",
            self.started,
        )
    }
}

impl Metrics {
    /// Every metric of this replica: the HTTP layer's, `services`' and
    /// the sampled ones.
    pub fn for_services(version: &str, services: &kefu_service::Services) -> Self {
        let mut m = Self::new(version, services.store.backend_name());
        services.metrics.register(&mut m.registry);
        m.registry.register(
            "db_query_duration_seconds",
            "Database statement latency, by kind of statement",
            db_query_duration().clone(),
        );
        m.registry.register_collector(Box::new(Sampled {
            store: services.store.clone(),
            bus: services.bus.clone(),
            limits: services.limits.clone(),
            started: m.started,
        }));
        m
    }

    /// The HTTP layer's metrics alone.
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
        let ws_frames_in = Family::<KindLabels, Counter>::default();
        let ws_delivery = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            // 1 ms … ~16 s.
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
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
            "ws_frames_received",
            "Text frames received from WebSocket clients, by kind",
            ws_frames_in.clone(),
        );
        registry.register(
            "ws_delivery_seconds",
            "A message's age when its frame is handed to a socket (store, bus, socket), by kind",
            ws_delivery.clone(),
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
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut process = Registry::default();
        process.register_collector(Box::new(crate::process_metrics::ProcessCollector {
            started,
        }));
        Self {
            registry,
            process,
            started,
            ws_sessions,
            ws_frames_out,
            ws_frames_in,
            ws_delivery,
            ws_slow_closed,
            http_requests,
            http_duration,
            http_in_flight,
            rate_limited,
        }
    }

    /// Adds metrics kept elsewhere (the backup scheduler's, say).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn encode(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.process))
            .and_then(|()| encode_eof(&mut out))
            .expect("writing to a String cannot fail");
        out
    }
}
