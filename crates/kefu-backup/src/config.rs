//! `[backup]`: the schedule inside `kefu serve`, the destination and its
//! retention, the keys, and `[backup.s3]` for off-site copies. Every key
//! may come from a file (`key_file`, `previous_keys_file`,
//! `s3.secret_access_key_file`), as with all of Kefu's settings.

use crate::key::BackupKey;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupConfig {
    /// When `kefu serve` takes a backup: cron syntax in UTC, five fields
    /// (`0 * * * *` = hourly) or six with seconds. Unset: never (run
    /// `kefu backup create` from cron or a Kubernetes CronJob instead).
    pub schedule: Option<String>,
    /// Where scheduled backups go, and what `list` and `prune` read: a
    /// directory or `s3://bucket/prefix`.
    pub destination: Option<String>,
    /// The backup key (64 hex characters); usually `key_file`. Unset:
    /// archives are not encrypted.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub key: Option<SecretString>,
    /// Keys of earlier archives, still accepted for verify and restore while
    /// keys are rotated: hex keys separated by whitespace or commas.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub previous_keys: Option<SecretString>,
    /// Scheduled backups include the token signing key (needs `key`).
    pub include_secrets: bool,
    pub keep_hourly: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    /// zstd level, 1 (fastest) to 19.
    pub compression_level: i32,
    /// CPU priority ("nice", 0–19) of backup work, in `kefu serve`'s
    /// scheduler thread and in `kefu backup` commands: higher yields more
    /// to chat traffic on a busy machine. 0: unchanged.
    pub nice: i32,
    /// Also run backup work in Linux's idle scheduling class (`SCHED_IDLE`):
    /// any request handler that wakes takes the core at once, where a nice
    /// value still lets the backup finish its time slice first.
    pub idle_class: bool,
    /// Run backup work on at most this many CPUs (the last ones the process
    /// may use); 0: all.
    pub max_cpus: usize,
    /// After a scheduled backup, restore it into a scratch SQLite database
    /// and compare, when the last passing restore test is older than this
    /// many hours (0: never).
    pub restore_test_every_hours: u32,
    /// Where archives are staged for S3 uploads and downloads, and where
    /// restore tests run; default: the system's temporary directory.
    pub staging_dir: Option<PathBuf>,
    pub s3: S3Config,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            schedule: None,
            destination: None,
            key: None,
            previous_keys: None,
            include_secrets: false,
            keep_hourly: 24,
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 12,
            compression_level: 3,
            nice: 19,
            idle_class: true,
            max_cpus: 1,
            restore_test_every_hours: 24,
            staging_dir: None,
            s3: S3Config::default(),
        }
    }
}

/// S3 or any S3-compatible store (MinIO, Ceph, OSS, COS, …). Unset fields
/// fall back to the standard `AWS_*` environment variables.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// e.g. `https://s3.eu-central-1.amazonaws.com` or `http://minio:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub secret_access_key: Option<SecretString>,
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub session_token: Option<SecretString>,
    /// Allow `http://` endpoints (a store on a private network).
    pub allow_http: bool,
    /// `bucket.host` addressing instead of `host/bucket`.
    pub virtual_hosted_style: bool,
    /// Retries of a failed request, with exponential back-off.
    pub max_retries: usize,
    /// Give up retrying one request after this many seconds.
    pub retry_timeout_secs: u64,
    /// Archives larger than this are uploaded in parts of this size.
    pub part_size_bytes: usize,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            virtual_hosted_style: false,
            max_retries: 5,
            retry_timeout_secs: 120,
            part_size_bytes: 16 * 1024 * 1024,
        }
    }
}

impl BackupConfig {
    /// The key archives are written with.
    pub fn key(&self) -> Result<Option<BackupKey>, String> {
        self.key
            .as_ref()
            .map(|k| {
                BackupKey::parse(k.expose_secret()).ok_or_else(|| {
                    "[backup] key must be 64 hex characters (openssl rand -hex 32)".into()
                })
            })
            .transpose()
    }

    /// Every key an archive may be read with: the current and the previous.
    pub fn read_keys(&self) -> Result<Vec<BackupKey>, String> {
        let mut keys: Vec<BackupKey> = self.key()?.into_iter().collect();
        if let Some(prev) = &self.previous_keys {
            for part in prev
                .expose_secret()
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|p| !p.is_empty())
            {
                keys.push(BackupKey::parse(part).ok_or_else(|| {
                    "[backup] previous_keys must be 64-hex-character keys separated by spaces or commas"
                        .to_string()
                })?);
            }
        }
        Ok(keys)
    }

    pub fn staging(&self) -> PathBuf {
        self.staging_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

fn ser_secret<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}
