//! SQLite side of backups. A snapshot is a deferred read transaction on a
//! read-only connection (WAL: the server keeps writing, the reader keeps its
//! instant). A restore writes a scratch file beside the target, migrated and
//! filled in one transaction without a journal (a failed restore deletes the
//! file, so there is nothing to roll back), then fsyncs it and renames it
//! over the target: the target is either untouched or wholly replaced.

use super::{
    column_list, group_columns, value_error, Column, Result, Row, SnapshotError, Table, Value,
};
use super::{LType, TABLES};
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Executor, Row as _, SqliteConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteSnapshot {
    pub(super) conn: SqliteConnection,
}

impl SqliteSnapshot {
    pub(super) async fn open(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .read_only(true)
            .busy_timeout(Duration::from_secs(30));
        let mut conn = opts.connect().await?;
        conn.execute("BEGIN").await?;
        // The first read fixes the snapshot for the whole transaction.
        conn.execute("SELECT count(*) FROM sqlite_master").await?;
        Ok(Self { conn })
    }
}

pub(super) async fn schema(conn: &mut SqliteConnection) -> Result<BTreeMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
         ORDER BY m.name, p.cid",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(group_columns(rows))
}

pub(super) fn rows<'a>(
    conn: &'a mut SqliteConnection,
    table: &'static Table,
    columns: &'a [Column],
    sql: &'static str,
) -> BoxStream<'a, Result<Row>> {
    sqlx::query(sql)
        .fetch(conn)
        .map(move |r| {
            let r = r?;
            project(table, columns, |i, c| decode(&r, i, c, table))
        })
        .boxed()
}

/// Reads `columns` (a subset of the table's, in their own order) from a row
/// selected with all of the table's columns.
pub(super) fn project(
    table: &'static Table,
    columns: &[Column],
    mut get: impl FnMut(usize, &Column) -> Result<Value>,
) -> Result<Row> {
    columns
        .iter()
        .map(|c| {
            let i = table
                .columns
                .iter()
                .position(|x| x.name == c.name)
                .ok_or_else(|| value_error(table, c, "not a column of this table"))?;
            get(i, c)
        })
        .collect()
}

fn decode(row: &SqliteRow, i: usize, c: &Column, table: &Table) -> Result<Value> {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }
    let bad = |e: sqlx::Error| value_error(table, c, e.to_string());
    Ok(match c.ty {
        LType::Uuid => opt(row.try_get(i).map_err(bad)?, Value::Uuid),
        LType::Text => opt(row.try_get(i).map_err(bad)?, Value::Text),
        LType::I16 | LType::I32 | LType::I64 => opt(row.try_get(i).map_err(bad)?, Value::Int),
        LType::Bool => opt(row.try_get(i).map_err(bad)?, Value::Bool),
        LType::F32 => opt(row.try_get(i).map_err(bad)?, Value::Real),
        LType::Time => opt(row.try_get(i).map_err(bad)?, Value::Time),
        LType::Bytes => opt(row.try_get(i).map_err(bad)?, Value::Bytes),
    })
}

pub struct SqliteTarget {
    pub(super) conn: SqliteConnection,
    scratch: PathBuf,
    target: PathBuf,
    /// The triggers dropped for the load (they would rewrite restored rows,
    /// e.g. a message insert moving its conversation's `last_seq`), put back
    /// before commit.
    triggers: Vec<String>,
    committed: bool,
}

impl SqliteTarget {
    pub(super) async fn open(url: &str, force: bool) -> Result<Self> {
        let target = SqliteConnectOptions::from_str(url)?
            .get_filename()
            .to_path_buf();
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(SnapshotError::Url(
                "sqlite::memory: (a restore needs a file)".into(),
            ));
        }
        if target.exists() && !force {
            refuse_if_not_empty(&target).await?;
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        crate::private_files::create_private_dir(&dir)?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kefu.db".into());
        let scratch = dir.join(format!(".{name}.restore-{}", uuid::Uuid::now_v7()));
        // Private before SQLite opens it: the restored database replaces
        // the target with this file's mode.
        crate::private_files::create_private_file(&scratch)?;
        let conn = SqliteConnectOptions::new()
            .filename(&scratch)
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Off)
            .synchronous(SqliteSynchronous::Off)
            .connect()
            .await?;
        let mut me = Self {
            conn,
            scratch,
            target,
            triggers: Vec::new(),
            committed: false,
        };
        crate::sqlite::MIGRATOR.run(&mut me.conn).await?;
        let triggers: Vec<(String, String)> =
            sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
                .fetch_all(&mut me.conn)
                .await?;
        for (name, sql) in triggers {
            me.conn
                .execute(format!("DROP TRIGGER \"{name}\"").as_str())
                .await?;
            me.triggers.push(sql);
        }
        me.conn.execute("BEGIN").await?;
        Ok(me)
    }

    pub(super) async fn insert(
        &mut self,
        table: &'static Table,
        columns: &[Column],
        rows: Vec<Row>,
    ) -> Result<()> {
        // SQLite allows 32,766 bound variables per statement.
        let per = (30_000 / columns.len().max(1)).clamp(1, 500);
        insert_batches!(&mut self.conn, table, columns, rows, per);
        Ok(())
    }

    pub(super) async fn commit(mut self) -> Result<()> {
        for sql in std::mem::take(&mut self.triggers) {
            self.conn.execute(sql.as_str()).await?;
        }
        self.conn.execute("COMMIT").await?;
        // The server's connections open the file in WAL mode.
        self.conn.execute("PRAGMA journal_mode = WAL").await?;
        let conn = std::mem::replace(
            &mut self.conn,
            SqliteConnection::connect("sqlite::memory:").await?,
        );
        conn.close().await?;
        std::fs::File::open(&self.scratch)?.sync_all()?;
        // A stale write-ahead log beside the new file would be replayed into
        // it: remove the old one first (its database is being replaced).
        for suffix in ["-wal", "-shm"] {
            let mut p = self.target.clone().into_os_string();
            p.push(suffix);
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        for suffix in ["-wal", "-shm"] {
            let mut p = self.scratch.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(&p);
        }
        std::fs::rename(&self.scratch, &self.target)?;
        if let Some(dir) = self.target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for SqliteTarget {
    fn drop(&mut self) {
        if !self.committed {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut p = self.scratch.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

async fn refuse_if_not_empty(path: &Path) -> Result<()> {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await?;
    let live = schema(&mut conn).await?;
    for t in TABLES {
        if live.contains_key(t.name) {
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\"", t.name))
                .fetch_one(&mut conn)
                .await?;
            if n > 0 {
                return Err(SnapshotError::NotEmpty {
                    table: t.name.into(),
                    rows: n,
                });
            }
        }
    }
    Ok(())
}

pub(super) fn insert_sql(table: &Table, columns: &[Column], rows: usize) -> String {
    let one = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT INTO \"{}\" ({}) VALUES {}",
        table.name,
        column_list(columns),
        vec![one; rows].join(", ")
    )
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind<'q>(q: Query<'q>, v: Value, c: &Column, table: &Table) -> Result<Query<'q>> {
    Ok(match (c.ty, v) {
        (LType::Uuid, Value::Null) => q.bind(None::<uuid::Uuid>),
        (LType::Text, Value::Null) => q.bind(None::<String>),
        (LType::I16 | LType::I32 | LType::I64, Value::Null) => q.bind(None::<i64>),
        (LType::Bool, Value::Null) => q.bind(None::<bool>),
        (LType::F32, Value::Null) => q.bind(None::<f64>),
        (LType::Time, Value::Null) => q.bind(None::<chrono::DateTime<chrono::Utc>>),
        (LType::Bytes, Value::Null) => q.bind(None::<Vec<u8>>),
        (LType::Uuid, Value::Uuid(u)) => q.bind(u),
        (LType::Text, Value::Text(s)) => q.bind(s),
        (LType::I16 | LType::I32 | LType::I64, Value::Int(i)) => q.bind(i),
        (LType::Bool, Value::Bool(b)) => q.bind(b),
        (LType::F32, Value::Real(f)) => q.bind(f),
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
