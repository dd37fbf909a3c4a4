//! Assembles the application: routes, OpenAPI document and middleware.

use crate::metrics::Metrics;
use crate::middleware as mw;
use crate::routes;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::Router;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

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
