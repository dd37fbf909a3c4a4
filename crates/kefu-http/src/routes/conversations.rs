//! Agents' conversation routes: `GET …/conversations/{id}`,
//! `GET`/`POST …/conversations/{id}/messages`.

use super::dto::{AfterSeqQuery, ConversationDto, MessageDto, MessagePage};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, ApiQuery, WorkspaceAccess};
use crate::router::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kefu_domain::ConversationId;
use kefu_service::chat::DEFAULT_PAGE;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_conversation))
        .routes(routes!(list_messages, post_message))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentMessageRequest {
    pub body: String,
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
    Ok(Json(state.services.conversation(&a, id).await?.into()))
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
        .conversation_messages(
            &a,
            id,
            q.after_seq.unwrap_or(0),
            q.limit.unwrap_or(DEFAULT_PAGE),
        )
        .await?;
    Ok(Json(MessagePage {
        items: items.into_iter().map(MessageDto::from).collect(),
    }))
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
        .agent_send(&a, id, &req.body, req.private, &req.client_msg_id)
        .await?;
    let status = if sent.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(sent.message.into())))
}
