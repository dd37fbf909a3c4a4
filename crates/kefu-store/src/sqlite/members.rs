//! Memberships: who belongs to which workspace, in which role.

use super::{rows, SqliteStore};
use crate::db;
use async_trait::async_trait;
use kefu_domain::audit::AuditRecord;
use kefu_domain::model::*;
use kefu_domain::store::MemberStore;
use kefu_domain::{Role, StoreError, StoreResult, UserId, WorkspaceId};
use sqlx::{Sqlite, Transaction};

const MEMBER_SELECT: &str = "SELECT m.user_id, u.email, u.name, m.role, m.created_at \
     FROM memberships m JOIN users u ON u.id = m.user_id";

/// Refuses a change that would leave the workspace with no owner.
async fn guard_last_owner(
    tx: &mut Transaction<'_, Sqlite>,
    ws: WorkspaceId,
    user: UserId,
    new_role: Option<Role>,
) -> StoreResult<Role> {
    let current: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(ws.0)
            .bind(user.0)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?;
    let current: Role = current
        .ok_or(StoreError::NotFound("member"))?
        .parse()
        .map_err(|_| crate::corrupt("memberships.role"))?;
    if current == Role::Owner && new_role != Some(Role::Owner) {
        let owners: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'",
        )
        .bind(ws.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
        if owners <= 1 {
            return Err(StoreError::Rule("last_owner"));
        }
    }
    Ok(current)
}

#[async_trait]
impl MemberStore for SqliteStore {
    async fn member_role(&self, ws: WorkspaceId, user: UserId) -> StoreResult<Role> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(ws.0)
        .bind(user.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        role.ok_or(StoreError::NotFound("member"))?
            .parse()
            .map_err(|_| crate::corrupt("memberships.role"))
    }

    async fn list_members(&self, ws: WorkspaceId) -> StoreResult<Vec<Member>> {
        let found = sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.workspace_id = $1 ORDER BY m.created_at, u.email"
        ))
        .bind(ws.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        found.iter().map(rows::member).collect()
    }

    async fn get_member(&self, ws: WorkspaceId, user: UserId) -> StoreResult<Member> {
        let row = sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.workspace_id = $1 AND m.user_id = $2"
        ))
        .bind(ws.0)
        .bind(user.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("member"))?;
        rows::member(&row)
    }

    async fn user_workspaces(&self, user: UserId) -> StoreResult<Vec<WorkspaceMembership>> {
        let found = sqlx::query(
            "SELECT w.*, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
             WHERE m.user_id = $1 ORDER BY w.created_at",
        )
        .bind(user.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        found
            .iter()
            .map(|r| {
                Ok(WorkspaceMembership {
                    workspace: rows::workspace(r)?,
                    role: rows::role(r, "role")?,
                })
            })
            .collect()
    }

    async fn set_member_role(
        &self,
        ws: WorkspaceId,
        user: UserId,
        role: Role,
        audit: AuditRecord,
    ) -> StoreResult<Member> {
        let mut tx = self.write_tx().await?;
        guard_last_owner(&mut tx, ws, user, Some(role)).await?;
        sqlx::query("UPDATE memberships SET role = $1 WHERE workspace_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(ws.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        let row = sqlx::query(&format!(
            "{MEMBER_SELECT} WHERE m.workspace_id = $1 AND m.user_id = $2"
        ))
        .bind(ws.0)
        .bind(user.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let member = rows::member(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(member)
    }

    async fn remove_member(
        &self,
        ws: WorkspaceId,
        user: UserId,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        guard_last_owner(&mut tx, ws, user, None).await?;
        sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(ws.0)
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE workspace_id = $2 AND created_by = $3 AND revoked_at IS NULL",
        )
        .bind(audit.created_at)
        .bind(ws.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // They leave their teams and the router; what they were handling
        // goes back to the queue (the service then routes it).
        for sql in [
            "DELETE FROM team_members WHERE workspace_id = $1 AND user_id = $2",
            "DELETE FROM agent_presence WHERE workspace_id = $1 AND user_id = $2",
        ] {
            sqlx::query(sql)
                .bind(ws.0)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query(
            "UPDATE conversations SET status = 'queued', assignee_id = NULL, queued_at = $1, \
             assignment_reason = 'queued', updated_at = $1 \
             WHERE workspace_id = $2 AND assignee_id = $3 AND status = 'assigned'",
        )
        .bind(audit.created_at)
        .bind(ws.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // Invitations the member sent die with their membership.
        sqlx::query(
            "UPDATE invitations SET revoked_at = $1 WHERE workspace_id = $2 AND invited_by = $3 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(audit.created_at)
        .bind(ws.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }
}
