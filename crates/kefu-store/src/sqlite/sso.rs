//! Single sign-on: the workspace's OpenID provider, sign-ins under way and
//! the (issuer, subject) links its provider made.

use super::{rows, workspaces::insert_user, SqliteStore};
use crate::kb::{json_list, json_text};
use crate::{corrupt, db, map_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::audit::AuditRecord;
use kefu_domain::sso::{OidcConfig, OidcLogin, SsoSignIn};
use kefu_domain::store::SsoStore;
use kefu_domain::{StoreError, StoreResult, UserId, WorkspaceId};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn config(row: &SqliteRow, sealer: &crate::sealing::Sealer) -> StoreResult<OidcConfig> {
    let text = |c: &str| -> StoreResult<String> { row.try_get(c).map_err(db) };
    let ws: uuid::Uuid = row.try_get("workspace_id").map_err(db)?;
    Ok(OidcConfig {
        workspace_id: ws.into(),
        issuer: text("issuer")?,
        client_id: text("client_id")?,
        client_secret: sealer.open_client_secret(ws, &text("client_secret")?)?,
        scopes: json_list(&text("scopes")?)?,
        enabled: row.try_get("enabled").map_err(db)?,
        jit_domains: json_list(&text("jit_domains")?)?,
        jit_role: text("jit_role")?
            .parse()
            .map_err(|_| corrupt("oidc_configs.jit_role"))?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

fn login(row: &SqliteRow) -> StoreResult<OidcLogin> {
    Ok(OidcLogin {
        state_hash: row.try_get("state_hash").map_err(db)?,
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        nonce: row.try_get("nonce").map_err(db)?,
        code_verifier: row.try_get("code_verifier").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        expires_at: row.try_get("expires_at").map_err(db)?,
    })
}

#[async_trait]
impl SsoStore for SqliteStore {
    async fn oidc_config(&self, ws: WorkspaceId) -> StoreResult<Option<OidcConfig>> {
        let row = sqlx::query("SELECT * FROM oidc_configs WHERE workspace_id = $1")
            .bind(ws.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(|r| config(r, &self.sealer)).transpose()
    }

    async fn put_oidc_config(&self, c: &OidcConfig, audit: AuditRecord) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO oidc_configs (workspace_id, issuer, client_id, client_secret, scopes, \
             enabled, jit_domains, jit_role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (workspace_id) DO UPDATE SET issuer = excluded.issuer, \
             client_id = excluded.client_id, client_secret = excluded.client_secret, \
             scopes = excluded.scopes, enabled = excluded.enabled, \
             jit_domains = excluded.jit_domains, jit_role = excluded.jit_role, \
             updated_at = excluded.updated_at",
        )
        .bind(c.workspace_id.0)
        .bind(&c.issuer)
        .bind(&c.client_id)
        .bind(
            self.sealer
                .seal_client_secret(c.workspace_id.0, &c.client_secret),
        )
        .bind(json_text(&c.scopes)?)
        .bind(c.enabled)
        .bind(json_text(&c.jit_domains)?)
        .bind(c.jit_role.as_str())
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn delete_oidc_config(&self, ws: WorkspaceId, audit: AuditRecord) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM oidc_configs WHERE workspace_id = $1")
            .bind(ws.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("oidc_config"));
        }
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn create_oidc_login(&self, l: &OidcLogin) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at <= $1")
            .bind(l.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO oidc_logins (state_hash, workspace_id, nonce, code_verifier, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&l.state_hash)
        .bind(l.workspace_id.0)
        .bind(&l.nonce)
        .bind(&l.code_verifier)
        .bind(l.created_at)
        .bind(l.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "state_taken"))?;
        tx.commit().await.map_err(db)
    }

    async fn take_oidc_login(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OidcLogin>> {
        // One statement: of two callbacks racing with one state, only one
        // gets the row back.
        let row = sqlx::query("DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING *")
            .bind(state_hash)
            .fetch_optional(&self.writer)
            .await
            .map_err(db)?;
        Ok(row
            .as_ref()
            .map(login)
            .transpose()?
            .filter(|l| l.expires_at > now))
    }

    async fn find_oidc_identity(
        &self,
        ws: WorkspaceId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<UserId>> {
        let found: Option<uuid::Uuid> = sqlx::query_scalar(
            "SELECT user_id FROM oidc_identities WHERE workspace_id = $1 AND issuer = $2 \
             AND subject = $3",
        )
        .bind(ws.0)
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(found.map(UserId))
    }

    async fn record_sso_sign_in(&self, s: &SsoSignIn) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        if let Some(u) = &s.new_user {
            insert_user(&mut tx, u).await?;
        }
        if let Some(role) = s.join_as {
            sqlx::query(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(s.workspace_id.0)
            .bind(s.user_id.0)
            .bind(role.as_str())
            .bind(s.now)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, "already_member"))?;
        }
        sqlx::query(
            "INSERT INTO oidc_identities (workspace_id, issuer, subject, user_id, email, \
             created_at, last_login_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (workspace_id, issuer, subject) DO UPDATE SET \
             email = excluded.email, last_login_at = excluded.last_login_at \
             WHERE oidc_identities.user_id = excluded.user_id",
        )
        .bind(s.workspace_id.0)
        .bind(&s.issuer)
        .bind(&s.subject)
        .bind(s.user_id.0)
        .bind(&s.email)
        .bind(s.now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let chain = self.sealer.chain()?;
        for a in &s.audit {
            rows::append_audit(&mut tx, &chain, a.clone()).await?;
        }
        tx.commit().await.map_err(db)
    }
}
