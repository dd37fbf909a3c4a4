//! `kefu backup create | verify | restore | list | prune`.
//!
//! On a terminal, create, verify and restore draw a progress line on stderr;
//! otherwise they print only their one JSON line on stdout (the contract's).

use crate::config::Settings;
use crate::secrets;
use anyhow::Context;
use clap::Subcommand;
use kefu_backup::{BackupKey, CreateOptions, Progress, RestoreOptions};
use secrecy::ExposeSecret;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write a consistent snapshot of the database to an archive, while a
    /// server may keep running on it. Prints one JSON line:
    /// {"path","bytes","sha256","rows":{table: n}}.
    Create {
        /// Where to write: a file path, or s3://bucket/key when [backup.s3]
        /// is configured.
        #[arg(long, value_name = "PATH")]
        out: String,
        /// Encrypt and authenticate with this key (64 hex characters, made
        /// by `openssl rand -hex 32 > F`). Default: [backup] key.
        #[arg(long, value_name = "F")]
        key_file: Option<PathBuf>,
        /// Also store the token signing key in the archive (needs a key):
        /// whoever holds the archive and its key can then mint tokens.
        #[arg(long)]
        include_secrets: bool,
    },
    /// Check an archive end to end: every chunk's authentication tag or
    /// checksum, every table's row count and digest, the manifest. Exit 1
    /// naming the problem (corrupt, truncated, wrong key, newer schema).
    Verify {
        /// The archive (a file path or s3://bucket/key).
        path: String,
        /// A key the archive may be encrypted with; repeat for several
        /// (while keys are rotated). Default: [backup] key and previous_keys.
        #[arg(long, value_name = "F")]
        key_file: Vec<PathBuf>,
        /// Also restore it into a scratch SQLite database and compare
        /// every table's count and digest, then delete the scratch.
        #[arg(long)]
        restore_test: bool,
    },
    /// Restore an archive into an empty database of either engine
    /// (SQLite → PostgreSQL is how a single node moves to a cluster). All or
    /// nothing: a failure leaves the target as it was.
    Restore {
        /// The archive (a file path or s3://bucket/key).
        path: String,
        /// The database to restore into: sqlite:///…/kefu.db or postgres://…
        #[arg(long, value_name = "DATABASE_URL")]
        into: String,
        /// A key the archive may be encrypted with; repeatable.
        #[arg(long, value_name = "F")]
        key_file: Vec<PathBuf>,
        /// Replace the target's contents when it is not empty.
        #[arg(long)]
        force: bool,
        /// Restore even if an audit chain in the archive is broken.
        #[arg(long)]
        allow_broken_audit: bool,
    },
    /// Take a backup as the schedule would, now: into [backup] destination
    /// as kefu-<time>.kefubak, recorded (metrics, alerts), then prune and,
    /// when due, a restore test. For a Kubernetes CronJob or a Compose
    /// service instead of [backup] schedule.
    Run,
    /// List the archives in a destination (default: [backup] destination).
    List {
        /// A directory or s3://bucket/prefix.
        destination: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete archives beyond the retention policy: keep the newest archive
    /// of each of the last N hours, days, weeks and months
    /// (default: [backup] keep_*). Only files named kefu-<time>.kefubak.
    Prune {
        /// A directory or s3://bucket/prefix (default: [backup] destination).
        destination: Option<String>,
        #[arg(long, value_name = "N")]
        keep_hourly: Option<u32>,
        #[arg(long, value_name = "N")]
        keep_daily: Option<u32>,
        #[arg(long, value_name = "N")]
        keep_weekly: Option<u32>,
        #[arg(long, value_name = "N")]
        keep_monthly: Option<u32>,
        /// Show what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(settings: &Settings, command: BackupCommand) -> anyhow::Result<ExitCode> {
    match command {
        BackupCommand::Create {
            out,
            key_file,
            include_secrets,
        } => create(settings, &out, key_file.as_deref(), include_secrets).await,
        BackupCommand::Verify {
            path,
            key_file,
            restore_test,
        } => verify(settings, &path, &key_file, restore_test).await,
        BackupCommand::Restore {
            path,
            into,
            key_file,
            force,
            allow_broken_audit,
        } => restore(settings, &path, &into, &key_file, force, allow_broken_audit).await,
        BackupCommand::Run => {
            let scheduler = crate::app::backup_scheduler(settings)?;
            anyhow::ensure!(
                settings.backup.destination.is_some(),
                "kefu backup run needs [backup] destination (KEFU_BACKUP__DESTINATION)"
            );
            match scheduler.run_once().await {
                Ok(location) => {
                    println!("{}", serde_json::json!({"path": location, "ok": true}));
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        BackupCommand::List { destination, json } => {
            let dest = destination_or_default(settings, destination)?;
            let items = kefu_backup::dest::list(&settings.backup, &dest).await?;
            for a in &items {
                if json {
                    println!("{}", serde_json::to_string(a)?);
                } else {
                    println!(
                        "{}  {:>12}  {}",
                        a.created_at.format("%Y-%m-%d %H:%M:%SZ"),
                        human_bytes(a.bytes),
                        a.location
                    );
                }
            }
            if !json && items.is_empty() {
                eprintln!("no archives in {dest}");
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Prune {
            destination,
            keep_hourly,
            keep_daily,
            keep_weekly,
            keep_monthly,
            dry_run,
        } => {
            let dest = destination_or_default(settings, destination)?;
            let b = &settings.backup;
            let policy = kefu_backup::retention::Policy {
                hourly: keep_hourly.unwrap_or(b.keep_hourly),
                daily: keep_daily.unwrap_or(b.keep_daily),
                weekly: keep_weekly.unwrap_or(b.keep_weekly),
                monthly: keep_monthly.unwrap_or(b.keep_monthly),
            };
            let report = kefu_backup::dest::prune(b, &dest, &policy, dry_run).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn destination_or_default(settings: &Settings, d: Option<String>) -> anyhow::Result<String> {
    d.or_else(|| settings.backup.destination.clone())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no destination: name one, or set [backup] destination (KEFU_BACKUP__DESTINATION)"
            )
        })
}

/// The key for writing: the flag's, else the configured one.
fn write_key(settings: &Settings, flag: Option<&Path>) -> anyhow::Result<Option<BackupKey>> {
    match flag {
        Some(p) => Ok(Some(BackupKey::from_file(p)?)),
        None => settings.backup.key().map_err(anyhow::Error::msg),
    }
}

/// Keys for reading: the flags' if any, else the configured current and
/// previous keys.
fn read_keys(settings: &Settings, flags: &[PathBuf]) -> anyhow::Result<Vec<BackupKey>> {
    if !flags.is_empty() {
        return flags
            .iter()
            .map(|p| BackupKey::from_file(p).map_err(Into::into))
            .collect();
    }
    settings.backup.read_keys().map_err(anyhow::Error::msg)
}

async fn create(
    settings: &Settings,
    out: &str,
    key_file: Option<&Path>,
    include_secrets: bool,
) -> anyhow::Result<ExitCode> {
    let key = write_key(settings, key_file)?;
    let (signing, _) = secrets::signing_key_if_any(settings)?;
    let mut secrets_in = Vec::new();
    if include_secrets {
        let Some(k) = &signing else {
            anyhow::bail!("--include-secrets: there is no signing key to include yet (none configured, none in the data dir)");
        };
        if key.is_none() {
            anyhow::bail!("--include-secrets needs --key-file: the signing key is only written into an encrypted archive");
        }
        eprintln!(
            "warning: the archive includes the token signing key — whoever holds the archive and its backup key can sign in as anyone; guard both like the signing key itself"
        );
        secrets_in.push((
            "signing_key".to_string(),
            k.expose_secret().as_bytes().to_vec(),
        ));
        // The key-encryption key, so that a restore onto a new machine
        // opens TOTP and identity secrets and the audit chain key.
        if let Some(ring) = secrets::keyring_if_any(settings)? {
            secrets_in.push((
                kefu_backup::SECRET_KEK.to_string(),
                ring.primary().to_hex().into_bytes(),
            ));
        }
    }
    let opts = CreateOptions {
        key,
        secrets: secrets_in,
        signing_key_id: signing
            .as_ref()
            .map(|k| kefu_backup::signing_key_id(k.expose_secret().as_bytes())),
        level: settings.backup.compression_level,
    };
    let progress = Progress::new();
    let shown = show_progress(progress.clone());
    let result = kefu_backup::dest::create(
        &settings.database_url(),
        out,
        &settings.backup,
        opts,
        progress,
    )
    .await;
    finish_progress(shown).await;
    let created = result?;
    if created.manifest.key_id.is_none() {
        eprintln!("note: the archive is not encrypted (give --key-file or set [backup] key_file to encrypt it)");
    }
    println!(
        "{}",
        serde_json::json!({
            "path": out,
            "bytes": created.bytes,
            "sha256": created.sha256,
            "rows": created.manifest.rows(),
            "engine": created.manifest.engine,
            "schema_version": created.manifest.schema_version,
            "key_id": created.manifest.key_id,
            "seconds": round3(created.seconds),
        })
    );
    Ok(ExitCode::SUCCESS)
}

async fn verify(
    settings: &Settings,
    path: &str,
    key_files: &[PathBuf],
    restore_test: bool,
) -> anyhow::Result<ExitCode> {
    let keys = read_keys(settings, key_files)?;
    let progress = Progress::new();
    let shown = show_progress(progress.clone());
    let result =
        kefu_backup::dest::verify(path, &settings.backup, keys, restore_test, progress).await;
    finish_progress(shown).await;
    match result {
        Ok(v) => {
            println!(
                "{}",
                serde_json::json!({
                    "path": path,
                    "ok": true,
                    "bytes": v.bytes,
                    "engine": v.manifest.engine,
                    "schema_version": v.manifest.schema_version,
                    "created_at": v.manifest.created_at,
                    "key_id": v.manifest.key_id,
                    "rows": v.manifest.rows(),
                    "restore_test": restore_test,
                })
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {path}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn restore(
    settings: &Settings,
    path: &str,
    into: &str,
    key_files: &[PathBuf],
    force: bool,
    allow_broken_audit: bool,
) -> anyhow::Result<ExitCode> {
    let keys = read_keys(settings, key_files)?;
    let progress = Progress::new();
    let shown = show_progress(progress.clone());
    let keyring = secrets::keyring_if_any(settings)?.map(Arc::new);
    let opts = RestoreOptions {
        keys,
        force,
        allow_broken_audit,
        keyring,
    };
    let result = kefu_backup::dest::restore(path, into, &settings.backup, opts, progress).await;
    finish_progress(shown).await;
    let restored = match result {
        Ok(r) => r,
        Err(e) => {
            // Every failure happens before the commit (or is the commit's
            // own rename), so the target is always as it was.
            eprintln!("error: {e}");
            eprintln!("the target database was left as it was");
            return Ok(ExitCode::from(1));
        }
    };
    let signing = signing_key_outcome(settings, &restored)?;
    let kek = kek_outcome(settings, &restored)?;
    for f in &restored.audit_faults {
        eprintln!("warning: audit chain: {f}");
    }
    eprintln!(
        "restored {} rows in {} tables; the search index is rebuilt when the server starts (or run `kefu kb reindex`)",
        restored.manifest.total_rows(),
        restored.manifest.tables.len()
    );
    if let Some(note) = &signing.1 {
        eprintln!("{note}");
    }
    if let Some(note) = &kek.1 {
        eprintln!("{note}");
    }
    println!(
        "{}",
        serde_json::json!({
            "path": path,
            "into": crate::config::redact_url(into),
            "rows": restored.manifest.rows(),
            "engine": restored.manifest.engine,
            "audit_chains": restored.audit_chains,
            "audit_check": restored.audit_check,
            "secrets_key": kek.0,
            "audit_faults": restored.audit_faults,
            "signing_key": signing.0,
            "seconds": round3(restored.seconds),
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// What happens to sign-ins after the restore: the archive's signing key
/// is put in place when it carries one and none is configured; otherwise
/// the current key is compared with the one the archive was made under.
fn signing_key_outcome(
    settings: &Settings,
    restored: &kefu_backup::Restored,
) -> anyhow::Result<(&'static str, Option<String>)> {
    let backed_up = restored.manifest.signing_key_id.clone();
    let current = secrets::signing_key_if_any(settings)?.0;
    let current_id = current
        .as_ref()
        .map(|k| kefu_backup::signing_key_id(k.expose_secret().as_bytes()));
    let archived = restored
        .secrets
        .iter()
        .find(|(n, _)| n == "signing_key")
        .map(|(_, b)| b.clone());
    if current.is_none() {
        if let Some(bytes) = archived {
            let text = String::from_utf8(bytes).context("the archived signing key is not text")?;
            let path = secrets::write_signing_key(settings, &text)?;
            return Ok((
                "restored",
                Some(format!(
                    "the archive's signing key was written to {}: existing sign-ins keep working",
                    path.display()
                )),
            ));
        }
    }
    Ok(match (backed_up, current_id) {
        (Some(a), Some(b)) if a == b => ("same", None),
        (None, _) => ("unknown", None),
        _ => (
            "differs",
            Some(
                "note: this server's signing key is not the one the backup was made under: access tokens issued before \
                 no longer verify, so everyone signs in again (passwords, TOTP and API tokens are restored and work). \
                 To keep sign-ins, configure the old key (auth.signing_key_file) or restore an archive made with --include-secrets."
                    .to_string(),
            ),
        ),
    })
}

/// Whether the restored database's sealed secrets can be opened here: the
/// archive's key-encryption key is put in place when it carries one and
/// none is configured or present; otherwise a missing key is reported.
fn kek_outcome(
    settings: &Settings,
    restored: &kefu_backup::Restored,
) -> anyhow::Result<(&'static str, Option<String>)> {
    let archived = restored
        .secrets
        .iter()
        .find(|(n, _)| n == kefu_backup::SECRET_KEK)
        .and_then(|(_, b)| String::from_utf8(b.clone()).ok());
    if let Some(text) = archived {
        if let Some(path) = secrets::write_kek(settings, &text)? {
            return Ok((
                "restored",
                Some(format!(
                    "the archive's key-encryption key was written to {}",
                    path.display()
                )),
            ));
        }
    }
    Ok(match restored.audit_check {
        "keyed" => ("present", None),
        "legacy" => ("not-needed", None),
        _ => (
            "missing",
            Some(
                "warning: the key-encryption key that sealed this database's secrets (TOTP, identity secrets, the \
                 audit chain key) is not configured here: `kefu serve` will refuse to start until it is \
                 (secrets.key_file, or secrets.previous_keys during a rotation), or restore an archive made \
                 with --include-secrets"
                    .to_string(),
            ),
        ),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Draws the progress line on stderr while stdout is a terminal.
fn show_progress(
    p: Arc<Progress>,
) -> Option<(
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
)> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let started = Instant::now();
        loop {
            eprint!("\r\x1b[2K{}", progress_line(&p.read(), started.elapsed()));
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        // The last state stays on screen, as a summary.
        eprintln!("\r\x1b[2K{}", progress_line(&p.read(), started.elapsed()));
    });
    Some((task, stop))
}

async fn finish_progress(
    shown: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )>,
) {
    if let Some((task, stop)) = shown {
        let _ = stop.send(());
        let _ = task.await;
    }
}

fn progress_line(s: &kefu_backup::progress::Snapshot, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = s.rows_done as f64 / secs;
    let mut line = format!("{}: {}", s.phase, s.table);
    if s.tables_total > 0 {
        line += &format!(" ({}/{} tables)", s.tables_done, s.tables_total);
    }
    if s.rows_total > 0 {
        line += &format!(" · {}/{} rows", s.rows_done, s.rows_total);
    } else {
        line += &format!(" · {} rows", s.rows_done);
    }
    line += &format!(" · {} · {:.0} rows/s", human_bytes(s.bytes), rate);
    let eta = if s.rows_total > 0 && s.rows_done > 0 && s.rows_done < s.rows_total {
        Some((s.rows_total - s.rows_done) as f64 / rate)
    } else if s.bytes_total > 0 && s.bytes > 0 && s.bytes < s.bytes_total {
        Some((s.bytes_total - s.bytes) as f64 / (s.bytes as f64 / secs))
    } else {
        None
    };
    if let Some(eta) = eta {
        line += &format!(" · ETA {:.0} s", eta);
    }
    line
}
