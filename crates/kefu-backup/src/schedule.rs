//! Scheduled backups inside `kefu serve`. Every replica runs this loop;
//! at each fire time of `[backup] schedule` they all try to claim that time
//! in `backup_runs`, and the one whose claim lands takes the backup, writes
//! it to the destination, prunes by the retention policy and, when the last
//! passing restore test is older than `restore_test_every_hours`, restores
//! the new archive into a scratch database to prove it. A replica that dies
//! mid-run leaves its slot unfinished; the next fire time runs as usual.
//!
//! The metrics are read from `backup_runs` once a minute, so every replica
//! exports the cluster's last success, and an alert does not depend on
//! which replica ran the backup or whether it restarted since.

use crate::config::BackupConfig;
use crate::dest::{self, archive_name, Location};
use crate::error::{BackupError, Result};
use crate::retention::Policy;
use crate::run::CreateOptions;
use crate::Progress;
use chrono::{DateTime, Utc};
use kefu_store::snapshot::runs::{Outcome, Runs};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    /// `backup` (the snapshot or the archive), `storage` (the destination
    /// was unreachable), `prune`, `restore_test`.
    pub stage: &'static str,
}

#[derive(Debug, Clone)]
pub struct BackupMetrics {
    pub last_success: Gauge<f64, AtomicU64>,
    pub last_restore_test: Gauge<f64, AtomicU64>,
    pub last_bytes: Gauge,
    /// 1 when this replica has a `[backup] schedule`.
    pub scheduled: Gauge,
    pub duration: Family<StageLabels, Histogram, fn() -> Histogram>,
    pub failures: Family<StageLabels, Counter>,
}

impl Default for BackupMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn duration_histogram() -> Histogram {
    // 0.5 s … ~68 min.
    Histogram::new(exponential_buckets(0.5, 2.0, 14))
}

impl BackupMetrics {
    pub fn new() -> Self {
        Self {
            last_success: Gauge::default(),
            last_restore_test: Gauge::default(),
            last_bytes: Gauge::default(),
            scheduled: Gauge::default(),
            duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            failures: Family::default(),
        }
    }

    pub fn register(&self, r: &mut Registry) {
        // Every stage's counter exists from the start, at 0, so the first
        // failure is an increase that rate() and increase() can see.
        for stage in ["backup", "storage", "prune", "restore_test"] {
            let _ = self.failures.get_or_create(&StageLabels { stage });
        }
        r.register(
            "backup_schedule_configured",
            "1 when this replica takes scheduled backups ([backup] schedule is set)",
            self.scheduled.clone(),
        );
        r.register(
            "backup_last_success_timestamp_seconds",
            "When the newest successful scheduled backup finished (Unix time; 0: never), cluster-wide",
            self.last_success.clone(),
        );
        r.register(
            "backup_restore_test_last_success_timestamp_seconds",
            "When a scheduled backup last passed a restore test (Unix time; 0: never), cluster-wide",
            self.last_restore_test.clone(),
        );
        r.register(
            "backup_last_size_bytes",
            "Size of the last archive this replica wrote",
            self.last_bytes.clone(),
        );
        r.register(
            "backup_duration_seconds",
            "Time taken by scheduled backups and restore tests on this replica, by stage",
            self.duration.clone(),
        );
        r.register(
            "backup_failures",
            "Failed scheduled backups on this replica, by stage (backup, storage, prune, restore_test)",
            self.failures.clone(),
        );
    }

    fn failed(&self, stage: &'static str) {
        self.failures.get_or_create(&StageLabels { stage }).inc();
    }
}

/// What a scheduled backup needs besides its settings.
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub config: BackupConfig,
    pub db_url: String,
    /// This replica's name in `backup_runs.holder`.
    pub holder: String,
    pub signing_key: Option<Vec<u8>>,
    pub signing_key_id: Option<String>,
    pub metrics: BackupMetrics,
}

/// Parses a schedule (five cron fields, or six with seconds), for checking
/// settings at start-up.
pub fn parse_schedule(expr: &str) -> Result<croner::Cron> {
    croner::Cron::new(expr)
        .with_seconds_optional()
        .parse()
        .map_err(|e| BackupError::Usage(format!("[backup] schedule `{expr}`: {e}")))
}

impl Scheduler {
    /// Checks the settings a scheduled backup needs; returns the schedule.
    pub fn check(&self) -> Result<Option<croner::Cron>> {
        // An empty value (a Compose or Helm variable left blank) means off.
        let Some(expr) = self
            .config
            .schedule
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        else {
            self.metrics.scheduled.set(0);
            return Ok(None);
        };
        let cron = parse_schedule(expr)?;
        let dest = self.config.destination.as_deref().ok_or_else(|| {
            BackupError::Usage("[backup] schedule is set but destination is not".into())
        })?;
        Location::parse(dest)?;
        self.config.key().map_err(BackupError::Usage)?;
        self.metrics.scheduled.set(1);
        if self.config.include_secrets && self.config.key.is_none() {
            return Err(BackupError::Usage(
                "[backup] include_secrets needs a key (key_file): the signing key is only written into an encrypted archive".into(),
            ));
        }
        Ok(Some(cron))
    }

    /// Starts the loop on a thread of its own with its own runtime: a
    /// backup's encoding, hashing and compression then never take a worker
    /// of the runtime that serves requests (chat latency during a backup).
    pub fn spawn(self, cron: Option<croner::Cron>, stop: CancellationToken) -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("kefu-backup".into())
            .spawn(move || {
                // Before any connection or blocking thread exists: they
                // inherit the priority (sqlx's SQLite worker included).
                crate::lower_priority(&self.config);
                rt.block_on(self.run(cron, stop))
            })?;
        Ok(())
    }

    /// Runs until `stop`; without a schedule, only keeps the metrics fresh.
    pub async fn run(self, cron: Option<croner::Cron>, stop: CancellationToken) {
        let runs = loop {
            match Runs::open(&self.db_url).await {
                Ok(r) => break r,
                Err(e) => {
                    tracing::warn!(error = %e, "backup scheduler: cannot open the database; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                    }
                }
            }
        };
        if cron.is_none() && self.config.schedule.is_none() {
            tracing::debug!("no [backup] schedule: backups are taken by `kefu backup create`");
        }
        loop {
            self.refresh(&runs).await;
            let next = cron
                .as_ref()
                .and_then(|c| c.find_next_occurrence(&Utc::now(), false).ok());
            // Wake at the fire time, or within a minute to refresh metrics.
            let wait = next
                .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if let Some(slot) = next.filter(|t| *t <= Utc::now()) {
                match runs.claim(slot, &self.holder, Utc::now()).await {
                    Ok(true) => {
                        // Failures are logged, counted and recorded in take.
                        let _ = self.take(&runs, slot).await;
                    }
                    Ok(false) => tracing::debug!(%slot, "another replica took this backup"),
                    Err(e) => tracing::warn!(error = %e, "backup scheduler: cannot claim the run"),
                }
            }
        }
    }

    async fn refresh(&self, runs: &Runs) {
        match runs.status().await {
            Ok(s) => {
                let secs =
                    |t: Option<DateTime<Utc>>| t.map_or(0.0, |t| t.timestamp_micros() as f64 / 1e6);
                self.metrics.last_success.set(secs(s.last_success));
                self.metrics
                    .last_restore_test
                    .set(secs(s.last_restore_test));
            }
            Err(e) => tracing::debug!(error = %e, "backup scheduler: cannot read backup_runs"),
        }
    }

    /// Takes a scheduled backup now (`kefu backup run`, for a CronJob):
    /// claims this second, then as [`Self::run`] would. Returns where the
    /// archive went.
    pub async fn run_once(&self) -> Result<String> {
        let runs = Runs::open(&self.db_url).await?;
        let now = Utc::now();
        let slot = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        if !runs.claim(slot, &self.holder, now).await? {
            return Err(BackupError::Usage(format!(
                "a backup for {slot} is already being taken"
            )));
        }
        self.take(&runs, slot).await
    }

    /// One scheduled backup, claimed: create, record, prune, restore-test.
    async fn take(&self, runs: &Runs, slot: DateTime<Utc>) -> Result<String> {
        let started = Instant::now();
        let dest = self.config.destination.clone().unwrap_or_default();
        let location = match Location::parse(&dest) {
            Ok(d) => d.join(&archive_name(slot)).to_string(),
            Err(e) => {
                tracing::error!(error = %e, "scheduled backup: bad destination");
                return Err(e);
            }
        };
        tracing::info!(%slot, location = %location, "scheduled backup started");
        let opts = CreateOptions {
            key: self.config.key().ok().flatten(),
            secrets: match (&self.signing_key, self.config.include_secrets) {
                (Some(k), true) => vec![("signing_key".into(), k.clone())],
                _ => Vec::new(),
            },
            signing_key_id: self.signing_key_id.clone(),
            level: self.config.compression_level,
        };
        let made = dest::create(&self.db_url, &location, &self.config, opts, Progress::new()).await;
        let seconds = started.elapsed().as_secs_f64();
        self.metrics
            .duration
            .get_or_create(&StageLabels { stage: "backup" })
            .observe(seconds);
        let error_text = made.as_ref().err().map(|e| e.to_string());
        let outcome = match &made {
            Ok(c) => {
                self.metrics.last_bytes.set(c.bytes as i64);
                tracing::info!(%slot, location = %location, bytes = c.bytes, seconds, rows = c.manifest.total_rows(), "scheduled backup done");
                Outcome {
                    ok: true,
                    location: Some(&location),
                    bytes: Some(c.bytes as i64),
                    error: None,
                }
            }
            Err(e) => {
                let stage = if matches!(e, BackupError::Storage(_)) {
                    "storage"
                } else {
                    "backup"
                };
                self.metrics.failed(stage);
                tracing::error!(%slot, error = %e, stage, "scheduled backup failed");
                Outcome {
                    ok: false,
                    location: None,
                    bytes: None,
                    error: error_text.as_deref(),
                }
            }
        };
        if let Err(e) = runs.finish(slot, Utc::now(), &outcome).await {
            tracing::warn!(error = %e, "scheduled backup: cannot record the outcome");
        }
        if let Err(e) = made {
            self.refresh(runs).await;
            return Err(e);
        }
        let policy = Policy {
            hourly: self.config.keep_hourly,
            daily: self.config.keep_daily,
            weekly: self.config.keep_weekly,
            monthly: self.config.keep_monthly,
        };
        match dest::prune(&self.config, &dest, &policy, false).await {
            Ok(r) if !r.deleted.is_empty() => tracing::info!(
                deleted = r.deleted.len(),
                kept = r.kept.len(),
                "old backups pruned"
            ),
            Ok(_) => {}
            Err(e) => {
                self.metrics.failed("prune");
                tracing::warn!(error = %e, "pruning old backups failed");
            }
        }
        self.restore_test_if_due(runs, slot, &location).await;
        self.refresh(runs).await;
        Ok(location)
    }

    async fn restore_test_if_due(&self, runs: &Runs, slot: DateTime<Utc>, location: &str) {
        let every = self.config.restore_test_every_hours;
        if every == 0 {
            return;
        }
        let last = runs.status().await.ok().and_then(|s| s.last_restore_test);
        if last.is_some_and(|t| Utc::now() - t < chrono::Duration::hours(every.into())) {
            return;
        }
        let started = Instant::now();
        let keys = self.config.read_keys().unwrap_or_default();
        let result = dest::verify(location, &self.config, keys, true, Progress::new()).await;
        self.metrics
            .duration
            .get_or_create(&StageLabels {
                stage: "restore_test",
            })
            .observe(started.elapsed().as_secs_f64());
        let ok = match &result {
            Ok(_) => {
                tracing::info!(%slot, location, "restore test passed");
                true
            }
            Err(e) => {
                self.metrics.failed("restore_test");
                tracing::error!(%slot, location, error = %e, "restore test FAILED");
                false
            }
        };
        if let Err(e) = runs.restore_tested(slot, Utc::now(), ok).await {
            tracing::warn!(error = %e, "cannot record the restore test");
        }
    }
}
