//! Storage adapters for Kefu's [`Store`] port: an embedded SQLite backend (the
//! default) and a PostgreSQL backend for clusters. The backend is chosen by
//! the URL scheme; each keeps its own SQL and migrations so the two may
//! diverge where the engines differ.
#![forbid(unsafe_code)]

use kefu_domain::store::Store;
use kefu_domain::StoreError;
use std::sync::Arc;

pub mod postgres;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

/// Connection settings common to both backends.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub url: String,
    /// Upper bound of pooled connections (readers, for SQLite).
    pub max_connections: u32,
    /// How long to wait for a locked SQLite database or a free pooled connection.
    pub busy_timeout: std::time::Duration,
}

impl ConnectOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            busy_timeout: std::time::Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL scheme `{0}:` (use sqlite:// or postgres://)")]
    UnsupportedScheme(String),
    #[error("cannot open the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot prepare the database directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens the store the URL names (`sqlite://…` or `postgres://…`). Does not
/// migrate: call [`Store::migrate`] (or let `kefu serve` do it).
pub async fn connect(opts: &ConnectOptions) -> Result<Arc<dyn Store>, ConnectError> {
    let url = opts.url.as_str();
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(opts).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(opts).await?))
    } else {
        let scheme = url.split(':').next().unwrap_or_default().to_string();
        Err(ConnectError::UnsupportedScheme(scheme))
    }
}

/// Maps a driver error, naming the uniqueness rule it broke when it is one.
pub(crate) fn map_err(e: sqlx::Error, on_unique: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(on_unique),
        _ => StoreError::backend(e),
    }
}

pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::backend(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("corrupt row: {what}"),
    ))
}

/// Scopes are stored as one space-separated column.
pub(crate) fn scopes_to_text(scopes: &[kefu_domain::Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn scopes_from_text(s: &str) -> Result<Vec<kefu_domain::Scope>, StoreError> {
    s.split_whitespace()
        .map(|p| p.parse().map_err(|_| corrupt("api_tokens.scopes")))
        .collect()
}
