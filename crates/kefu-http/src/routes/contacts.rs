//! Contacts: the list, `GET`/`PATCH …/contacts/{contact_id}`, the
//! contact's conversations, merging two contacts and erasing one.

use super::dto::{double_option, ContactDto, ConversationDto};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, ApiQuery, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kefu_domain::chat::ContactPatch;
use kefu_domain::ContactId;
use kefu_service::contacts::ContactQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts))
        .routes(routes!(get_contact, update_contact))
        .routes(routes!(contact_conversations))
        .routes(routes!(merge_contacts))
        .routes(routes!(erase_contact))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContactListQuery {
    /// Part of the name, e-mail, phone or external id (case-insensitive).
    pub q: Option<String>,
    /// `key:value`: only contacts whose attribute `key` is `value` (a
    /// string, or a number or boolean as written).
    pub attribute: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactPage {
    /// Newest first; contacts merged into another are left out.
    pub items: Vec<ContactDto>,
    pub next_cursor: Option<String>,
}

/// The workspace's contacts (any member; `conversations:read`).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/contacts", tag = "contacts",
    params(("workspace_id" = Uuid, Path), ContactListQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ContactPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_contacts(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiQuery(q): ApiQuery<ContactListQuery>,
) -> ApiResult<Json<ContactPage>> {
    let (items, next_cursor) = state
        .services
        .list_contacts(
            &a,
            ContactQuery {
                q: q.q,
                attribute: q.attribute,
                cursor: q.cursor,
                limit: q.limit,
            },
        )
        .await?;
    Ok(Json(ContactPage {
        items: items.into_iter().map(ContactDto::from).collect(),
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The contact merged away: its conversations move to this one.
    pub from_contact_id: Uuid,
}

/// Merges another contact into this one (owner, admin, supervisor;
/// `conversations:write`): the other's conversations move here, this
/// contact keeps its details and takes the other's where it has none. The
/// other stays behind, marked `merged_into`, so its visitor and the site's
/// user id lead here.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/contacts/{contact_id}/merge", tag = "contacts",
    request_body = MergeRequest,
    params(("workspace_id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The surviving contact", body = ContactDto), (status = 403, body = ErrorBody),
        (status = 404, description = "Either contact is missing or merged already", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn merge_contacts(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<MergeRequest>,
) -> ApiResult<Json<ContactDto>> {
    let id: ContactId = parse_id(&id, "contact")?;
    let merged = state
        .services
        .merge_contacts(&a, id, ContactId(req.from_contact_id))
        .await?;
    Ok(Json(merged.into()))
}

/// Erases the contact's personal data (owner, admin; `workspace:admin`):
/// name, e-mail, phone, external id and attributes, and the bodies of the
/// visitor's messages. Conversations and their sequence numbers stay; the
/// audit log records who erased the contact. Cannot be undone.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/contacts/{contact_id}/erase", tag = "contacts",
    params(("workspace_id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn erase_contact(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: ContactId = parse_id(&id, "contact")?;
    state.services.erase_contact(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/contacts/{contact_id}", tag = "contacts",
    params(("workspace_id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ContactDto), (status = 404, body = ErrorBody)))]
async fn get_contact(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<ContactDto>> {
    let id: ContactId = parse_id(&id, "contact")?;
    Ok(Json(state.services.contact(&a, id).await?.into()))
}

/// Absent fields stay; `null` (or an empty string) clears a field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatchRequest {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// Merged key by key: strings, numbers or booleans; `null` removes a key.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Edits a contact (any member who may read conversations).
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/contacts/{contact_id}", tag = "contacts",
    request_body = ContactPatchRequest,
    params(("workspace_id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ContactDto), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_contact(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<ContactPatchRequest>,
) -> ApiResult<Json<ContactDto>> {
    let id: ContactId = parse_id(&id, "contact")?;
    let patch = ContactPatch {
        name: req.name,
        email: req.email,
        phone: req.phone,
        attributes: req.attributes,
    };
    Ok(Json(
        state.services.update_contact(&a, id, patch).await?.into(),
    ))
}

/// The contact's conversations in every inbox that the caller may see,
/// newest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/contacts/{contact_id}/conversations", tag = "contacts",
    params(("workspace_id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [ConversationDto]), (status = 404, body = ErrorBody)))]
async fn contact_conversations(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<ConversationDto>>> {
    let id: ContactId = parse_id(&id, "contact")?;
    let found = state.services.contact_conversations(&a, id).await?;
    Ok(Json(found.into_iter().map(ConversationDto::from).collect()))
}
