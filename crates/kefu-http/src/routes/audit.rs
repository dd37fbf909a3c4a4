//! `GET …/audit-log`: the workspace's audit entries, newest first.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryDto {
    pub id: Uuid,
    pub seq: i64,
    /// `user`, `api_token` or `system`.
    pub actor_kind: String,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageDto {
    pub items: Vec<AuditEntryDto>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/audit-log", tag = "audit",
    params(("workspace_id" = Uuid, Path), AuditQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AuditPageDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn audit_log(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPageDto>> {
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Invalid cursor.",
            )
            .with_details(serde_json::json!({ "fields": { "cursor": "invalid" } }))
        })?),
    };
    let page = state
        .services
        .audit_log(&a, before, q.limit.unwrap_or(50))
        .await?;
    Ok(Json(AuditPageDto {
        items: page
            .entries
            .into_iter()
            .map(|e| AuditEntryDto {
                id: e.id.0,
                seq: e.seq,
                actor_kind: e.actor_kind.as_str().to_string(),
                actor_id: e.actor_id,
                action: e.action,
                target_type: e.target_type,
                target_id: e.target_id,
                ip: e.ip,
                details: e.details,
                created_at: e.created_at,
                hash: e.hash,
            })
            .collect(),
        next_cursor: page.next_before_seq.map(|s| s.to_string()),
    }))
}
