//! What runs by itself (PostgreSQL): auto-resolve's candidates, snoozes, the
//! presence timeout, the visitor's visit.

use super::chat::{contact, conversation, inbox};
use super::rows;
use super::PgStore;
use crate::{automation, db, map_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::audit::AuditRecord;
use kefu_domain::chat::{BlockedRange, Contact, Conversation, Inbox, Visit};
use kefu_domain::store::AutomationStore;
use kefu_domain::{
    BlockedRangeId, ContactId, ConversationId, InboxId, StoreError, StoreResult, UserId,
    WorkspaceId,
};
use sqlx::Row;

#[async_trait]
impl AutomationStore for PgStore {
    async fn automated_inboxes(&self) -> StoreResult<Vec<Inbox>> {
        let found = sqlx::query(automation::AUTOMATED_INBOXES)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        found.iter().map(|r| inbox(r, &self.sealer)).collect()
    }

    async fn stale_conversations(
        &self,
        ws: WorkspaceId,
        inbox: InboxId,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationId>> {
        let found: Vec<uuid::Uuid> = sqlx::query_scalar(automation::STALE_CONVERSATIONS)
            .bind(ws.0)
            .bind(inbox.0)
            .bind(cutoff)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(found.into_iter().map(ConversationId).collect())
    }

    async fn snooze_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> StoreResult<Conversation> {
        let row = sqlx::query(automation::SNOOZE)
            .bind(until)
            .bind(at)
            .bind(id.0)
            .bind(ws.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        match row.first() {
            Some(r) => conversation(r),
            None => {
                // Absent, or not assigned (snoozing only).
                let exists: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM conversations WHERE id = $1 AND workspace_id = $2",
                )
                .bind(id.0)
                .bind(ws.0)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
                Err(match exists {
                    0 => StoreError::NotFound("conversation"),
                    _ => StoreError::Conflict("invalid_transition"),
                })
            }
        }
    }

    async fn wake_snoozed(&self, at: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Conversation>> {
        let found = sqlx::query(automation::WAKE)
            .bind(at)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        found.iter().map(conversation).collect()
    }

    async fn touch_presence(&self, users: &[UserId], at: DateTime<Utc>) -> StoreResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        for u in users {
            sqlx::query(automation::TOUCH)
                .bind(at)
                .bind(u.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn restore_presence(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<WorkspaceId>> {
        let found: Vec<uuid::Uuid> = sqlx::query_scalar(automation::RESTORE)
            .bind(at)
            .bind(user.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(found.into_iter().map(WorkspaceId).collect())
    }

    async fn expire_presence(&self, cutoff: DateTime<Utc>, at: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(automation::EXPIRE)
            .bind(at)
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn record_visit(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        v: &Visit,
    ) -> StoreResult<()> {
        let text = serde_json::to_string(v).map_err(StoreError::backend)?;
        let done = sqlx::query(automation::RECORD_VISIT)
            .bind(text)
            .bind(contact.0)
            .bind(ws.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("contact"));
        }
        Ok(())
    }

    async fn set_contact_blocked(
        &self,
        ws: WorkspaceId,
        id: ContactId,
        at: Option<DateTime<Utc>>,
        audit: AuditRecord,
    ) -> StoreResult<Contact> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = sqlx::query(
            "UPDATE contacts SET blocked_at = $1 WHERE id = $2 AND workspace_id = $3 \
             AND merged_into IS NULL RETURNING *",
        )
        .bind(at)
        .bind(id.0)
        .bind(ws.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("contact"))?;
        let c = contact(&row)?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(c)
    }

    async fn blocked_ranges(&self, ws: WorkspaceId) -> StoreResult<Vec<BlockedRange>> {
        let found = sqlx::query(
            "SELECT * FROM blocked_ranges WHERE workspace_id = $1 ORDER BY created_at, id",
        )
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .iter()
            .map(|r| {
                Ok(BlockedRange {
                    id: BlockedRangeId(r.try_get("id").map_err(db)?),
                    workspace_id: WorkspaceId(r.try_get("workspace_id").map_err(db)?),
                    cidr: r.try_get("cidr").map_err(db)?,
                    note: r.try_get("note").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn add_blocked_range(&self, b: &BlockedRange, audit: AuditRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO blocked_ranges (id, workspace_id, cidr, note, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(b.id.0)
        .bind(b.workspace_id.0)
        .bind(&b.cidr)
        .bind(&b.note)
        .bind(b.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "range_exists"))?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn remove_blocked_range(
        &self,
        ws: WorkspaceId,
        id: BlockedRangeId,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query("DELETE FROM blocked_ranges WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("blocked_range"));
        }
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn last_seen(&self, user: UserId) -> StoreResult<Option<DateTime<Utc>>> {
        let rows: Vec<Option<DateTime<Utc>>> =
            sqlx::query_scalar("SELECT last_seen_at FROM agent_presence WHERE user_id = $1")
                .bind(user.0)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        Ok(rows.into_iter().flatten().max())
    }
}
