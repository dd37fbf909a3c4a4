//! Invitations: `POST`/`GET …/invitations`, `DELETE …/invitations/{id}`, and
//! the public `POST /invitations/accept`.

use super::dto::UserDto;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, ClientIp, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use kefu_domain::model::Invitation;
use kefu_domain::{InvitationId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_invitation, list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept_invitation))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    pub email: String,
    pub role: Role,
    /// The invitation e-mail's language (`zh-CN` or `en`), when e-mail is
    /// set up.
    pub locale: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationCreated {
    pub id: Uuid,
    /// The secret to send to the invitee; shown only now.
    pub token: String,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// The invitation e-mail in the outbox (`GET …/email-outbox`), when
    /// e-mail is set up; null otherwise (send the link yourself).
    pub email_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationDto {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub invited_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<Invitation> for InvitationDto {
    fn from(i: Invitation) -> Self {
        Self {
            id: i.id.0,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by.0,
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct AcceptRequest {
    pub token: String,
    /// Display name of the new account (ignored when the e-mail already has one).
    pub name: String,
    /// The new account's password, or the existing account's password.
    pub password: String,
}

/// Never prints the token or password.
impl std::fmt::Debug for AcceptRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptRequest { [redacted] }")
    }
}

/// Invites someone (admins and above; only owners invite owners).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/invitations", tag = "members", request_body = InvitationRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = InvitationCreated), (status = 403, body = ErrorBody), (status = 409, description = "`already_member`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_invitation(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<InvitationRequest>,
) -> ApiResult<(StatusCode, Json<InvitationCreated>)> {
    let (inv, token, email_id) = state
        .services
        .invite_in(&a, &req.email, req.role, req.locale.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationCreated {
            id: inv.id.0,
            token,
            email: inv.email,
            role: inv.role,
            expires_at: inv.expires_at,
            email_id: email_id.map(|e| e.0),
        }),
    ))
}

/// Pending invitations.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/invitations", tag = "members",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [InvitationDto]), (status = 403, body = ErrorBody)))]
async fn list_invitations(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<Vec<InvitationDto>>> {
    Ok(Json(
        state
            .services
            .invitations(&a)
            .await?
            .into_iter()
            .map(InvitationDto::from)
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/workspaces/{workspace_id}/invitations/{invitation_id}", tag = "members",
    params(("workspace_id" = Uuid, Path), ("invitation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: InvitationId = parse_id(&id, "invitation")?;
    state.services.revoke_invitation(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation, creating the account if the e-mail has none.
#[utoipa::path(post, path = "/invitations/accept", tag = "members", request_body = AcceptRequest,
    responses((status = 201, body = UserDto), (status = 404, description = "`invitation_not_found` (unknown, used or expired)", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn accept_invitation(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<AcceptRequest>,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let user = state
        .services
        .accept_invitation(&req.token, &req.name, &req.password, ip)
        .await?;
    Ok((StatusCode::CREATED, Json(UserDto::from(&user))))
}
