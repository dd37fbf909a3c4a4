//! Inboxes: `POST`/`GET …/inboxes`, `GET …/inboxes/{inbox_id}`.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, WorkspaceAccess};
use crate::router::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use kefu_domain::chat::Inbox;
use kefu_domain::InboxId;
use kefu_service::chat::NewInboxInput;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_inbox, list_inboxes))
        .routes(routes!(get_inbox))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxRequest {
    pub name: String,
    /// Only `web` for now.
    pub channel: String,
    /// Sites allowed to embed the widget (`https://shop.example.cn`); empty
    /// or absent allows any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// First words the widget shows.
    pub greeting: Option<String>,
    /// Whether the bot answers first (default true).
    pub bot_enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxDto {
    pub id: Uuid,
    pub name: String,
    pub channel: String,
    /// The public key the embed snippet carries (`data-key`).
    pub widget_key: String,
    pub allowed_origins: Vec<String>,
    pub greeting: Option<String>,
    pub bot_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Inbox> for InboxDto {
    fn from(i: Inbox) -> Self {
        Self {
            id: i.id.0,
            name: i.name,
            channel: i.channel,
            widget_key: i.widget_key,
            allowed_origins: i.allowed_origins,
            greeting: i.greeting,
            bot_enabled: i.bot_enabled,
            created_at: i.created_at,
        }
    }
}

/// Creates an inbox (owners and admins). Audited.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/inboxes", tag = "inboxes", request_body = InboxRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = InboxDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_inbox(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<InboxRequest>,
) -> ApiResult<(StatusCode, Json<InboxDto>)> {
    let input = NewInboxInput {
        name: req.name,
        channel: req.channel,
        allowed_origins: req.allowed_origins,
        greeting: req.greeting,
        bot_enabled: req.bot_enabled.unwrap_or(true),
    };
    let inbox = state.services.create_inbox(&a, input).await?;
    Ok((StatusCode::CREATED, Json(inbox.into())))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/inboxes", tag = "inboxes",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [InboxDto]), (status = 404, body = ErrorBody)))]
async fn list_inboxes(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<Vec<InboxDto>>> {
    Ok(Json(
        state
            .services
            .inboxes(&a)
            .await?
            .into_iter()
            .map(InboxDto::from)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes",
    params(("workspace_id" = Uuid, Path), ("inbox_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = InboxDto), (status = 404, body = ErrorBody)))]
async fn get_inbox(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<InboxDto>> {
    let id: InboxId = parse_id(&id, "inbox")?;
    Ok(Json(state.services.inbox(&a, id).await?.into()))
}
