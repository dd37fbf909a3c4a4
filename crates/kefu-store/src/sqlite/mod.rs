//! The embedded SQLite backend: one file in the data dir, WAL journal,
//! `busy_timeout`, foreign keys on.
//!
//! Concurrency: SQLite allows one writer at a time. Rather than let write
//! transactions collide and retry on `SQLITE_BUSY`, every write goes through
//! a pool of exactly one connection, which queues writers in-process (fair,
//! FIFO, no busy loops); reads use a separate pool and, thanks to WAL, never
//! wait for the writer. Other processes (the CLI next to a running server)
//! are handled by `busy_timeout`; write transactions start with `BEGIN
//! IMMEDIATE`, taking the write lock up front, so a transaction that reads
//! before it writes cannot fail with `SQLITE_BUSY_SNAPSHOT` when another
//! process committed in between.

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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::Arc;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    /// An in-memory database: `reader` is `writer`.
    in_memory: bool,
    /// Stops the background checkpoint when the last clone is dropped.
    _checkpointer: Option<Arc<Checkpointer>>,
    /// Seals and opens secrets; holds the audit chain key.
    sealer: crate::sealing::Sealer,
}

/// Copies the write-ahead log into the database file in the background
/// (`PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own, which never
/// waits for the writer nor makes it wait), instead of SQLite's automatic
/// checkpoint. That one runs inside whichever commit crosses 1,000 pages of
/// log, so a chat message's commit waited for the copy and its fsyncs; and
/// after a long reader (an online backup) let go, the next commit copied
/// everything held back at once — a 25–40 ms stall in the data-loss drill
/// (docs/benchmarks.md).
///
/// The log restarts from its beginning only when a write begins after a
/// checkpoint copied all of it, which a checkpoint running beside a
/// writer that never pauses does not: then the log would grow without
/// bound. So when a pass leaves a long log with only a short tail uncopied
/// (frames written during the pass, not a reader's old snapshot holding
/// the rest back), the next step is `wal_checkpoint(RESTART)`: it copies
/// that tail under the write lock (a few milliseconds), and the next writer
/// starts the log over. It gives up after 100 ms rather than keep writers
/// waiting behind a reader. And should that not succeed either, the
/// writer's own automatic checkpoint, triggered at 64 MiB of log, bounds
/// it (the log can run somewhat past that while a checkpoint cannot
/// restart it: 58–87 MB measured in the contract test).
#[derive(Debug)]
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The writer's own automatic checkpoint, as a backstop (64 MiB of log).
const WRITER_AUTOCHECKPOINT_PAGES: &str = "16384";

/// A log this long (16 MiB of 4 KiB pages) with at most [`RESTART_TAIL`]
/// frames left uncopied is restarted (see [`Checkpointer`]).
const RESTART_FRAMES: i64 = 4096;
const RESTART_TAIL: i64 = 1024;

impl Checkpointer {
    async fn start(
        opts: &SqliteConnectOptions,
        every: std::time::Duration,
    ) -> Result<Self, ConnectError> {
        let opts = opts
            .clone()
            .busy_timeout(std::time::Duration::from_millis(100));
        let mut conn = sqlx::ConnectOptions::connect(&opts).await?;
        Ok(Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // (busy, frames in the log, frames copied): a reader holding
                // an old snapshot leaves the rest for a later pass.
                let pass: Result<(i64, i64, i64), _> =
                    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                        .fetch_one(&mut conn)
                        .await;
                match pass {
                    Ok((_, log, copied))
                        if log >= RESTART_FRAMES && log - copied <= RESTART_TAIL =>
                    {
                        let restart: Result<(i64, i64, i64), _> =
                            sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
                                .fetch_one(&mut conn)
                                .await;
                        if let Err(e) = restart {
                            tracing::debug!(error = %e, "WAL restart checkpoint skipped");
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "background WAL checkpoint failed; retrying")
                    }
                }
            }
        })))
    }
}

impl SqliteStore {
    /// A write transaction on the single writer connection, begun
    /// `IMMEDIATE` (so one that reads before it writes cannot fail with
    /// `SQLITE_BUSY_SNAPSHOT`).
    pub(crate) async fn write_tx(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(crate::db)
    }

    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ConnectError> {
        let in_memory = opts.url.contains(":memory:") || opts.url.contains("mode=memory");
        let base = SqliteConnectOptions::from_str(&opts.url)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(opts.busy_timeout);
        let base = if in_memory {
            base
        } else {
            // Password hashes, TOTP and identity secrets: owner-only files
            // (SQLite gives -wal and -shm the database's mode).
            let file = base.get_filename().to_path_buf();
            let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(parent) = parent {
                crate::private_files::create_private_dir(parent)?;
            }
            crate::private_files::create_private_file(&file)?;
            let side = |suffix: &str| {
                let mut name = file.as_os_str().to_owned();
                name.push(suffix);
                std::path::PathBuf::from(name)
            };
            let (wal, shm) = (side("-wal"), side("-shm"));
            crate::private_files::warn_if_wider(
                [file.as_path(), wal.as_path(), shm.as_path()]
                    .into_iter()
                    .chain(parent),
            );
            base.journal_mode(SqliteJournalMode::Wal)
                .synchronous(if opts.sqlite_full_sync {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
        };
        let background = !in_memory && !opts.sqlite_checkpoint_interval.is_zero();
        let writer_opts = if background {
            // SQLite's own checkpoint stays as a backstop, at a length the
            // background pass keeps the log well under: only a writer that
            // never pauses (a bulk import) reaches it, and then its
            // checkpoint finds most of the log already copied.
            base.clone()
                .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
        } else {
            base.clone()
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.busy_timeout * 6)
            .connect_with(writer_opts)
            .await?;
        // An in-memory database exists once per connection, so it can only
        // be served by the single writer connection.
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.busy_timeout * 6)
                .connect_with(base.clone().read_only(true))
                .await?
        };
        let checkpointer = if background {
            Some(Arc::new(
                Checkpointer::start(&base, opts.sqlite_checkpoint_interval).await?,
            ))
        } else {
            None
        };
        Ok(Self {
            reader,
            writer,
            in_memory,
            _checkpointer: checkpointer,
            sealer: crate::sealing::Sealer::new(opts.keyring.clone()),
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn pool_stats(&self) -> kefu_domain::store::PoolStats {
        if self.in_memory {
            // The reader is the writer.
            crate::pool_stats(&[&self.writer])
        } else {
            crate::pool_stats(&[&self.reader, &self.writer])
        }
    }

    async fn health(&self) -> StoreHealth {
        let reachable = sqlx::query("SELECT 1").execute(&self.reader).await;
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
                .fetch_all(&self.reader)
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
        let before = count_applied(&self.writer).await;
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(StoreError::backend)?;
        Ok(count_applied(&self.writer).await.saturating_sub(before))
    }
}

async fn count_applied(pool: &SqlitePool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_one(pool)
        .await
        .map_or(0, |n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn synchronous(full: bool) -> i64 {
        let dir = std::env::temp_dir().join(format!("kefu-sync-{}", uuid::Uuid::now_v7()));
        let mut opts = ConnectOptions::new(
            format!("sqlite://{}/k.db", dir.display()),
            Arc::new(kefu_domain::secrets::Keyring::ephemeral()),
        );
        opts.sqlite_full_sync = full;
        let store = SqliteStore::connect(&opts).await.unwrap();
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
        level
    }

    #[tokio::test]
    async fn full_sync_is_a_setting() {
        // 1 = NORMAL, 2 = FULL.
        assert_eq!(synchronous(false).await, 1);
        assert_eq!(synchronous(true).await, 2);
    }
}
