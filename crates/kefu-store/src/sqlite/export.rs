//! The workspace export's keyset reads (SQL in `crate::export`), on the
//! read pool: an export never waits for, or holds up, the writer.

use super::chat::{contact, conversation, message};
use super::SqliteStore;
use crate::db;
use crate::export::{message_cursor, start, CONTACTS, CONVERSATIONS};
use async_trait::async_trait;
use kefu_domain::chat::{Contact, Message};
use kefu_domain::store::{ExportStore, ExportedConversation};
use kefu_domain::{ContactId, ConversationId, StoreResult, WorkspaceId};
use sqlx::{QueryBuilder, Row, Sqlite};

#[async_trait]
impl ExportStore for SqliteStore {
    async fn export_contacts(
        &self,
        ws: WorkspaceId,
        after: Option<ContactId>,
        limit: i64,
    ) -> StoreResult<Vec<Contact>> {
        let rows = sqlx::query(CONTACTS)
            .bind(ws.0)
            .bind(start(after.map(|c| c.0)))
            .bind(limit.max(0))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(contact).collect()
    }

    async fn export_conversations(
        &self,
        ws: WorkspaceId,
        after: Option<ConversationId>,
        limit: i64,
    ) -> StoreResult<Vec<ExportedConversation>> {
        let rows = sqlx::query(CONVERSATIONS)
            .bind(ws.0)
            .bind(start(after.map(|c| c.0)))
            .bind(limit.max(0))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(ExportedConversation {
                    conversation: conversation(row)?,
                    first_response_at: row.try_get("first_response_at").map_err(db)?,
                    resolved_at: row.try_get("resolved_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn export_messages(
        &self,
        ws: WorkspaceId,
        conversations: &[ConversationId],
        after: Option<(ConversationId, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        if conversations.is_empty() {
            return Ok(Vec::new());
        }
        let (from, seq) = message_cursor(after);
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM messages WHERE workspace_id = ");
        q.push_bind(ws.0).push(" AND conversation_id IN (");
        let mut ids = q.separated(", ");
        for c in conversations {
            ids.push_bind(c.0);
        }
        q.push(") AND (conversation_id > ")
            .push_bind(from)
            .push(" OR (conversation_id = ")
            .push_bind(from)
            .push(" AND seq > ")
            .push_bind(seq)
            .push(")) ORDER BY conversation_id, seq LIMIT ")
            .push_bind(limit.max(0));
        let rows = q.build().fetch_all(&self.reader).await.map_err(db)?;
        rows.iter().map(message).collect()
    }
}
