//! `/healthz` (alive), `/readyz` (database reachable and migrated),
//! `/metrics` (Prometheus text) and `/api/v1/openapi.json`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

pub fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    let h = state.services.store.health().await;
    let database = if h.reachable && h.migrations_applied && h.keys_ready {
        "ok"
    } else if h.reachable && h.migrations_applied {
        // The key-encryption key does not open the database's keys.
        "keys_unavailable"
    } else if h.reachable {
        "migrations_pending"
    } else {
        "unreachable"
    };
    if let Some(detail) = &h.detail {
        tracing::warn!(detail = %detail, "readiness check failed");
    }
    let bus = if state.services.bus.healthy() {
        "ok"
    } else {
        "unavailable"
    };
    let checks = json!({ "database": database, "bus": bus });
    if database == "ok" && bus == "ok" {
        (
            StatusCode::OK,
            Json(json!({ "status": "ok", "checks": checks })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "checks": checks })),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    if state.metrics_elsewhere {
        return crate::ApiError::not_found().into_response();
    }
    metrics_response(&state.metrics)
}

pub(crate) fn metrics_response(m: &crate::metrics::Metrics) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

/// The OpenAPI 3 document of every `/api/v1` route.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
async fn openapi_json(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.as_str().to_string(),
    )
        .into_response()
}
