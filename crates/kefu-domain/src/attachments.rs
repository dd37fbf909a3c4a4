//! Files and images in conversations: what the store keeps about each
//! upload. The bytes live in a blob store (a directory by default); a
//! message carries [`AttachmentRef`]s, copied at send time.

use crate::ids::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who uploaded a file: only they may attach it to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Uploader {
    Visitor(ContactId),
    Agent(UserId),
}

impl Uploader {
    pub fn kind(&self) -> &'static str {
        match self {
            Uploader::Visitor(_) => "visitor",
            Uploader::Agent(_) => "agent",
        }
    }

    pub fn id(&self) -> uuid::Uuid {
        match self {
            Uploader::Visitor(c) => c.0,
            Uploader::Agent(u) => u.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub workspace_id: WorkspaceId,
    pub uploader: Uploader,
    /// Set when it is attached to a message (with `message_id`).
    pub conversation_id: Option<ConversationId>,
    pub message_id: Option<MessageId>,
    /// The name the uploader gave, cleaned (no path, no control characters).
    pub filename: String,
    /// Sniffed from the bytes, never taken from the name or the client.
    pub content_type: String,
    pub bytes: i64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

impl Attachment {
    pub fn as_ref(&self) -> AttachmentRef {
        AttachmentRef {
            id: self.id,
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            bytes: self.bytes,
            url: None,
        }
    }
}

/// What a message says about one of its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentRef {
    #[schema(value_type = uuid::Uuid)]
    pub id: AttachmentId,
    pub filename: String,
    pub content_type: String,
    pub bytes: i64,
    /// A short-lived signed download link, added when the message is shown
    /// to someone who may read it; never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}
