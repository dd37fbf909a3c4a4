//! Extractors: JSON bodies whose rejections become the error envelope, the
//! caller's identity (bearer token or console cookie + CSRF header), their
//! access to the workspace in the path, and the client's address.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use kefu_domain::WorkspaceId;
use kefu_service::{Access, Ctx, Principal};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

pub const ACCESS_COOKIE: &str = "kefu_access";
pub const REFRESH_COOKIE: &str = "kefu_refresh";
pub const CSRF_COOKIE: &str = "kefu_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// `Json<T>` with rejections mapped to the envelope: malformed JSON → 400
/// `invalid_json`, wrong shape → 422 `validation_failed`, too big → 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send a JSON body with Content-Type: application/json.",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
                }
                status => {
                    ApiError::new(status, "bad_request", "The request body could not be read.")
                }
            })?;
        if let Some(field) = nul_field(&bytes) {
            return Err(nul_error(&field));
        }
        // Every request body is an object. serde would also read a struct
        // from an array of its fields in order, which no client means and
        // which checks looking for a named key would miss.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(shape_error(
                "invalid type: sequence, expected a JSON object",
                "The JSON body must be an object.",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `application/json`, or any `application/…+json`, parameters aside.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The JSON path of the first string (or key) holding a NUL, if any.
pub fn nul_field(json: &[u8]) -> Option<String> {
    if !kefu_service::validate::has_nul_escape(json) {
        return None;
    }
    fn find(v: &serde_json::Value, path: &str) -> Option<String> {
        let here = || {
            if path.is_empty() {
                "body".to_string()
            } else {
                path.to_string()
            }
        };
        match v {
            serde_json::Value::String(s) if s.contains('\0') => Some(here()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, x)| find(x, &format!("{}[{i}]", here()))),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, x)| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if k.contains('\0') {
                    Some(here())
                } else {
                    find(x, &p)
                }
            }),
            _ => None,
        }
    }
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(v) => find(&v, "").or_else(|| Some("body".into())),
        // Not JSON after all: the parse error is the answer.
        Err(_) => None,
    }
}

/// 422 for text carrying NUL, naming the field.
pub fn nul_error(field: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "Text may not contain the NUL character (U+0000).",
    )
    .with_details(serde_json::json!({ "fields": { field: "invalid_character" } }))
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            shape_error(&e.body_text(), "The JSON body has the wrong shape.")
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "The body is not valid JSON.",
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send a JSON body with Content-Type: application/json.",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        }
        other => ApiError::new(
            other.status(),
            "bad_request",
            "The request body could not be read.",
        ),
    }
}

/// 422 `validation_failed` naming the offending field. axum reports
/// deserialisation errors as `…: <path>: <serde message>`, the path coming
/// from serde_path_to_error; a missing field is `required`, anything else
/// `invalid`, and serde's own words go to `details.reason`.
fn shape_error(text: &str, message: &str) -> ApiError {
    let detail = text
        .split_once("target type: ")
        .or_else(|| text.split_once("query string: "))
        .map_or(text, |(_, d)| d);
    let (path, msg) = match detail.split_once(": ") {
        Some((p, m)) if !p.contains(' ') && p != "." => (Some(p), m),
        _ => (None, detail),
    };
    let missing = msg
        .split("missing field `")
        .nth(1)
        .and_then(|r| r.split('`').next());
    let (field, reason) = match (path, missing) {
        (Some(p), Some(f)) => (format!("{p}.{f}"), "required"),
        (None, Some(f)) => (f.to_string(), "required"),
        (Some(p), None) => (p.to_string(), "invalid"),
        (None, None) => ("body".to_string(), "invalid"),
    };
    let reason_text = msg.split(" at line ").next().unwrap_or(msg);
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        message,
    )
    .with_details(serde_json::json!({ "fields": { field: reason }, "reason": reason_text }))
}

/// `Query<T>` whose rejection is the envelope: 422 `validation_failed`
/// naming the parameter.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| shape_error(&e.body_text(), "The query string is not valid."))
    }
}

/// The client's IP: the socket peer, or — only when the proxy in front is
/// trusted — the address it reports as the last `X-Forwarded-For` hop.
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state.http.trust_proxy_headers)))
    }
}

pub fn client_ip(parts: &Parts, trust_proxy: bool) -> Option<String> {
    if trust_proxy {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|s| s.trim().to_string())
            .filter(|s| s.parse::<std::net::IpAddr>().is_ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Double-submit check for cookie-authenticated, state-changing requests:
/// the `x-csrf-token` header must equal the `kefu_csrf` cookie. A page on
/// another origin can make the browser send the cookie but cannot read it.
pub fn check_csrf(parts: &Parts) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let cookie = cookie(parts, CSRF_COOKIE).unwrap_or_default();
    let header = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let same: bool = subtle::ConstantTimeEq::ct_eq(cookie.as_bytes(), header.as_bytes()).into();
    if cookie.len() >= 16 && same {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "Missing or wrong X-CSRF-Token header.",
        ))
    }
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// An authenticated caller. Bearer tokens come first; otherwise the
/// console's access cookie, with the CSRF check on unsafe methods.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(Authenticated(p.clone()));
        }
        let principal = if let Some(token) = bearer(parts) {
            if token.starts_with("kefu_pat_") {
                state.services.authenticate_api_token(token).await?
            } else {
                state.services.authenticate_access_token(token).await?
            }
        } else if let Some(token) = cookie(parts, ACCESS_COOKIE) {
            check_csrf(parts)?;
            state.services.authenticate_access_token(token).await?
        } else {
            return Err(ApiError::unauthorized());
        };
        parts.extensions.insert(principal.clone());
        Ok(Authenticated(principal))
    }
}

/// The caller's access to the `{workspace_id}` in the path. A malformed id,
/// a workspace that does not exist and one the caller does not belong to all
/// answer the same 404.
#[derive(Debug, Clone)]
pub struct WorkspaceAccess(pub Access);

impl FromRequestParts<AppState> for WorkspaceAccess {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let ws: WorkspaceId = params
            .iter()
            .find(|(k, _)| *k == "workspace_id")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| ApiError::from(kefu_service::ServiceError::NotFound("workspace")))?;
        tracing::Span::current().record("workspace_id", tracing::field::display(ws));
        let ip = client_ip(parts, state.http.trust_proxy_headers);
        let access = state.services.access(Ctx { principal, ip }, ws).await?;
        Ok(WorkspaceAccess(access))
    }
}

/// A widget visitor, from a `vt1.…` bearer token.
#[derive(Debug, Clone, Copy)]
pub struct VisitorAuth(pub kefu_service::chat::Visitor);

impl FromRequestParts<AppState> for VisitorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let visitor = state.services.authenticate_visitor(token)?;
        tracing::Span::current().record(
            "workspace_id",
            tracing::field::display(visitor.workspace_id),
        );
        // A blocked address range is refused on every widget route (an
        // in-memory check after the workspace's first).
        let ip = client_ip(parts, state.http.trust_proxy_headers);
        state
            .services
            .check_visitor_ip(visitor.workspace_id, ip.as_deref())
            .await?;
        Ok(VisitorAuth(visitor))
    }
}

/// A UUID path segment other than the workspace; malformed → 404 like a
/// missing resource.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::from(kefu_service::ServiceError::NotFound(what)))
}
