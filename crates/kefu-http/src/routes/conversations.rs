//! Agents' conversation routes: the list, one conversation, its messages,
//! and the lifecycle (`assign`, `handoff`, `resolve`, `reopen`, `close`).

use super::dto::{
    double_option, AfterSeqQuery, AssignmentDto, ConversationDto, MessageDto, MessagePage,
};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, ApiQuery, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kefu_domain::chat::ConversationStatus;
use kefu_domain::{ConversationId, TeamId, UserId};
use kefu_service::chat::{ConversationQuery, DEFAULT_PAGE};
use kefu_service::routing::AssignTarget;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation, update_conversation))
        .routes(routes!(mark_read))
        .routes(routes!(assignment_history))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(assign))
        .routes(routes!(handoff))
        .routes(routes!(resolve))
        .routes(routes!(reopen))
        .routes(routes!(close))
        .routes(routes!(snooze))
        .routes(routes!(unsnooze))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeRequest {
    /// When it wakes (RFC 3339; in the future, at most a year ahead).
    pub until: chrono::DateTime<chrono::Utc>,
}

/// Puts an assigned conversation aside until a time: `GET …/conversations?snoozed=false`
/// leaves it out, and the visitor's next message or the time wakes it
/// (`snoozed_until` back to null, announced as `conversation.updated`).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/conversations/{conversation_id}/snooze", tag = "conversations",
    request_body = SnoozeRequest,
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ConversationDto), (status = 404, body = ErrorBody),
        (status = 409, description = "`invalid_transition`: only an assigned conversation snoozes", body = ErrorBody),
        (status = 422, description = "`until` not in the future, or over a year ahead", body = ErrorBody)))]
async fn snooze(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<SnoozeRequest>,
) -> ApiResult<Json<ConversationDto>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    Ok(Json(state.services.snooze(&a, id, req.until).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentMessageRequest {
    /// May be empty when the message carries files.
    #[serde(default)]
    pub body: String,
    /// Files uploaded with `POST …/attachments`.
    #[serde(default)]
    pub attachment_ids: Vec<Uuid>,
    /// An internal note: other agents see it, the visitor never does.
    #[serde(default)]
    pub private: bool,
    /// Your idempotency key (≤ 64 chars): resending it stores nothing new
    /// and answers the original message.
    pub client_msg_id: String,
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/conversations/{conversation_id}", tag = "conversations",
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ConversationDto), (status = 404, body = ErrorBody)))]
async fn get_conversation(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<ConversationDto>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let c = state.services.conversation(&a, id).await?;
    let unread = state.services.unread_for_member(&a, &[id]).await?;
    Ok(Json(ConversationDto::from(c).with_unread(&unread)))
}

/// Changes priority and/or labels (anyone who may see the conversation).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationPatchRequest {
    /// -100..=100; higher is served first.
    pub priority: Option<i32>,
    /// Replaces the labels (each 1–50 characters, at most 20).
    pub labels: Option<Vec<String>>,
}

#[utoipa::path(patch, path = "/workspaces/{workspace_id}/conversations/{conversation_id}", tag = "conversations",
    request_body = ConversationPatchRequest,
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ConversationDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_conversation(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<ConversationPatchRequest>,
) -> ApiResult<Json<ConversationDto>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let c = state
        .services
        .update_conversation(&a, id, req.priority, req.labels)
        .await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The last seq the caller has seen.
    pub seq: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadPosition {
    /// The stored position (never moves back, never past the last message).
    pub seq: i64,
}

/// Moves the caller's read position forward; the visitor sees it (`read`).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/conversations/{conversation_id}/read", tag = "conversations",
    request_body = ReadRequest,
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ReadPosition), (status = 404, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<ReadRequest>,
) -> ApiResult<Json<ReadPosition>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let seq = state.services.member_read(&a, id, req.seq).await?;
    Ok(Json(ReadPosition { seq }))
}

/// Every assignment of the conversation with its reason, oldest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/conversations/{conversation_id}/assignments", tag = "conversations",
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [AssignmentDto]), (status = 404, body = ErrorBody)))]
async fn assignment_history(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<AssignmentDto>>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let found = state.services.assignment_history(&a, id).await?;
    Ok(Json(found.into_iter().map(AssignmentDto::from).collect()))
}

/// The conversation's messages after `after_seq`, private notes included.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/conversations/{conversation_id}/messages", tag = "conversations",
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path), AfterSeqQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = MessagePage), (status = 404, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<AfterSeqQuery>,
) -> ApiResult<Json<MessagePage>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let items = state
        .services
        .conversation_messages(&a, id, q.window()?, q.limit.unwrap_or(DEFAULT_PAGE))
        .await?;
    Ok(Json(items.into()))
}

/// Replies (or adds a private note). 201 when stored; 200 with the original
/// when this `client_msg_id` was sent before.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/conversations/{conversation_id}/messages", tag = "conversations",
    request_body = AgentMessageRequest,
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = MessageDto), (status = 200, description = "A resend: the original message", body = MessageDto),
        (status = 404, body = ErrorBody), (status = 409, description = "`conversation_closed`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_message(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<AgentMessageRequest>,
) -> ApiResult<(StatusCode, Json<MessageDto>)> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let sent = state
        .services
        .agent_send_with(
            &a,
            id,
            &req.body,
            req.private,
            &req.client_msg_id,
            &super::widget::ids(&req.attachment_ids),
        )
        .await?;
    let status = if sent.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(sent.message.into())))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    /// Only conversations carrying this label.
    pub label: Option<String>,
    /// `true`: only snoozed conversations; `false`: leave them out;
    /// absent: both.
    pub snoozed: Option<bool>,
    /// Text in a message, or in the contact's name, e-mail or phone.
    pub q: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    /// Most recent activity first.
    pub items: Vec<ConversationDto>,
    pub next_cursor: Option<String>,
}

/// Conversations the caller may see (agents: their own and unassigned).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/conversations", tag = "conversations",
    params(("workspace_id" = Uuid, Path), ListQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ConversationPage), (status = 422, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ConversationPage>> {
    let query = ConversationQuery {
        status: q.status,
        assignee_id: q.assignee_id.map(UserId),
        team_id: q.team_id.map(TeamId),
        label: q.label,
        snoozed: q.snoozed,
        q: q.q,
        cursor: q.cursor,
        limit: q.limit,
    };
    let (items, next_cursor) = state.services.list_conversations(&a, query).await?;
    let ids: Vec<ConversationId> = items.iter().map(|c| c.id).collect();
    let unread = state.services.unread_for_member(&a, &ids).await?;
    let (contacts, mut last) = state.services.conversation_previews(&a, &items).await?;
    Ok(Json(ConversationPage {
        items: items
            .into_iter()
            .map(|c| {
                let contact = contacts.get(&c.contact_id).map(Into::into);
                let last_message = last.remove(&c.id).map(|m| Box::new(m.into()));
                ConversationDto {
                    contact,
                    last_message,
                    ..ConversationDto::from(c).with_unread(&unread)
                }
            })
            .collect(),
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A member. With neither `assignee_id` nor `team_id` the conversation
    /// goes back to the general queue.
    pub assignee_id: Option<Uuid>,
    /// Without `assignee_id`: transfer into this team's queue. With it: the
    /// conversation also moves to this team.
    pub team_id: Option<Uuid>,
    /// Optimistic concurrency: apply only if the conversation's assignee is
    /// still this (`null`: still unassigned); else 409
    /// `assignment_conflict`. Consoles send what they displayed.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub expected_assignee_id: Option<Option<Uuid>>,
}

/// Assigns, transfers or takes over — one path, recorded with its reason.
/// Agents may only take an unassigned conversation for themselves;
/// supervisors and above assign anyone, move between teams and take over.
/// Putting a conversation in a queue runs the automatic assignment.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/conversations/{conversation_id}/assign", tag = "conversations",
    request_body = AssignRequest,
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ConversationDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`invalid_transition` or `assignment_conflict`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn assign(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> ApiResult<Json<ConversationDto>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let target = AssignTarget {
        assignee: req.assignee_id.map(UserId),
        team: req.team_id.map(TeamId),
        expect_assignee: req.expected_assignee_id.map(|a| a.map(UserId)),
    };
    Ok(Json(state.services.assign(&a, id, target).await?.into()))
}

macro_rules! lifecycle_route {
    ($name:ident, $path:literal, $method:ident, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "conversations",
            params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
            responses((status = 200, body = ConversationDto), (status = 404, body = ErrorBody),
                (status = 409, description = "`invalid_transition`: not allowed from the current status", body = ErrorBody)))]
        async fn $name(
            State(state): State<AppState>,
            WorkspaceAccess(a): WorkspaceAccess,
            Path((_, id)): Path<(String, String)>,
        ) -> ApiResult<Json<ConversationDto>> {
            let id: ConversationId = parse_id(&id, "conversation")?;
            Ok(Json(state.services.$method(&a, id).await?.into()))
        }
    };
}

lifecycle_route!(
    handoff,
    "/workspaces/{workspace_id}/conversations/{conversation_id}/handoff",
    handoff,
    "From the bot to the human queue (`bot` → `queued`)."
);
lifecycle_route!(
    resolve,
    "/workspaces/{workspace_id}/conversations/{conversation_id}/resolve",
    resolve,
    "Marks it resolved; a visitor message reopens it."
);
lifecycle_route!(
    close,
    "/workspaces/{workspace_id}/conversations/{conversation_id}/close",
    close,
    "Closes it for good (from any status but `closed`): a visitor message afterwards starts a new conversation."
);
lifecycle_route!(
    reopen,
    "/workspaces/{workspace_id}/conversations/{conversation_id}/reopen",
    reopen,
    "`resolved` → back to its agent, or to the queue."
);

lifecycle_route!(
    unsnooze,
    "/workspaces/{workspace_id}/conversations/{conversation_id}/unsnooze",
    unsnooze,
    "Wakes a snoozed conversation now (any status; a conversation that is not snoozed stays as it is)."
);
