//! Settings of the HTTP layer (section `[http]` of kefu.toml).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Largest JSON request body accepted, in bytes (413 above it).
    pub body_limit_bytes: usize,
    /// A request still running after this many seconds is answered 503 `timeout`.
    pub request_timeout_secs: u64,
    /// The same for knowledge imports and evaluations.
    pub bulk_request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests and the bot replies
    /// they started, in seconds.
    pub shutdown_grace_secs: u64,
    /// Mark cookies `Secure` (browsers treat http://localhost as secure, so
    /// this can stay on in development).
    pub cookie_secure: bool,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` from the proxy in front.
    /// Turn on only behind a proxy that sets them; otherwise clients could
    /// spoof their address.
    pub trust_proxy_headers: bool,
    /// Send `Strict-Transport-Security` even when no proxy reports https.
    pub hsts: bool,
    pub rate_limit: RateLimitConfig,
    /// Serve the web UI (console, widget, demo page) from this directory,
    /// read on every request, instead of the copy built into the binary:
    /// for working on the UI (`crates/kefu-http/assets`) without rebuilding.
    pub assets_dir: Option<std::path::PathBuf>,
    /// The address browsers reach Kefu at (`https://kefu.example.com`):
    /// single sign-on's redirect URI is `{public_url}/api/v1/auth/oidc/callback`.
    /// Unset: taken from each request's `Host` (and `X-Forwarded-Proto`
    /// when `trust_proxy_headers`); the provider accepts only registered
    /// redirect URIs either way.
    pub public_url: Option<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            bulk_request_timeout_secs: 900,
            shutdown_grace_secs: 20,
            cookie_secure: true,
            trust_proxy_headers: false,
            hsts: false,
            rate_limit: RateLimitConfig::default(),
            assets_dir: None,
            public_url: None,
        }
    }
}

/// The general per-IP budget (a token bucket): `per_second` sustained,
/// `burst` at once. Health and metrics endpoints are exempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub per_second: f64,
    pub burst: u32,
    /// Upper bound of tracked client addresses (memory bound).
    pub max_tracked: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_second: 20.0,
            burst: 100,
            max_tracked: 100_000,
        }
    }
}

/// Where Prometheus scrapes, and how often the database-wide gauges are
/// refreshed (`[metrics]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Serve `/metrics` on this address instead of the main listener
    /// (which then answers it 404), e.g. `0.0.0.0:9100`.
    pub listen: Option<String>,
    /// Seconds between refreshes of the cluster-wide gauges (queue length,
    /// agents online, …) from the database.
    pub sample_interval_secs: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: None,
            sample_interval_secs: 15,
        }
    }
}
