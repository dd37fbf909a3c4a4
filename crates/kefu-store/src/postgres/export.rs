//! The workspace export's keyset reads (SQL in `crate::export`).

use super::chat::{contact, conversation, message};
use super::PgStore;
use crate::db;
use crate::export::{message_cursor, start, CONTACTS, CONVERSATIONS, MESSAGES_PG};
use async_trait::async_trait;
use kefu_domain::chat::{Contact, Message};
use kefu_domain::store::{ExportStore, ExportedConversation};
use kefu_domain::{ContactId, ConversationId, StoreResult, WorkspaceId};
use sqlx::Row;

#[async_trait]
impl ExportStore for PgStore {
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
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
        let ids: Vec<uuid::Uuid> = conversations.iter().map(|c| c.0).collect();
        let (from, seq) = message_cursor(after);
        let rows = sqlx::query(MESSAGES_PG)
            .bind(ws.0)
            .bind(&ids)
            .bind(from)
            .bind(seq)
            .bind(limit.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(message).collect()
    }
}
