//! PostgreSQL side of backups. A snapshot is one `REPEATABLE READ READ ONLY`
//! transaction streamed table by table. A restore migrates the target, then
//! loads every table inside one transaction (after `TRUNCATE` of every
//! table when forced): until `COMMIT` nothing is visible, and a failure or
//! a dropped connection rolls it all back.

use super::sqlite::project;
use super::{
    column_list, group_columns, value_error, Column, Result, Row, SnapshotError, Table, Value,
};
use super::{LType, TABLES};
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{ConnectOptions, Executor, PgConnection, Row as _};
use std::collections::BTreeMap;
use std::str::FromStr;

pub struct PgSnapshot {
    pub(super) conn: PgConnection,
}

impl PgSnapshot {
    pub(super) async fn open(url: &str) -> Result<Self> {
        let mut conn = PgConnectOptions::from_str(url)?.connect().await?;
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        // One table is one statement, however long it takes; a server-wide
        // statement_timeout (managed databases set one) must not cut it.
        conn.execute("SET LOCAL statement_timeout = 0").await?;
        // No parallel workers: the snapshot reads at a gentle pace, not
        // with every core of the server.
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            .await?;
        Ok(Self { conn })
    }
}

pub(super) async fn schema(conn: &mut PgConnection) -> Result<BTreeMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(group_columns(rows))
}

/// A cursor's `FETCH` aims at about this many bytes of row data, between
/// [`FETCH_MIN`] and [`FETCH_MAX`] rows (a table of large rows, article
/// bodies or vectors, is fetched fewer rows at a time).
const FETCH_BYTES: usize = 64 * 1024;
const FETCH_MIN: usize = 10;
const FETCH_MAX: usize = 1_000;

/// Every row of `sql`, read through a cursor a batch at a time. One
/// streamed `SELECT` keeps the server's backend busy for as long as the
/// socket takes its rows: a core of PostgreSQL at normal priority for the
/// whole table, which the chat's own backends then queue behind (ack p99
/// ×3 during a backup in the PostgreSQL drill). Fetched in small batches,
/// the backend works in bursts well under a scheduler slice and waits while
/// the backup (at the lowest priority) encodes them.
pub(super) fn rows<'a>(
    conn: &'a mut PgConnection,
    table: &'static Table,
    columns: &'a [Column],
    sql: &'static str,
) -> BoxStream<'a, Result<Row>> {
    struct State<'a> {
        conn: &'a mut PgConnection,
        batch: std::vec::IntoIter<PgRow>,
        next: usize,
        declared: bool,
        done: bool,
    }
    let cursor = format!("kefu_snapshot_{}", table.name);
    let state = State {
        conn,
        batch: Vec::new().into_iter(),
        next: 100,
        declared: false,
        done: false,
    };
    futures_util::stream::try_unfold(state, move |mut s| {
        let cursor = cursor.clone();
        async move {
            loop {
                if let Some(r) = s.batch.next() {
                    let row = project(table, columns, |i, c| decode(&r, i, c, table))?;
                    return Ok(Some((row, s)));
                }
                if s.done {
                    return Ok(None);
                }
                if !s.declared {
                    s.conn
                        .execute(format!("DECLARE {cursor} NO SCROLL CURSOR FOR {sql}").as_str())
                        .await?;
                    s.declared = true;
                }
                let want = s.next;
                let batch: Vec<PgRow> = sqlx::query(&format!("FETCH {want} FROM {cursor}"))
                    .fetch_all(&mut *s.conn)
                    .await?;
                if batch.len() < want {
                    s.done = true;
                    s.conn.execute(format!("CLOSE {cursor}").as_str()).await?;
                } else {
                    let bytes: usize = batch.iter().map(row_bytes).sum::<usize>().max(1);
                    s.next = (want * FETCH_BYTES / bytes).clamp(FETCH_MIN, FETCH_MAX);
                }
                s.batch = batch.into_iter();
            }
        }
    })
    .boxed()
}

/// About how many bytes of data a fetched row carried.
fn row_bytes(row: &PgRow) -> usize {
    use sqlx::Row as _;
    (0..row.len())
        .map(|i| {
            row.try_get_raw(i)
                .ok()
                .and_then(|v| {
                    sqlx::ValueRef::is_null(&v)
                        .then_some(0)
                        .or_else(|| v.as_bytes().ok().map(<[u8]>::len))
                })
                .unwrap_or(0)
        })
        .sum::<usize>()
        + 24
}

fn decode(row: &PgRow, i: usize, c: &Column, table: &Table) -> Result<Value> {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }
    let bad = |e: sqlx::Error| value_error(table, c, e.to_string());
    Ok(match c.ty {
        LType::Uuid => opt(row.try_get(i).map_err(bad)?, Value::Uuid),
        LType::Text => opt(row.try_get(i).map_err(bad)?, Value::Text),
        LType::I16 => opt(row.try_get::<Option<i16>, _>(i).map_err(bad)?, |v| {
            Value::Int(v.into())
        }),
        LType::I32 => opt(row.try_get::<Option<i32>, _>(i).map_err(bad)?, |v| {
            Value::Int(v.into())
        }),
        LType::I64 => opt(row.try_get(i).map_err(bad)?, Value::Int),
        LType::Bool => opt(row.try_get(i).map_err(bad)?, Value::Bool),
        LType::F32 => opt(row.try_get::<Option<f32>, _>(i).map_err(bad)?, |v| {
            Value::Real(v.into())
        }),
        LType::Time => opt(row.try_get(i).map_err(bad)?, Value::Time),
        LType::Bytes => opt(row.try_get(i).map_err(bad)?, Value::Bytes),
    })
}

pub struct PgTarget {
    pub(super) conn: PgConnection,
}

impl PgTarget {
    pub(super) async fn open(url: &str, force: bool) -> Result<Self> {
        let mut conn = PgConnectOptions::from_str(url)?.connect().await?;
        // Migrations run before the load's transaction (each runs in its
        // own): an empty target may be left migrated by a failed restore,
        // which is what `kefu serve` would have made of it anyway.
        crate::postgres::MIGRATOR.run(&mut conn).await?;
        if !force {
            for t in TABLES {
                let n: i64 = sqlx::query_scalar(&format!(
                    "SELECT count(*) FROM (SELECT 1 FROM \"{}\" LIMIT 1) x",
                    t.name
                ))
                .fetch_one(&mut conn)
                .await?;
                if n > 0 {
                    let rows: i64 =
                        sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\"", t.name))
                            .fetch_one(&mut conn)
                            .await?;
                    return Err(SnapshotError::NotEmpty {
                        table: t.name.into(),
                        rows,
                    });
                }
            }
        }
        conn.execute("BEGIN").await?;
        conn.execute("SET LOCAL statement_timeout = 0").await?;
        if force {
            let all = TABLES
                .iter()
                .map(|t| format!("\"{}\"", t.name))
                .collect::<Vec<_>>()
                .join(", ");
            conn.execute(format!("TRUNCATE {all}").as_str()).await?;
        }
        Ok(Self { conn })
    }

    pub(super) async fn insert(
        &mut self,
        table: &'static Table,
        columns: &[Column],
        rows: Vec<Row>,
    ) -> Result<()> {
        // PostgreSQL allows 65,535 bound parameters per statement.
        let per = (60_000 / columns.len().max(1)).clamp(1, 1000);
        insert_batches!(&mut self.conn, table, columns, rows, per);
        Ok(())
    }

    pub(super) async fn commit(mut self) -> Result<()> {
        self.conn.execute("COMMIT").await?;
        Ok(())
    }
}

fn insert_sql(table: &Table, columns: &[Column], rows: usize) -> String {
    let mut sql = format!(
        "INSERT INTO \"{}\" ({}) VALUES ",
        table.name,
        column_list(columns)
    );
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind<'q>(q: Query<'q>, v: Value, c: &Column, table: &Table) -> Result<Query<'q>> {
    let range = |i: i64| value_error(table, c, format!("{i} is out of range"));
    Ok(match (c.ty, v) {
        (LType::Uuid, Value::Null) => q.bind(None::<uuid::Uuid>),
        (LType::Text, Value::Null) => q.bind(None::<String>),
        (LType::I16, Value::Null) => q.bind(None::<i16>),
        (LType::I32, Value::Null) => q.bind(None::<i32>),
        (LType::I64, Value::Null) => q.bind(None::<i64>),
        (LType::Bool, Value::Null) => q.bind(None::<bool>),
        (LType::F32, Value::Null) => q.bind(None::<f32>),
        (LType::Time, Value::Null) => q.bind(None::<chrono::DateTime<chrono::Utc>>),
        (LType::Bytes, Value::Null) => q.bind(None::<Vec<u8>>),
        (LType::Uuid, Value::Uuid(u)) => q.bind(u),
        // PostgreSQL refuses NUL in text; SQLite stores it. Say which column.
        (LType::Text, Value::Text(s)) if s.contains('\0') => {
            return Err(value_error(
                table,
                c,
                "contains a NUL character, which PostgreSQL cannot store",
            ))
        }
        (LType::Text, Value::Text(s)) => q.bind(s),
        (LType::I16, Value::Int(i)) => q.bind(i16::try_from(i).map_err(|_| range(i))?),
        (LType::I32, Value::Int(i)) => q.bind(i32::try_from(i).map_err(|_| range(i))?),
        (LType::I64, Value::Int(i)) => q.bind(i),
        (LType::Bool, Value::Bool(b)) => q.bind(b),
        (LType::F32, Value::Real(f)) => q.bind(f as f32),
        (LType::Time, Value::Time(t)) => q.bind(t),
        (LType::Bytes, Value::Bytes(b)) => q.bind(b),
        (ty, v) => {
            return Err(value_error(
                table,
                c,
                format!("{v:?} does not fit a {ty:?} column"),
            ))
        }
    })
}
