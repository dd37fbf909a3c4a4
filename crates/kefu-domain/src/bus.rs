//! The event bus port: a doorbell, never the truth. Events are published only
//! after the change is committed; a subscriber that misses one (lagged,
//! reconnected, another replica restarted) catches up from the database by
//! sequence number (DESIGN.md §3).

use crate::chat::{Conversation, Message};
use crate::ids::{ContactId, ConversationId, UserId, WorkspaceId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Serialisable so that a cluster bus can carry it between replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A message was stored. `assignee` and `contact` let subscribers decide
    /// who may see it without another query.
    MessageCreated {
        message: Message,
        contact: ContactId,
        assignee: Option<UserId>,
    },
    ConversationUpdated {
        conversation: Conversation,
    },
}

impl Event {
    pub fn workspace(&self) -> WorkspaceId {
        match self {
            Event::MessageCreated { message, .. } => message.workspace_id,
            Event::ConversationUpdated { conversation } => conversation.workspace_id,
        }
    }

    pub fn conversation(&self) -> ConversationId {
        match self {
            Event::MessageCreated { message, .. } => message.conversation_id,
            Event::ConversationUpdated { conversation } => conversation.id,
        }
    }
}

/// Where events are addressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everything in a workspace (agents filter by what they may see).
    Workspace(WorkspaceId),
    /// Everything about one contact's conversations (their widget sockets).
    Contact(ContactId),
}

impl Topic {
    pub fn key(&self) -> String {
        match self {
            Topic::Workspace(w) => format!("workspace:{w}"),
            Topic::Contact(c) => format!("contact:{c}"),
        }
    }
}

pub trait Bus: Send + Sync + 'static {
    /// Fire and forget: a bus fault must never fail the (committed) change.
    fn publish(&self, topic: &Topic, event: Arc<Event>);
    fn subscribe(&self, topic: &Topic) -> broadcast::Receiver<Arc<Event>>;
    /// Whether the bus is healthy (for `/readyz`).
    fn healthy(&self) -> bool {
        true
    }
}
