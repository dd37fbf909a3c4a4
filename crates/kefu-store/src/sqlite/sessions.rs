//! Login sessions and their rotating refresh tokens.

use super::{rows, SqliteStore};
use crate::db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::model::*;
use kefu_domain::store::SessionStore;
use kefu_domain::{SessionId, StoreError, StoreResult, UserId};
use sqlx::{Row, Sqlite, Transaction};

async fn insert_refresh(
    tx: &mut Transaction<'_, Sqlite>,
    session: SessionId,
    t: &NewRefreshToken,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(t.id.0)
    .bind(session.0)
    .bind(&t.token_hash)
    .bind(t.created_at)
    .bind(t.expires_at)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: &Session, first: &NewRefreshToken) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, ip, user_agent, \
             sso_workspace_id, sso_mfa) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.id.0)
        .bind(s.user_id.0)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(s.sso.map(|b| b.workspace_id.0))
        .bind(s.sso.is_some_and(|b| b.mfa))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_refresh(&mut tx, s.id, first).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_session(&self, id: SessionId) -> StoreResult<Session> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("session"))?;
        rows::session(&row)
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        next: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome> {
        let mut tx = self.write_tx().await?;
        let Some(row) = sqlx::query(
            "SELECT t.id AS token_id, t.expires_at AS token_expires_at, t.used_at, s.* \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        else {
            return Ok(RefreshOutcome::Unknown);
        };
        let session = rows::session(&row)?;
        let token_id: uuid::Uuid = row.try_get("token_id").map_err(db)?;
        let token_expires: DateTime<Utc> = row.try_get("token_expires_at").map_err(db)?;
        let used_at: Option<DateTime<Utc>> = row.try_get("used_at").map_err(db)?;

        if used_at.is_some() {
            // Reuse of a spent token: someone else may hold a copy, so the
            // whole family dies.
            sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(now)
                .bind(session.id.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            return Ok(RefreshOutcome::Reused {
                session_id: session.id,
            });
        }
        if session.revoked_at.is_some() || token_expires <= now || session.expires_at <= now {
            return Ok(RefreshOutcome::Expired);
        }
        sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(token_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_refresh(&mut tx, session.id, next).await?;
        tx.commit().await.map_err(db)?;
        Ok(RefreshOutcome::Rotated { session })
    }

    async fn revoke_session(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(now)
            .bind(id.0)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        revoke_all(
            &mut *self.writer.acquire().await.map_err(db)?,
            user,
            keep,
            now,
        )
        .await
    }
}

/// Ends every live session of `user` but `keep`.
pub(super) async fn revoke_all(
    conn: &mut sqlx::SqliteConnection,
    user: UserId,
    keep: Option<SessionId>,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
         AND ($3 IS NULL OR id <> $3)",
    )
    .bind(now)
    .bind(user.0)
    .bind(keep.map(|k| k.0))
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected())
}
