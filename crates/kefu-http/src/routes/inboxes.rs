//! Inboxes: `POST`/`GET …/inboxes`, `GET`/`PATCH`/`DELETE …/inboxes/{inbox_id}`.

use super::dto::double_option;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use kefu_domain::chat::{
    AutoResolve, BusinessHours, Inbox, InboxAutomation, OfflineMode, PrechatForm,
};
use kefu_domain::{Action, InboxId};
use kefu_service::chat::{InboxPatch, NewInboxInput};
use kefu_service::Access;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_inbox, list_inboxes))
        .routes(routes!(get_inbox, update_inbox, delete_inbox))
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
    /// When agents answer; absent or null: always.
    pub business_hours: Option<BusinessHours>,
    /// What the widget offers with nobody to answer: `queue` (default) or
    /// `form`.
    pub offline_mode: Option<OfflineMode>,
    /// Resolve assigned conversations that wait on the visitor this long
    /// (`after_secs` from `chat.auto_resolve_min_secs`, default 600, to 90
    /// days), optionally telling them (`message`).
    pub auto_resolve: Option<AutoResolve>,
    /// The auto-reply a visitor gets when their conversation reaches the
    /// queue outside business hours or with nobody online; the message
    /// carries `meta.next_open_at`, the expected reply time.
    pub away_message: Option<String>,
    /// Questions the widget asks before the first message (`when`:
    /// `always` or `offline`).
    pub prechat_form: Option<PrechatForm>,
}

/// Changes to an inbox; absent fields stay, `null` clears.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxPatchRequest {
    pub name: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub greeting: Option<Option<String>>,
    pub bot_enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<BusinessHours>)]
    pub business_hours: Option<Option<BusinessHours>>,
    pub offline_mode: Option<OfflineMode>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<AutoResolve>)]
    pub auto_resolve: Option<Option<AutoResolve>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub away_message: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<PrechatForm>)]
    pub prechat_form: Option<Option<PrechatForm>>,
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
    pub business_hours: Option<BusinessHours>,
    pub offline_mode: OfflineMode,
    pub auto_resolve: Option<AutoResolve>,
    pub away_message: Option<String>,
    pub prechat_form: Option<PrechatForm>,
    /// The secret a site signs its users' ids with (HMAC-SHA256, hex) to
    /// identify them to the widget. Shown to owners and admins only; keep it
    /// on your server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl InboxDto {
    fn new(i: Inbox, a: &Access) -> Self {
        let admin = a.require(Action::ManageInboxes).is_ok();
        Self {
            id: i.id.0,
            name: i.name,
            channel: i.channel,
            widget_key: i.widget_key,
            allowed_origins: i.allowed_origins,
            greeting: i.greeting,
            bot_enabled: i.bot_enabled,
            business_hours: i.business_hours,
            offline_mode: i.offline_mode,
            auto_resolve: i.automation.auto_resolve,
            away_message: i.automation.away_message,
            prechat_form: i.automation.prechat_form,
            identity_secret: admin.then_some(i.identity_secret),
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
        business_hours: req.business_hours,
        offline_mode: req.offline_mode.unwrap_or_default(),
        automation: InboxAutomation {
            auto_resolve: req.auto_resolve,
            away_message: req.away_message,
            prechat_form: req.prechat_form,
        },
    };
    let inbox = state.services.create_inbox(&a, input).await?;
    Ok((StatusCode::CREATED, Json(InboxDto::new(inbox, &a))))
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
            .map(|i| InboxDto::new(i, &a))
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
    let inbox = state.services.inbox(&a, id).await?;
    Ok(Json(InboxDto::new(inbox, &a)))
}

/// Changes an inbox (owners and admins). Audited.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes", request_body = InboxPatchRequest,
    params(("workspace_id" = Uuid, Path), ("inbox_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = InboxDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_inbox(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<InboxPatchRequest>,
) -> ApiResult<Json<InboxDto>> {
    let id: InboxId = parse_id(&id, "inbox")?;
    let patch = InboxPatch {
        name: req.name,
        allowed_origins: req.allowed_origins,
        greeting: req.greeting,
        bot_enabled: req.bot_enabled,
        business_hours: req.business_hours,
        offline_mode: req.offline_mode,
        auto_resolve: req.auto_resolve,
        away_message: req.away_message,
        prechat_form: req.prechat_form,
    };
    let inbox = state.services.update_inbox(&a, id, patch).await?;
    Ok(Json(InboxDto::new(inbox, &a)))
}

/// Deletes an inbox that holds no conversations (owners and admins). Audited.
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/inboxes/{inbox_id}", tag = "inboxes",
    params(("workspace_id" = Uuid, Path), ("inbox_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`inbox_has_conversations`", body = ErrorBody)))]
async fn delete_inbox(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: InboxId = parse_id(&id, "inbox")?;
    state.services.delete_inbox(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
