//! The widget's side of the bot and after: the articles its answers cite,
//! "helpful?" on an answer, "talk to a person", the satisfaction rating of
//! a resolved conversation, and the contact details of the offline form.

use super::dto::VisitorConversationDto;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, VisitorAuth};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use kefu_domain::analytics::Rating;
use kefu_domain::{ArticleId, ConversationId, MessageId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(article))
        .routes(routes!(feedback))
        .routes(routes!(handoff))
        .routes(routes!(rate))
        .routes(routes!(update_contact))
        .routes(routes!(transcript))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptRequest {
    /// Where to send it; absent: the contact's own e-mail (given here, it
    /// is kept on the contact when it has none).
    pub email: Option<String>,
    /// `zh-CN` or `en`.
    pub locale: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TranscriptQueued {
    /// The e-mail in the workspace's outbox.
    pub email_id: uuid::Uuid,
}

/// E-mails the visitor the conversation's transcript (never private notes).
/// Throttled per conversation.
#[utoipa::path(post, path = "/widget/conversations/{conversation_id}/transcript", tag = "widget",
    request_body = TranscriptRequest, params(("conversation_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 202, body = TranscriptQueued), (status = 404, body = ErrorBody),
        (status = 409, description = "`email_not_configured`: the server sends no e-mail", body = ErrorBody),
        (status = 422, description = "no e-mail given nor known, or an invalid one", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn transcript(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TranscriptRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<TranscriptQueued>)> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let email_id = state
        .services
        .visitor_transcript(&v, id, req.email.as_deref(), req.locale.as_deref())
        .await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(TranscriptQueued {
            email_id: email_id.0,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 (very unsatisfied) … 5 (very satisfied).
    pub score: i64,
    /// At most 1,000 characters.
    pub comment: Option<String>,
}

/// The visitor's satisfaction rating (CSAT) of their resolved (or closed)
/// conversation; rating again replaces it. Agents see it on the
/// conversation; analytics count it.
#[utoipa::path(post, path = "/widget/conversations/{conversation_id}/rating", tag = "widget",
    request_body = RatingRequest, params(("conversation_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = Rating), (status = 404, body = ErrorBody),
        (status = 409, description = "`conversation_not_resolved`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn rate(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RatingRequest>,
) -> ApiResult<Json<Rating>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let c = state
        .services
        .rate_conversation(&v, id, req.score, req.comment)
        .await?;
    let rating = c.rating.ok_or_else(crate::error::ApiError::internal)?;
    Ok(Json(rating))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorContactRequest {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Attributes to add or change (the pre-chat form's custom fields, the
    /// site's `Kefu.setAttributes`): strings, numbers or booleans.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorContactDto {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Contact details the visitor leaves (the widget's offline and pre-chat
/// forms, the site's `Kefu.setUser` / `Kefu.setAttributes`), so an agent
/// knows who they are and can answer later. Only the given fields are set;
/// none is cleared.
#[utoipa::path(put, path = "/widget/contact", tag = "widget",
    request_body = VisitorContactRequest, security(("bearer" = [])),
    responses((status = 200, body = VisitorContactDto), (status = 422, body = ErrorBody)))]
async fn update_contact(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    ApiJson(req): ApiJson<VisitorContactRequest>,
) -> ApiResult<Json<VisitorContactDto>> {
    let c = state
        .services
        .visitor_update_contact(&v, req.name, req.email, req.phone, req.attributes)
        .await?;
    Ok(Json(VisitorContactDto {
        name: c.name,
        email: c.email,
        phone: c.phone,
    }))
}

/// A published article as a visitor sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorArticleDto {
    pub id: uuid::Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub locale: String,
    pub updated_at: DateTime<Utc>,
}

/// A published article of the visitor's workspace: what a bot answer's
/// citation (`article_id`) opens. Drafts and deleted articles are 404
/// `article_not_found`, as are other workspaces' articles.
#[utoipa::path(get, path = "/widget/articles/{article_id}", tag = "widget",
    params(("article_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = VisitorArticleDto), (status = 404, body = ErrorBody)))]
async fn article(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<VisitorArticleDto>> {
    let id: ArticleId = parse_id(&id, "article")?;
    let a = state.services.visitor_article(&v, id).await?;
    Ok(Json(VisitorArticleDto {
        id: a.id.0,
        external_id: a.external_id,
        title: a.content.title,
        body: a.content.body,
        locale: a.content.locale,
        updated_at: a.updated_at,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    pub helpful: bool,
}

/// The visitor's "helpful?" on a bot answer (a message with `feedback:
/// true`). Several unhelpful answers in a row hand the conversation to a
/// person.
#[utoipa::path(post, path = "/widget/conversations/{conversation_id}/messages/{message_id}/feedback", tag = "widget",
    request_body = FeedbackRequest, params(("conversation_id" = Uuid, Path), ("message_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = VisitorConversationDto), (status = 404, body = ErrorBody)))]
async fn feedback(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    Path((id, message)): Path<(String, String)>,
    ApiJson(req): ApiJson<FeedbackRequest>,
) -> ApiResult<Json<VisitorConversationDto>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let message: MessageId = parse_id(&message, "message")?;
    let c = state
        .services
        .bot_feedback(&v, id, message, req.helpful)
        .await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// The widget's language (`zh-CN`, `en`) for the bot's goodbye.
    pub locale: Option<String>,
}

/// "Talk to a person": the conversation leaves the bot for the queue (a
/// conversation already with people stays as it is).
#[utoipa::path(post, path = "/widget/conversations/{conversation_id}/handoff", tag = "widget",
    request_body = HandoffRequest, params(("conversation_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = VisitorConversationDto), (status = 404, body = ErrorBody),
        (status = 409, description = "`invalid_transition` (resolved or closed)", body = ErrorBody)))]
async fn handoff(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<VisitorConversationDto>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    // The body is optional.
    let req: HandoffRequest = if body.iter().all(u8::is_ascii_whitespace) {
        HandoffRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            crate::error::ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("The body is not valid JSON: {e}"),
            )
        })?
    };
    let locale = req.locale.unwrap_or_default();
    let zh = locale.is_empty() || locale.starts_with("zh");
    let c = state.services.visitor_handoff(&v, id, zh).await?;
    Ok(Json(c.into()))
}
