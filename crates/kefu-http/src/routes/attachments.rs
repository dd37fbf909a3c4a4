//! Files and images in conversations: uploads by visitors
//! (`POST /widget/attachments`) and members (`POST …/attachments`), as
//! `multipart/form-data` with one part `file`, streamed to the blob store;
//! and the short-lived signed links that serve them
//! (`GET /attachments/{id}?ws=&exp=&sig=`), which messages carry.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiQuery, VisitorAuth, WorkspaceAccess};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_domain::attachments::Attachment;
use kefu_domain::{AttachmentId, WorkspaceId};
use kefu_service::attachments::{shown_inline, Upload};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The members' upload and the download links. Uploads are not held to the
/// JSON body limit: they stream, within `[attachments] max_bytes`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(member_upload))
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(download))
}

/// The visitors' upload (the widget router adds its CORS).
pub fn widget_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(visitor_upload))
        .layer(DefaultBodyLimit::disable())
}

/// A stored upload, to name in a message's `attachment_ids`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentDto {
    pub id: Uuid,
    pub filename: String,
    /// Sniffed from the bytes.
    pub content_type: String,
    pub bytes: i64,
}

impl From<Attachment> for AttachmentDto {
    fn from(a: Attachment) -> Self {
        Self {
            id: a.id.0,
            filename: a.filename,
            content_type: a.content_type,
            bytes: a.bytes,
        }
    }
}

/// Reads the `file` part into the upload: 201 with the attachment. Other
/// parts are ignored; no `file` part is 422.
async fn receive(
    mut upload: Upload,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<AttachmentDto>)> {
    let mut multipart = multipart.map_err(|e| bad_multipart(&e.body_text()))?;
    loop {
        let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|e| bad_multipart(&e.body_text()))?
        else {
            return Err(crate::error::ApiError::from(
                kefu_service::ServiceError::invalid("file", "required"),
            ));
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("file").to_string();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| bad_multipart(&e.body_text()))?
        {
            upload.write(&chunk).await?;
        }
        let stored = upload.finish(&name).await?;
        return Ok((StatusCode::CREATED, Json(stored.into())));
    }
}

fn bad_multipart(reason: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_multipart",
        "Send the file as multipart/form-data with one part named \"file\".",
    )
    .with_details(serde_json::json!({ "reason": reason }))
}

/// Uploads a file for the visitor's next message (name it in the
/// message's `attachment_ids`). The type is sniffed from the bytes.
#[utoipa::path(post, path = "/widget/attachments", tag = "widget",
    request_body(content_type = "multipart/form-data", description = "One part `file`."), security(("bearer" = [])),
    responses((status = 201, body = AttachmentDto), (status = 413, description = "`payload_too_large` (over `attachments.max_bytes`) or `storage_quota_exceeded`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn visitor_upload(
    State(state): State<AppState>,
    VisitorAuth(v): VisitorAuth,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<AttachmentDto>)> {
    state.services.visitor_not_blocked(&v).await?;
    let upload = state.services.visitor_upload(&v).await?;
    receive(upload, multipart).await
}

/// Uploads a file for the member's next reply or note (any member who may
/// send messages; `conversations:write`).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/attachments", tag = "conversations",
    request_body(content_type = "multipart/form-data", description = "One part `file`."),
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = AttachmentDto), (status = 403, body = ErrorBody),
        (status = 413, description = "`payload_too_large` or `storage_quota_exceeded`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn member_upload(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<AttachmentDto>)> {
    let upload = state.services.member_upload(&a).await?;
    receive(upload, multipart).await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LinkQuery {
    /// The workspace.
    pub ws: Uuid,
    /// Unix seconds after which the link no longer works.
    pub exp: i64,
    /// The link's signature.
    pub sig: String,
}

/// The file behind a link from a message (`attachments[].url`): no other
/// credentials, so that `<img src>` works; the link expires after
/// `attachments.url_ttl_secs`. Images are shown inline, everything else is
/// a download; a sandboxing Content-Security-Policy keeps a file from
/// running anything.
#[utoipa::path(get, path = "/attachments/{attachment_id}", tag = "conversations",
    params(("attachment_id" = Uuid, Path), LinkQuery),
    responses((status = 200, description = "The file, with `Content-Disposition`"),
        (status = 404, description = "`attachment_not_found`: unknown, or a wrong signature", body = ErrorBody),
        (status = 410, description = "`link_expired`", body = ErrorBody)))]
async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LinkQuery>,
) -> ApiResult<Response> {
    let id: AttachmentId = parse_id(&id, "attachment")?;
    let (a, blob) = state
        .services
        .open_attachment(WorkspaceId(q.ws), id, q.exp, &q.sig)
        .await?;
    let body = Body::from_stream(blob.into_stream().await?);
    let content_type = if a.content_type == "text/plain" {
        "text/plain; charset=utf-8".to_string()
    } else {
        a.content_type.clone()
    };
    let disposition = content_disposition(shown_inline(&a.content_type), &a.filename);
    let left = (q.exp - state.services.clock.now().timestamp()).max(0);
    let mut res = body.into_response();
    let h = res.headers_mut();
    let value =
        |v: String| HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("attachment"));
    h.insert(header::CONTENT_TYPE, value(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(a.bytes));
    h.insert(header::CONTENT_DISPOSITION, value(disposition));
    h.insert(
        header::CACHE_CONTROL,
        value(format!("private, max-age={left}")),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    // The widget shows images on the customer's own site.
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    Ok(res)
}

/// `inline` or `attachment`, with an ASCII fallback name and the real one
/// in RFC 5987 form (`filename*=UTF-8''…`).
fn content_disposition(inline: bool, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" }
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dispositions_carry_both_names() {
        assert_eq!(
            super::content_disposition(false, "发票 1.pdf"),
            "attachment; filename=\"__ 1.pdf\"; filename*=UTF-8''%E5%8F%91%E7%A5%A8%201.pdf"
        );
        assert!(super::content_disposition(true, "a.png").starts_with("inline; "));
    }
}
