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
        .routes(routes!(block_contact))
        .routes(routes!(unblock_contact))
        .routes(routes!(export_contacts))
        .routes(routes!(list_blocked_ranges, add_blocked_range))
        .routes(routes!(remove_blocked_range))
}

/// Blocks the contact (owner, admin, supervisor; `conversations:write`):
/// their widget is refused with 403 `visitor_blocked` (a new session, a
/// message, an upload), on every device that is this contact. Audited.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/contacts/{contact_id}/block", tag = "contacts",
    params(("workspace_id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ContactDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn block_contact(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<ContactDto>> {
    let id: ContactId = parse_id(&id, "contact")?;
    Ok(Json(
        state.services.block_contact(&a, id, true).await?.into(),
    ))
}

/// Lifts the contact's block. Audited.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/contacts/{contact_id}/unblock", tag = "contacts",
    params(("workspace_id" = Uuid, Path), ("contact_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ContactDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unblock_contact(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<ContactDto>> {
    let id: ContactId = parse_id(&id, "contact")?;
    Ok(Json(
        state.services.block_contact(&a, id, false).await?.into(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportQuery {
    /// As on the list.
    pub q: Option<String>,
    /// As on the list (`key:value`).
    pub attribute: Option<String>,
}

/// The contacts the filters match as CSV (owner, admin; `export:read`),
/// newest first, streamed: UTF-8 with a byte-order mark, a header row,
/// columns `id, name, email, phone, external_id, attributes (JSON),
/// created_at, updated_at, blocked_at, erased_at`. Cells a spreadsheet
/// would run as formulas start with `'`. Audited (`contact.exported`).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/contacts/export.csv", tag = "contacts",
    params(("workspace_id" = Uuid, Path), ExportQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn export_contacts(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let query = ContactQuery {
        q: q.q,
        attribute: q.attribute,
        cursor: None,
        limit: None,
    };
    state.services.begin_contacts_export(&a, &query).await?;
    // The first page answers errors (a bad filter) with a status; later
    // pages can only end the stream.
    let (first, next) = state.services.contacts_csv_page(&a, query.clone()).await?;
    let services = state.services.clone();
    let rest = futures_util::stream::unfold(next, move |cursor| {
        let (services, a, query) = (services.clone(), a.clone(), query.clone());
        async move {
            let cursor = cursor?;
            match services
                .contacts_csv_page(
                    &a,
                    ContactQuery {
                        cursor: Some(cursor),
                        ..query
                    },
                )
                .await
            {
                Ok((chunk, next)) => Some((Ok::<_, std::io::Error>(chunk), next)),
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) }),
        rest,
    );
    let name = format!("kefu-contacts-{}.csv", chrono::Utc::now().format("%Y%m%d"));
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockedRangeDto {
    pub id: Uuid,
    /// Normalised: `203.0.113.0/24`, `2001:db8::/48`, `198.51.100.7/32`.
    pub cidr: String,
    pub note: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<kefu_domain::chat::BlockedRange> for BlockedRangeDto {
    fn from(b: kefu_domain::chat::BlockedRange) -> Self {
        Self {
            id: b.id.0,
            cidr: b.cidr,
            note: b.note,
            created_at: b.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockedRangeList {
    pub items: Vec<BlockedRangeDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockedRangeRequest {
    /// A CIDR range or one address, IPv4 or IPv6.
    pub cidr: String,
    pub note: Option<String>,
}

/// The address ranges whose visitors are refused (owner, admin,
/// supervisor).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/blocked-ranges", tag = "contacts",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = BlockedRangeList), (status = 403, body = ErrorBody)))]
async fn list_blocked_ranges(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<BlockedRangeList>> {
    let items = state.services.blocked_ranges(&a).await?;
    Ok(Json(BlockedRangeList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Refuses visitors from an address range: every widget request from it
/// answers 403 `visitor_blocked` (within 10 s on every replica). 409
/// `range_exists` for a range already listed. Audited.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/blocked-ranges", tag = "contacts",
    request_body = BlockedRangeRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = BlockedRangeDto), (status = 403, body = ErrorBody),
        (status = 409, description = "`range_exists`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_blocked_range(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<BlockedRangeRequest>,
) -> ApiResult<(StatusCode, Json<BlockedRangeDto>)> {
    let b = state
        .services
        .add_blocked_range(&a, &req.cidr, req.note.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(b.into())))
}

/// Lifts a range's block. Audited.
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/blocked-ranges/{range_id}", tag = "contacts",
    params(("workspace_id" = Uuid, Path), ("range_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_blocked_range(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: kefu_domain::BlockedRangeId = parse_id(&id, "blocked_range")?;
    state.services.remove_blocked_range(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
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
