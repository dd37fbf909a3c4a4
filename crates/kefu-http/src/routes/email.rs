//! The workspace's e-mail outbox: `GET …/email-outbox`,
//! `POST …/email-outbox/{email_id}/retry` (owners and admins).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiQuery, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use kefu_domain::email::{EmailStatus, OutboxEmail};
use kefu_domain::EmailId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_outbox))
        .routes(routes!(retry_email))
}

/// An e-mail as admins follow it: never its body.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmailDto {
    pub id: Uuid,
    /// `invitation`, `password_reset`, `transcript`, ….
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub status: EmailStatus,
    pub attempts: i32,
    /// When the next attempt is due (pending ones).
    pub next_attempt_at: DateTime<Utc>,
    /// What the relay said the last time it failed.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<OutboxEmail> for EmailDto {
    fn from(e: OutboxEmail) -> Self {
        Self {
            id: e.id.0,
            kind: e.kind,
            to: e.to,
            subject: e.subject,
            status: e.status,
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            last_error: e.last_error,
            created_at: e.created_at,
            sent_at: e.sent_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailList {
    /// Newest first.
    pub items: Vec<EmailDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OutboxQuery {
    /// 1..=200, default 50.
    pub limit: Option<i64>,
}

/// The workspace's e-mails (invitations, transcripts, …), newest first,
/// with how their sending went (owners and admins).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/email-outbox", tag = "workspaces",
    params(("workspace_id" = Uuid, Path), OutboxQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = EmailList), (status = 403, body = ErrorBody)))]
async fn list_outbox(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<EmailList>> {
    let items = state.services.outbox(&a, q.limit.unwrap_or(50)).await?;
    Ok(Json(EmailList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Puts a `failed` e-mail back in the queue for one more attempt (failing
/// again, it is `failed` again).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/email-outbox/{email_id}/retry", tag = "workspaces",
    params(("workspace_id" = Uuid, Path), ("email_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 202), (status = 403, body = ErrorBody),
        (status = 404, description = "`email_not_found`: no such e-mail, or not failed", body = ErrorBody)))]
async fn retry_email(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: EmailId = parse_id(&id, "email")?;
    state.services.retry_email(&a, id).await?;
    Ok(StatusCode::ACCEPTED)
}
