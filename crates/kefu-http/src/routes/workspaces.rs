//! `GET`/`PATCH /workspaces/{workspace_id}`: the workspace and its settings.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use kefu_domain::model::{Workspace, WorkspacePatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_workspace, patch_workspace))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceDto {
    pub id: Uuid,
    pub name: String,
    /// Owners and admins must have two-factor enabled to use the workspace.
    pub require_admin_totp: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Workspace> for WorkspaceDto {
    fn from(w: Workspace) -> Self {
        Self {
            id: w.id.0,
            name: w.name,
            require_admin_totp: w.require_admin_totp,
            created_at: w.created_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatchRequest {
    pub name: Option<String>,
    pub require_admin_totp: Option<bool>,
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}", tag = "workspaces",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = WorkspaceDto), (status = 404, body = ErrorBody)))]
async fn get_workspace(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<WorkspaceDto>> {
    Ok(Json(state.services.workspace(&a).await?.into()))
}

/// Changes settings (owners and admins). Audited.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}", tag = "workspaces", request_body = WorkspacePatchRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = WorkspaceDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_workspace(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<WorkspacePatchRequest>,
) -> ApiResult<Json<WorkspaceDto>> {
    let patch = WorkspacePatch {
        name: req.name,
        require_admin_totp: req.require_admin_totp,
    };
    Ok(Json(
        state.services.update_workspace(&a, patch).await?.into(),
    ))
}
