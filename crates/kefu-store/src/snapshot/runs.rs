//! The scheduled backups' bookkeeping (`backup_runs`): the claim that lets
//! exactly one replica run each fire time of the schedule, each run's
//! outcome, and the last success and restore test every replica exports.
//! The SQL is the same on both engines.

use super::{engine_of, Result};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

const CLAIM: &str = "INSERT INTO backup_runs (slot, holder, started_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (slot) DO NOTHING";
const FINISH: &str = "UPDATE backup_runs SET finished_at = $2, ok = $3, location = $4, \
                      bytes = $5, error = $6 WHERE slot = $1";
const TESTED: &str =
    "UPDATE backup_runs SET restore_tested_at = $2, restore_ok = $3 WHERE slot = $1";
const STATUS: &str = "SELECT (SELECT MAX(finished_at) FROM backup_runs WHERE ok), \
                      (SELECT MAX(restore_tested_at) FROM backup_runs WHERE restore_ok)";

/// A small pool of its own (one connection), apart from the server's.
#[derive(Debug, Clone)]
pub enum Runs {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// How the scheduled backups have gone, cluster-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub last_success: Option<DateTime<Utc>>,
    pub last_restore_test: Option<DateTime<Utc>>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    pub ok: bool,
    pub location: Option<&'a str>,
    pub bytes: Option<i64>,
    pub error: Option<&'a str>,
}

macro_rules! on_pool {
    ($self:ident, $q:ident => $e:expr) => {
        match $self {
            // A connection, not `&Pool`: the pool's executor impl is
            // higher-ranked and makes callers' futures lose `Send`.
            Runs::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let $q = &mut *conn;
                $e
            }
            Runs::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let $q = &mut *conn;
                $e
            }
        }
    };
}

impl Runs {
    pub async fn open(url: &str) -> Result<Self> {
        Ok(match engine_of(url)? {
            "sqlite" => Runs::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(
                        SqliteConnectOptions::from_str(url)?.busy_timeout(Duration::from_secs(10)),
                    )
                    .await?,
            ),
            _ => Runs::Postgres(PgPoolOptions::new().max_connections(1).connect(url).await?),
        })
    }

    /// Claims the run at `slot` for `holder`; false when another replica
    /// already has it.
    pub async fn claim(
        &self,
        slot: DateTime<Utc>,
        holder: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = on_pool!(self, p => sqlx::query(CLAIM).bind(slot).bind(holder.to_string()).bind(now).execute(p).await?.rows_affected());
        Ok(done == 1)
    }

    pub async fn finish(
        &self,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        o: &Outcome<'_>,
    ) -> Result<()> {
        on_pool!(self, p => sqlx::query(FINISH)
            .bind(slot)
            .bind(now)
            .bind(o.ok)
            .bind(o.location.map(str::to_string))
            .bind(o.bytes)
            .bind(o.error.map(str::to_string))
            .execute(p)
            .await
            .map(|_| ())?);
        Ok(())
    }

    pub async fn restore_tested(
        &self,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        ok: bool,
    ) -> Result<()> {
        on_pool!(self, p => sqlx::query(TESTED).bind(slot).bind(now).bind(ok).execute(p).await.map(|_| ())?);
        Ok(())
    }

    pub async fn status(&self) -> Result<Status> {
        let (last_success, last_restore_test) = on_pool!(self, p => sqlx::query_as::<_, (Option<DateTime<Utc>>, Option<DateTime<Utc>>)>(STATUS).fetch_one(p).await?);
        Ok(Status {
            last_success,
            last_restore_test,
        })
    }
}
