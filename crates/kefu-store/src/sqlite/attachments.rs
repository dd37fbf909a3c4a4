//! Attachments' records: created at upload, claimed by a message.

use super::SqliteStore;
use crate::{corrupt, db};
use async_trait::async_trait;
use kefu_domain::attachments::{Attachment, Uploader};
use kefu_domain::store::AttachmentStore;
use kefu_domain::{AttachmentId, ConversationId, MessageId, StoreError, StoreResult, WorkspaceId};
use sqlx::{sqlite::SqliteRow, QueryBuilder, Row, Sqlite};

fn attachment(row: &SqliteRow) -> StoreResult<Attachment> {
    let id = |c: &str| -> StoreResult<uuid::Uuid> { row.try_get(c).map_err(db) };
    let uploader_id = id("uploader_id")?;
    let uploader = match row
        .try_get::<String, _>("uploader_kind")
        .map_err(db)?
        .as_str()
    {
        "visitor" => Uploader::Visitor(uploader_id.into()),
        "agent" => Uploader::Agent(uploader_id.into()),
        _ => return Err(corrupt("attachments.uploader_kind")),
    };
    Ok(Attachment {
        id: id("id")?.into(),
        workspace_id: id("workspace_id")?.into(),
        uploader,
        conversation_id: row
            .try_get::<Option<uuid::Uuid>, _>("conversation_id")
            .map_err(db)?
            .map(ConversationId),
        message_id: row
            .try_get::<Option<uuid::Uuid>, _>("message_id")
            .map_err(db)?
            .map(MessageId),
        filename: row.try_get("filename").map_err(db)?,
        content_type: row.try_get("content_type").map_err(db)?,
        bytes: row.try_get("bytes").map_err(db)?,
        sha256: row.try_get("sha256").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn create_attachment(&self, a: &Attachment) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO attachments (id, workspace_id, uploader_kind, uploader_id, conversation_id, \
             message_id, filename, content_type, bytes, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(a.id.0)
        .bind(a.workspace_id.0)
        .bind(a.uploader.kind())
        .bind(a.uploader.id())
        .bind(a.conversation_id.map(|c| c.0))
        .bind(a.message_id.map(|m| m.0))
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.bytes)
        .bind(&a.sha256)
        .bind(a.created_at)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn get_attachment(&self, ws: WorkspaceId, id: AttachmentId) -> StoreResult<Attachment> {
        let row = sqlx::query("SELECT * FROM attachments WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("attachment"))?;
        attachment(&row)
    }

    async fn claim_attachments(
        &self,
        ws: WorkspaceId,
        ids: &[AttachmentId],
        uploader: Uploader,
        conversation: ConversationId,
        message: MessageId,
    ) -> StoreResult<Vec<Attachment>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let mut q = QueryBuilder::<Sqlite>::new("UPDATE attachments SET conversation_id = ");
        q.push_bind(conversation.0)
            .push(", message_id = COALESCE(message_id, ")
            .push_bind(message.0)
            .push(") WHERE workspace_id = ")
            .push_bind(ws.0)
            .push(" AND uploader_kind = ")
            .push_bind(uploader.kind())
            .push(" AND uploader_id = ")
            .push_bind(uploader.id())
            .push(" AND (conversation_id IS NULL OR conversation_id = ")
            .push_bind(conversation.0)
            .push(") AND id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.0);
        }
        q.push(") RETURNING *");
        let rows = q.build().fetch_all(&mut *tx).await.map_err(db)?;
        let mut found: Vec<Attachment> = rows.iter().map(attachment).collect::<StoreResult<_>>()?;
        let mut wanted: Vec<AttachmentId> = ids.to_vec();
        wanted.sort_by_key(|a| a.0);
        wanted.dedup();
        if found.len() != wanted.len() {
            // Rolled back on drop: nothing is claimed.
            return Err(StoreError::NotFound("attachment"));
        }
        tx.commit().await.map_err(db)?;
        found.sort_by_key(|a| ids.iter().position(|i| *i == a.id));
        Ok(found)
    }

    async fn attachment_bytes(&self, ws: WorkspaceId) -> StoreResult<i64> {
        let total: Option<i64> =
            sqlx::query_scalar("SELECT SUM(bytes) FROM attachments WHERE workspace_id = $1")
                .bind(ws.0)
                .fetch_one(&self.reader)
                .await
                .map_err(db)?;
        Ok(total.unwrap_or(0))
    }

    async fn take_orphan_attachments(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(WorkspaceId, kefu_domain::AttachmentId)>> {
        let rows: Vec<(uuid::Uuid, uuid::Uuid)> = sqlx::query_as(
            "DELETE FROM attachments WHERE conversation_id IS NULL AND created_at < $1 AND id IN \
             (SELECT id FROM attachments WHERE conversation_id IS NULL AND created_at < $1 LIMIT $2) \
             RETURNING workspace_id, id",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.writer)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(w, a)| (WorkspaceId(w), kefu_domain::AttachmentId(a)))
            .collect())
    }
}
