//! Accounts and their second factor.

use super::{rows, PgStore};
use crate::db;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::audit::AuditRecord;
use kefu_domain::model::User;
use kefu_domain::store::UserStore;
use kefu_domain::{SessionId, StoreError, StoreResult, UserId};

#[async_trait]
impl UserStore for PgStore {
    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("user"))?;
        rows::user(&row, &self.sealer)
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref()
            .map(|r| rows::user(r, &self.sealer))
            .transpose()
    }

    async fn set_pending_totp(&self, user: UserId, secret: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let enabled: Option<bool> =
            sqlx::query_scalar("SELECT totp_enabled FROM users WHERE id = $1 FOR UPDATE")
                .bind(user.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        match enabled {
            None => return Err(StoreError::NotFound("user")),
            Some(true) => return Err(StoreError::Conflict("totp_already_enabled")),
            Some(false) => {}
        }
        sqlx::query("UPDATE users SET totp_secret = $1 WHERE id = $2")
            .bind(self.sealer.seal_totp(user.0, secret))
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn enable_totp(
        &self,
        user: UserId,
        secret: &str,
        recovery_code_hashes: &[String],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The pending secret is stored sealed (a fresh nonce each time), so
        // it is opened and compared here, not in SQL.
        let pending: Option<Option<String>> = sqlx::query_scalar(
            "SELECT totp_secret FROM users WHERE id = $1 AND NOT totp_enabled FOR UPDATE",
        )
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let pending = self.sealer.open_totp(user.0, pending.flatten())?;
        if pending.as_deref() != Some(secret) {
            return Err(StoreError::NotFound("pending_totp"));
        }
        sqlx::query("UPDATE users SET totp_enabled = TRUE WHERE id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for h in recovery_code_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user.0)
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn disable_totp(&self, user: UserId) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("UPDATE users SET totp_enabled = FALSE, totp_secret = NULL, totp_last_step = 0 WHERE id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn consume_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(user.0)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(user.0)
        .bind(code_hash)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn count_recovery_codes(&self, user: UserId) -> StoreResult<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.0)
        .fetch_one(&self.pool)
        .await
        .map_err(db)
    }

    async fn set_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let found = sqlx::query(
            "UPDATE users SET password_hash = $1, password_change_required = FALSE WHERE id = $2",
        )
        .bind(password_hash)
        .bind(user.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if found.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let ended = super::sessions::revoke_all(&mut tx, user, keep, now).await?;
        tx.commit().await.map_err(db)?;
        Ok(ended)
    }

    async fn require_password_change(
        &self,
        user: UserId,
        audit: AuditRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let found = sqlx::query("UPDATE users SET password_change_required = TRUE WHERE id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if found.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let ended = super::sessions::revoke_all(&mut tx, user, None, now).await?;
        super::rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(ended)
    }
}
