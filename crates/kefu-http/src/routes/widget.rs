//! The widget's public API: `POST /widget/sessions`. Called from customers'
//! sites, so these routes answer CORS for any origin; which sites may open a
//! session is decided per inbox (`allowed_origins`).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::router::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_session))
}

/// CORS for the widget routes: the caller's origin is reflected (no
/// cookies are involved — the widget authenticates with its bearer token),
/// and preflights are answered directly.
pub async fn cors(req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let preflight = req.method() == Method::OPTIONS;
    let mut res = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    res
}

#[derive(Deserialize, ToSchema)]
pub struct SessionRequest {
    /// The inbox's public widget key.
    pub widget_key: String,
    /// The id this browser was given before, to keep its history.
    pub visitor_id: Option<String>,
    /// The page's language, e.g. `zh-CN` or `en`.
    pub locale: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// Bearer token for the widget API and the socket.
    pub visitor_token: String,
    /// Keep it (e.g. in localStorage) and send it next time.
    pub visitor_id: String,
    pub contact_id: Uuid,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Opens a visitor session for an inbox's widget.
#[utoipa::path(post, path = "/widget/sessions", tag = "widget", request_body = SessionRequest,
    responses(
        (status = 201, body = SessionResponse),
        (status = 403, description = "`origin_not_allowed`: the page's site is not in the inbox's allowed origins", body = ErrorBody),
        (status = 404, description = "`inbox_not_found`: unknown widget key", body = ErrorBody),
    ))]
async fn create_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SessionRequest>,
) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let _ = req.locale;
    let s = state
        .services
        .widget_session(&req.widget_key, req.visitor_id.as_deref(), origin)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionResponse {
            visitor_token: s.visitor_token,
            visitor_id: s.visitor_id,
            contact_id: s.contact_id.0,
            expires_in: s.expires_in,
        }),
    ))
}
