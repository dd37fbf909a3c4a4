//! The event bus port: a doorbell, never the truth. Events are published only
//! after the change is committed; a subscriber that misses one (lagged,
//! reconnected, another replica restarted) catches up from the database by
//! sequence number (DESIGN.md §3).

use crate::chat::{Conversation, Message};
use crate::ids::{
    ArticleId, ContactId, ConversationId, MessageId, SessionId, TeamId, UserId, WorkspaceId,
};
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
        team: Option<TeamId>,
    },
    ConversationUpdated {
        conversation: Conversation,
    },
    /// Someone started or stopped typing (never stored).
    Typing {
        about: About,
        who: Participant,
        on: bool,
        /// An agent writing a private note: not shown to the visitor.
        private: bool,
    },
    /// A member has the conversation open in the console (`on`), or left
    /// it: the colleagues' collision cue. Never stored: a console repeats it
    /// while the conversation stays open, and one that falls silent is
    /// forgotten. Never shown to the visitor.
    Viewing {
        about: About,
        who: UserId,
        on: bool,
    },
    /// Someone has read up to `seq`.
    Read {
        about: About,
        who: Participant,
        seq: i64,
    },
    /// A piece of a bot reply being written by a language model (never
    /// stored: the finished reply arrives as `MessageCreated` with the same
    /// message id).
    BotDraft {
        about: About,
        message_id: MessageId,
        delta: String,
    },
    /// Articles changed (created, edited, deleted or re-embedded), or the
    /// workspace's synonym groups (`synonyms`): every replica refreshes them
    /// in its own search index from the database. (`synonyms` is left out
    /// when false, so replicas of the previous version read these events as
    /// before.)
    KnowledgeChanged {
        workspace_id: WorkspaceId,
        articles: Vec<ArticleId>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        synonyms: bool,
    },
    /// Someone's rights changed after the fact: open sockets it concerns
    /// re-check theirs at once (a signed-out session's sockets close, a
    /// removed member's stop seeing the workspace).
    AccessChanged {
        change: AccessChange,
    },
}

/// What changed about access, and so whose sockets re-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum AccessChange {
    /// A session ended (logout, revoked, refresh-token reuse, sign-out
    /// everywhere): on [`Topic::User`].
    SessionEnded {
        user_id: UserId,
        session_id: SessionId,
    },
    /// Every session of a user ended (password changed or reset, sign out
    /// everywhere), except `keep` when given: on [`Topic::User`].
    AllSessionsEnded {
        user_id: UserId,
        keep: Option<SessionId>,
    },
    /// A user's memberships, roles or second factor changed: on
    /// [`Topic::User`].
    User { user_id: UserId },
    /// A workspace's rules or teams changed for all of its members (admins
    /// must use 2FA, team membership): on [`Topic::Workspace`].
    Workspace { workspace_id: WorkspaceId },
    /// A contact was blocked or merged into another: their widget sockets
    /// re-check (a blocked one closes with 4003, a merged one with 4001).
    /// On [`Topic::Contact`].
    Contact { contact_id: ContactId },
}

impl AccessChange {
    /// Where the change is published.
    pub fn topic(&self) -> Topic {
        match self {
            AccessChange::SessionEnded { user_id, .. }
            | AccessChange::AllSessionsEnded { user_id, .. }
            | AccessChange::User { user_id } => Topic::User(*user_id),
            AccessChange::Workspace { workspace_id } => Topic::Workspace(*workspace_id),
            AccessChange::Contact { contact_id } => Topic::Contact(*contact_id),
        }
    }
}

/// The conversation an ephemeral event is about, with what subscribers need
/// to decide who may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct About {
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub assignee: Option<UserId>,
    pub team: Option<TeamId>,
}

/// Who did something: the visitor (contact) or a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Participant {
    Visitor(ContactId),
    Agent(UserId),
}

impl Event {
    /// The workspace it belongs to (none for a change of a user's access).
    pub fn workspace(&self) -> Option<WorkspaceId> {
        match self {
            Event::MessageCreated { message, .. } => Some(message.workspace_id),
            Event::ConversationUpdated { conversation } => Some(conversation.workspace_id),
            Event::Typing { about, .. }
            | Event::Viewing { about, .. }
            | Event::Read { about, .. }
            | Event::BotDraft { about, .. } => Some(about.workspace_id),
            Event::KnowledgeChanged { workspace_id, .. } => Some(*workspace_id),
            Event::AccessChanged {
                change: AccessChange::Workspace { workspace_id },
            } => Some(*workspace_id),
            Event::AccessChanged { .. } => None,
        }
    }

    /// The contact whose conversation it is about (none for knowledge events).
    pub fn contact(&self) -> Option<ContactId> {
        match self {
            Event::MessageCreated { contact, .. } => Some(*contact),
            Event::ConversationUpdated { conversation } => Some(conversation.contact_id),
            Event::Typing { about, .. }
            | Event::Read { about, .. }
            | Event::BotDraft { about, .. } => Some(about.contact_id),
            // Members only: not published to the visitor's topic.
            Event::Viewing { .. }
            | Event::KnowledgeChanged { .. }
            | Event::AccessChanged { .. } => None,
        }
    }

    /// The conversation's assignee and team, for visibility checks.
    pub fn placement(&self) -> (Option<UserId>, Option<TeamId>) {
        match self {
            Event::MessageCreated { assignee, team, .. } => (*assignee, *team),
            Event::ConversationUpdated { conversation } => {
                (conversation.assignee_id, conversation.team_id)
            }
            Event::Typing { about, .. }
            | Event::Viewing { about, .. }
            | Event::Read { about, .. }
            | Event::BotDraft { about, .. } => (about.assignee, about.team),
            Event::KnowledgeChanged { .. } | Event::AccessChanged { .. } => (None, None),
        }
    }

    pub fn conversation(&self) -> Option<ConversationId> {
        match self {
            Event::MessageCreated { message, .. } => Some(message.conversation_id),
            Event::ConversationUpdated { conversation } => Some(conversation.id),
            Event::Typing { about, .. }
            | Event::Viewing { about, .. }
            | Event::Read { about, .. }
            | Event::BotDraft { about, .. } => Some(about.conversation_id),
            Event::KnowledgeChanged { .. } | Event::AccessChanged { .. } => None,
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
    /// Knowledge-base changes, for every replica's search index.
    Knowledge,
    /// Changes to one member's sessions and rights (their open sockets).
    User(UserId),
}

impl Topic {
    pub fn key(&self) -> String {
        match self {
            Topic::Workspace(w) => format!("workspace:{w}"),
            Topic::Contact(c) => format!("contact:{c}"),
            Topic::Knowledge => "knowledge".to_string(),
            Topic::User(u) => format!("user:{u}"),
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
    /// Counters since start, for metrics.
    fn stats(&self) -> BusStats {
        BusStats::default()
    }
    /// Changes each time the bus may have lost events on their way here
    /// (a shared bus reconnected after an outage): whoever follows topics
    /// catches up from the database then — sockets tell their clients to
    /// `sync`, the search index reconciles. In process nothing is ever lost:
    /// the default never changes.
    fn resyncs(&self) -> tokio::sync::watch::Receiver<u64> {
        tokio::sync::watch::channel(0).1
    }
}

/// What a bus has done since start (for metrics; all zero in process,
/// where nothing crosses a network).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BusStats {
    /// Events handed to the shared bus (Redis) for the other replicas.
    pub published: u64,
    /// Events that did not reach it (down, queue full, failed publish).
    pub publish_failures: u64,
    /// Events received from other replicas.
    pub received: u64,
    /// Events from other replicas that this version could not decode.
    pub decode_failures: u64,
    /// Publish → receive delay of the received events, summed (seconds),
    /// and how many had a publish time.
    pub lag_seconds_sum: f64,
    pub lag_count: u64,
}
