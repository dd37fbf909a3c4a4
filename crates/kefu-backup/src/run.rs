//! Create, verify and restore, as streams between the database and a file.

use crate::archive::{ArchiveReader, ArchiveWriter, Event};
use crate::error::{BackupError, Result};
use crate::format::{self, Header, Manifest, TableSummary};
use crate::key::BackupKey;
use crate::progress::Progress;
use chrono::Utc;
use futures_util::StreamExt;
use kefu_domain::audit::AuditEntry;
use kefu_domain::audit::{ChainCheck, ChainFault, ChainKey, ChainVerifier};
use kefu_domain::model::ActorKind;
use kefu_domain::secrets::{context as secrets_context, Kek, Keyring, AUDIT_CHAIN_KEY};
use kefu_store::snapshot::{self, Column, Digest, Row, Snapshot, Table, Target, Value};
use kefu_store::snapshot::{SCHEMA_VERSION, TABLES};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Encoded records are handed to the writer thread in blocks of this size.
const BLOCK: usize = 256 * 1024;
/// A restore inserts at most this many rows, or this many bytes, at once.
const BATCH_ROWS: usize = 2_000;
const BATCH_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub key: Option<BackupKey>,
    /// Secrets to include (the token signing key); needs `key`.
    pub secrets: Vec<(String, Vec<u8>)>,
    pub signing_key_id: Option<String>,
    /// zstd level (1–19; 3 is zstd's default).
    pub level: i32,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self {
            key: None,
            secrets: Vec::new(),
            signing_key_id: None,
            level: 3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Created {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub manifest: Manifest,
    pub seconds: f64,
}

/// Takes a consistent snapshot of the database at `db_url` and writes it to
/// `out`: into a temporary file beside it, fsynced, then renamed, so a
/// partial archive (a full disk, a crash) never carries the final name.
pub async fn create(
    db_url: &str,
    out: &Path,
    opts: CreateOptions,
    progress: Arc<Progress>,
) -> Result<Created> {
    if !opts.secrets.is_empty() && opts.key.is_none() {
        return Err(BackupError::Usage(
            "secrets are only written into an encrypted archive: give --key-file".into(),
        ));
    }
    let started = Instant::now();
    let mut snap = Snapshot::open(db_url).await?;
    snap.check_schema().await?;
    progress.phase("backup");
    let mut total = 0;
    for t in TABLES {
        total += snap.estimate_rows(t).await?;
    }
    progress.rows_total.store(total, Ordering::Relaxed);
    progress
        .tables_total
        .store(TABLES.len() as u64, Ordering::Relaxed);
    let created_at = Utc::now();
    let header = Header {
        format: format::FORMAT,
        schema_version: SCHEMA_VERSION,
        kefu_version: env!("CARGO_PKG_VERSION").into(),
        engine: snap.engine().into(),
        created_at,
        compression: "zstd".into(),
        encryption: None,
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .map_err(BackupError::io(format!("creating {}", dir.display())))?;
    let name = out
        .file_name()
        .ok_or_else(|| BackupError::Usage(format!("{} is not a file path", out.display())))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.tmp-{}", uuid::Uuid::now_v7()));
    let file = private_file(&tmp)?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let key = opts.key.clone();
    let bytes = progress.bytes.clone();
    let level = opts.level;
    let writer = tokio::task::spawn_blocking(move || -> Result<(u64, [u8; 32])> {
        let mut w = ArchiveWriter::new(file, header, key.as_ref(), level, Some(bytes))?;
        while let Some(block) = rx.blocking_recv() {
            w.write(&block)?;
        }
        let (file, n, sha) = w.finish()?;
        file.sync_all()
            .map_err(BackupError::io("writing the archive to disk"))?;
        Ok((n, sha))
    });

    let produced = produce(&mut snap, &tx, &opts, created_at, &progress).await;
    drop(tx);
    let written = writer
        .await
        .map_err(|e| BackupError::Usage(format!("the archive writer failed: {e}")))?;
    let outcome = match (produced, written) {
        // The writer's error is the cause when both failed (the producer
        // only saw the channel close).
        (_, Err(e)) | (Err(e), Ok(_)) => Err(e),
        (Ok(manifest), Ok((n, sha))) => Ok((manifest, n, sha)),
    };
    let (manifest, n, sha) = match outcome {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = std::fs::rename(&tmp, out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(BackupError::io(format!("renaming to {}", out.display()))(e));
    }
    sync_dir(&dir);
    Ok(Created {
        path: out.to_path_buf(),
        bytes: n,
        sha256: crate::key::hex(&sha),
        manifest,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn produce(
    snap: &mut Snapshot,
    tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
    opts: &CreateOptions,
    created_at: chrono::DateTime<Utc>,
    progress: &Progress,
) -> Result<Manifest> {
    let mut buf = Vec::with_capacity(BLOCK * 2);
    let mut tables = Vec::with_capacity(TABLES.len());
    for t in TABLES {
        progress.table(t.name);
        format::table_start(&mut buf, t.name, t.columns);
        let mut digest = Digest::default();
        let mut rows = snap.rows(t);
        while let Some(row) = rows.next().await {
            let row = row?;
            digest.add(&row);
            format::row(&mut buf, t.columns, &row);
            progress.row();
            if buf.len() >= BLOCK {
                send(tx, &mut buf).await?;
            }
        }
        drop(rows);
        format::table_end(&mut buf, digest.rows, &digest.hex());
        tables.push(TableSummary {
            name: t.name.into(),
            rows: digest.rows,
            digest: digest.hex(),
        });
        progress.tables_done.fetch_add(1, Ordering::Relaxed);
    }
    for (name, bytes) in &opts.secrets {
        format::secret(&mut buf, name, bytes);
    }
    let manifest = Manifest {
        format: format::FORMAT,
        schema_version: SCHEMA_VERSION,
        kefu_version: env!("CARGO_PKG_VERSION").into(),
        engine: snap.engine().into(),
        created_at,
        key_id: opts.key.as_ref().map(|k| k.id().to_string()),
        tables,
        signing_key_id: opts.signing_key_id.clone(),
        secrets_included: !opts.secrets.is_empty(),
    };
    format::manifest(&mut buf, &manifest);
    send(tx, &mut buf).await?;
    Ok(manifest)
}

async fn send(tx: &tokio::sync::mpsc::Sender<Vec<u8>>, buf: &mut Vec<u8>) -> Result<()> {
    let block = std::mem::replace(buf, Vec::with_capacity(BLOCK * 2));
    tx.send(block)
        .await
        .map_err(|_| BackupError::Usage("the archive writer stopped".into()))
}

fn private_file(path: &Path) -> Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .map_err(BackupError::io(format!("creating {}", path.display())))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[derive(Debug, Clone)]
pub struct Verified {
    pub header: Header,
    pub manifest: Manifest,
    pub secrets: Vec<(String, Vec<u8>)>,
    pub bytes: u64,
}

/// Reads the whole archive, checking every chunk, every table's row count
/// and digest, and the manifest. Blocking: run it off the async runtime.
pub fn verify(path: &Path, keys: &[BackupKey], progress: &Progress) -> Result<Verified> {
    let file = std::fs::File::open(path)
        .map_err(BackupError::io(format!("opening {}", path.display())))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    progress.phase("verify");
    progress.bytes_total.store(bytes, Ordering::Relaxed);
    let mut r = ArchiveReader::open(file, keys, Some(progress.bytes.clone()))?;
    let mut secrets = Vec::new();
    loop {
        match r.next_event()? {
            Event::Table { table, .. } => progress.table(table.name),
            Event::Row(_) => progress.row(),
            Event::TableEnd(_) => {
                progress.tables_done.fetch_add(1, Ordering::Relaxed);
            }
            Event::Secret { name, bytes } => secrets.push((name, bytes)),
            Event::End(m) => {
                return Ok(Verified {
                    header: r.header.clone(),
                    manifest: *m,
                    secrets,
                    bytes,
                })
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub keys: Vec<BackupKey>,
    /// Replace a target that holds data.
    pub force: bool,
    /// Restore even when an audit chain in the archive is broken (it was
    /// broken in the database that was backed up).
    pub allow_broken_audit: bool,
    /// The key-encryption keys that may open the archive's audit chain key
    /// (the configured ones; one carried in the archive is added).
    pub keyring: Option<Arc<Keyring>>,
}

#[derive(Debug, Clone)]
pub struct Restored {
    pub manifest: Manifest,
    pub secrets: Vec<(String, Vec<u8>)>,
    /// Workspaces whose audit chain was checked.
    pub audit_chains: usize,
    /// How: `keyed` (content, links and heads, under the chain key),
    /// `legacy` (an archive from before chains were keyed: plain SHA-256),
    /// or `links-only` (the key-encryption key that opens the chain key was
    /// not available: sequence, links and heads only).
    pub audit_check: &'static str,
    pub audit_faults: Vec<String>,
    pub seconds: f64,
}

enum Batch {
    Table(&'static Table, Vec<Column>),
    Rows(Vec<Row>),
    End(Box<Manifest>),
}

/// Verifies the archive, then restores it into `into_url` in one unit:
/// every table's rows are read back and compared with the manifest, and
/// every workspace's audit chain is checked, before the unit commits. Any
/// failure leaves the target as it was.
pub async fn restore(
    path: &Path,
    into_url: &str,
    opts: RestoreOptions,
    progress: Arc<Progress>,
) -> Result<Restored> {
    let started = Instant::now();
    snapshot::engine_of(into_url)?;
    // 1. The whole archive is checked before the target is touched.
    let verified = {
        let (path, keys, p) = (path.to_path_buf(), opts.keys.clone(), progress.clone());
        tokio::task::spawn_blocking(move || verify(&path, &keys, &p))
            .await
            .map_err(|e| BackupError::Usage(format!("verification failed: {e}")))??
    };
    let manifest = verified.manifest;
    let mut target = Target::open(into_url, opts.force).await?;

    // 2. Load: a reader thread feeds batches through a bounded channel.
    progress.phase("restore");
    progress
        .rows_total
        .store(manifest.total_rows(), Ordering::Relaxed);
    progress
        .tables_total
        .store(manifest.tables.len() as u64, Ordering::Relaxed);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(4);
    let reader = {
        let (path, keys, bytes) = (
            path.to_path_buf(),
            opts.keys.clone(),
            progress.bytes.clone(),
        );
        tokio::task::spawn_blocking(move || read_batches(&path, &keys, bytes, tx))
    };
    let mut loaded: Loaded = Vec::new();
    let mut current: Option<(&'static Table, Vec<Column>)> = None;
    let mut end = None;
    let mut failed = None;
    while let Some(batch) = rx.recv().await {
        if let Err(e) = apply(
            batch,
            &mut target,
            &mut current,
            &mut loaded,
            &mut end,
            &progress,
        )
        .await
        {
            failed = Some(e);
            break;
        }
    }
    drop(rx);
    let read = reader
        .await
        .map_err(|e| BackupError::Usage(format!("the archive reader failed: {e}")))?;
    if let Some(e) = failed {
        return Err(e);
    }
    read?;
    let end = end.ok_or_else(|| BackupError::Truncated("before its manifest"))?;
    if *end != manifest {
        return Err(BackupError::Mismatch(
            "the archive changed between verification and restore".into(),
        ));
    }
    if let Some(done) = current.take() {
        loaded.push(done);
    }

    // 3. Read everything back inside the unit and compare.
    progress.phase("check");
    for (table, cols) in &loaded {
        progress.table(table.name);
        let want = manifest
            .tables
            .iter()
            .find(|s| s.name == table.name)
            .ok_or_else(|| {
                BackupError::Mismatch(format!("{} is not in the manifest", table.name))
            })?;
        let mut digest = Digest::default();
        let mut rows = target.rows(table, cols);
        while let Some(row) = rows.next().await {
            digest.add(&row?);
            progress.row();
        }
        drop(rows);
        if digest.rows != want.rows || digest.hex() != want.digest {
            return Err(BackupError::Mismatch(format!(
                "table {}: {} rows restored with digest {}, the archive holds {} rows with digest {}",
                table.name,
                digest.rows,
                digest.hex(),
                want.rows,
                want.digest
            )));
        }
    }
    let check = chain_check(&mut target, &manifest, &opts, &verified.secrets).await?;
    let audit_check = match &check {
        ChainCheck::Keyed(_) => "keyed",
        ChainCheck::Legacy => "legacy",
        ChainCheck::LinksOnly => "links-only",
    };
    let (audit_chains, faults) = check_audit(&mut target, check).await?;
    if !faults.is_empty() && !opts.allow_broken_audit {
        return Err(BackupError::Mismatch(format!(
            "the audit chain in the archive is broken ({}); the database that was backed up had been tampered with. \
             Restore anyway with --allow-broken-audit",
            faults.join("; ")
        )));
    }
    progress.phase("commit");
    target.commit().await?;
    Ok(Restored {
        manifest,
        secrets: verified.secrets,
        audit_chains,
        audit_check,
        audit_faults: faults,
        seconds: started.elapsed().as_secs_f64(),
    })
}

type Loaded = Vec<(&'static Table, Vec<Column>)>;

/// One batch from the reader, into the target.
async fn apply(
    batch: Batch,
    target: &mut Target,
    current: &mut Option<(&'static Table, Vec<Column>)>,
    loaded: &mut Loaded,
    end: &mut Option<Box<Manifest>>,
    progress: &Progress,
) -> Result<()> {
    match batch {
        Batch::Table(t, cols) => {
            progress.table(t.name);
            if let Some(done) = current.replace((t, cols)) {
                loaded.push(done);
                progress.tables_done.fetch_add(1, Ordering::Relaxed);
            }
        }
        Batch::Rows(rows) => {
            let Some((t, cols)) = current.as_ref() else {
                return Err(BackupError::Corrupt("rows outside a table".into()));
            };
            let n = rows.len() as u64;
            target.insert(t, cols, rows).await?;
            progress.rows_done.fetch_add(n, Ordering::Relaxed);
        }
        Batch::End(m) => *end = Some(m),
    }
    Ok(())
}

fn read_batches(
    path: &Path,
    keys: &[BackupKey],
    bytes: Arc<std::sync::atomic::AtomicU64>,
    tx: tokio::sync::mpsc::Sender<Batch>,
) -> Result<()> {
    let file = std::fs::File::open(path)
        .map_err(BackupError::io(format!("opening {}", path.display())))?;
    let mut r = ArchiveReader::open(file, keys, Some(bytes))?;
    let mut rows: Vec<Row> = Vec::new();
    let mut weight = 0usize;
    let stopped = || BackupError::Usage("the restore stopped".into());
    loop {
        match r.next_event()? {
            Event::Table { table, columns } => {
                tx.blocking_send(Batch::Table(table, columns))
                    .map_err(|_| stopped())?;
            }
            Event::Row(row) => {
                weight += row.iter().map(Value::weight).sum::<usize>();
                rows.push(row);
                if rows.len() >= BATCH_ROWS || weight >= BATCH_BYTES {
                    tx.blocking_send(Batch::Rows(std::mem::take(&mut rows)))
                        .map_err(|_| stopped())?;
                    weight = 0;
                }
            }
            Event::TableEnd(_) => {
                if !rows.is_empty() {
                    tx.blocking_send(Batch::Rows(std::mem::take(&mut rows)))
                        .map_err(|_| stopped())?;
                    weight = 0;
                }
            }
            Event::Secret { .. } => {}
            Event::End(m) => {
                tx.blocking_send(Batch::End(m)).map_err(|_| stopped())?;
                return Ok(());
            }
        }
    }
}

/// The audit log ordered for the chain check; the select list is the
/// catalog's, in catalog order.
fn audit_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let t = snapshot::table("audit_log").expect("audit_log is in the catalog");
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("\"{}\"", c.name))
            .collect();
        format!(
            "SELECT {} FROM audit_log ORDER BY workspace_id, seq",
            cols.join(", ")
        )
    })
}

/// How the restored audit chains can be checked: under the chain key when a
/// key-encryption key at hand (configured, or carried in the archive) opens
/// it; plain SHA-256 for an archive from before chains were keyed; else
/// links only.
async fn chain_check(
    target: &mut Target,
    manifest: &Manifest,
    opts: &RestoreOptions,
    archived: &[(String, Vec<u8>)],
) -> Result<ChainCheck> {
    if manifest.schema_version < 3 {
        return Ok(ChainCheck::Legacy);
    }
    let t = snapshot::table("sealed_keys").expect("in the catalog");
    let cols: Vec<Column> = ["name", "sealed"]
        .iter()
        .map(|n| *t.column(n).expect("in the catalog"))
        .collect();
    let mut sealed = None;
    {
        let mut rows = target.rows(t, &cols);
        while let Some(row) = rows.next().await {
            if let [Value::Text(name), Value::Text(s)] = row?.as_slice() {
                if name == AUDIT_CHAIN_KEY {
                    sealed = Some(s.clone());
                }
            }
        }
    }
    let Some(sealed) = sealed else {
        return Ok(ChainCheck::LinksOnly);
    };
    let mut rings: Vec<Keyring> = opts.keyring.iter().map(|k| (**k).clone()).collect();
    for (name, value) in archived {
        if name == crate::SECRET_KEK {
            if let Some(k) = std::str::from_utf8(value).ok().and_then(Kek::parse_hex) {
                rings.push(Keyring::new(k, Vec::new()));
            }
        }
    }
    for ring in &rings {
        if let Ok(o) = ring.open(&secrets_context::sealed_key(AUDIT_CHAIN_KEY), &sealed) {
            if let Some(k) = ChainKey::from_hex(&o.plaintext) {
                return Ok(ChainCheck::Keyed(k));
            }
        }
    }
    Ok(ChainCheck::LinksOnly)
}

/// Checks every workspace's audit chain as restored; returns how many
/// chains were checked and the faults found.
async fn check_audit(target: &mut Target, check: ChainCheck) -> Result<(usize, Vec<String>)> {
    let ws = snapshot::table("workspaces").expect("in the catalog");
    let cols: Vec<Column> = ["id", "audit_head_seq", "audit_head_hash"]
        .iter()
        .map(|n| *ws.column(n).expect("in the catalog"))
        .collect();
    let mut heads: HashMap<uuid::Uuid, (i64, String)> = HashMap::new();
    {
        let mut rows = target.rows(ws, &cols);
        while let Some(row) = rows.next().await {
            if let [Value::Uuid(id), Value::Int(seq), Value::Text(hash)] = row?.as_slice() {
                heads.insert(*id, (*seq, hash.clone()));
            }
        }
    }
    let audit = snapshot::table("audit_log").expect("in the catalog");
    let mut faults = Vec::new();
    let mut checked = std::collections::HashSet::new();
    let mut current: Option<(uuid::Uuid, ChainVerifier)> = None;
    {
        let mut rows = target.rows_by(audit, audit_sql());
        while let Some(row) = rows.next().await {
            let e = audit_entry(row?)?;
            let ws = e.workspace_id.as_uuid();
            match &mut current {
                Some((id, v)) if *id == ws => v.push(&e),
                _ => {
                    if let Some((id, v)) = current.take() {
                        finish_chain(&heads, id, v, &mut faults);
                    }
                    checked.insert(ws);
                    let mut v = ChainVerifier::new(check.clone());
                    v.push(&e);
                    current = Some((ws, v));
                }
            }
        }
    }
    if let Some((id, v)) = current.take() {
        finish_chain(&heads, id, v, &mut faults);
    }
    for (id, (seq, _)) in &heads {
        if !checked.contains(id) && *seq != 0 {
            faults.push(format!(
                "workspace {id}: its head says {seq} entries, none were restored"
            ));
        }
    }
    Ok((heads.len(), faults))
}

/// Compares a workspace's chain with its recorded head; notes the faults.
fn finish_chain(
    heads: &HashMap<uuid::Uuid, (i64, String)>,
    ws: uuid::Uuid,
    v: ChainVerifier,
    faults: &mut Vec<String>,
) {
    let (seq, hash) = heads.get(&ws).cloned().unwrap_or((0, String::new()));
    for f in v.finish(seq, &hash) {
        faults.push(format!("workspace {ws}: {}", describe(&f)));
    }
}

fn describe(f: &ChainFault) -> String {
    match f {
        ChainFault::Tampered { seq } => format!("entry {seq} was edited"),
        ChainFault::Gap {
            expected_seq,
            found_seq,
        } => format!("entries {expected_seq}…{} are missing", found_seq - 1),
        ChainFault::BrokenLink { seq } => format!("entry {seq} does not follow its predecessor"),
        ChainFault::HeadMismatch { head_seq, last_seq } => {
            format!("the head says {head_seq} entries, the log ends at {last_seq}")
        }
    }
}

fn audit_entry(row: Row) -> Result<AuditEntry> {
    let bad = |what: &str| BackupError::Mismatch(format!("an audit_log row with a bad {what}"));
    let mut it = row.into_iter();
    let mut next = || it.next().unwrap_or(Value::Null);
    let uuid = |v: Value, what: &str| match v {
        Value::Uuid(u) => Ok(u),
        _ => Err(bad(what)),
    };
    let opt_uuid = |v: Value| match v {
        Value::Uuid(u) => Some(u),
        _ => None,
    };
    let text = |v: Value, what: &str| match v {
        Value::Text(s) => Ok(s),
        _ => Err(bad(what)),
    };
    let opt_text = |v: Value| match v {
        Value::Text(s) => Some(s),
        _ => None,
    };
    let id = uuid(next(), "id")?;
    let workspace_id = uuid(next(), "workspace_id")?;
    let seq = match next() {
        Value::Int(i) => i,
        _ => return Err(bad("seq")),
    };
    let actor_kind =
        ActorKind::parse(&text(next(), "actor_kind")?).ok_or_else(|| bad("actor_kind"))?;
    let actor_id = opt_uuid(next());
    let action = text(next(), "action")?;
    let target_type = opt_text(next());
    let target_id = opt_text(next());
    let ip = opt_text(next());
    let details_text = text(next(), "details")?;
    let created_at = match next() {
        Value::Time(t) => t,
        _ => return Err(bad("created_at")),
    };
    let prev_hash = text(next(), "prev_hash")?;
    let hash = text(next(), "hash")?;
    Ok(AuditEntry {
        id: id.into(),
        workspace_id: workspace_id.into(),
        seq,
        actor_kind,
        actor_id,
        action,
        target_type,
        target_id,
        ip,
        details: serde_json::from_str(&details_text).unwrap_or(serde_json::Value::Null),
        details_text,
        created_at,
        prev_hash,
        hash,
    })
}
