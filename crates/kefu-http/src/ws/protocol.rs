//! The socket's wire protocol, version 1: one JSON object per text frame,
//! tagged by `type`. Documented in docs/protocol.md; a change that breaks a
//! client bumps [`PROTOCOL`].

use crate::routes::dto::{ConversationDto, MessageDto};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const PROTOCOL: u32 = 1;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum ClientFrame {
    #[serde(rename = "message.send")]
    MessageSend {
        conversation_id: Option<Uuid>,
        client_msg_id: String,
        body: String,
        /// Agents only: an internal note.
        #[serde(default)]
        private: bool,
    },
    #[serde(rename = "sync")]
    Sync {
        conversation_id: Uuid,
        after_seq: i64,
    },
    #[serde(rename = "typing")]
    Typing { conversation_id: Uuid, on: bool },
    #[serde(rename = "read")]
    Read { conversation_id: Uuid, seq: i64 },
    #[serde(rename = "ping")]
    Ping,
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ServerFrame {
    #[serde(rename = "hello")]
    Hello {
        protocol: u32,
        /// `visitor` or `agent`.
        role: &'static str,
        /// Send something (a `ping` will do) at least this often.
        idle_timeout_secs: u64,
    },
    #[serde(rename = "message.ack")]
    MessageAck {
        client_msg_id: String,
        conversation_id: Uuid,
        seq: i64,
        message_id: Uuid,
    },
    #[serde(rename = "message.created")]
    MessageCreated {
        conversation_id: Uuid,
        seq: i64,
        message: MessageDto,
    },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated { conversation: ConversationDto },
    #[serde(rename = "pong")]
    Pong,
    #[serde(rename = "error")]
    Error {
        code: String,
        message: String,
        /// The `client_msg_id` of the frame that failed, when it had one.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

impl ServerFrame {
    pub fn error(
        code: impl Into<String>,
        message: impl Into<String>,
        reference: Option<String>,
    ) -> Self {
        ServerFrame::Error {
            code: code.into(),
            message: message.into(),
            reference,
        }
    }
}
