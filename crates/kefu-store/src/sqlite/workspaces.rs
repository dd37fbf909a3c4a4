//! Workspaces (tenants) and their settings.

use super::{rows, SqliteStore};
use crate::{db, map_err};
use async_trait::async_trait;
use kefu_domain::audit::AuditRecord;
use kefu_domain::model::*;
use kefu_domain::store::WorkspaceStore;
use kefu_domain::{Role, StoreError, StoreResult, UserId, WorkspaceId};
use sqlx::{Sqlite, Transaction};

pub(super) async fn insert_user(tx: &mut Transaction<'_, Sqlite>, u: &NewUser) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(u.id.0)
    .bind(&u.email)
    .bind(&u.name)
    .bind(&u.password_hash)
    .bind(u.created_at)
    .execute(&mut **tx)
    .await
    .map_err(|e| map_err(e, "email_taken"))?;
    Ok(())
}

/// Resolves an invitee to a user id, creating the account when it is new.
pub(super) async fn ensure_user(
    tx: &mut Transaction<'_, Sqlite>,
    who: &Invitee,
) -> StoreResult<UserId> {
    match who {
        Invitee::New(u) => {
            insert_user(tx, u).await?;
            Ok(u.id)
        }
        Invitee::Existing(id) => {
            let found: Option<bool> = sqlx::query_scalar("SELECT TRUE FROM users WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            found.map(|_| *id).ok_or(StoreError::NotFound("user"))
        }
    }
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn create_workspace(
        &self,
        ws: &Workspace,
        owner: &Invitee,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO workspaces (id, name, require_admin_totp, created_at) VALUES ($1, $2, $3, $4)")
            .bind(ws.id.0)
            .bind(&ws.name)
            .bind(ws.require_admin_totp)
            .bind(ws.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, "workspace_exists"))?;
        let owner_id = ensure_user(&mut tx, owner).await?;
        sqlx::query("INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(ws.id.0)
            .bind(owner_id.0)
            .bind(Role::Owner.as_str())
            .bind(ws.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_workspace(&self, id: WorkspaceId) -> StoreResult<Workspace> {
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("workspace"))?;
        rows::workspace(&row)
    }

    async fn list_workspace_ids(&self) -> StoreResult<Vec<WorkspaceId>> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM workspaces ORDER BY id")
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        Ok(ids.into_iter().map(WorkspaceId).collect())
    }

    async fn update_workspace(
        &self,
        id: WorkspaceId,
        patch: &WorkspacePatch,
        audit: AuditRecord,
    ) -> StoreResult<Workspace> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE workspaces SET name = COALESCE($1, name), \
             require_admin_totp = COALESCE($2, require_admin_totp) WHERE id = $3",
        )
        .bind(&patch.name)
        .bind(patch.require_admin_totp)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("workspace"));
        }
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        let row = sqlx::query("SELECT * FROM workspaces WHERE id = $1")
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let ws = rows::workspace(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(ws)
    }
}
