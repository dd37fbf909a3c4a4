//! Secrets at rest on PostgreSQL: the audit chain key (created once, sealed in
//! `sealed_keys`) and re-sealing stored secrets under the primary KEK.

use super::{rows, PgStore};
use crate::db;
use crate::sealing::{count_key, reseal_chain, tally, AUDIT_CHAIN};
use async_trait::async_trait;
use kefu_domain::audit::ChainKey;
use kefu_domain::secrets::context;
use kefu_domain::store::{ResealReport, SecretStore};
use kefu_domain::StoreResult;
use sqlx::Row;

impl PgStore {
    /// Loads the audit chain key; on first use creates it and re-seals the
    /// chains written before it existed, in one transaction.
    pub(super) async fn prepare_audit_chain(&self) -> StoreResult<()> {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT sealed FROM sealed_keys WHERE name = $1")
                .bind(AUDIT_CHAIN)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        if let Some(s) = stored {
            self.sealer
                .set_chain(self.sealer.open_key(AUDIT_CHAIN, &s)?);
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Replicas starting together: one creates the key, the others wait
        // here and then read it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kefu.sealed_keys.audit_chain'))")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT sealed FROM sealed_keys WHERE name = $1")
                .bind(AUDIT_CHAIN)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if let Some(s) = stored {
            self.sealer
                .set_chain(self.sealer.open_key(AUDIT_CHAIN, &s)?);
            return Ok(());
        }
        let key = ChainKey::generate();
        sqlx::query("INSERT INTO sealed_keys (name, sealed, created_at) VALUES ($1, $2, $3)")
            .bind(AUDIT_CHAIN)
            .bind(self.sealer.seal_key(AUDIT_CHAIN, &key))
            .bind(chrono::Utc::now())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let heads = sqlx::query(
            "SELECT id, audit_head_seq, audit_head_hash FROM workspaces WHERE audit_head_seq > 0 FOR UPDATE",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        // The append-only trigger guards the log against updates; this
        // one-time re-seal is the only update Kefu ever makes to it, inside
        // this transaction (it needs the table owner: the role that runs
        // the migrations).
        if !heads.is_empty() {
            sqlx::query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let mut resealed = 0usize;
        for h in &heads {
            let ws: uuid::Uuid = h.try_get(0).map_err(db)?;
            let entries =
                sqlx::query("SELECT * FROM audit_log WHERE workspace_id = $1 ORDER BY seq")
                    .bind(ws)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?
                    .iter()
                    .map(rows::audit_entry)
                    .collect::<StoreResult<Vec<_>>>()?;
            let head_hash: String = h.try_get(2).map_err(db)?;
            let Some((links, head)) =
                reseal_chain(&key, ws, &entries, h.try_get(1).map_err(db)?, &head_hash)
            else {
                continue;
            };
            for l in &links {
                sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3")
                    .bind(&l.prev_hash)
                    .bind(&l.hash)
                    .bind(l.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            sqlx::query("UPDATE workspaces SET audit_head_hash = $1 WHERE id = $2")
                .bind(&head)
                .bind(ws)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            resealed += 1;
        }
        if !heads.is_empty() {
            sqlx::query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        tracing::warn!(
            workspaces = resealed,
            "created the audit chain key (sealed under the key-encryption key) and re-sealed the \
             existing audit chains with it; their published heads change once, now"
        );
        self.sealer.set_chain(key);
        Ok(())
    }
}

#[async_trait]
impl SecretStore for PgStore {
    async fn reseal_secrets(&self, legacy_only: bool) -> StoreResult<ResealReport> {
        let mut report = ResealReport::default();
        // One short write transaction per value: compare-and-set, so a
        // secret changed meanwhile is left for the next pass, never lost.
        let users = sqlx::query("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        for row in &users {
            let id: uuid::Uuid = row.try_get(0).map_err(db)?;
            let old: String = row.try_get(1).map_err(db)?;
            let redo = self
                .sealer
                .reseal(&context::totp_secret(id), &old, legacy_only)?;
            let Some((new, state)) = redo else {
                tally(&mut report, None, true);
                continue;
            };
            let done =
                sqlx::query("UPDATE users SET totp_secret = $1 WHERE id = $2 AND totp_secret = $3")
                    .bind(&new)
                    .bind(id)
                    .bind(&old)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?
                    .rows_affected()
                    == 1;
            tally(&mut report, Some(&state), done);
        }
        let inboxes = sqlx::query("SELECT id, identity_secret FROM inboxes")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        for row in &inboxes {
            let id: uuid::Uuid = row.try_get(0).map_err(db)?;
            let old: String = row.try_get(1).map_err(db)?;
            let redo = self
                .sealer
                .reseal(&context::identity_secret(id), &old, legacy_only)?;
            let Some((new, state)) = redo else {
                tally(&mut report, None, true);
                continue;
            };
            let done = sqlx::query(
                "UPDATE inboxes SET identity_secret = $1 WHERE id = $2 AND identity_secret = $3",
            )
            .bind(&new)
            .bind(id)
            .bind(&old)
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected()
                == 1;
            tally(&mut report, Some(&state), done);
        }
        let keys = sqlx::query("SELECT name, sealed FROM sealed_keys")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        for row in &keys {
            let name: String = row.try_get(0).map_err(db)?;
            let old: String = row.try_get(1).map_err(db)?;
            let redo = self
                .sealer
                .reseal(&context::sealed_key(&name), &old, legacy_only)?;
            let Some((new, state)) = redo else {
                tally(&mut report, None, true);
                continue;
            };
            let done =
                sqlx::query("UPDATE sealed_keys SET sealed = $1 WHERE name = $2 AND sealed = $3")
                    .bind(&new)
                    .bind(&name)
                    .bind(&old)
                    .execute(&self.pool)
                    .await
                    .map_err(db)?
                    .rows_affected()
                    == 1;
            tally(&mut report, Some(&state), done);
        }
        Ok(report)
    }

    async fn secret_key_usage(&self) -> StoreResult<Vec<(String, u64)>> {
        let mut usage = std::collections::BTreeMap::new();
        for sql in [
            "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL",
            "SELECT identity_secret FROM inboxes",
            "SELECT sealed FROM sealed_keys",
        ] {
            let found: Vec<String> = sqlx::query_scalar(sql)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
            for s in &found {
                count_key(&mut usage, s);
            }
        }
        Ok(usage.into_iter().collect())
    }
}
