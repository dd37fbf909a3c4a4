//! Response shapes shared by several resources.

use chrono::{DateTime, Utc};
use kefu_domain::chat::{Conversation, ConversationStatus, Message, SenderKind};
use kefu_domain::model::{Member, User, WorkspaceMembership};
use kefu_domain::Role;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub totp_enabled: bool,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0,
            email: u.email.clone(),
            name: u.name.clone(),
            totp_enabled: u.totp_enabled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceRoleDto {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

impl From<&WorkspaceMembership> for WorkspaceRoleDto {
    fn from(m: &WorkspaceMembership) -> Self {
        Self {
            id: m.workspace.id.0,
            name: m.workspace.name.clone(),
            role: m.role,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `active` (removed members are not listed).
    pub status: &'static str,
    pub joined_at: DateTime<Utc>,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id.0,
            email: m.email,
            name: m.name,
            role: m.role,
            status: "active",
            joined_at: m.joined_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDto {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub contact_id: Uuid,
    pub status: ConversationStatus,
    pub priority: i32,
    pub assignee_id: Option<Uuid>,
    /// The seq of the newest message; replay with `after_seq`.
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Conversation> for ConversationDto {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id.0,
            inbox_id: c.inbox_id.0,
            contact_id: c.contact_id.0,
            status: c.status,
            priority: c.priority,
            assignee_id: c.assignee_id.map(|u| u.0),
            last_seq: c.last_seq,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SenderDto {
    #[serde(rename = "type")]
    pub kind: SenderKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
}

/// A message as the socket's `message.created` carries it, plus its place
/// in the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDto {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// Gap-free per conversation, from 1.
    pub seq: i64,
    pub sender: SenderDto,
    pub body: String,
    /// An internal note, never shown to the visitor.
    pub private: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Message> for MessageDto {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.0,
            conversation_id: m.conversation_id.0,
            seq: m.seq,
            sender: SenderDto {
                kind: m.sender_kind,
                id: m.sender_id,
            },
            body: m.body,
            private: m.private,
            client_msg_id: m.client_msg_id,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first; ask again with `after_seq` = the last `seq` for more.
    pub items: Vec<MessageDto>,
}

impl From<Vec<Message>> for MessagePage {
    fn from(messages: Vec<Message>) -> Self {
        Self {
            items: messages.into_iter().map(MessageDto::from).collect(),
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct AfterSeqQuery {
    /// Only messages with a greater seq (default 0: from the start).
    pub after_seq: Option<i64>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
}
