//! The PostgreSQL backend, for clusters of replicas.
//!
//! Concurrency: each write runs in its own transaction. Where a change reads
//! before it writes (audit head, last-owner guard, token rotation, accepting
//! an invitation), it takes a row lock (`FOR UPDATE`) first, so concurrent
//! replicas serialise on the row rather than race.

mod analytics;
mod api_tokens;
mod attachments;
mod audit;
mod automation;
mod chat;
mod email;
mod export;
mod invitations;
mod kb;
mod members;
mod routing;
mod rows;
mod secrets;
mod sessions;
mod sso;
mod users;
mod workspaces;

use crate::{ConnectError, ConnectOptions};
use async_trait::async_trait;
use kefu_domain::store::{Store, StoreHealth};
use kefu_domain::{StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Seals and opens secrets; holds the audit chain key.
    sealer: crate::sealing::Sealer,
}

impl PgStore {
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ConnectError> {
        let conn = PgConnectOptions::from_str(&opts.url)?.application_name("kefu");
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.busy_timeout)
            .connect_with(conn)
            .await?;
        Ok(Self {
            pool,
            sealer: crate::sealing::Sealer::new(opts.keyring.clone()),
        })
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn pool_stats(&self) -> kefu_domain::store::PoolStats {
        crate::pool_stats(&[&self.pool])
    }

    async fn health(&self) -> StoreHealth {
        let reachable = sqlx::query("SELECT 1").execute(&self.pool).await;
        if let Err(e) = reachable {
            return StoreHealth {
                reachable: false,
                migrations_applied: false,
                keys_ready: false,
                detail: Some(e.to_string()),
            };
        }
        let applied: Result<Vec<i64>, _> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await;
        let migrations_applied = match applied {
            Ok(done) => MIGRATOR.iter().all(|m| done.contains(&m.version)),
            Err(_) => false,
        };
        // Migrated by someone else since start: open the keys now.
        if migrations_applied && !self.sealer.has_chain() {
            if let Err(e) = self.prepare().await {
                return StoreHealth {
                    reachable: true,
                    migrations_applied,
                    keys_ready: false,
                    detail: Some(format!("audit chain key: {e}")),
                };
            }
        }
        StoreHealth {
            reachable: true,
            migrations_applied,
            keys_ready: self.sealer.has_chain(),
            detail: (!migrations_applied).then(|| "pending migrations".to_string()),
        }
    }

    async fn prepare(&self) -> StoreResult<()> {
        self.prepare_audit_chain().await
    }

    async fn migrate_schema(&self) -> StoreResult<usize> {
        let before = count_applied(&self.pool).await;
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(count_applied(&self.pool).await.saturating_sub(before))
    }
}

async fn count_applied(pool: &PgPool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_one(pool)
        .await
        .map_or(0, |n| n as usize)
}
