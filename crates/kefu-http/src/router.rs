//! Assembles the application: routes, OpenAPI document and middleware.

use crate::config::HttpConfig;
use crate::metrics::Metrics;
use crate::middleware as mw;
use crate::ratelimit::RateLimiter;
use crate::routes;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use kefu_service::Services;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub http: Arc<HttpConfig>,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<RateLimiter>,
    /// The OpenAPI document, serialised once at start.
    pub openapi_json: Arc<String>,
    /// Cancelled when the server shuts down: sockets close with a
    /// reconnect hint.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub sockets: Arc<crate::ws::SocketCounter>,
    /// Messages per visitor over all their sockets (`chat.visitor_messages_per_sec`).
    pub visitor_messages: Arc<RateLimiter>,
    /// `/metrics` is served on its own listener ([`metrics_router`]), so
    /// the main one answers it 404.
    pub metrics_elsewhere: bool,
}

impl AppState {
    pub fn new(services: Services, http: HttpConfig, metrics: Arc<Metrics>) -> Self {
        let limits = services.limits.clone();
        let visitor_messages = Arc::new(RateLimiter::new(
            crate::ratelimit::VISITOR_MESSAGES,
            &crate::config::RateLimitConfig {
                enabled: true,
                per_second: services.chat.visitor_messages_per_sec,
                burst: services.chat.visitor_message_burst,
                max_tracked: 100_000,
            },
            limits.clone(),
        ));
        let limiter = Arc::new(RateLimiter::new(
            crate::ratelimit::HTTP_IP,
            &http.rate_limit,
            limits,
        ));
        Self {
            services,
            limiter,
            http: Arc::new(http),
            metrics,
            openapi_json: Arc::new(String::new()),
            shutdown: tokio_util::sync::CancellationToken::new(),
            sockets: Arc::default(),
            visitor_messages,
            metrics_elsewhere: false,
        }
    }
}

/// `/metrics` alone, for a separate listener (`[metrics] listen`).
pub fn metrics_router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let m = metrics.clone();
            async move { crate::routes::health::metrics_response(&m) }
        }),
    )
}

/// Request ids are UUIDv7, so they sort by time in log searches.
#[derive(Clone, Copy, Debug)]
struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        uuid::Uuid::now_v7()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

pub fn build_router(mut state: AppState) -> Router {
    let (api, doc) = routes::api_router().split_for_parts();
    state.openapi_json = Arc::new(
        doc.to_pretty_json()
            .expect("the OpenAPI document serialises"),
    );
    let body_limit = state.http.body_limit_bytes;

    Router::new()
        .merge(api)
        .merge(routes::health::router())
        .merge(crate::ws::router())
        .merge(crate::assets::router())
        .fallback(|| async {
            crate::error::ApiError::from_status(axum::http::StatusCode::NOT_FOUND)
        })
        .route_layer(from_fn(mw::tag_route))
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(mw::sanitize_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuidV7))
                .layer(from_fn_with_state(state.clone(), mw::observe))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(from_fn_with_state(state.clone(), mw::security_headers))
                .layer(from_fn(mw::envelope))
                .layer(from_fn_with_state(state.clone(), mw::rate_limit))
                .layer(from_fn_with_state(state.clone(), mw::timeout))
                .layer(from_fn(mw::reject_nul))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .with_state(state)
}
