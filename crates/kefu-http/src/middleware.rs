//! Cross-cutting request handling, outermost first:
//! request id → observe (span, log line, metrics) → security headers →
//! error envelope → rate limit → timeout → routes (tagged with their template).

use crate::error::ApiError;
use crate::extract::client_ip;
use crate::metrics::{HttpLabels, ReasonLabels};
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The route template a request matched, carried out on the response.
#[derive(Debug, Clone)]
pub struct RouteTemplate(pub String);

/// Standard methods by name; anything invented by a client is `OTHER`, so
/// the label cannot grow without bound.
fn metric_method(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// A caller-supplied `x-request-id` is kept only when it is short and plain
/// (at most 128 visible ASCII characters); anything else is replaced by a
/// fresh id, so the header cannot be used to bloat or forge log lines.
pub async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let bad = req.headers().get("x-request-id").is_some_and(|v| {
        let b = v.as_bytes();
        b.is_empty() || b.len() > 128 || !b.iter().all(|c| c.is_ascii_graphic())
    });
    if bad {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

/// Root span per request (request id, method, route, workspace id — filled
/// in as they become known), one completion log line, and the RED metrics.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let method_label = metric_method(&method);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let probe = is_probe(req.uri().path());
    // W3C trace context: continue the caller's trace, or start one; the
    // id is in every log line of the request (and its exported spans).
    let (trace_id, parent_span_id) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::trace::parse_traceparent)
        .map_or_else(
            || (crate::trace::random_trace_id(), None),
            |(t, p)| (t, Some(p)),
        );
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        trace_id = %trace_id,
        parent_span_id = parent_span_id,
        method = %method,
        route = tracing::field::Empty,
        workspace_id = tracing::field::Empty,
        status = tracing::field::Empty,
        // Health checks and scrapes: logged at debug, never traced.
        probe = probe,
    );
    state.metrics.http_in_flight.inc();
    let res = next.run(req).instrument(span.clone()).await;
    state.metrics.http_in_flight.dec();
    let route = res
        .extensions()
        .get::<RouteTemplate>()
        .map_or_else(|| "unmatched".to_string(), |r| r.0.clone());
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let labels = HttpLabels {
        method: method_label.to_string(),
        route,
        status: status.to_string(),
    };
    state.metrics.http_requests.get_or_create(&labels).inc();
    state
        .metrics
        .http_duration
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    span.record("status", status);
    let _enter = span.enter();
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if probe {
        tracing::debug!(status, latency_ms, "request completed");
    } else if status >= 500 {
        tracing::warn!(status, latency_ms, "request failed");
    } else {
        tracing::info!(status, latency_ms, "request completed");
    }
    res
}

/// Runs inside the router: records the matched template into the request
/// span and hands it to `observe` on the response.
pub async fn tag_route(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let template = matched.map(|m| m.as_str().to_string());
    if let Some(t) = &template {
        tracing::Span::current().record("route", t.as_str());
    }
    let mut res = next.run(req).await;
    if let Some(t) = template {
        res.extensions_mut().insert(RouteTemplate(t));
    }
    res
}

/// Any error answered without a JSON body (unknown route, wrong method,
/// a layer's refusal) gets the standard envelope.
pub async fn envelope(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let (parts, _) = res.into_parts();
        let mut fresh = ApiError::from_status(status).into_response();
        for name in [header::ALLOW, header::RETRY_AFTER] {
            if let Some(v) = parts.headers.get(&name) {
                fresh.headers_mut().insert(name, v.clone());
            }
        }
        fresh.extensions_mut().extend(parts.extensions);
        return fresh;
    }
    res
}

pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Bulk knowledge work (a 64 MiB import, a large evaluation) gets longer.
    // So do uploads, which stream up to `[attachments] max_bytes`.
    let bulk = req.uri().path().ends_with("/kb/import")
        || req.uri().path().ends_with("/kb/eval")
        || req.uri().path().ends_with("/attachments");
    let secs = if bulk {
        state.http.bulk_request_timeout_secs
    } else {
        state.http.request_timeout_secs
    };
    let limit = Duration::from_secs(secs.max(1));
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(timeout_secs = limit.as_secs(), "request timed out");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "The request took too long; try again.",
            )
            .into_response()
        }
    }
}

pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_probe(req.uri().path()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let key = client_ip(&parts, state.http.trust_proxy_headers).unwrap_or_else(|| "unknown".into());
    if let Err(retry_after) = state.limiter.take(&key).await {
        state
            .metrics
            .rate_limited
            .get_or_create(&ReasonLabels {
                reason: "ip".into(),
            })
            .inc();
        return ApiError::rate_limited(retry_after, "ip_rate").into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let https = state.http.hsts
        || (state.http.trust_proxy_headers
            && req
                .headers()
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https")));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    };
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "strict-origin-when-cross-origin");
    set(
        h,
        "content-security-policy",
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'",
    );
    set(h, "cross-origin-opener-policy", "same-origin");
    if https {
        set(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    res
}

/// A NUL (`%00`) in the path or the query string is refused before any
/// handler runs, as in JSON bodies (`extract::nul_field`): no engine stores
/// NUL in text, and it must not reach one.
pub async fn reject_nul(req: Request, next: Next) -> Response {
    let has = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    let uri = req.uri();
    let field = if has(uri.path()) {
        Some("path")
    } else if uri.query().is_some_and(has) {
        Some("query")
    } else {
        None
    };
    match field {
        Some(f) => crate::extract::nul_error(f).into_response(),
        None => next.run(req).await,
    }
}
