//! Contacts: `GET`/`PATCH …/contacts/{contact_id}` and the contact's
//! conversations.

use super::dto::{double_option, ContactDto, ConversationDto};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use kefu_domain::chat::ContactPatch;
use kefu_domain::ContactId;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_contact, update_contact))
        .routes(routes!(contact_conversations))
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
