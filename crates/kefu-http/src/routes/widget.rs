//! The widget's public API: `POST /widget/sessions`, the visitor's own
//! conversations and messages, and `POST /widget/messages` (a REST
//! alternative to the socket's `message.send`). Called from customers'
//! sites, so these routes answer CORS for any origin; which sites may open a
//! session is decided per inbox (`allowed_origins`).

use super::dto::{AfterSeqQuery, ConversationDto, MessageDto, MessagePage};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, ApiQuery, VisitorAuth};
use crate::router::AppState;
use axum::extract::Path;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_domain::ConversationId;
use kefu_service::chat::DEFAULT_PAGE;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session))
        .routes(routes!(my_conversations))
        .routes(routes!(my_messages))
        .routes(routes!(send_message))
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

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    /// Newest first.
    pub items: Vec<ConversationDto>,
}

/// The visitor's conversations in this inbox.
#[utoipa::path(get, path = "/widget/conversations", tag = "widget", security(("bearer" = [])),
    responses((status = 200, body = ConversationList), (status = 401, body = ErrorBody)))]
async fn my_conversations(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
) -> ApiResult<Json<ConversationList>> {
    let items = state.services.visitor_conversations(&v).await?;
    Ok(Json(ConversationList {
        items: items.into_iter().map(ConversationDto::from).collect(),
    }))
}

/// The visitor's messages after `after_seq` (private notes are never included).
#[utoipa::path(get, path = "/widget/conversations/{conversation_id}/messages", tag = "widget",
    params(("conversation_id" = Uuid, Path), AfterSeqQuery), security(("bearer" = [])),
    responses((status = 200, body = MessagePage), (status = 404, description = "Not the visitor's conversation", body = ErrorBody)))]
async fn my_messages(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<AfterSeqQuery>,
) -> ApiResult<Json<MessagePage>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let items = state
        .services
        .visitor_messages(
            &v,
            id,
            q.after_seq.unwrap_or(0),
            q.limit.unwrap_or(DEFAULT_PAGE),
        )
        .await?;
    Ok(Json(items.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct VisitorMessageRequest {
    /// Omit to continue the open conversation or start one.
    pub conversation_id: Option<Uuid>,
    /// Idempotency key (≤ 64 chars): a resend stores nothing new.
    pub client_msg_id: String,
    pub body: String,
}

/// Sends a visitor message over HTTP — the same as the socket's
/// `message.send`, for clients that cannot hold a socket open. 201 when
/// stored; 200 with the original for a resent `client_msg_id`.
#[utoipa::path(post, path = "/widget/messages", tag = "widget", request_body = VisitorMessageRequest, security(("bearer" = [])),
    responses((status = 201, body = MessageDto), (status = 200, description = "A resend: the original message", body = MessageDto),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn send_message(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    ApiJson(req): ApiJson<VisitorMessageRequest>,
) -> ApiResult<(StatusCode, Json<MessageDto>)> {
    let sent = state
        .services
        .visitor_send(
            &v,
            req.conversation_id.map(ConversationId),
            &req.client_msg_id,
            &req.body,
        )
        .await?;
    let status = if sent.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(sent.message.into())))
}
