//! Reading and appending the hash-chained audit log.

use super::{rows, SqliteStore};
use crate::db;
use async_trait::async_trait;
use kefu_domain::audit::{AuditEntry, AuditRecord};
use kefu_domain::store::{AuditPage, AuditStore};
use kefu_domain::{StoreError, StoreResult, WorkspaceId};
use sqlx::Row;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, audit: AuditRecord) -> StoreResult<AuditEntry> {
        let mut tx = self.write_tx().await?;
        let entry = rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(entry)
    }

    async fn list_audit(
        &self,
        ws: WorkspaceId,
        before_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<AuditPage> {
        let found = sqlx::query(
            "SELECT * FROM audit_log WHERE workspace_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(ws.0)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit + 1)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let mut entries: Vec<AuditEntry> = found
            .iter()
            .map(rows::audit_entry)
            .collect::<StoreResult<_>>()?;
        let next_before_seq = if entries.len() as i64 > limit {
            entries.truncate(limit as usize);
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(AuditPage {
            entries,
            next_before_seq,
        })
    }

    async fn audit_chain(&self, ws: WorkspaceId) -> StoreResult<(Vec<AuditEntry>, i64, String)> {
        // One read transaction, so head and entries come from one snapshot.
        let mut tx = self.reader.begin().await.map_err(db)?;
        let head =
            sqlx::query("SELECT audit_head_seq, audit_head_hash FROM workspaces WHERE id = $1")
                .bind(ws.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?
                .ok_or(StoreError::NotFound("workspace"))?;
        let found = sqlx::query("SELECT * FROM audit_log WHERE workspace_id = $1 ORDER BY seq")
            .bind(ws.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let entries = found
            .iter()
            .map(rows::audit_entry)
            .collect::<StoreResult<_>>()?;
        Ok((
            entries,
            head.try_get(0).map_err(db)?,
            head.try_get(1).map_err(db)?,
        ))
    }

    fn audit_chain_key(&self) -> StoreResult<kefu_domain::audit::ChainKey> {
        self.sealer.chain()
    }

    async fn audit_heads(&self) -> StoreResult<Vec<(WorkspaceId, i64, String)>> {
        let found =
            sqlx::query("SELECT id, audit_head_seq, audit_head_hash FROM workspaces ORDER BY id")
                .fetch_all(&self.reader)
                .await
                .map_err(db)?;
        found
            .iter()
            .map(|r| {
                Ok((
                    WorkspaceId(r.try_get(0).map_err(db)?),
                    r.try_get(1).map_err(db)?,
                    r.try_get(2).map_err(db)?,
                ))
            })
            .collect()
    }
}
