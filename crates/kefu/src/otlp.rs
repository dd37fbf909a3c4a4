//! Traces to an OpenTelemetry collector over OTLP/HTTP (JSON encoding),
//! when `otlp_endpoint` (`KEFU_OTLP_ENDPOINT`) is set; with it unset this
//! layer is not installed at all.
//!
//! Spans are the `tracing` spans Kefu already has — the HTTP request (with
//! its route template, status, request and workspace ids), WebSocket frames,
//! service calls, outbound calls to the model and the embeddings endpoint —
//! plus one client span per database statement, made from the driver's
//! statement events (their duration is known when the event fires). An
//! incoming W3C `traceparent` header continues the caller's trace; the
//! request span's `trace_id` field also appears in every log line, so logs
//! and traces join on it.
//!
//! Export never blocks a request: finished spans go through a bounded queue
//! to one exporter thread, which posts batches to `<endpoint>/v1/traces`;
//! when the queue is full spans are dropped and counted.
//!
//! Hand-written on purpose: the OpenTelemetry SDK and its exporter would add
//! a protobuf and gRPC stack to the build for what is a few hundred lines
//! of JSON.

use kefu_ai::mask::mask_pii;
use kefu_http::trace::{is_hex, random_span_id, random_trace_id};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Finished spans waiting for the exporter, at most.
const QUEUE: usize = 4096;
/// Spans per request to the collector, at most.
const BATCH: usize = 512;
/// How long a finished span may wait for its batch to be sent.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A span being recorded (kept in the span's extensions).
struct SpanData {
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    name: String,
    kind: u8,
    start: u64,
    attributes: Vec<(String, Value)>,
    events: Vec<Value>,
    error: bool,
}

impl SpanData {
    fn finish(self, end: u64) -> Value {
        let mut span = json!({
            "traceId": self.trace_id,
            "spanId": self.span_id,
            "name": self.name,
            "kind": self.kind,
            "startTimeUnixNano": self.start.to_string(),
            "endTimeUnixNano": end.to_string(),
            "attributes": self.attributes.into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
            "events": self.events,
            "status": {"code": if self.error { 2 } else { 0 }},
        });
        if let Some(p) = self.parent_span_id {
            span["parentSpanId"] = Value::String(p);
        }
        span
    }
}

/// OTLP `AnyValue`. Text is masked for personal data, as log lines are:
/// traces leave the process too.
fn any(v: Value) -> Value {
    match v {
        Value::Bool(b) => json!({"boolValue": b}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"intValue": n.to_string()}),
        Value::Number(n) => json!({"doubleValue": n.as_f64()}),
        Value::String(s) => json!({"stringValue": mask_pii(&s)}),
        other => json!({"stringValue": mask_pii(&other.to_string())}),
    }
}

/// Field names as OpenTelemetry's semantic conventions spell them.
fn attribute_name(field: &str) -> &str {
    match field {
        "route" => "http.route",
        "method" => "http.request.method",
        "status" => "http.response.status_code",
        other => other,
    }
}

/// Collects a span's or event's fields.
#[derive(Default)]
struct Fields {
    values: Vec<(String, Value)>,
    message: Option<String>,
}

impl Fields {
    fn put(&mut self, field: &Field, v: Value) {
        match field.name() {
            "message" => {
                self.message = Some(v.as_str().map_or_else(|| v.to_string(), str::to_string))
            }
            name => self.values.push((name.to_string(), v)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, json!(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, json!(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

/// The `tracing` layer: builds spans, hands finished ones to the exporter.
pub struct OtlpLayer {
    queue: SyncSender<Value>,
    dropped: Arc<AtomicU64>,
}

/// Flushes what is queued when dropped (at the end of `kefu serve`).
pub struct OtlpGuard {
    stop: Option<SyncSender<Value>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        // Closing our sender is not enough (the layer holds one): an
        // explicit `null` tells the exporter to flush and stop.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(Value::Null);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The layer and its exporter thread, posting to `endpoint` (an OTLP/HTTP
/// base URL such as `http://collector:4318`).
pub fn layer(endpoint: &str) -> (OtlpLayer, OtlpGuard) {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let d = dropped.clone();
    let thread = std::thread::Builder::new()
        .name("kefu-otlp".into())
        .spawn(move || export(&url, rx, &d))
        .ok();
    (
        OtlpLayer {
            queue: tx.clone(),
            dropped,
        },
        OtlpGuard {
            stop: Some(tx),
            thread,
        },
    )
}

fn export(url: &str, rx: Receiver<Value>, dropped: &AtomicU64) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let instance = random_span_id();
    // What the messages below may say of the collector: no credentials.
    let shown = crate::config::redact_url(url);
    let mut batch = Vec::with_capacity(BATCH);
    // When the oldest span of the batch must be on its way.
    let mut due: Option<Instant> = None;
    let mut last_complaint: Option<Instant> = None;
    let mut stopping = false;
    while !stopping {
        let wait = due.map_or(FLUSH_EVERY, |d| d.saturating_duration_since(Instant::now()));
        match rx.recv_timeout(wait) {
            Ok(Value::Null) | Err(RecvTimeoutError::Disconnected) => stopping = true,
            Ok(span) => {
                batch.push(span);
                let d = *due.get_or_insert_with(|| Instant::now() + FLUSH_EVERY);
                if batch.len() < BATCH && Instant::now() < d {
                    continue;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        due = None;
        if batch.is_empty() {
            continue;
        }
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "kefu"}},
                {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
                {"key": "service.instance.id", "value": {"stringValue": instance}},
            ]},
            "scopeSpans": [{"scope": {"name": "kefu"}, "spans": std::mem::take(&mut batch)}],
        }]});
        // Inside the runtime: the request's timeout needs its timer.
        let sent = rt.block_on(async { client.post(url).json(&body).send().await });
        let problem = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the collector at {shown} answered {}", r.status())),
            // `without_url`: the error would repeat the URL, credentials and all.
            Err(e) => Some(format!(
                "cannot reach the collector at {shown}: {}",
                e.without_url()
            )),
        };
        let lost = dropped.swap(0, Ordering::Relaxed);
        // Logging from here would trace the exporter itself: stderr, at
        // most once a minute while the collector is away.
        if let Some(p) = problem {
            if last_complaint.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                eprintln!("otlp: {p} (spans of this batch are lost)");
                last_complaint = Some(Instant::now());
            }
        }
        if lost > 0 {
            eprintln!("otlp: {lost} span(s) dropped (the export queue was full)");
        }
    }
}

impl OtlpLayer {
    fn send(&self, span: Value) {
        if let Err(TrySendError::Full(_)) = self.queue.try_send(span) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut f = Fields::default();
        attrs.record(&mut f);
        if f.values
            .iter()
            .any(|(k, v)| k == "probe" && v == &Value::Bool(true))
        {
            return;
        }
        let parent = match span.parent() {
            // Under a span that is not traced (a probe): not traced either.
            Some(p) => match p.extensions().get::<SpanData>() {
                Some(d) => Some((d.trace_id.clone(), d.span_id.clone())),
                None => return,
            },
            None => None,
        };
        // A root span continues the trace its fields name (the request
        // span's, from `traceparent`), or starts one.
        let field = |name: &str| {
            f.values
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.as_str().map(str::to_string))
        };
        let (trace_id, parent_span_id) = match parent {
            Some((t, p)) => (t, Some(p)),
            None => (
                field("trace_id")
                    .filter(|t| is_hex(t, 32))
                    .unwrap_or_else(random_trace_id),
                field("parent_span_id").filter(|p| is_hex(p, 16)),
            ),
        };
        let meta = span.metadata();
        let kind = match meta.name() {
            "request" => 2,
            n if n.starts_with("llm.") || n.starts_with("embeddings.") => 3,
            _ => 1,
        };
        let attributes = f
            .values
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "trace_id" | "parent_span_id" | "probe"))
            .map(|(k, v)| (attribute_name(&k).to_string(), any(v)))
            .collect();
        span.extensions_mut().insert(SpanData {
            trace_id,
            span_id: random_span_id(),
            parent_span_id,
            name: meta.name().to_string(),
            kind,
            start: now_nanos(),
            attributes,
            events: Vec::new(),
            error: false,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut f = Fields::default();
        values.record(&mut f);
        let mut ext = span.extensions_mut();
        let Some(data) = ext.get_mut::<SpanData>() else {
            return;
        };
        for (k, v) in f.values {
            if k == "status" && v.as_u64().is_some_and(|s| s >= 500) {
                data.error = true;
            }
            if k != "trace_id" && k != "parent_span_id" {
                data.attributes
                    .push((attribute_name(&k).to_string(), any(v)));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut f = Fields::default();
        event.record(&mut f);
        let parent = ctx.event_span(event);
        if meta.target() == "sqlx::query" {
            // A statement: its own client span, ending now.
            let elapsed = f
                .values
                .iter()
                .find(|(k, _)| k == "elapsed_secs")
                .and_then(|(_, v)| v.as_f64());
            let (Some(elapsed), Some(parent)) = (elapsed, parent) else {
                return;
            };
            let ids = parent
                .extensions()
                .get::<SpanData>()
                .map(|d| (d.trace_id.clone(), d.span_id.clone()));
            let Some((trace_id, parent_span_id)) = ids else {
                return;
            };
            let summary = f
                .values
                .iter()
                .find(|(k, _)| k == "summary")
                .and_then(|(_, v)| v.as_str())
                .unwrap_or("");
            let end = now_nanos();
            let span = SpanData {
                trace_id,
                span_id: random_span_id(),
                parent_span_id: Some(parent_span_id),
                name: "db.query".into(),
                kind: 3,
                start: end.saturating_sub((elapsed * 1e9) as u64),
                attributes: vec![
                    (
                        "db.operation.name".into(),
                        any(json!(kefu_http::metrics::statement_op(summary))),
                    ),
                    ("db.query.summary".into(), any(json!(summary))),
                ],
                events: Vec::new(),
                error: false,
            };
            self.send(span.finish(end));
            return;
        }
        // Warnings and errors are recorded on the span they happened in.
        if *meta.level() > tracing::Level::WARN {
            return;
        }
        let Some(parent) = parent else { return };
        let mut ext = parent.extensions_mut();
        let Some(data) = ext.get_mut::<SpanData>() else {
            return;
        };
        if *meta.level() == tracing::Level::ERROR {
            data.error = true;
        }
        let attributes: Vec<Value> = f
            .values
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": any(v)}))
            .collect();
        data.events.push(json!({
            "timeUnixNano": now_nanos().to_string(),
            "name": mask_pii(&f.message.unwrap_or_else(|| meta.name().to_string())),
            "attributes": attributes,
        }));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let data = span.extensions_mut().remove::<SpanData>();
        if let Some(data) = data {
            self.send(data.finish(now_nanos()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// The layer wired to a queue the test reads instead of an exporter.
    fn capture(f: impl FnOnce()) -> Vec<Value> {
        let (tx, rx) = mpsc::sync_channel(64);
        let layer = OtlpLayer {
            queue: tx,
            dropped: Arc::default(),
        };
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        rx.try_iter().collect()
    }

    #[test]
    fn spans_nest_continue_a_trace_and_carry_no_personal_data() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let spans = capture(|| {
            let request = tracing::info_span!(
                "request",
                trace_id = trace,
                parent_span_id = "00f067aa0ba902b7",
                route = "/api/v1/me",
                status = tracing::field::Empty,
                contact = "wang@example.cn",
            );
            let _r = request.enter();
            request.record("status", 503_u64);
            let inner = tracing::info_span!("bot.ask");
            let _i = inner.enter();
            tracing::warn!(phone = "13812345678", "visitor 13912345678 waited");
        });
        assert_eq!(spans.len(), 2, "{spans:?}");
        let (inner, request) = (&spans[0], &spans[1]);
        assert_eq!(request["traceId"], trace);
        assert_eq!(request["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(request["kind"], 2);
        assert_eq!(request["status"]["code"], 2, "a 5xx is an error");
        assert_eq!(inner["traceId"], trace);
        assert_eq!(inner["parentSpanId"], request["spanId"]);
        let text = serde_json::to_string(&spans).unwrap();
        for secret in ["wang@example.cn", "13812345678", "13912345678"] {
            assert!(!text.contains(secret), "{secret} exported: {text}");
        }
        assert!(
            text.contains("[email]") && text.contains("[phone]"),
            "{text}"
        );
        assert!(text.contains("\"http.route\""), "{text}");
    }

    #[test]
    fn probes_are_not_traced() {
        let spans = capture(|| {
            let probe = tracing::info_span!("request", route = "/readyz", probe = true);
            let _p = probe.enter();
            let _inner = tracing::info_span!("inner").entered();
            tracing::debug!(target: "sqlx::query", summary = "SELECT 1", elapsed_secs = 0.001);
        });
        assert!(spans.is_empty(), "{spans:?}");
    }
}
