//! `GET /me` and the caller's second factor (`/me/totp…`).

use super::dto::{UserDto, WorkspaceRoleDto};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, Authenticated};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(totp_enrol, totp_disable))
        .routes(routes!(totp_confirm))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Never prints the passwords.
impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    /// The caller's other sessions that were signed out.
    pub sessions_ended: u64,
}

/// "Change my password": needs the current one; signs out every other
/// session of the caller (this one stays).
#[utoipa::path(post, path = "/me/password", tag = "me", request_body = ChangePasswordRequest, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SessionsEnded),
        (status = 422, description = "`validation_failed`: `current_password` `invalid_password`; `new_password` `too_short`, `too_simple`, `too_common`, `too_similar` or `unchanged`", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Json<SessionsEnded>> {
    let sessions_ended = state
        .services
        .change_password(&p, &req.current_password, &req.new_password)
        .await?;
    Ok(Json(SessionsEnded { sessions_ended }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserDto,
    pub workspaces: Vec<WorkspaceRoleDto>,
}

/// The caller and the workspaces they belong to, with their roles.
#[utoipa::path(get, path = "/me", tag = "me", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
async fn me(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<MeResponse>> {
    let me = state.services.me(&p).await?;
    Ok(Json(MeResponse {
        user: UserDto::from(&me.user),
        workspaces: me.workspaces.iter().map(WorkspaceRoleDto::from).collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrolResponse {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// `otpauth://` URI to show as a QR code.
    pub otpauth_uri: String,
}

#[derive(Deserialize, ToSchema)]
pub struct TotpCodeRequest {
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    /// One-time recovery codes, shown only now.
    pub recovery_codes: Vec<String>,
}

/// Starts enrolment: a new secret, not active until confirmed.
#[utoipa::path(post, path = "/me/totp", tag = "me", security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = TotpEnrolResponse), (status = 409, description = "`totp_already_enabled`", body = ErrorBody)))]
async fn totp_enrol(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<(StatusCode, Json<TotpEnrolResponse>)> {
    let e = state.services.totp_enrol(&p).await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrolResponse {
            secret: e.secret,
            otpauth_uri: e.otpauth_uri,
        }),
    ))
}

/// Confirms enrolment with a current code; returns recovery codes. From
/// now on, login needs a code.
#[utoipa::path(post, path = "/me/totp/confirm", tag = "me", request_body = TotpCodeRequest, security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = RecoveryCodesResponse), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn totp_confirm(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(req): ApiJson<TotpCodeRequest>,
) -> ApiResult<Json<RecoveryCodesResponse>> {
    let recovery_codes = state.services.totp_confirm(&p, &req.code).await?;
    Ok(Json(RecoveryCodesResponse { recovery_codes }))
}

/// Turns two-factor off (needs a current code or a recovery code).
#[utoipa::path(delete, path = "/me/totp", tag = "me", request_body = TotpCodeRequest, security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn totp_disable(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(req): ApiJson<TotpCodeRequest>,
) -> ApiResult<StatusCode> {
    state.services.totp_disable(&p, &req.code).await?;
    Ok(StatusCode::NO_CONTENT)
}
