//! Where archives live: a local path or an S3 object (`s3://bucket/key`),
//! over the S3 protocol with object_store (multipart uploads for large
//! archives, retries with exponential back-off). An S3 archive is staged in
//! a local file: written there and uploaded, or downloaded there and read,
//! so the archive code only ever reads and writes files.

use crate::config::{BackupConfig, S3Config};
use crate::error::{BackupError, Result};
use crate::format::{self, Header};
use crate::retention::{self, Policy};
use crate::run::{self, CreateOptions, Created, RestoreOptions, Restored, Verified};
use crate::{BackupKey, Progress};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};
use secrecy::ExposeSecret;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The file name scheduled backups get: `kefu-20261207T010000Z.kefubak`.
pub fn archive_name(at: DateTime<Utc>) -> String {
    format!("kefu-{}.kefubak", at.format("%Y%m%dT%H%M%SZ"))
}

/// The time in a scheduled archive's name, if it is one.
pub fn time_of_name(name: &str) -> Option<DateTime<Utc>> {
    let t = name.strip_prefix("kefu-")?.strip_suffix(".kefubak")?;
    NaiveDateTime::parse_from_str(t, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|n| n.and_utc())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    pub fn parse(s: &str) -> Result<Self> {
        match s.strip_prefix("s3://") {
            None => Ok(Location::Local(PathBuf::from(s))),
            Some(rest) => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(BackupError::Usage(format!(
                        "{s}: no bucket (s3://bucket/key)"
                    )));
                }
                Ok(Location::S3 {
                    bucket: bucket.into(),
                    key: key.trim_matches('/').into(),
                })
            }
        }
    }

    /// This location with `name` appended (a destination and a file name).
    pub fn join(&self, name: &str) -> Self {
        match self {
            Location::Local(p) => Location::Local(p.join(name)),
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: if key.is_empty() {
                    name.into()
                } else {
                    format!("{key}/{name}")
                },
            },
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

pub fn s3_store(cfg: &S3Config, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_allow_http(cfg.allow_http)
        .with_virtual_hosted_style_request(cfg.virtual_hosted_style)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: cfg.max_retries,
            retry_timeout: Duration::from_secs(cfg.retry_timeout_secs),
        });
    if let Some(e) = &cfg.endpoint {
        b = b.with_endpoint(e);
    }
    b = b.with_region(cfg.region.clone().unwrap_or_else(|| {
        std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|_| "us-east-1".into())
    }));
    if let Some(k) = &cfg.access_key_id {
        b = b.with_access_key_id(k);
    }
    if let Some(k) = &cfg.secret_access_key {
        b = b.with_secret_access_key(k.expose_secret());
    }
    if let Some(t) = &cfg.session_token {
        b = b.with_token(t.expose_secret());
    }
    Ok(Arc::new(b.build().map_err(storage)?))
}

fn storage(e: object_store::Error) -> BackupError {
    BackupError::Storage(e.to_string())
}

/// A staging file for an S3 archive, deleted when dropped.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn staging_path(cfg: &BackupConfig) -> Result<PathBuf> {
    let dir = cfg.staging();
    std::fs::create_dir_all(&dir)
        .map_err(BackupError::io(format!("creating {}", dir.display())))?;
    Ok(dir.join(format!(".kefu-staged-{}.kefubak", uuid::Uuid::now_v7())))
}

pub async fn upload(cfg: &BackupConfig, file: &Path, bucket: &str, key: &str) -> Result<()> {
    let store = s3_store(&cfg.s3, bucket)?;
    let mut src = tokio::fs::File::open(file)
        .await
        .map_err(BackupError::io(format!("opening {}", file.display())))?;
    let mut w = object_store::buffered::BufWriter::with_capacity(
        store,
        ObjPath::from(key),
        cfg.s3.part_size_bytes.max(5 * 1024 * 1024),
    )
    .with_max_concurrency(2);
    let copied = tokio::io::copy(&mut src, &mut w).await;
    match copied {
        Ok(_) => w
            .shutdown()
            .await
            .map_err(|e| BackupError::Storage(format!("uploading s3://{bucket}/{key}: {e}"))),
        Err(e) => {
            let _ = w.abort().await;
            Err(BackupError::Storage(format!(
                "uploading s3://{bucket}/{key}: {e}"
            )))
        }
    }
}

pub async fn download(cfg: &BackupConfig, bucket: &str, key: &str, to: &Path) -> Result<()> {
    let store = s3_store(&cfg.s3, bucket)?;
    let got = store
        .get(&ObjPath::from(key))
        .await
        .map_err(|e| BackupError::Storage(format!("downloading s3://{bucket}/{key}: {e}")))?;
    let mut out = tokio::fs::File::create(to)
        .await
        .map_err(BackupError::io(format!("creating {}", to.display())))?;
    let mut stream = got.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| BackupError::Storage(format!("downloading s3://{bucket}/{key}: {e}")))?;
        out.write_all(&chunk)
            .await
            .map_err(BackupError::io(format!("writing {}", to.display())))?;
    }
    out.flush()
        .await
        .map_err(BackupError::io(format!("writing {}", to.display())))?;
    Ok(())
}

/// `create` to a file path or an S3 object.
pub async fn create(
    db_url: &str,
    out: &str,
    cfg: &BackupConfig,
    opts: CreateOptions,
    progress: Arc<Progress>,
) -> Result<Created> {
    match Location::parse(out)? {
        Location::Local(p) => run::create(db_url, &p, opts, progress).await,
        Location::S3 { bucket, key } => {
            if key.is_empty() {
                return Err(BackupError::Usage(format!(
                    "{out}: no object key (s3://bucket/key)"
                )));
            }
            let staged = Staged(staging_path(cfg)?);
            let created = run::create(db_url, &staged.0, opts, progress.clone()).await?;
            progress.phase("upload");
            upload(cfg, &staged.0, &bucket, &key).await?;
            Ok(Created {
                path: PathBuf::from(out),
                ..created
            })
        }
    }
}

/// Where the archive is readable as a file: itself, or a staged download.
async fn readable(
    path: &str,
    cfg: &BackupConfig,
    progress: &Progress,
) -> Result<(PathBuf, Option<Staged>)> {
    match Location::parse(path)? {
        Location::Local(p) => Ok((p, None)),
        Location::S3 { bucket, key } => {
            progress.phase("download");
            let staged = Staged(staging_path(cfg)?);
            download(cfg, &bucket, &key, &staged.0).await?;
            Ok((staged.0.clone(), Some(staged)))
        }
    }
}

/// `verify`, optionally with a restore test into a scratch SQLite database.
pub async fn verify(
    path: &str,
    cfg: &BackupConfig,
    keys: Vec<BackupKey>,
    restore_test: bool,
    progress: Arc<Progress>,
) -> Result<Verified> {
    let (file, _staged) = readable(path, cfg, &progress).await?;
    if restore_test {
        return restore_test_file(&file, cfg, keys, progress).await;
    }
    let p = progress.clone();
    tokio::task::spawn_blocking(move || run::verify(&file, &keys, &p))
        .await
        .map_err(|e| BackupError::Usage(format!("verification failed: {e}")))?
}

/// Restores `file` into a scratch SQLite database (which checks every
/// table's count and digest and the audit chains), then deletes it.
pub async fn restore_test_file(
    file: &Path,
    cfg: &BackupConfig,
    keys: Vec<BackupKey>,
    progress: Arc<Progress>,
) -> Result<Verified> {
    let dir = cfg
        .staging()
        .join(format!(".kefu-restore-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)
        .map_err(BackupError::io(format!("creating {}", dir.display())))?;
    let url = format!("sqlite://{}", dir.join("kefu.db").display());
    let opts = RestoreOptions {
        keys: keys.clone(),
        force: false,
        allow_broken_audit: true,
        // The archive's own key-encryption key, if it carries one.
        keyring: None,
    };
    let restored = run::restore(file, &url, opts, progress).await;
    let _ = std::fs::remove_dir_all(&dir);
    let r = restored?;
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let header = read_header_of(file)?;
    Ok(Verified {
        header,
        manifest: r.manifest,
        secrets: r.secrets,
        bytes,
    })
}

fn read_header_of(file: &Path) -> Result<Header> {
    let mut f = std::fs::File::open(file)
        .map_err(BackupError::io(format!("opening {}", file.display())))?;
    Ok(format::read_header(&mut f)?.0)
}

pub async fn restore(
    path: &str,
    into: &str,
    cfg: &BackupConfig,
    opts: RestoreOptions,
    progress: Arc<Progress>,
) -> Result<Restored> {
    let (file, _staged) = readable(path, cfg, &progress).await?;
    run::restore(&file, into, opts, progress).await
}

/// One archive in a destination.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveInfo {
    pub location: String,
    pub name: String,
    pub bytes: u64,
    /// From the header when readable, else the name, else the file's time.
    pub created_at: DateTime<Utc>,
    pub engine: Option<String>,
    pub schema_version: Option<u32>,
    pub key_id: Option<String>,
    /// Named `kefu-<time>.kefubak`: subject to pruning.
    pub scheduled: bool,
}

/// The archives (`*.kefubak`) in a destination, newest first.
pub async fn list(cfg: &BackupConfig, dest: &str) -> Result<Vec<ArchiveInfo>> {
    let base = Location::parse(dest)?;
    let mut out = Vec::new();
    match &base {
        Location::Local(dir) => {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(BackupError::io(format!("reading {}", dir.display()))(e)),
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.ends_with(".kefubak") || name.starts_with('.') {
                    continue;
                }
                let meta = e
                    .metadata()
                    .map_err(BackupError::io(format!("reading {name}")))?;
                let header = read_header_of(&e.path()).ok();
                let modified: DateTime<Utc> = meta
                    .modified()
                    .map(Into::into)
                    .unwrap_or_else(|_| Utc::now());
                out.push(info(
                    dir.join(&name).display().to_string(),
                    name,
                    meta.len(),
                    header,
                    modified,
                ));
            }
        }
        Location::S3 { bucket, key } => {
            let store = s3_store(&cfg.s3, bucket)?;
            let prefix = (!key.is_empty()).then(|| ObjPath::from(key.as_str()));
            let mut objects = store.list(prefix.as_ref());
            let mut metas = Vec::new();
            while let Some(m) = objects.next().await {
                let m = m.map_err(|e| BackupError::Storage(format!("listing {dest}: {e}")))?;
                metas.push(m);
            }
            for m in metas {
                let name = m.location.filename().unwrap_or_default().to_string();
                if !name.ends_with(".kefubak") || name.starts_with('.') {
                    continue;
                }
                let head = store
                    .get_range(&m.location, 0..(m.size.min(64 * 1024 + 12)))
                    .await
                    .ok()
                    .and_then(|b| format::read_header(&mut &b[..]).ok().map(|h| h.0));
                out.push(info(
                    format!("s3://{bucket}/{}", m.location),
                    name,
                    m.size,
                    head,
                    m.last_modified,
                ));
            }
        }
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.created_at));
    Ok(out)
}

fn info(
    location: String,
    name: String,
    bytes: u64,
    header: Option<Header>,
    modified: DateTime<Utc>,
) -> ArchiveInfo {
    let named = time_of_name(&name);
    ArchiveInfo {
        created_at: header
            .as_ref()
            .map(|h| h.created_at)
            .or(named)
            .unwrap_or(modified),
        engine: header.as_ref().map(|h| h.engine.clone()),
        schema_version: header.as_ref().map(|h| h.schema_version),
        key_id: header.and_then(|h| h.encryption.map(|e| e.key_id)),
        scheduled: named.is_some(),
        location,
        name,
        bytes,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub kept: Vec<String>,
    pub deleted: Vec<String>,
    pub dry_run: bool,
}

/// Deletes the scheduled archives (`kefu-<time>.kefubak`) that `policy`
/// does not keep. Other files are never touched.
pub async fn prune(
    cfg: &BackupConfig,
    dest: &str,
    policy: &Policy,
    dry_run: bool,
) -> Result<PruneReport> {
    let all: Vec<ArchiveInfo> = list(cfg, dest)
        .await?
        .into_iter()
        .filter(|a| a.scheduled)
        .collect();
    let times: Vec<DateTime<Utc>> = all
        .iter()
        .map(|a| time_of_name(&a.name).expect("scheduled"))
        .collect();
    let keep = retention::keep(&times, policy);
    let mut report = PruneReport {
        kept: Vec::new(),
        deleted: Vec::new(),
        dry_run,
    };
    for (i, a) in all.iter().enumerate() {
        if keep.contains(&i) {
            report.kept.push(a.location.clone());
            continue;
        }
        if !dry_run {
            match Location::parse(&a.location)? {
                Location::Local(p) => std::fs::remove_file(&p)
                    .map_err(BackupError::io(format!("deleting {}", p.display())))?,
                Location::S3 { bucket, key } => s3_store(&cfg.s3, &bucket)?
                    .delete(&ObjPath::from(key.as_str()))
                    .await
                    .map_err(|e| BackupError::Storage(format!("deleting {}: {e}", a.location)))?,
            }
        }
        report.deleted.push(a.location.clone());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_names() {
        assert_eq!(
            Location::parse("s3://b/x/y").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                key: "x/y".into()
            }
        );
        assert!(Location::parse("s3:///x").is_err());
        assert_eq!(
            Location::parse("/tmp/a").unwrap(),
            Location::Local("/tmp/a".into())
        );
        let dest = Location::parse("s3://b").unwrap();
        assert_eq!(dest.join("n").to_string(), "s3://b/n");
        let t = DateTime::parse_from_rfc3339("2026-12-07T01:02:03Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(archive_name(t), "kefu-20261207T010203Z.kefubak");
        assert_eq!(time_of_name(&archive_name(t)), Some(t));
        assert_eq!(time_of_name("other.kefubak"), None);
    }
}
