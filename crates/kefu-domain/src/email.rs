//! Outgoing e-mail: every message is written to a durable outbox first and
//! sent from there, retried with back-off; a failure is kept, visible to
//! admins, never dropped.

use crate::ids::{EmailId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    /// Waiting for its (next) attempt.
    Pending,
    Sent,
    /// Gave up after the last attempt (an admin may retry it).
    Failed,
}

crate::chat::text_enum!(EmailStatus { Pending => "pending", Sent => "sent", Failed => "failed" });

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEmail {
    pub id: EmailId,
    /// The workspace it is about (none for account mail: a password reset).
    pub workspace_id: Option<WorkspaceId>,
    /// `invitation`, `password_reset`, `transcript`, ….
    pub kind: String,
    pub to: String,
    pub subject: String,
    /// The bodies; emptied once sent (they may hold a one-time link).
    pub text: String,
    pub html: String,
    pub status: EmailStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}
