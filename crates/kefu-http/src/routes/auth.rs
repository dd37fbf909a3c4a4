//! `POST /auth/login`, `/auth/refresh`, `/auth/logout`.
//!
//! Each successful login or refresh returns the tokens in JSON (for API
//! clients) and also sets the console's cookies: the access token and the
//! refresh token as HttpOnly cookies, plus a readable CSRF token that the
//! console echoes in `X-CSRF-Token`.

use super::dto::{UserDto, WorkspaceRoleDto};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{
    check_csrf, cookie, ApiJson, Authenticated, ClientIp, ACCESS_COOKIE, CSRF_COOKIE,
    REFRESH_COOKIE,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_service::accounts::{LoginInput, Me, TokenPair};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(request_password_reset))
        .routes(routes!(reset_password))
        .routes(routes!(login_with_new_password))
        .routes(routes!(sign_out_everywhere))
}

#[derive(Deserialize, ToSchema)]
pub struct NewPasswordLoginRequest {
    pub email: String,
    /// The current password.
    pub password: String,
    pub totp: Option<String>,
    pub new_password: String,
}

/// Never prints the passwords or code.
impl std::fmt::Debug for NewPasswordLoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPasswordLoginRequest")
            .finish_non_exhaustive()
    }
}

/// Signs in and sets a new password at once: how a member whose owner or
/// admin required a new password (login answered 403
/// `password_change_required`) gets back in. Every other session ends.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = NewPasswordLoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "`invalid_credentials`, `totp_required` or `invalid_totp`", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `new_password` is `too_short`, `too_simple`, `too_common`, `too_similar` or `unchanged`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with Retry-After", body = ErrorBody),
    ))]
async fn login_with_new_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<NewPasswordLoginRequest>,
) -> ApiResult<Response> {
    let input = login_input(req.email, req.password, req.totp, ip, &headers);
    let (pair, me) = state
        .services
        .login_with_new_password(input, &req.new_password)
        .await?;
    tracing::info!(user_id = %me.user.id, "signed in with a new password");
    Ok(token_response(&state, pair, me))
}

/// "Sign out everywhere": ends every session of the caller, this one too;
/// their open sockets close with 4001.
#[utoipa::path(post, path = "/auth/sessions/revoke", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "Every session ended"), (status = 401, body = ErrorBody)))]
async fn sign_out_everywhere(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Response> {
    let ended = state.services.sign_out_everywhere(&principal).await?;
    tracing::info!(user_id = %principal.user_id(), ended, "signed out everywhere");
    Ok(signed_out(&state))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// A current TOTP code or a recovery code, once two-factor is enabled.
    pub totp: Option<String>,
}

/// Never prints the password or code.
impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &"[personal]")
            .field("password", &"[redacted]")
            .field("totp", &self.totp.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: UserDto,
    pub workspaces: Vec<WorkspaceRoleDto>,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// Optional when the `kefu_refresh` cookie is sent (with `X-CSRF-Token`).
    pub refresh_token: Option<String>,
}

fn token_response(state: &AppState, pair: TokenPair, me: Me) -> Response {
    let cookies = session_cookies(state, &pair);
    let body = TokenResponse {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: "Bearer",
        expires_in: pair.expires_in,
        user: UserDto::from(&me.user),
        workspaces: me.workspaces.iter().map(WorkspaceRoleDto::from).collect(),
    };
    let mut res = (StatusCode::OK, Json(body)).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn cookie_line(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    http_only: bool,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if state.http.cookie_secure {
        c.push_str("; Secure");
    }
    c
}

pub(crate) fn session_cookies(state: &AppState, pair: &TokenPair) -> Vec<String> {
    let refresh_ttl = state.services.config.refresh_token_ttl_secs;
    let csrf = kefu_service::auth::tokens::random_secret("csrf");
    vec![
        cookie_line(
            state,
            ACCESS_COOKIE,
            &pair.access_token,
            "/",
            pair.expires_in,
            true,
        ),
        cookie_line(
            state,
            REFRESH_COOKIE,
            &pair.refresh_token,
            "/api/v1/auth",
            refresh_ttl,
            true,
        ),
        cookie_line(state, CSRF_COOKIE, &csrf, "/", refresh_ttl, false),
    ]
}

/// What a sign-in gives the service: the credentials and where they came from.
fn login_input(
    email: String,
    password: String,
    totp: Option<String>,
    ip: Option<String>,
    headers: &HeaderMap,
) -> LoginInput {
    LoginInput {
        email,
        password,
        totp,
        ip,
        user_agent: user_agent(headers),
    }
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Signs in with e-mail and password (and a TOTP code once enabled).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "`invalid_credentials`, `totp_required` or `invalid_totp`", body = ErrorBody),
        (status = 403, description = "`password_change_required`: sign in with `POST /auth/password`", body = ErrorBody),
        (status = 429, description = "`rate_limited`, with Retry-After", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let input = login_input(req.email, req.password, req.totp, ip, &headers);
    let (pair, me) = state.services.login(input).await?;
    tracing::info!(user_id = %me.user.id, "signed in");
    Ok(token_response(&state, pair, me))
}

/// Trades a refresh token for a new pair. The old one is spent; presenting
/// it again ends the whole session (`refresh_token_reused`).
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "`unauthorized` or `refresh_token_reused`", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let token = match req.refresh_token {
        Some(t) => t,
        None => {
            let t = cookie(&parts, REFRESH_COOKIE)
                .ok_or_else(ApiError::unauthorized)?
                .to_string();
            check_csrf(&parts)?;
            t
        }
    };
    let (pair, me) = state.services.refresh(&token).await?;
    Ok(token_response(&state, pair, me))
}

/// Ends the caller's session: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "Signed out"), (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Response> {
    state.services.logout(&principal).await?;
    Ok(signed_out(&state))
}

/// 204 that clears the console's cookies.
fn signed_out(state: &AppState) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    for (name, path) in [
        (ACCESS_COOKIE, "/"),
        (REFRESH_COOKIE, "/api/v1/auth"),
        (CSRF_COOKIE, "/"),
    ] {
        let line = cookie_line(state, name, "", path, 0, true);
        if let Ok(v) = HeaderValue::from_str(&line) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
    /// The e-mail's language: `zh-CN` or `en` (default `email.default_locale`).
    pub locale: Option<String>,
}

/// "Forgot my password": e-mails a reset link (valid an hour, once) when
/// the address is an account's and e-mail is set up. Always 202, so the
/// answer does not tell who has an account; throttled per address and
/// client like sign-ins.
#[utoipa::path(post, path = "/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 202), (status = 429, description = "`rate_limited`", body = ErrorBody)))]
async fn request_password_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    state
        .services
        .request_password_reset(&req.email, req.locale.as_deref(), ip.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token of the e-mailed link (`#/reset?token=…`).
    pub token: String,
    pub new_password: String,
}

/// Never prints the token or the password.
impl std::fmt::Debug for PasswordResetConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordResetConfirm")
            .finish_non_exhaustive()
    }
}

/// Sets a new password with a reset link's token; every session of the
/// account ends (sign in with the new password).
#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses((status = 204),
        (status = 401, description = "`invalid_reset_token`: wrong, expired, or used already", body = ErrorBody),
        (status = 422, description = "`validation_failed`: `new_password` too short, simple, common or similar", body = ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PasswordResetConfirm>,
) -> ApiResult<StatusCode> {
    state
        .services
        .reset_password(&req.token, &req.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
