//! Scoped API tokens for integrations.

use super::{rows, PgStore};
use crate::{db, map_err, scopes_to_text};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::audit::AuditRecord;
use kefu_domain::model::ApiToken;
use kefu_domain::store::ApiTokenStore;
use kefu_domain::{ApiTokenId, StoreError, StoreResult, WorkspaceId};

#[async_trait]
impl ApiTokenStore for PgStore {
    async fn create_api_token(&self, t: &ApiToken, audit: AuditRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO api_tokens (id, workspace_id, name, token_hash, prefix, scopes, created_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(t.id.0)
        .bind(t.workspace_id.0)
        .bind(&t.name)
        .bind(&t.token_hash)
        .bind(&t.prefix)
        .bind(scopes_to_text(&t.scopes))
        .bind(t.created_by.0)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "token_exists"))?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn list_api_tokens(&self, ws: WorkspaceId) -> StoreResult<Vec<ApiToken>> {
        let found = sqlx::query(
            "SELECT * FROM api_tokens WHERE workspace_id = $1 ORDER BY created_at DESC",
        )
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found.iter().map(rows::api_token).collect()
    }

    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(rows::api_token).transpose()
    }

    async fn revoke_api_token(
        &self,
        ws: WorkspaceId,
        id: ApiTokenId,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND workspace_id = $3 AND revoked_at IS NULL",
        )
        .bind(audit.created_at)
        .bind(id.0)
        .bind(ws.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("api_token"));
        }
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn touch_api_token(&self, id: ApiTokenId, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
