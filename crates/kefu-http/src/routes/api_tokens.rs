//! Scoped API tokens: `POST`/`GET …/api-tokens`, `DELETE …/api-tokens/{id}`.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use kefu_domain::model::ApiToken;
use kefu_domain::{ApiTokenId, Scope};
use kefu_service::workspaces::NewApiTokenInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenRequest {
    pub name: String,
    /// What the token may do: `workspace:read`, `workspace:admin`,
    /// `tokens:manage`, `audit:read`. Never more than its creator's role.
    pub scopes: Vec<Scope>,
    /// 1..=3650; absent for a token that does not expire.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenDto {
    pub id: Uuid,
    pub name: String,
    /// The token's first characters, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiToken> for ApiTokenDto {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id.0,
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes,
            created_by: t.created_by.0,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiTokenCreated {
    #[serde(flatten)]
    pub info: ApiTokenDto,
    /// The secret (`kefu_pat_…`); shown only now.
    pub token: String,
}

#[utoipa::path(post, path = "/workspaces/{workspace_id}/api-tokens", tag = "api-tokens", request_body = ApiTokenRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ApiTokenCreated), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<ApiTokenRequest>,
) -> ApiResult<(StatusCode, Json<ApiTokenCreated>)> {
    let input = NewApiTokenInput {
        name: req.name,
        scopes: req.scopes,
        expires_in_days: req.expires_in_days,
    };
    let (token, secret) = state.services.create_api_token(&a, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiTokenCreated {
            info: token.into(),
            token: secret,
        }),
    ))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/api-tokens", tag = "api-tokens",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [ApiTokenDto]), (status = 403, body = ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<Vec<ApiTokenDto>>> {
    Ok(Json(
        state
            .services
            .api_tokens(&a)
            .await?
            .into_iter()
            .map(ApiTokenDto::from)
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/workspaces/{workspace_id}/api-tokens/{token_id}", tag = "api-tokens",
    params(("workspace_id" = Uuid, Path), ("token_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: ApiTokenId = parse_id(&id, "api_token")?;
    state.services.revoke_api_token(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
