//! What every handler shares: the services, the HTTP settings, metrics,
//! rate limiters, the shutdown signal and the socket counter.

use crate::config::HttpConfig;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use kefu_service::Services;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub http: Arc<HttpConfig>,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<RateLimiter>,
    /// The OpenAPI document, serialised once at start.
    pub openapi_json: Arc<String>,
    /// Cancelled when the server shuts down: sockets close with a
    /// reconnect hint.
    pub shutdown: tokio_util::sync::CancellationToken,
    pub sockets: Arc<crate::ws::SocketCounter>,
    /// Messages per visitor over all their sockets (`chat.visitor_messages_per_sec`).
    pub visitor_messages: Arc<RateLimiter>,
    /// `/metrics` is served on its own listener ([`crate::router::metrics_router`]), so
    /// the main one answers it 404.
    pub metrics_elsewhere: bool,
}

impl AppState {
    pub fn new(services: Services, http: HttpConfig, metrics: Arc<Metrics>) -> Self {
        let limits = services.limits.clone();
        let visitor_messages = Arc::new(RateLimiter::new(
            crate::ratelimit::VISITOR_MESSAGES,
            &crate::config::RateLimitConfig {
                enabled: true,
                per_second: services.chat.visitor_messages_per_sec,
                burst: services.chat.visitor_message_burst,
                max_tracked: 100_000,
            },
            limits.clone(),
        ));
        let limiter = Arc::new(RateLimiter::new(
            crate::ratelimit::HTTP_IP,
            &http.rate_limit,
            limits,
        ));
        Self {
            services,
            limiter,
            http: Arc::new(http),
            metrics,
            openapi_json: Arc::new(String::new()),
            shutdown: tokio_util::sync::CancellationToken::new(),
            sockets: Arc::default(),
            visitor_messages,
            metrics_elsewhere: false,
        }
    }
}
