//! `GET …/members`, `PATCH`/`DELETE …/members/{user_id}`.

use super::dto::MemberDto;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kefu_domain::{Role, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members))
        .routes(routes!(patch_member, delete_member))
        .routes(routes!(require_password_change))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatchRequest {
    pub role: Option<Role>,
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/members", tag = "members",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [MemberDto]), (status = 404, body = ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<Vec<MemberDto>>> {
    let members = state.services.members(&a).await?;
    Ok(Json(members.into_iter().map(MemberDto::from).collect()))
}

/// Changes a member's role. Only owners grant or change the owner role; a
/// workspace keeps at least one owner (409 `last_owner`).
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/members/{user_id}", tag = "members", request_body = MemberPatchRequest,
    params(("workspace_id" = Uuid, Path), ("user_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MemberDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn patch_member(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, user_id)): Path<(String, String)>,
    ApiJson(req): ApiJson<MemberPatchRequest>,
) -> ApiResult<Json<MemberDto>> {
    let user: UserId = parse_id(&user_id, "member")?;
    let member = match req.role {
        Some(role) => state.services.change_member_role(&a, user, role).await?,
        None => {
            a.require(kefu_domain::Action::ChangeMemberRoles)?;
            state
                .services
                .store
                .get_member(a.workspace_id, user)
                .await
                .map_err(kefu_service::ServiceError::from)?
        }
    };
    Ok(Json(member.into()))
}

/// Removes a member; their API tokens in this workspace are revoked.
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/members/{user_id}", tag = "members",
    params(("workspace_id" = Uuid, Path), ("user_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_member(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user: UserId = parse_id(&user_id, "member")?;
    state.services.remove_member(&a, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PasswordChangeRequired {
    /// The member's sessions that were signed out.
    pub sessions_ended: u64,
}

/// Requires the member to choose a new password before they sign in again
/// (owner, admin; over roles they may manage; not oneself). Signs them out
/// everywhere at once; their next login answers 403
/// `password_change_required` until they use `POST /auth/password`.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/members/{user_id}/require-password-change", tag = "members",
    params(("workspace_id" = Uuid, Path), ("user_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = PasswordChangeRequired), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn require_password_change(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<Json<PasswordChangeRequired>> {
    let user: UserId = parse_id(&user_id, "member")?;
    let sessions_ended = state.services.require_password_change(&a, user).await?;
    Ok(Json(PasswordChangeRequired { sessions_ended }))
}
