//! The widget's public API: `POST /widget/sessions`, the visitor's own
//! conversations and messages, and `POST /widget/messages` (a REST
//! alternative to the socket's `message.send`). Called from customers'
//! sites, so these routes answer CORS for any origin; which sites may open a
//! session is decided per inbox (`allowed_origins`).

use super::conversations::{ReadPosition, ReadRequest};
use super::dto::{AfterSeqQuery, MessageDto, MessagePage, QueueDto, VisitorConversationDto};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, ApiQuery, ClientIp, VisitorAuth};
use crate::state::AppState;
use axum::extract::Path;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_domain::chat::PrechatForm;
use kefu_domain::chat::{ConversationStatus, OfflineMode};
use kefu_domain::ConversationId;
use kefu_service::chat::{Identity, DEFAULT_PAGE};
use kefu_service::visits::PageReport;
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
        .routes(routes!(mark_read))
        .routes(routes!(send_message))
        .routes(routes!(page_view))
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
                HeaderValue::from_static("GET, POST, PUT"),
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
    /// For a site's signed-in users: their id on the site and
    /// hex(HMAC-SHA256(inbox identity secret, external_id)), computed on the
    /// site's server. The visitor then keeps one history across browsers.
    pub identity: Option<IdentityRequest>,
    /// The page the widget runs on, for the agents' view of the visitor
    /// (the browser and OS come from the `User-Agent` header).
    pub page: Option<PageRequest>,
}

/// Where the visitor is. Anything but an http(s) URL is dropped.
#[derive(Deserialize, ToSchema)]
pub struct PageRequest {
    pub url: Option<String>,
    pub title: Option<String>,
    pub referrer: Option<String>,
    /// An IANA zone (`Asia/Shanghai`).
    pub time_zone: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct IdentityRequest {
    pub external_id: String,
    pub hmac: String,
}

/// What the widget needs to know about the inbox.
#[derive(Serialize, ToSchema)]
pub struct WidgetInboxDto {
    pub name: String,
    pub greeting: Option<String>,
    pub bot_enabled: bool,
    /// Inside business hours with at least one agent online.
    pub agents_available: bool,
    /// What to offer when no agent is available: `queue` or `form`.
    pub offline_mode: OfflineMode,
    /// The questions to ask before the first message, when the inbox has
    /// a pre-chat form that applies now (`always`, or `offline` while no
    /// agent is available); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prechat_form: Option<PrechatForm>,
    /// Whether the visitor can have the conversation e-mailed to them
    /// (`POST …/transcript`: the server sends e-mail).
    pub transcript_by_email: bool,
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
    pub inbox: WidgetInboxDto,
    /// What an upload may be, so that the widget can refuse a file at once
    /// instead of after sending it.
    pub attachments: AttachmentLimitsDto,
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentLimitsDto {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Most files on one message.
    pub max_per_message: usize,
}

/// Opens a visitor session for an inbox's widget.
#[utoipa::path(post, path = "/widget/sessions", tag = "widget", request_body = SessionRequest,
    responses(
        (status = 201, body = SessionResponse),
        (status = 403, description = "`origin_not_allowed`: the page's site is not in the inbox's allowed origins", body = ErrorBody),
        (status = 401, description = "`invalid_identity`: the identity HMAC does not match", body = ErrorBody),
        (status = 404, description = "`inbox_not_found`: unknown widget key", body = ErrorBody),
    ))]
async fn create_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SessionRequest>,
) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let identity = req.identity.map(|i| Identity {
        external_id: i.external_id,
        hmac: i.hmac,
    });
    let s = state
        .services
        .widget_session(
            &req.widget_key,
            req.visitor_id.as_deref(),
            origin,
            identity.as_ref(),
            ip.as_deref(),
        )
        .await?;
    let visitor = kefu_service::chat::Visitor {
        workspace_id: s.inbox.workspace_id,
        inbox_id: s.inbox.id,
        contact_id: s.contact_id,
    };
    let page = req.page.unwrap_or(PageRequest {
        url: None,
        title: None,
        referrer: None,
        time_zone: None,
    });
    let report = PageReport {
        url: page.url,
        title: page.title,
        referrer: page.referrer,
        locale: req.locale,
        time_zone: page.time_zone,
        user_agent: user_agent(&headers),
    };
    // Context, not the chat: a failure is logged and the session opens.
    if let Err(e) = state
        .services
        .record_page_view_after(&visitor, s.last_visit.clone(), report)
        .await
    {
        tracing::warn!(error = %e, "recording the visitor's page failed");
    }
    let prechat_form = s
        .inbox
        .automation
        .prechat_form
        .clone()
        .filter(|f| f.when == kefu_domain::chat::PrechatWhen::Always || !s.agents_available);
    Ok((
        StatusCode::CREATED,
        Json(SessionResponse {
            visitor_token: s.visitor_token,
            visitor_id: s.visitor_id,
            contact_id: s.contact_id.0,
            expires_in: s.expires_in,
            inbox: WidgetInboxDto {
                name: s.inbox.name,
                greeting: s.inbox.greeting,
                bot_enabled: s.inbox.bot_enabled,
                agents_available: s.agents_available,
                offline_mode: s.inbox.offline_mode,
                prechat_form,
                transcript_by_email: state.services.mailer.is_some(),
            },
            attachments: AttachmentLimitsDto {
                max_bytes: state.services.attachments.max_bytes,
                max_per_message: state.services.attachments.max_per_message,
            },
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    /// Newest first.
    pub items: Vec<VisitorConversationDto>,
}

/// The visitor's conversations in this inbox.
#[utoipa::path(get, path = "/widget/conversations", tag = "widget", security(("bearer" = [])),
    responses((status = 200, body = ConversationList), (status = 401, body = ErrorBody)))]
async fn my_conversations(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
) -> ApiResult<Json<ConversationList>> {
    let items = state.services.visitor_conversations(&v).await?;
    let ids: Vec<ConversationId> = items.iter().map(|c| c.id).collect();
    let unread = state.services.unread_for_visitor(&v, &ids).await?;
    let mut out = Vec::with_capacity(items.len());
    for c in items {
        let queue = match c.status {
            ConversationStatus::Queued => state.services.queue_info(v.workspace_id, c.id).await?,
            _ => None,
        };
        let mut dto = VisitorConversationDto::from(c);
        dto.unread_count = Some(unread.get(&ConversationId(dto.id)).copied().unwrap_or(0));
        dto.queue = queue.map(QueueDto::from);
        out.push(dto);
    }
    Ok(Json(ConversationList { items: out }))
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
        .visitor_messages(&v, id, q.window()?, q.limit.unwrap_or(DEFAULT_PAGE))
        .await?;
    Ok(Json(items.into()))
}

/// Moves the visitor's read position forward; agents see it (`read`).
#[utoipa::path(post, path = "/widget/conversations/{conversation_id}/read", tag = "widget", request_body = ReadRequest,
    params(("conversation_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReadPosition), (status = 404, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReadRequest>,
) -> ApiResult<Json<ReadPosition>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let seq = state.services.visitor_read(&v, id, req.seq).await?;
    Ok(Json(ReadPosition { seq }))
}

#[derive(Deserialize, ToSchema)]
pub struct VisitorMessageRequest {
    /// Omit to continue the open conversation or start one.
    pub conversation_id: Option<Uuid>,
    /// Idempotency key (≤ 64 chars): a resend stores nothing new.
    pub client_msg_id: String,
    /// May be empty when the message carries files.
    #[serde(default)]
    pub body: String,
    /// Files uploaded with `POST /widget/attachments` (at most
    /// `attachments.max_per_message`).
    #[serde(default)]
    pub attachment_ids: Vec<Uuid>,
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
        .visitor_send_with(
            &v,
            req.conversation_id.map(ConversationId),
            &req.client_msg_id,
            &req.body,
            &ids(&req.attachment_ids),
        )
        .await?;
    let status = if sent.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(sent.message.into())))
}

/// Attachment ids as the service takes them.
pub(crate) fn ids(raw: &[Uuid]) -> Vec<kefu_domain::AttachmentId> {
    raw.iter().map(|u| kefu_domain::AttachmentId(*u)).collect()
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageViewRequest {
    pub url: String,
    pub title: Option<String>,
}

/// A page the visitor moved to (a single-page site's navigation; a new
/// page load reports itself with the session). It joins the visit the
/// agents see on the contact (`last_visit.pages`, the newest 20).
#[utoipa::path(post, path = "/widget/page-views", tag = "widget", request_body = PageViewRequest,
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn page_view(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PageViewRequest>,
) -> ApiResult<StatusCode> {
    let report = PageReport {
        url: Some(req.url),
        title: req.title,
        user_agent: user_agent(&headers),
        ..PageReport::default()
    };
    state.services.record_page_view(&v, report).await?;
    Ok(StatusCode::NO_CONTENT)
}
