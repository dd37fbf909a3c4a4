//! The socket's wire protocol, version 1: one JSON object per text frame,
//! tagged by `type`. Documented in docs/protocol.md; a change that breaks a
//! client bumps [`PROTOCOL`].

use crate::routes::dto::{ConversationDto, MessageDto, QueueDto, VisitorConversationDto};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const PROTOCOL: u32 = 1;

/// What a client may send.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum ClientFrame {
    #[serde(rename = "message.send")]
    MessageSend {
        conversation_id: Option<Uuid>,
        client_msg_id: String,
        /// May be empty (`""`) when the message carries files.
        body: String,
        /// Agents only: an internal note.
        #[serde(default)]
        private: bool,
        /// Files uploaded beforehand over HTTP.
        #[serde(default)]
        attachment_ids: Vec<Uuid>,
    },
    #[serde(rename = "sync")]
    Sync {
        conversation_id: Uuid,
        after_seq: i64,
    },
    #[serde(rename = "typing")]
    Typing {
        conversation_id: Uuid,
        on: bool,
        /// Agents writing a private note: not shown to the visitor.
        #[serde(default)]
        private: bool,
    },
    #[serde(rename = "read")]
    Read { conversation_id: Uuid, seq: i64 },
    /// Members only: this console has the conversation open (`on`, repeated
    /// while it stays open) or left it. Relayed to colleagues who may see
    /// the conversation, never to the visitor.
    #[serde(rename = "viewing")]
    Viewing { conversation_id: Uuid, on: bool },
    #[serde(rename = "ping")]
    Ping,
    /// A fresh token for this socket before its token expires (the same
    /// member, or the same visitor): the socket then lives until the new
    /// token's expiry instead of closing with 4002.
    #[serde(rename = "auth")]
    Auth { token: String },
}

/// Decodes one text frame from a client: the frame, or the `error` frame
/// that answers it (nothing of a refused frame is acted on). Text holding
/// NUL (`\u0000`, in any string or key) is `validation_failed`, naming the
/// field; anything else that is not one whole [`ClientFrame`] is
/// `invalid_frame` (an array in the enum's field order too, which serde
/// would take). Frames over the size limit never get here: the socket
/// layer closes the connection with 1009 first.
pub fn decode(text: &str) -> Result<ClientFrame, Box<ServerFrame>> {
    if let Some(field) = crate::extract::nul_field(text.as_bytes()) {
        let reference = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v["client_msg_id"].as_str().map(str::to_string))
            .filter(|r| !r.contains('\0'));
        return Err(Box::new(ServerFrame::error(
            "validation_failed",
            format!(
                "Text may not contain the NUL character (U+0000). {{\"{field}\":\"invalid_character\"}}"
            ),
            reference,
        )));
    }
    // serde reads a tagged enum from an array too (`["ping"]`, or a
    // `message.send` with its fields in order): not our protocol.
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(Box::new(ServerFrame::error(
            "invalid_frame",
            "Not a valid frame: a frame is one JSON object.",
            None,
        )));
    }
    serde_json::from_str(text).map_err(|e| {
        Box::new(ServerFrame::error(
            "invalid_frame",
            format!("Not a valid frame: {e}"),
            None,
        ))
    })
}

/// A conversation as the peer may see it: agents get every field, visitors
/// the public ones (plus their place in the queue while queued).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ConversationView {
    Agent(ConversationDto),
    Visitor(VisitorConversationDto),
}

/// Who is typing or has read: `{"type":"visitor"}` or
/// `{"type":"agent","id":…}`.
#[derive(Debug, Serialize)]
pub struct ParticipantDto {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
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
        /// The socket's token expires in this many seconds: then the socket
        /// closes with 4002, unless an `auth` frame brought a newer token.
        token_expires_in_secs: i64,
    },
    /// An `auth` frame was accepted.
    #[serde(rename = "auth.ok")]
    AuthOk { token_expires_in_secs: i64 },
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
    ConversationUpdated { conversation: ConversationView },
    /// An agent could see this conversation until now (it was assigned to
    /// someone else or moved to a team they are not in): drop it from view.
    #[serde(rename = "conversation.hidden")]
    ConversationHidden { conversation_id: Uuid },
    /// The visitor's place in the queue changed (sent with every update of
    /// a queued conversation and after `sync`).
    #[serde(rename = "queue")]
    Queue {
        conversation_id: Uuid,
        #[serde(flatten)]
        queue: QueueDto,
    },
    #[serde(rename = "typing")]
    Typing {
        conversation_id: Uuid,
        who: ParticipantDto,
        on: bool,
        /// To members: a colleague writing a private note (visitors never
        /// see those).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        private: bool,
    },
    /// To members: a colleague has the conversation open, or left it.
    #[serde(rename = "viewing")]
    Viewing {
        conversation_id: Uuid,
        who: ParticipantDto,
        on: bool,
    },
    #[serde(rename = "read")]
    Read {
        conversation_id: Uuid,
        who: ParticipantDto,
        seq: i64,
    },
    /// A piece of a bot reply still being written (by a language model);
    /// the finished reply follows as `message.created` with this
    /// `message_id`, which replaces the pieces.
    #[serde(rename = "message.delta")]
    MessageDelta {
        conversation_id: Uuid,
        message_id: Uuid,
        delta: String,
    },
    #[serde(rename = "pong")]
    Pong,
    #[serde(rename = "error")]
    Error {
        code: String,
        message: String,
        /// The `client_msg_id` of the frame that failed, when it had one.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// `rate_limited`: seconds until the frame may be sent again.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
}

impl ServerFrame {
    /// The `message.delta` frame of a bot draft.
    pub fn delta(
        about: &kefu_domain::bus::About,
        message_id: kefu_domain::MessageId,
        delta: &str,
    ) -> Self {
        ServerFrame::MessageDelta {
            conversation_id: about.conversation_id.0,
            message_id: message_id.0,
            delta: delta.to_string(),
        }
    }

    pub fn error(
        code: impl Into<String>,
        message: impl Into<String>,
        reference: Option<String>,
    ) -> Self {
        ServerFrame::Error {
            code: code.into(),
            message: message.into(),
            reference,
            retry_after: None,
        }
    }

    /// A frame refused by a rate limit: retry in `retry_after` seconds.
    pub fn rate_limited(retry_after: u64, reference: Option<String>) -> Self {
        ServerFrame::Error {
            code: "rate_limited".into(),
            message: format!("Too many frames; retry in {retry_after} s."),
            reference,
            retry_after: Some(retry_after),
        }
    }
}
