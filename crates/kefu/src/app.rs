//! Wiring: the only place adapters meet ports. `App::build` opens the store,
//! migrates, loads the signing key, assembles services and router, and binds
//! the listener (port 0 works, for tests); `App::run` serves until the
//! shutdown future resolves, then drains.

use crate::config::Settings;
use crate::secrets;
use anyhow::Context;
use kefu_domain::store::Store;
use kefu_domain::SystemClock;
use kefu_http::metrics::Metrics;
use kefu_http::{build_router, AppState};
use kefu_service::Services;
use kefu_store::ConnectOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct App {
    listener: TcpListener,
    /// `[metrics] listen`: its own listener, and what it serves.
    metrics: Option<(TcpListener, Arc<Metrics>)>,
    router: axum::Router,
    settings: Settings,
    store: Arc<dyn Store>,
    /// Scheduled backups (`[backup] schedule`) and the backup metrics.
    backups: kefu_backup::schedule::Scheduler,
    /// Tells open sockets to close (with a reconnect hint) at shutdown.
    sockets_shutdown: CancellationToken,
    /// For the periodic routing pass.
    services: Services,
    /// Publishes the audit chain heads (a log line and metrics).
    heads: Arc<crate::audit_heads::HeadPublisher>,
}

/// Opens the configured store (and refuses settings that cannot work).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    refuse_sqlite_cluster(settings)?;
    let url = settings.database_url();
    if let Some(file) = url
        .strip_prefix("sqlite://")
        .filter(|f| !f.contains(":memory:"))
    {
        check_writable(&settings.data_dir)?;
        if let Some(dir) = Path::new(file.split('?').next().unwrap_or(file)).parent() {
            check_writable(dir)?;
        }
    }
    let (keyring, created) = secrets::keyring(settings)?;
    connect(settings, keyring, created).await
}

/// Fails at once, saying how to fix it, when a directory a single node
/// writes (the data directory, the SQLite database's) is not writable by
/// this process — typically a volume or bind mount owned by root while
/// the container runs as an unprivileged user. (Without this check SQLite
/// reports only "unable to open database file".)
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    let probe = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let p = dir.join(format!(".kefu-write-check-{}", std::process::id()));
        std::fs::write(&p, b"")?;
        std::fs::remove_file(&p)
    };
    match probe() {
        Ok(()) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            let uid = rustix::process::geteuid().as_raw();
            let d = dir.display();
            anyhow::bail!(
                "the directory {d} is not writable by uid {uid}, the user kefu runs as ({e}): \
                 make it writable for that user (for example `chown -R {uid} {d}`), or in a \
                 container mount a volume that user may write (the image runs as uid 10001)"
            )
        }
        Err(e) => Err(e).with_context(|| format!("preparing the directory {}", dir.display())),
    }
}

fn refuse_sqlite_cluster(settings: &Settings) -> anyhow::Result<()> {
    if settings.redis_url.is_some() && settings.database_url().starts_with("sqlite:") {
        anyhow::bail!(
            "redis_url is set but the database is SQLite: a cluster needs PostgreSQL (set KEFU_DATABASE_URL=postgres://…) — \
             SQLite serves a single node only"
        );
    }
    Ok(())
}

/// Opens the configured store for schema migrations only (`kefu migrate`):
/// nothing sealed is read or written, so no key-encryption key is needed
/// (a migration job is given the database and nothing else).
pub async fn open_store_for_schema(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    connect(settings, kefu_domain::secrets::Keyring::ephemeral(), false).await
}

async fn connect(
    settings: &Settings,
    keyring: kefu_domain::secrets::Keyring,
    created: bool,
) -> anyhow::Result<Arc<dyn Store>> {
    if created {
        tracing::warn!(
            path = %settings.data_dir.join(secrets::KEK_FILE).display(),
            "generated a new key-encryption key; keep it with the backup key: without it, TOTP \
             and identity secrets and the audit chain in this database (and its backups) cannot \
             be opened"
        );
    }
    let mut opts = ConnectOptions::new(settings.database_url(), Arc::new(keyring));
    opts.max_connections = settings.database.max_connections;
    opts.busy_timeout = Duration::from_millis(settings.database.busy_timeout_ms);
    opts.sqlite_full_sync = settings.database.sqlite_full_sync;
    opts.sqlite_checkpoint_interval =
        Duration::from_millis(settings.database.sqlite_checkpoint_interval_ms);
    refuse_sqlite_cluster(settings)?;
    let store = kefu_store::connect(&opts)
        .await
        .with_context(|| format!("opening {}", crate::config::redact_url(&opts.url)))?;
    Ok(store)
}

/// The services over a store, with the configured (or generated) key and
/// the event bus, and an in-memory knowledge index: the one under the data
/// directory has one writer, the server (`App::build`).
pub fn services(settings: &Settings, store: Arc<dyn Store>) -> anyhow::Result<Services> {
    services_with_knowledge(settings, store, knowledge_at(settings, None)?)
}

/// [`services`] with this knowledge base (the command line uses an
/// in-memory index, so as not to contend with a running server for the one
/// under the data directory).
pub fn services_with_knowledge(
    settings: &Settings,
    store: Arc<dyn Store>,
    knowledge: kefu_service::kb::Knowledge,
) -> anyhow::Result<Services> {
    let (key, created) = secrets::signing_key(settings)?;
    if created {
        tracing::warn!(
            path = %settings.data_dir.join(secrets::KEY_FILE).display(),
            "generated a new token signing key; keep it with the data (all replicas must share one key)"
        );
    }
    let (bus, limits) = event_bus(settings, secrets::expose(&key))?;
    let services = Services::new(
        store,
        bus,
        Arc::new(SystemClock),
        settings.auth.service.clone(),
        settings.chat.clone(),
        secrets::expose(&key),
    );
    let services = match limits {
        Some(limits) => services.with_limits(limits),
        None => services,
    };
    let blob_dir = settings
        .attachments
        .dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("attachments"));
    // Links in e-mails lead to the console: its public address, or (on a
    // single machine) the listening one.
    let public_url = match &settings.http.public_url {
        Some(u) => u.clone(),
        None => {
            if settings.email.smtp_url.is_some() {
                tracing::warn!(
                    listen = %settings.listen,
                    "http.public_url is not set: links in e-mails point at the listening address"
                );
            }
            format!("http://{}", settings.listen)
        }
    };
    let services = services
        .with_knowledge(knowledge)
        .with_analytics(settings.analytics.clone())
        .with_attachments(settings.attachments.clone(), blob_dir)
        .with_email(settings.email.clone(), &public_url)
        .map_err(anyhow::Error::msg)?;
    Ok(
        match settings
            .attachments
            .store
            .as_deref()
            .filter(|s| !s.is_empty())
        {
            None => services,
            Some(url) => {
                let (bucket, prefix) = match kefu_backup::dest::Location::parse(url) {
                    Ok(kefu_backup::dest::Location::S3 { bucket, key }) => (bucket, key),
                    _ => {
                        anyhow::bail!("attachments.store must be s3://bucket[/prefix], not {url:?}")
                    }
                };
                // The same S3 client and connection settings as the backups'.
                let store = kefu_backup::dest::s3_store(&settings.backup.s3, &bucket)
                    .map_err(|e| anyhow::anyhow!("attachments.store: {e}"))?;
                services.with_blob_store(store, &prefix)
            }
        },
    )
}

/// The knowledge base's search side: its index under the data directory,
/// and the model endpoints when configured.
pub fn knowledge(settings: &Settings) -> anyhow::Result<kefu_service::kb::Knowledge> {
    knowledge_at(settings, Some(&kb_index_dir(settings)))
}

/// Where the knowledge index lives: `<data-dir>/kb-index`.
pub fn kb_index_dir(settings: &Settings) -> std::path::PathBuf {
    settings.data_dir.join("kb-index")
}

/// [`knowledge`] with the index in `index_dir`, or in memory (`None`).
pub fn knowledge_at(
    settings: &Settings,
    index_dir: Option<&std::path::Path>,
) -> anyhow::Result<kefu_service::kb::Knowledge> {
    let embedder = match &settings.embeddings {
        Some(e) => Some(kefu_ai::EmbeddingsClient::new(e.clone()).context("[embeddings]")?),
        None => None,
    };
    let llm = match &settings.llm {
        Some(l) => Some(kefu_ai::ChatClient::new(l.clone()).context("[llm]")?),
        None => None,
    };
    let reranker = match &settings.rerank {
        Some(r) => Some(kefu_ai::RerankClient::new(r.clone()).context("[rerank]")?),
        None => None,
    };
    let knowledge =
        kefu_service::kb::Knowledge::open(index_dir, settings.kb.clone(), embedder, llm)
            .with_context(|| match index_dir {
                Some(dir) => format!("opening the knowledge index in {}", dir.display()),
                None => "opening an in-memory knowledge index".to_string(),
            })?;
    Ok(knowledge.with_reranker(reranker))
}

/// The bus and, in a cluster, the shared limit counters.
type BusAndLimits = (
    Arc<dyn kefu_domain::bus::Bus>,
    Option<Arc<dyn kefu_domain::limits::Limits>>,
);

/// Redis pub/sub when `redis_url` is set (a cluster: every replica hears
/// every other's events), with the login throttle's and rate limits'
/// counters in the same Redis (every replica counts against one budget;
/// `signing_key` names them); else the in-process bus, and the counters stay
/// in memory. A malformed URL fails here; an unreachable Redis does not
/// (the bus retries, `/readyz` tells, limits count locally meanwhile).
fn event_bus(settings: &Settings, signing_key: &[u8]) -> anyhow::Result<BusAndLimits> {
    let capacity = settings.chat.bus_capacity;
    let Some(url) = &settings.redis_url else {
        tracing::info!("event bus: in-process (single node)");
        return Ok((Arc::new(kefu_bus::MemoryBus::new(capacity)), None));
    };
    // The error does not repeat a URL that failed to parse: redacting the
    // password needs the URL's shape.
    let ca = settings.redis_ca.as_deref().map(str::as_bytes);
    let bus = kefu_bus::RedisBus::connect_with_ca(url, capacity, ca)
        .context("redis_url (KEFU_REDIS_URL) / redis_ca")?;
    tracing::info!(
        redis = %crate::config::redact_url(url),
        node = bus.node_id(),
        "event bus: Redis pub/sub (cluster); login throttle and rate limits shared in Redis"
    );
    let limits = Arc::new(bus.limits(signing_key));
    Ok((Arc::new(bus), Some(limits)))
}

impl App {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = open_store(&settings).await?;
        if settings.auto_migrate {
            let applied = store.migrate().await.context("applying migrations")?;
            if applied > 0 {
                tracing::info!(applied, "migrations applied");
            }
        }
        // A database migrated by someone else (a migration job) may not be
        // yet: the server then starts unready, and its readiness check
        // opens the keys once the schema is there. A migrated database whose
        // keys do not open (the wrong key-encryption key) stops the start.
        if store.health().await.migrations_applied {
            // `migrate` opened the keys already; `health` does it too on a
            // migrated database, so this only turns its failure into an
            // error that stops the start.
            if !settings.auto_migrate {
                store
                    .prepare()
                    .await
                    .context("opening the audit chain key")?;
            }
            // Secrets written in clear by a version before sealing.
            let sealed = store
                .reseal_secrets(true)
                .await
                .context("sealing secrets stored in clear")?;
            if sealed.sealed_plaintext > 0 {
                tracing::info!(
                    sealed = sealed.sealed_plaintext,
                    "sealed secrets stored in clear by an older version under the key-encryption key"
                );
            }
        } else {
            tracing::warn!(
                "the database is not migrated: serving unready until it is (`kefu migrate`)"
            );
        }
        let services = services_with_knowledge(&settings, store.clone(), knowledge(&settings)?)?;
        // The index is derived data: repair whatever differs from the
        // database before serving (a new data directory, a crash mid-write).
        match services.reconcile_knowledge().await {
            Ok(0) => {}
            Ok(reindexed) => tracing::info!(reindexed, "knowledge index brought up to date"),
            // Not migrated yet, say: /readyz tells; the index catches up on changes.
            Err(e) => tracing::warn!(error = %e, "could not reconcile the knowledge index"),
        }
        let mut metrics = Metrics::for_services(env!("CARGO_PKG_VERSION"), &services);
        let backups = backup_scheduler(&settings)?;
        backups.metrics.register(metrics.registry_mut());
        let heads = Arc::new(crate::audit_heads::HeadPublisher::default());
        heads.register(metrics.registry_mut());
        let metrics = Arc::new(metrics);
        let metrics_listener = match &settings.metrics.listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (metrics.listen)"))?,
            ),
            None => None,
        };
        let mut state = AppState::new(services, settings.http.clone(), metrics.clone());
        state.metrics_elsewhere = metrics_listener.is_some();
        let sockets_shutdown = state.shutdown.clone();
        let services = state.services.clone();
        let router = build_router(state);
        let listener = TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        Ok(Self {
            listener,
            metrics: metrics_listener.map(|l| (l, metrics)),
            backups,
            router,
            settings,
            store,
            sockets_shutdown,
            services,
            heads,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight
    /// requests finish for up to `http.shutdown_grace_secs`, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.settings.http.shutdown_grace_secs);
        let stop = CancellationToken::new();
        let trigger = stop.clone();
        let sockets = self.sockets_shutdown.clone();
        // Each replica retries the queues now and then: assignment runs at
        // once on every change that can fill or free a queue, so this only
        // catches what a crashed replica or a failed pass left behind.
        let routing = self.services.clone();
        every(
            self.settings.chat.route_interval_secs,
            self.sockets_shutdown.clone(),
            move || {
                let routing = routing.clone();
                async move {
                    routing.route_all().await;
                }
            },
        );
        // What happens by itself: auto-resolve, snoozes ending, the
        // presence timeout (each replica marks its own sockets' agents).
        let sweeper = self.services.clone();
        every(
            self.settings.chat.sweep_interval_secs,
            self.sockets_shutdown.clone(),
            move || {
                let sweeper = sweeper.clone();
                async move { sweeper.sweep().await }
            },
        );
        // Every replica keeps its own index fresh from the others' changes,
        // and computes missing article vectors when embeddings are on.
        let kb = self.services.clone();
        let kb_stop = self.sockets_shutdown.clone();
        tokio::spawn(async move { kb.follow_knowledge(kb_stop).await });
        let kb = self.services.clone();
        let kb_stop = self.sockets_shutdown.clone();
        tokio::spawn(async move { kb.run_embedder(kb_stop).await });
        // The cluster-wide gauges (queue length, agents online, …).
        let ops = self.services.clone();
        every(
            self.settings.metrics.sample_interval_secs,
            self.sockets_shutdown.clone(),
            move || {
                let ops = ops.clone();
                async move {
                    if let Err(e) = ops.sample_gauges().await {
                        tracing::warn!(error = %e, "sampling the operations gauges failed");
                    }
                }
            },
        );
        // The audit chain heads, for an outside copy (docs/security.md).
        if self.settings.audit.publish_interval_secs > 0 {
            let (heads, store) = (self.heads.clone(), self.store.clone());
            every(
                self.settings.audit.publish_interval_secs,
                self.sockets_shutdown.clone(),
                move || {
                    let (heads, store) = (heads.clone(), store.clone());
                    async move {
                        if let Err(e) = heads.publish(store.as_ref()).await {
                            tracing::warn!(error = %e, "publishing the audit chain heads failed");
                        }
                    }
                },
            );
        }
        // Scheduled backups: every replica runs the loop, one takes each
        // backup (a claim in the database); all export the metrics.
        let cron = self.backups.check()?;
        self.backups
            .clone()
            .spawn(cron, self.sockets_shutdown.clone())
            .context("starting the backup scheduler")?;
        if let Some((listener, metrics)) = self.metrics {
            let stop = self.sockets_shutdown.clone();
            tokio::spawn(async move {
                let serve = axum::serve(listener, kefu_http::metrics_router(metrics))
                    .with_graceful_shutdown(stop.cancelled_owned());
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            });
        }
        tokio::spawn(async move {
            shutdown.await;
            // Upgraded sockets are not part of the HTTP drain: tell them to
            // close now, so clients reconnect (elsewhere) and sync.
            sockets.cancel();
            trigger.cancel();
        });
        // Without TCP_NODELAY a small frame to a client that only receives
        // (an agent's socket) can wait ~40 ms for its delayed ACK.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        let serve = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop.clone().cancelled_owned());
        // Graceful shutdown waits for every open connection; a client that
        // keeps one open must not hold the process hostage, so the drain is
        // bounded by the grace period.
        // Requests done, what they started in the background (the bot's
        // replies) is waited for too, within the same grace period.
        let services = self.services.clone();
        let drained = async {
            serve.await.context("server error")?;
            services.drain_background().await;
            anyhow::Ok(())
        };
        tokio::select! {
            res = drained => res?,
            _ = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(
                    grace_secs = grace.as_secs(),
                    background = self.services.background.len(),
                    "grace period over; closing remaining connections and background work"
                );
            }
        }
        tracing::info!("server stopped");
        Ok(())
    }
}

/// The backup scheduler for these settings (it runs only with a schedule;
/// its metrics always).
pub fn backup_scheduler(settings: &Settings) -> anyhow::Result<kefu_backup::schedule::Scheduler> {
    let signing = crate::secrets::signing_key_if_any(settings)?.0;
    let signing = signing.map(|k| secrecy::ExposeSecret::expose_secret(&k).as_bytes().to_vec());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "kefu".into());
    let s = kefu_backup::schedule::Scheduler {
        config: settings.backup.clone(),
        db_url: settings.database_url(),
        holder: format!("{host}:{}", std::process::id()),
        signing_key_id: signing.as_deref().map(kefu_backup::signing_key_id),
        signing_key: signing,
        metrics: kefu_backup::schedule::BackupMetrics::new(),
    };
    s.check().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(s)
}

/// Runs `job` every `secs` seconds (at least one; a late tick is not made
/// up for) until `stop` is cancelled.
fn every<F, Fut>(secs: u64, stop: CancellationToken, job: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(secs.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => job().await,
            }
        }
    });
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}
