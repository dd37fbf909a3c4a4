//! Engine-neutral row access for backups: a consistent read snapshot of
//! every table ([`Snapshot`]) and a restore target that takes rows in bulk
//! and commits them all or nothing ([`Target`]).
//!
//! Rows travel as [`Value`]s typed by the [`catalog`], so an archive made on
//! SQLite restores into PostgreSQL and back. Each table's content is
//! summarised by an order-independent [`Digest`] over a canonical encoding
//! (timestamps at microseconds, reals at single precision: what both engines
//! store), so a restore into the other engine can prove every row arrived.

/// Inserts `rows` into `table` with multi-row `INSERT`s of at most `per`
/// rows, binding each value by its column's type: the same loop on both
/// engines over each engine's own `insert_sql` and `bind`.
macro_rules! insert_batches {
    ($conn:expr, $table:expr, $columns:expr, $rows:expr, $per:expr) => {{
        let mut rows = $rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Row> = rows.by_ref().take($per).collect();
            let sql = insert_sql($table, $columns, chunk.len());
            let mut q = sqlx::query(&sql);
            for row in chunk {
                for (v, c) in row.into_iter().zip($columns) {
                    q = bind(q, v, c, $table)?;
                }
            }
            q.execute($conn).await?;
        }
    }};
}

pub mod catalog;
mod postgres;
pub mod runs;
mod sqlite;

use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

pub use catalog::{SCHEMA_VERSION, TABLES};

/// A column's engine-neutral type. Integers keep PostgreSQL's width so a
/// restore binds exactly the column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LType {
    Uuid,
    Text,
    I16,
    I32,
    I64,
    Bool,
    F32,
    Time,
    Bytes,
}

impl LType {
    pub fn code(self) -> u8 {
        match self {
            LType::Uuid => 1,
            LType::Text => 2,
            LType::I16 => 3,
            LType::I32 => 4,
            LType::I64 => 5,
            LType::Bool => 6,
            LType::F32 => 7,
            LType::Time => 8,
            LType::Bytes => 9,
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => LType::Uuid,
            2 => LType::Text,
            3 => LType::I16,
            4 => LType::I32,
            5 => LType::I64,
            6 => LType::Bool,
            7 => LType::F32,
            8 => LType::Time,
            9 => LType::Bytes,
            _ => return None,
        })
    }

    /// PostgreSQL's name for the type (`information_schema.columns.udt_name`).
    pub fn pg_name(self) -> &'static str {
        match self {
            LType::Uuid => "uuid",
            LType::Text => "text",
            LType::I16 => "int2",
            LType::I32 => "int4",
            LType::I64 => "int8",
            LType::Bool => "bool",
            LType::F32 => "float4",
            LType::Time => "timestamptz",
            LType::Bytes => "bytea",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: LType,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The catalog table of this name.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
    Uuid(uuid::Uuid),
    Bool(bool),
    Time(DateTime<Utc>),
}

impl Value {
    /// A rough size in memory, for batching by bytes.
    pub fn weight(&self) -> usize {
        match self {
            Value::Text(s) => 24 + s.len(),
            Value::Bytes(b) => 24 + b.len(),
            _ => 16,
        }
    }
}

pub type Row = Vec<Value>;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrating the target: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The live schema and the catalog disagree.
    #[error("schema mismatch: {0}")]
    Schema(String),
    /// A restore target that already holds data (and no `--force`).
    #[error("the target database is not empty: table {table} has {rows} row(s) (use --force to replace its contents)")]
    NotEmpty { table: String, rows: i64 },
    /// A value that does not fit its column.
    #[error("bad value for {table}.{column}: {why}")]
    Value {
        table: String,
        column: String,
        why: String,
    },
    #[error("unsupported database URL `{0}` (use sqlite://… or postgres://…)")]
    Url(String),
}

pub type Result<T, E = SnapshotError> = std::result::Result<T, E>;

/// An order-independent digest of a table's rows: the sum, modulo 2^256, of
/// each row's SHA-256 over its canonical encoding, and the row count. The
/// same rows in any order give the same digest, so the engines' differing
/// scan orders do not matter. It detects lost, changed or duplicated rows; it
/// is a checksum, not an authenticator (the archive's AEAD is that).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    sum: [u64; 4],
    pub rows: u64,
}

impl Digest {
    pub fn add(&mut self, row: &[Value]) {
        let mut h = Sha256::new();
        for v in row {
            canonical(v, &mut h);
        }
        let d = h.finalize();
        let mut carry = 0u128;
        for (i, limb) in self.sum.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&d[i * 8..i * 8 + 8]);
            let s = *limb as u128 + u64::from_le_bytes(b) as u128 + carry;
            *limb = s as u64;
            carry = s >> 64;
        }
        self.rows += 1;
    }

    pub fn hex(&self) -> String {
        self.sum.iter().rev().map(|l| format!("{l:016x}")).collect()
    }
}

fn canonical(v: &Value, h: &mut Sha256) {
    match v {
        Value::Null => h.update([0u8]),
        Value::Int(i) => {
            h.update([1u8]);
            h.update(i.to_le_bytes());
        }
        // Single precision: PostgreSQL's REAL, and what Kefu writes.
        Value::Real(f) => {
            h.update([2u8]);
            h.update((*f as f32).to_bits().to_le_bytes());
        }
        Value::Text(s) => {
            h.update([3u8]);
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        Value::Bytes(b) => {
            h.update([4u8]);
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
        Value::Uuid(u) => {
            h.update([5u8]);
            h.update(u.as_bytes());
        }
        Value::Bool(b) => h.update([6u8, *b as u8]),
        // Microseconds: PostgreSQL's precision.
        Value::Time(t) => {
            h.update([7u8]);
            h.update(t.timestamp_micros().to_le_bytes());
        }
    }
}

/// Which engine a URL names.
pub fn engine_of(url: &str) -> Result<&'static str> {
    if url.starts_with("sqlite:") {
        Ok("sqlite")
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok("postgres")
    } else {
        Err(SnapshotError::Url(
            url.split(':').next().unwrap_or("").into(),
        ))
    }
}

/// A read-only transaction over one connection: every table read through it
/// sees the same instant, while the server keeps writing (SQLite's WAL
/// readers and PostgreSQL's `REPEATABLE READ` both give that).
pub enum Snapshot {
    Sqlite(sqlite::SqliteSnapshot),
    Postgres(postgres::PgSnapshot),
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snapshot({})", self.engine())
    }
}

impl Snapshot {
    pub async fn open(url: &str) -> Result<Self> {
        match engine_of(url)? {
            "sqlite" => Ok(Self::Sqlite(sqlite::SqliteSnapshot::open(url).await?)),
            _ => Ok(Self::Postgres(postgres::PgSnapshot::open(url).await?)),
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// The live schema: table → column names, Kefu's tables only.
    pub async fn schema(&mut self) -> Result<BTreeMap<String, Vec<String>>> {
        match self {
            Self::Sqlite(s) => sqlite::schema(&mut s.conn).await,
            Self::Postgres(s) => postgres::schema(&mut s.conn).await,
        }
    }

    /// Refuses a database whose schema is not the catalog's: a table or
    /// column the catalog lacks would silently be left out of the backup.
    pub async fn check_schema(&mut self) -> Result<()> {
        check_schema(&self.schema().await?)
    }

    /// Every row of `table`, columns in catalog order.
    pub fn rows<'a>(&'a mut self, table: &'static Table) -> BoxStream<'a, Result<Row>> {
        match self {
            Self::Sqlite(s) => sqlite::rows(&mut s.conn, table, table.columns, select_sql(table)),
            Self::Postgres(s) => {
                postgres::rows(&mut s.conn, table, table.columns, select_sql(table))
            }
        }
    }

    /// About how many rows `table` has, for a progress display: exact on
    /// SQLite (counted in this process), PostgreSQL's planner estimate
    /// otherwise (an exact `count(*)` of a large table is a parallel scan
    /// that takes the server's cores from the chat for its duration).
    pub async fn estimate_rows(&mut self, table: &'static Table) -> Result<u64> {
        match self {
            Self::Sqlite(_) => self.count(table).await,
            Self::Postgres(s) => {
                let n: Option<i64> = sqlx::query_scalar(
                    "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass($1)",
                )
                .bind(format!("\"{}\"", table.name))
                .fetch_optional(&mut s.conn)
                .await?
                .flatten();
                Ok(n.unwrap_or(0).max(0) as u64)
            }
        }
    }

    /// How many rows `table` has in this snapshot.
    pub async fn count(&mut self, table: &'static Table) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM \"{}\"", table.name);
        let n: i64 = match self {
            Self::Sqlite(s) => sqlx::query_scalar(&sql).fetch_one(&mut s.conn).await?,
            Self::Postgres(s) => sqlx::query_scalar(&sql).fetch_one(&mut s.conn).await?,
        };
        Ok(n as u64)
    }
}

/// Compares a live schema with the catalog; names every difference.
pub fn check_schema(live: &BTreeMap<String, Vec<String>>) -> Result<()> {
    let mut problems = Vec::new();
    for t in TABLES {
        match live.get(t.name) {
            None => problems.push(format!("table {} is missing", t.name)),
            Some(cols) => {
                for c in t.columns {
                    if !cols.iter().any(|x| x == c.name) {
                        problems.push(format!("column {}.{} is missing", t.name, c.name));
                    }
                }
                for c in cols {
                    if t.column(c).is_none() {
                        problems.push(format!("column {}.{c} is not in the catalog", t.name));
                    }
                }
            }
        }
    }
    for name in live.keys() {
        if table(name).is_none() {
            problems.push(format!("table {name} is not in the catalog"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SnapshotError::Schema(format!(
            "{} (is this database migrated by a different Kefu version?)",
            problems.join("; ")
        )))
    }
}

/// Where a restore writes: migrated, checked empty (or cleared with
/// `force`), written in one unit that becomes visible only at
/// [`Target::commit`]. Dropped without committing, it leaves the database
/// as it was.
pub enum Target {
    Sqlite(sqlite::SqliteTarget),
    Postgres(postgres::PgTarget),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.engine())
    }
}

impl Target {
    /// Opens `url` for a restore. Without `force` a target holding any row
    /// is refused before anything is written.
    pub async fn open(url: &str, force: bool) -> Result<Self> {
        match engine_of(url)? {
            "sqlite" => Ok(Self::Sqlite(sqlite::SqliteTarget::open(url, force).await?)),
            _ => Ok(Self::Postgres(postgres::PgTarget::open(url, force).await?)),
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Inserts rows whose values follow `columns` (a subset of the table's,
    /// in any order).
    pub async fn insert(
        &mut self,
        table: &'static Table,
        columns: &[Column],
        rows: Vec<Row>,
    ) -> Result<()> {
        for row in &rows {
            if row.len() != columns.len() {
                return Err(SnapshotError::Value {
                    table: table.name.into(),
                    column: "*".into(),
                    why: format!("{} values for {} columns", row.len(), columns.len()),
                });
            }
        }
        match self {
            Self::Sqlite(t) => t.insert(table, columns, rows).await,
            Self::Postgres(t) => t.insert(table, columns, rows).await,
        }
    }

    /// The rows written so far, read back inside the unit (for checking
    /// against the archive before committing).
    pub fn rows<'a>(
        &'a mut self,
        table: &'static Table,
        columns: &'a [Column],
    ) -> BoxStream<'a, Result<Row>> {
        let sql = select_sql(table);
        match self {
            Self::Sqlite(t) => sqlite::rows(&mut t.conn, table, columns, sql),
            Self::Postgres(t) => postgres::rows(&mut t.conn, table, columns, sql),
        }
    }

    /// Every row of `table` through `sql`, which must select the catalog's
    /// columns in catalog order (an ordered scan, for example).
    pub fn rows_by<'a>(
        &'a mut self,
        table: &'static Table,
        sql: &'static str,
    ) -> BoxStream<'a, Result<Row>> {
        match self {
            Self::Sqlite(t) => sqlite::rows(&mut t.conn, table, table.columns, sql),
            Self::Postgres(t) => postgres::rows(&mut t.conn, table, table.columns, sql),
        }
    }

    /// Makes everything written visible at once.
    pub async fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(t) => t.commit().await,
            Self::Postgres(t) => t.commit().await,
        }
    }
}

/// `SELECT <every catalog column> FROM <table>`, built once per table (the
/// row streams borrow their statement text for as long as they run).
fn select_sql(table: &'static Table) -> &'static str {
    static SQL: std::sync::OnceLock<BTreeMap<&'static str, String>> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        TABLES
            .iter()
            .map(|t| {
                let sql = format!("SELECT {} FROM \"{}\"", column_list(t.columns), t.name);
                (t.name, sql)
            })
            .collect()
    })
    .get(table.name)
    .map(String::as_str)
    .unwrap_or("SELECT 1 WHERE FALSE")
}

/// `(table, column)` rows, in column order, as table → columns.
fn group_columns(rows: Vec<(String, String)>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, c) in rows {
        out.entry(t).or_default().push(c);
    }
    out
}

/// `"a", "b", …` for a column list.
fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn value_error(table: &Table, column: &Column, why: impl Into<String>) -> SnapshotError {
    SnapshotError::Value {
        table: table.name.into(),
        column: column.name.into(),
        why: why.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_order_and_counts_duplicates() {
        let a = vec![Value::Int(1), Value::Text("甲".into())];
        let b = vec![Value::Int(2), Value::Null];
        let mut x = Digest::default();
        x.add(&a);
        x.add(&b);
        let mut y = Digest::default();
        y.add(&b);
        y.add(&a);
        assert_eq!(x, y);
        y.add(&a);
        assert_ne!(x.hex(), y.hex());
        assert_eq!(y.rows, 3);
    }

    #[test]
    fn digest_is_canonical_across_engine_precisions() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let micros = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut x = Digest::default();
        x.add(&[Value::Time(t), Value::Real(0.1f32 as f64)]);
        let mut y = Digest::default();
        y.add(&[Value::Time(micros), Value::Real(0.1f32 as f64)]);
        assert_eq!(x, y);
        let mut z = Digest::default();
        z.add(&[Value::Time(micros), Value::Real(0.2)]);
        assert_ne!(x, z);
    }

    #[test]
    fn schema_check_names_the_difference() {
        let mut live: BTreeMap<String, Vec<String>> = TABLES
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.columns.iter().map(|c| c.name.to_string()).collect(),
                )
            })
            .collect();
        assert!(check_schema(&live).is_ok());
        live.get_mut("messages").unwrap().push("mood".into());
        live.insert("widgets".into(), vec!["id".into()]);
        let e = check_schema(&live).unwrap_err().to_string();
        assert!(e.contains("messages.mood"), "{e}");
        assert!(e.contains("table widgets"), "{e}");
    }
}
