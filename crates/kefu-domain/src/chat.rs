//! Live chat records: inboxes, contacts, conversations and their messages.
//!
//! A conversation is a log: every message gets `seq = last + 1`, gap-free
//! from 1, assigned in the transaction that stores it. Clients that miss an
//! event replay from the log (`seq > n`), so the database is the truth and
//! the event bus only a doorbell (DESIGN.md §3).

use crate::ids::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    pub id: InboxId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// `web` for now.
    pub channel: String,
    /// Public key the widget presents; identifies the inbox.
    pub widget_key: String,
    /// Secret for HMAC identity verification of the site's own users.
    pub identity_secret: String,
    /// Origins allowed to embed the widget; empty allows any.
    pub allowed_origins: Vec<String>,
    pub greeting: Option<String>,
    pub bot_enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: ContactId,
    pub workspace_id: WorkspaceId,
    /// Opaque id the visitor's browser keeps, so it finds its history again.
    pub visitor_id: String,
    pub created_at: DateTime<Utc>,
}

/// `bot → queued → assigned → resolved` (a visitor message reopens it);
/// `closed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Bot,
    Queued,
    Assigned,
    Resolved,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    Visitor,
    Agent,
    Bot,
    System,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl FromStr for $t {
            type Err = crate::role::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($s => Ok(Self::$v),)* _ => Err(crate::role::UnknownName) }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(ConversationStatus { Bot => "bot", Queued => "queued", Assigned => "assigned", Resolved => "resolved", Closed => "closed" });
text_enum!(SenderKind { Visitor => "visitor", Agent => "agent", Bot => "bot", System => "system" });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub status: ConversationStatus,
    /// Higher is more urgent.
    pub priority: i32,
    pub assignee_id: Option<UserId>,
    /// The seq of the newest message (0 before the first).
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    /// Gap-free per conversation, from 1.
    pub seq: i64,
    pub sender_kind: SenderKind,
    /// The contact (visitor) or user (agent); none for bot and system.
    pub sender_id: Option<uuid::Uuid>,
    pub body: String,
    /// Internal note: never shown to the visitor.
    pub private: bool,
    /// The sender's idempotency key: unique per sender.
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which conversations a listing returns, newest activity first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub assignee: Option<UserId>,
    /// Only conversations this agent may see: assigned to them or to nobody.
    pub visible_to_agent: Option<UserId>,
    /// Continue after this `(updated_at, id)` (the last item of a page).
    pub after: Option<(DateTime<Utc>, ConversationId)>,
    pub limit: i64,
}

/// A status change, applied only if the conversation is in one of `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: &'static [ConversationStatus],
    pub to: ConversationStatus,
    /// `Some(x)` sets the assignee to `x`; `None` leaves it.
    pub assignee: Option<Option<UserId>>,
    pub at: DateTime<Utc>,
}

/// A message to append; the store assigns `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: MessageId,
    pub sender_kind: SenderKind,
    pub sender_id: Option<uuid::Uuid>,
    pub body: String,
    pub private: bool,
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What appending did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, with the next seq.
    New(Message),
    /// The sender already sent this `client_msg_id`: nothing was stored; here
    /// is the original (same id, same seq), to acknowledge again.
    Duplicate(Message),
}

impl Appended {
    pub fn message(&self) -> &Message {
        match self {
            Appended::New(m) | Appended::Duplicate(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ["bot", "queued", "assigned", "resolved", "closed"] {
            assert_eq!(s.parse::<ConversationStatus>().unwrap().as_str(), s);
        }
        for s in ["visitor", "agent", "bot", "system"] {
            assert_eq!(s.parse::<SenderKind>().unwrap().as_str(), s);
            assert_eq!(
                serde_json::to_value(s.parse::<SenderKind>().unwrap()).unwrap(),
                s
            );
        }
        assert!("open".parse::<ConversationStatus>().is_err());
    }
}
