//! Invitations to join a workspace.

use super::workspaces::ensure_user;
use super::{rows, PgStore};
use crate::{db, map_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::audit::AuditRecord;
use kefu_domain::model::*;
use kefu_domain::store::InvitationStore;
use kefu_domain::{InvitationId, StoreError, StoreResult, UserId, WorkspaceId};

#[async_trait]
impl InvitationStore for PgStore {
    async fn create_invitation(&self, inv: &Invitation, audit: AuditRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let member: Option<bool> = sqlx::query_scalar(
            "SELECT TRUE FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.workspace_id = $1 AND u.email = $2",
        )
        .bind(inv.workspace_id.0)
        .bind(&inv.email)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if member.is_some() {
            return Err(StoreError::Conflict("already_member"));
        }
        sqlx::query(
            "INSERT INTO invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(inv.id.0)
        .bind(inv.workspace_id.0)
        .bind(&inv.email)
        .bind(inv.role.as_str())
        .bind(&inv.token_hash)
        .bind(inv.invited_by.0)
        .bind(inv.created_at)
        .bind(inv.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "invitation_exists"))?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn list_invitations(
        &self,
        ws: WorkspaceId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>> {
        let found = sqlx::query(
            "SELECT * FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL \
             AND revoked_at IS NULL ORDER BY created_at DESC",
        )
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let all: StoreResult<Vec<Invitation>> = found.iter().map(rows::invitation).collect();
        Ok(all?.into_iter().filter(|i| i.expires_at > now).collect())
    }

    async fn find_invitation(&self, token_hash: &str) -> StoreResult<Option<Invitation>> {
        let row =
            sqlx::query("SELECT * FROM invitations WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        row.as_ref().map(rows::invitation).transpose()
    }

    async fn revoke_invitation(
        &self,
        ws: WorkspaceId,
        id: InvitationId,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query(
            "UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND workspace_id = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(audit.created_at)
        .bind(id.0)
        .bind(ws.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("invitation"));
        }
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn accept_invitation(
        &self,
        id: InvitationId,
        invitee: &Invitee,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<UserId> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = sqlx::query(
            "SELECT * FROM invitations WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL \
             FOR UPDATE",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("invitation"))?;
        let inv = rows::invitation(&row)?;
        if inv.expires_at <= now {
            return Err(StoreError::NotFound("invitation"));
        }
        sqlx::query("UPDATE invitations SET accepted_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let user = ensure_user(&mut tx, invitee).await?;
        sqlx::query("INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(inv.workspace_id.0)
            .bind(user.0)
            .bind(inv.role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, "already_member"))?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(user)
    }
}
