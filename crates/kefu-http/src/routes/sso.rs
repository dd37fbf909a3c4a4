//! Single sign-on with OpenID Connect.
//!
//! - `GET /auth/oidc/{workspace_id}/start` sends the browser to the
//!   workspace's identity provider;
//! - `GET /auth/oidc/callback` is where the provider sends it back: on
//!   success the console's cookies are set (as a password login sets them)
//!   and the browser goes to the console; on failure to the console's
//!   sign-in page with `#/login?sso_error=<code>` — or, for a client that
//!   asks for `application/json`, the usual error body;
//! - `GET`/`PUT`/`DELETE /workspaces/{workspace_id}/sso/oidc`: the
//!   provider's settings (owners and admins). The client secret is never
//!   returned: `client_secret_set` says one is stored.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{client_ip, ApiJson, ApiQuery, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use kefu_domain::sso::OidcConfig;
use kefu_domain::{Role, WorkspaceId};
use kefu_service::sso::flow::Callback;
use kefu_service::sso::OidcSettings;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(callback))
        .routes(routes!(get_config, put_config, delete_config))
}

const CALLBACK_PATH: &str = "/api/v1/auth/oidc/callback";

/// `{public_url}/api/v1/auth/oidc/callback`, or the request's own origin.
fn redirect_uri(state: &AppState, parts: &Parts) -> String {
    if let Some(base) = &state.http.public_url {
        return format!("{}{CALLBACK_PATH}", base.trim_end_matches('/'));
    }
    let forwarded = state
        .http
        .trust_proxy_headers
        .then(|| parts.headers.get("x-forwarded-proto"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|p| *p == "https" || *p == "http");
    let scheme = forwarded.unwrap_or("http");
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("{scheme}://{host}{CALLBACK_PATH}")
}

fn wants_json(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A browser goes back to the sign-in page with the code; an API client
/// gets the JSON error.
fn failed(parts: &Parts, e: ApiError) -> Response {
    if wants_json(parts) {
        return e.into_response();
    }
    see_other(&format!("/#/login?sso_error={}", e.code))
}

/// Starts a sign-in: 303 to the provider's authorization endpoint (code
/// flow, PKCE S256, fresh `state` and `nonce`, valid 10 minutes).
#[utoipa::path(get, path = "/auth/oidc/{workspace_id}/start", tag = "sso",
    params(("workspace_id" = Uuid, Path)),
    responses(
        (status = 303, description = "To the identity provider (`Location`)"),
        (status = 404, description = "`sso_not_configured` (JSON when `Accept: application/json`; otherwise 303 to `/#/login?sso_error=…`)", body = ErrorBody),
        (status = 502, description = "`sso_provider_error`", body = ErrorBody),
    ))]
async fn start(
    State(state): State<AppState>,
    Path(workspace_id): Path<String>,
    parts: Parts,
) -> Response {
    let Ok(ws) = workspace_id.parse::<WorkspaceId>() else {
        return failed(
            &parts,
            kefu_service::ServiceError::Sso("sso_not_configured").into(),
        );
    };
    match state
        .services
        .sso_start(ws, &redirect_uri(&state, &parts))
        .await
    {
        Ok(url) => see_other(&url),
        Err(e) => failed(&parts, e.into()),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// RFC 9207: the issuer that answered.
    pub iss: Option<String>,
}

/// The provider's redirect back. Success: the console's session cookies
/// and 303 to `/#/inbox`.
#[utoipa::path(get, path = "/auth/oidc/callback", tag = "sso", params(CallbackQuery),
    responses(
        (status = 303, description = "Signed in: cookies set, to `/#/inbox`; or refused: to `/#/login?sso_error=<code>`"),
        (status = 400, description = "`sso_state_invalid` (with `Accept: application/json`)", body = ErrorBody),
        (status = 403, description = "`sso_email_unverified`, `sso_not_a_member`, `sso_domain_not_allowed`, `sso_denied`", body = ErrorBody),
        (status = 401, description = "`sso_token_invalid`, `sso_issuer_mismatch`, `sso_audience_mismatch`, `sso_nonce_mismatch`, `sso_token_expired`", body = ErrorBody),
        (status = 502, description = "`sso_provider_error`", body = ErrorBody),
    ))]
async fn callback(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CallbackQuery>,
    parts: Parts,
) -> Response {
    let cb = Callback {
        state: q.state,
        code: q.code,
        error: q.error,
        iss: q.iss,
        redirect_uri: redirect_uri(&state, &parts),
        ip: client_ip(&parts, state.http.trust_proxy_headers),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    match state.services.sso_callback(cb).await {
        Ok((pair, me)) => {
            tracing::info!(user_id = %me.user.id, "signed in with single sign-on");
            let mut res = see_other("/#/inbox");
            for c in super::auth::session_cookies(&state, &pair) {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Err(e) => {
            let e = ApiError::from(e);
            tracing::info!(code = %e.code, "single sign-on refused");
            failed(&parts, e)
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OidcConfigDto {
    pub issuer: String,
    pub client_id: String,
    /// A client secret is stored (it is never returned).
    pub client_secret_set: bool,
    pub scopes: Vec<String>,
    pub enabled: bool,
    /// Verified e-mail domains whose people join on their first sign-in.
    pub jit_domains: Vec<String>,
    /// The role they join with.
    #[schema(value_type = String)]
    pub jit_role: Role,
    /// Register this at the provider.
    pub redirect_uri: String,
    /// Where members start a sign-in (link it from an intranet).
    pub login_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn dto(state: &AppState, parts: &Parts, c: OidcConfig) -> OidcConfigDto {
    let redirect = redirect_uri(state, parts);
    let base = redirect.trim_end_matches(CALLBACK_PATH);
    OidcConfigDto {
        login_url: format!("{base}/api/v1/auth/oidc/{}/start", c.workspace_id),
        redirect_uri: redirect,
        issuer: c.issuer,
        client_id: c.client_id,
        client_secret_set: !c.client_secret.is_empty(),
        scopes: c.scopes,
        enabled: c.enabled,
        jit_domains: c.jit_domains,
        jit_role: c.jit_role,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcConfigRequest {
    /// The provider's issuer, exactly as its discovery document names it
    /// (https; http only on a loopback address).
    pub issuer: String,
    pub client_id: String,
    /// Required the first time; omitted, the stored one stays.
    pub client_secret: Option<String>,
    /// `openid` is always added; default `["openid","email","profile"]`.
    pub scopes: Option<Vec<String>>,
    pub enabled: bool,
    #[serde(default)]
    pub jit_domains: Vec<String>,
    /// `agent` (default), `supervisor` or `admin`; never `owner`.
    #[schema(value_type = Option<String>)]
    pub jit_role: Option<Role>,
}

/// Never prints the secret.
impl std::fmt::Debug for OidcConfigRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfigRequest")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The workspace's identity provider (owners and admins).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/sso/oidc", tag = "sso",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = OidcConfigDto), (status = 403, body = ErrorBody),
        (status = 404, description = "`oidc_config_not_found`", body = ErrorBody)))]
async fn get_config(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    parts: Parts,
) -> ApiResult<Json<OidcConfigDto>> {
    let c = state.services.oidc_config(&a).await?;
    Ok(Json(dto(&state, &parts, c)))
}

/// Sets the workspace's identity provider (owners and admins). Enabled, its
/// discovery document must answer and name the issuer. Audited.
#[utoipa::path(put, path = "/workspaces/{workspace_id}/sso/oidc", tag = "sso", request_body = OidcConfigRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = OidcConfigDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "`validation_failed`: `issuer` (`invalid_url`, `discovery_failed`), `client_secret` (`required`), `scopes`, `jit_domains` (`invalid_domain`), `jit_role` (`not_allowed`)", body = ErrorBody)))]
async fn put_config(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    parts: Parts,
    ApiJson(req): ApiJson<OidcConfigRequest>,
) -> ApiResult<Json<OidcConfigDto>> {
    let settings = OidcSettings {
        issuer: req.issuer,
        client_id: req.client_id,
        client_secret: req.client_secret,
        scopes: req.scopes,
        enabled: req.enabled,
        jit_domains: req.jit_domains,
        jit_role: req.jit_role,
    };
    let c = state.services.put_oidc_config(&a, settings).await?;
    Ok(Json(dto(&state, &parts, c)))
}

/// Removes the workspace's identity provider. Audited.
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/sso/oidc", tag = "sso",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "Removed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_config(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<StatusCode> {
    state.services.delete_oidc_config(&a).await?;
    Ok(StatusCode::NO_CONTENT)
}
