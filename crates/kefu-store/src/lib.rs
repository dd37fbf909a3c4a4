//! Storage adapters for Kefu's [`Store`] port: an embedded SQLite backend (the
//! default) and a PostgreSQL backend for clusters. The backend is chosen by
//! the URL scheme; each keeps its own SQL and migrations so the two may
//! diverge where the engines differ.
#![forbid(unsafe_code)]

use kefu_domain::store::Store;
use kefu_domain::StoreError;
use std::sync::Arc;

mod automation;
mod email;
mod export;
mod kb;
mod ops;
pub mod postgres;
pub mod private_files;
mod sealing;
pub mod snapshot;
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
    /// SQLite only: fsync the write-ahead log at every commit
    /// (`synchronous=FULL`), so an acknowledged write survives a power cut or
    /// an OS crash too. Off (`NORMAL`), a commit survives a crash of Kefu but
    /// the last ones may be lost if the machine itself goes down.
    pub sqlite_full_sync: bool,
    /// SQLite only: how often the write-ahead log is copied into the
    /// database, in the background (0: SQLite's own automatic checkpoint,
    /// inside whichever commit crosses 1,000 pages).
    pub sqlite_checkpoint_interval: std::time::Duration,
    /// The key-encryption keys that seal TOTP and identity secrets and the
    /// audit chain's key (kefu_domain::secrets).
    pub keyring: Arc<kefu_domain::secrets::Keyring>,
}

impl ConnectOptions {
    pub fn new(url: impl Into<String>, keyring: Arc<kefu_domain::secrets::Keyring>) -> Self {
        Self {
            keyring,
            url: url.into(),
            max_connections: 10,
            busy_timeout: std::time::Duration::from_secs(5),
            sqlite_full_sync: false,
            sqlite_checkpoint_interval: std::time::Duration::from_millis(250),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL scheme `{0}:` (use sqlite:// or postgres://)")]
    UnsupportedScheme(String),
    #[error("cannot open the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("cannot prepare the database directory")]
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

/// The occupancy of these pools, summed.
pub(crate) fn pool_stats<DB: sqlx::Database>(
    pools: &[&sqlx::Pool<DB>],
) -> kefu_domain::store::PoolStats {
    let mut s = kefu_domain::store::PoolStats::default();
    for p in pools {
        s.open += p.size();
        s.idle += u32::try_from(p.num_idle()).unwrap_or(u32::MAX);
        s.max += p.options().get_max_connections();
    }
    s
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

/// An inbox's business hours as stored (JSON text; NULL = always open).
pub(crate) fn hours_text(
    h: &Option<kefu_domain::chat::BusinessHours>,
) -> Result<Option<String>, StoreError> {
    h.as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::backend)
}

/// An inbox's automation as stored (JSON text; NULL for none).
pub(crate) fn automation_text(
    a: &kefu_domain::chat::InboxAutomation,
) -> Result<Option<String>, StoreError> {
    if a.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(a)
        .map(Some)
        .map_err(StoreError::backend)
}

/// [`automation_text`] read back.
pub(crate) fn automation_of(
    raw: Option<String>,
) -> Result<kefu_domain::chat::InboxAutomation, StoreError> {
    raw.map(|t| serde_json::from_str(&t))
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|_| corrupt("inboxes.automation"))
}

/// A contact's last visit as stored (JSON text).
pub(crate) fn visit_of(
    raw: Option<String>,
) -> Result<Option<kefu_domain::chat::Visit>, StoreError> {
    raw.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|_| corrupt("contacts.last_visit"))
}

pub(crate) fn offline_text(m: kefu_domain::chat::OfflineMode) -> &'static str {
    match m {
        kefu_domain::chat::OfflineMode::Queue => "queue",
        kefu_domain::chat::OfflineMode::Form => "form",
    }
}

/// A message's structured extras as stored (JSON text; NULL for none).
pub(crate) fn meta_text(m: &kefu_domain::chat::NewMessage) -> Result<Option<String>, StoreError> {
    m.meta
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::backend)
}

/// The two text forms an attribute filter's value matches a stored JSON
/// value in: as a JSON string (`"vip"`), and as written (`true`, `3`).
pub(crate) fn attribute_forms(value: &str) -> (String, String) {
    (
        serde_json::Value::from(value).to_string(),
        value.to_string(),
    )
}

/// `%text%` for LIKE with `\\` escaping the wildcards in `text`.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The conversation as a transition leaves it (both backends apply this in
/// their transaction); `Conflict("invalid_transition")` from a wrong state.
pub(crate) fn transitioned(
    current: &kefu_domain::chat::Conversation,
    t: &kefu_domain::chat::Transition,
) -> Result<kefu_domain::chat::Conversation, StoreError> {
    use kefu_domain::chat::ConversationStatus::Queued;
    if !t.from.contains(&current.status) {
        return Err(StoreError::Conflict("invalid_transition"));
    }
    if t.expect_assignee.is_some_and(|a| a != current.assignee_id) {
        return Err(StoreError::Conflict("assignment_conflict"));
    }
    let mut next = current.clone();
    next.status = t.to;
    if let Some(a) = t.assignee {
        next.assignee_id = a;
    }
    if let Some(team) = t.team {
        next.team_id = team;
    }
    if t.to == Queued && (current.status != Queued || next.team_id != current.team_id) {
        next.queued_at = Some(t.at);
    }
    if let Some(r) = t.reason {
        next.assignment_reason = Some(r);
    }
    next.updated_at = t.at;
    Ok(next)
}

/// The assignment-history row for a transition with a reason.
pub(crate) fn assignment_record(
    current: &kefu_domain::chat::Conversation,
    next: &kefu_domain::chat::Conversation,
    t: &kefu_domain::chat::Transition,
) -> Option<kefu_domain::routing::Assignment> {
    use kefu_domain::chat::ConversationStatus::Queued;
    let reason = t.reason?;
    let waited_ms = (current.status == Queued && next.status != Queued)
        .then(|| {
            current
                .queued_at
                .map(|q| (t.at - q).num_milliseconds().max(0))
        })
        .flatten();
    Some(kefu_domain::routing::Assignment {
        id: kefu_domain::AssignmentId::new(),
        conversation_id: current.id,
        assignee_id: next.assignee_id,
        team_id: next.team_id,
        reason,
        actor_id: t.actor,
        waited_ms,
        created_at: t.at,
    })
}

/// A new random visitor id (the same shape the service issues).
pub(crate) fn fresh_visitor_id() -> String {
    format!("v_{}", uuid::Uuid::now_v7().simple())
}
