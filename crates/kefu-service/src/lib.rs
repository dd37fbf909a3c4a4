//! Kefu's use cases. Handlers in `kefu-http` and commands in the CLI call
//! these; they speak only to the domain's ports.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod analytics;
pub mod attachments;
pub mod auth;
pub mod automation;
pub mod blocking;
pub mod bot;
pub mod chat;
pub mod config;
pub mod contacts;
pub mod context;
pub mod email;
pub mod error;
pub mod export;
pub mod kb;
pub mod metrics;
pub mod routing;
pub mod sso;
pub mod throttle;
pub mod validate;
pub mod visits;
pub mod workspaces;

pub use config::{AnalyticsConfig, AuthConfig, ChatConfig, KbConfig};
pub use context::{Access, Ctx, Principal};
pub use error::{ServiceError, ServiceResult};

use kefu_domain::store::Store;
use kefu_domain::Clock;
use std::sync::Arc;

/// Everything a use case needs, cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn kefu_domain::bus::Bus>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<AuthConfig>,
    pub chat: Arc<ChatConfig>,
    /// `[analytics]`: the verified-resolution window.
    pub analytics: Arc<AnalyticsConfig>,
    pub signer: Arc<auth::tokens::Signer>,
    pub passwords: Arc<auth::password::Passwords>,
    pub throttle: Arc<throttle::LoginThrottle>,
    /// The counters behind the throttle and the rate limits: in memory on
    /// a single node, in Redis in a cluster ([`Services::with_limits`]).
    pub limits: Arc<dyn kefu_domain::limits::Limits>,
    pub knowledge: Arc<kb::Knowledge>,
    /// What this replica counts for Prometheus.
    pub metrics: Arc<metrics::ServiceMetrics>,
    /// Single sign-on: the HTTP client and cache of identity providers.
    pub oidc: Arc<sso::provider::OidcClient>,
    /// Work a request starts and does not wait for (the bot's replies),
    /// drained at shutdown by [`Services::drain_background`].
    pub background: tokio_util::task::TaskTracker,
    /// `[attachments]`: upload limits and link lifetime.
    pub attachments: Arc<attachments::AttachmentsConfig>,
    /// Where attachments' files are kept (one directory per workspace).
    pub blob_dir: Arc<std::path::PathBuf>,
    /// The object store the files go to instead, in a cluster.
    pub objects: Option<Arc<attachments::ObjectBlobs>>,
    /// `[email]`, its SMTP client (none: e-mails wait in the outbox) and
    /// the console's public address for links in e-mails.
    pub email: Arc<email::EmailConfig>,
    pub mailer: Option<Arc<email::Mailer>>,
    pub public_url: Arc<String>,
    /// The members with a live socket on this replica (the presence
    /// timeout's heartbeat).
    pub live: Arc<automation::LiveAgents>,
    /// Each workspace's refused address ranges, as last read.
    pub ranges: Arc<blocking::RangeCache>,
}

impl Services {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn kefu_domain::bus::Bus>,
        clock: Arc<dyn Clock>,
        config: AuthConfig,
        chat: ChatConfig,
        signing_key: &[u8],
    ) -> Self {
        let limits: Arc<dyn kefu_domain::limits::Limits> =
            Arc::new(kefu_domain::limits::MemoryLimits::new());
        let throttle =
            throttle::LoginThrottle::with_limits(config.throttle.clone(), limits.clone());
        let passwords = auth::password::Passwords::new(
            auth::password::HashParams {
                memory_kib: config.argon2_memory_kib,
                iterations: config.argon2_iterations,
            },
            config.max_concurrent_hashes,
        );
        Self {
            store,
            bus,
            clock,
            signer: Arc::new(auth::tokens::Signer::new(signing_key)),
            passwords: Arc::new(passwords),
            config: Arc::new(config),
            chat: Arc::new(chat),
            analytics: Arc::default(),
            throttle: Arc::new(throttle),
            limits,
            knowledge: Arc::new(kb::Knowledge::in_memory(config::KbConfig::default())),
            metrics: Arc::default(),
            oidc: Arc::default(),
            background: tokio_util::task::TaskTracker::new(),
            attachments: Arc::default(),
            blob_dir: Arc::new(std::env::temp_dir().join("kefu-attachments")),
            objects: None,
            email: Arc::default(),
            mailer: None,
            public_url: Arc::new(String::new()),
            live: Arc::default(),
            ranges: Arc::default(),
        }
    }

    /// Waits for the work requests started in the background (the bot's
    /// replies) to finish; call it once the server has stopped taking
    /// requests, and bound it by the shutdown's grace period (work still
    /// running then is lost; the visitors' messages are not: they were
    /// stored before the work started).
    pub async fn drain_background(&self) {
        self.background.close();
        self.background.wait().await;
    }

    /// Tells every replica's open sockets that someone's access changed
    /// (after the change is committed): they re-check at once.
    pub fn access_changed(&self, change: kefu_domain::bus::AccessChange) {
        self.bus.publish(
            &change.topic(),
            Arc::new(kefu_domain::bus::Event::AccessChanged { change }),
        );
    }

    /// Keeps the limit counters (login throttle, and the HTTP layer's rate
    /// limits) in `limits` instead of this process's memory: Redis, so
    /// that a cluster's replicas share one budget.
    pub fn with_limits(mut self, limits: Arc<dyn kefu_domain::limits::Limits>) -> Self {
        self.throttle = Arc::new(throttle::LoginThrottle::with_limits(
            self.config.throttle.clone(),
            limits.clone(),
        ));
        self.limits = limits;
        self
    }

    /// Uses these analytics settings instead of the defaults.
    /// Sends e-mail with these settings; links in e-mails start with
    /// `public_url` (the console's address). A bad SMTP setting is an
    /// error naming it.
    pub fn with_email(mut self, cfg: email::EmailConfig, public_url: &str) -> Result<Self, String> {
        self.mailer = email::Mailer::new(&cfg)?.map(Arc::new);
        self.email = Arc::new(cfg);
        self.public_url = Arc::new(public_url.trim_end_matches('/').to_string());
        Ok(self)
    }

    pub fn with_analytics(mut self, analytics: AnalyticsConfig) -> Self {
        self.analytics = Arc::new(analytics);
        self
    }

    /// Uses this knowledge base (index location, model endpoints) instead of
    /// the default in-memory, lexical-only one.
    pub fn with_knowledge(mut self, knowledge: kb::Knowledge) -> Self {
        self.knowledge = Arc::new(knowledge);
        self
    }
}
