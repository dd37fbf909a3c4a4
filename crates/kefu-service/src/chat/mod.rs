//! Live chat use cases: inboxes (admin, `inboxes.rs`), the widget's
//! visitors (`visitors.rs`), agents' conversations (`conversations.rs`),
//! and what they share here: storing a message and announcing it.

mod conversations;
mod inboxes;
mod visitors;

pub use conversations::ConversationQuery;
pub(crate) use conversations::{keyset_cursor, parse_keyset_cursor, reopening};
pub use inboxes::{check_origin, normalise_origin, InboxPatch, NewInboxInput};
pub use visitors::{Identity, Visitor, WidgetSession};

use crate::auth::tokens::{random_secret, VisitorClaims};
use crate::context::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::{Access, Services};
use kefu_domain::bus::{Event, Topic};
use kefu_domain::chat::*;
use kefu_domain::routing::AssignmentReason;
use kefu_domain::{Action, ContactId, ConversationId, InboxId, MessageId, WorkspaceId};
use serde_json::json;

/// A message as stored, and whether it was a resend.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    /// The sender had sent this `client_msg_id` before: nothing new stored.
    pub duplicate: bool,
}

/// Default and largest page of messages or conversations.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

impl Services {
    /// Body within the configured length, not blank; a usable idempotency key.
    /// A message with files may have no text.
    fn check_message_with(
        &self,
        body: &str,
        client_msg_id: &str,
        has_files: bool,
    ) -> ServiceResult<()> {
        let mut c = Checks::new();
        if body.trim().is_empty() && !has_files {
            c.fail("body", "required");
        } else if body.chars().count() > self.chat.max_message_chars {
            c.fail("body", "too_long");
        } else if body.contains('\0') {
            // No engine stores NUL in text (PostgreSQL refuses it).
            c.fail("body", "invalid_character");
        }
        let id = client_msg_id;
        if id.is_empty() || id.len() > 64 || id.chars().any(|ch| ch.is_control()) {
            c.fail("client_msg_id", "invalid");
        }
        c.finish()
    }

    fn new_message(
        &self,
        sender_kind: SenderKind,
        sender_id: uuid::Uuid,
        body: &str,
        private: bool,
        client_msg_id: Option<&str>,
    ) -> NewMessage {
        NewMessage {
            id: MessageId::new(),
            sender_kind,
            sender_id: Some(sender_id),
            sender_name: None,
            body: body.to_string(),
            private,
            client_msg_id: client_msg_id.map(str::to_string),
            created_at: self.clock.now(),
            meta: None,
        }
    }

    /// What an append means to the caller; a new message is announced.
    pub(crate) fn appended(&self, conversation: &Conversation, appended: Appended) -> Sent {
        let duplicate = matches!(appended, Appended::Duplicate(_));
        let message = self.with_links(match appended {
            Appended::New(m) | Appended::Duplicate(m) => m,
        });
        if !duplicate {
            self.metrics.message(message.sender_kind);
            self.announce(Event::MessageCreated {
                message: message.clone(),
                contact: conversation.contact_id,
                assignee: conversation.assignee_id,
                team: conversation.team_id,
            });
        }
        Sent { message, duplicate }
    }

    async fn append(&self, conversation: &Conversation, msg: &NewMessage) -> ServiceResult<Sent> {
        // The status is checked in the append's own statement: checking the
        // conversation read before it let a message land in a conversation
        // closed in between. The event names the conversation as the
        // append left it (its assignee now, not at the earlier read).
        let (appended, after) = self
            .store
            .append_checked(conversation.workspace_id, conversation.id, None, msg)
            .await?;
        Ok(self.appended(&after, appended))
    }

    /// Rings the doorbell after a commit: to the workspace's agents and to
    /// the contact's widget sockets.
    pub(crate) fn announce(&self, event: Event) {
        let (ws, contact) = (event.workspace(), event.contact());
        let event = std::sync::Arc::new(event);
        if let Some(ws) = ws {
            self.bus.publish(&Topic::Workspace(ws), event.clone());
        }
        if let Some(contact) = contact {
            self.bus.publish(&Topic::Contact(contact), event);
        }
    }

    /// One page of a conversation's log, oldest first.
    async fn page(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        window: Window,
        limit: i64,
        include_private: bool,
    ) -> ServiceResult<Vec<Message>> {
        let limit = limit.clamp(1, MAX_PAGE);
        let found = match window {
            Window::After(seq) => {
                self.store
                    .messages_after(ws, id, seq, limit, include_private)
                    .await?
            }
            Window::Before(seq) => {
                self.store
                    .messages_before(ws, id, seq, limit, include_private)
                    .await?
            }
        };
        Ok(found.into_iter().map(|m| self.with_links(m)).collect())
    }
}

/// Which page of a conversation's log: after a seq (catching up, from the
/// start with 0) or the newest before one (scrolling back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    After(i64),
    Before(i64),
}
