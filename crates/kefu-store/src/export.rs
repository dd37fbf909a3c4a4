//! SQL of the workspace export's keyset reads, the same on both engines
//! (only the list of conversations in [`MESSAGES_PG`] is spelt per engine:
//! PostgreSQL binds one array, SQLite one placeholder per id).
//!
//! Each read starts strictly after a cursor: the nil UUID (below every
//! UUIDv7) stands for "from the start", so every query has one shape and
//! walks its index `(workspace_id, id)` — or, for messages, the unique
//! `(conversation_id, seq)` — from where the last page ended.

pub(crate) const CONTACTS: &str = "SELECT * FROM contacts WHERE workspace_id = $1 AND id > $2 \
     ORDER BY id LIMIT $3";

pub(crate) const CONVERSATIONS: &str = "SELECT * FROM conversations \
     WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3";

/// `$1` workspace, `$2` the conversations (a `uuid[]`), `$3`/`$4` the
/// cursor (conversation, seq), `$5` the limit.
pub(crate) const MESSAGES_PG: &str = "SELECT * FROM messages WHERE workspace_id = $1 \
     AND conversation_id = ANY($2) \
     AND (conversation_id > $3 OR (conversation_id = $3 AND seq > $4)) \
     ORDER BY conversation_id, seq LIMIT $5";

/// The cursor as bound: the nil UUID (and seq 0) before the first page.
pub(crate) fn start(after: Option<uuid::Uuid>) -> uuid::Uuid {
    after.unwrap_or(uuid::Uuid::nil())
}

pub(crate) fn message_cursor(
    after: Option<(kefu_domain::ConversationId, i64)>,
) -> (uuid::Uuid, i64) {
    after.map_or((uuid::Uuid::nil(), 0), |(c, seq)| (c.0, seq))
}
