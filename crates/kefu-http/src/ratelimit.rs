//! Rate limits as token buckets, one per key within a scope: the general
//! per-IP budget (`[http.rate_limit]`) and messages per visitor over all
//! their sockets. The buckets live behind the [`Limits`] port — in memory
//! on a single node, in Redis in a cluster, so a client spread over N
//! replicas gets one budget, not N (see `kefu_service::throttle`).
//! Per-socket limits stay in the socket ([`Bucket`]): a socket lives on one
//! replica.

use crate::config::RateLimitConfig;
use kefu_domain::limits::{BucketRule, Limits};
use std::sync::Arc;

pub use kefu_domain::limits::Bucket;

/// Scope of the general per-IP buckets.
pub const HTTP_IP: &str = "http_ip";
/// Scope of the per-visitor message buckets.
pub const VISITOR_MESSAGES: &str = "visitor_messages";

#[derive(Debug)]
pub struct RateLimiter {
    enabled: bool,
    scope: &'static str,
    rule: BucketRule,
    limits: Arc<dyn Limits>,
}

impl RateLimiter {
    /// Buckets of `scope` in `limits`, shaped by `cfg`.
    pub fn new(scope: &'static str, cfg: &RateLimitConfig, limits: Arc<dyn Limits>) -> Self {
        Self {
            enabled: cfg.enabled,
            scope,
            rule: BucketRule {
                per_second: cfg.per_second.max(0.001),
                burst: cfg.burst.max(1),
                max_tracked: cfg.max_tracked,
            },
            limits,
        }
    }

    /// Takes one token for `key`; on refusal, the seconds until one is free.
    pub async fn take(&self, key: &str) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        self.limits.take(self.scope, key, &self.rule).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kefu_domain::limits::MemoryLimits;

    #[tokio::test]
    async fn per_key_and_switchable() {
        let cfg = RateLimitConfig {
            enabled: true,
            per_second: 0.01,
            burst: 2,
            max_tracked: 10,
        };
        let limits: Arc<dyn Limits> = Arc::new(MemoryLimits::new());
        let l = RateLimiter::new(HTTP_IP, &cfg, limits.clone());
        assert!(l.take("a").await.is_ok());
        assert!(l.take("a").await.is_ok());
        assert_eq!(l.take("a").await, Err(100));
        assert!(l.take("b").await.is_ok(), "per key");
        let other = RateLimiter::new(VISITOR_MESSAGES, &cfg, limits.clone());
        assert!(other.take("a").await.is_ok(), "per scope");
        let off = RateLimiter::new(
            HTTP_IP,
            &RateLimitConfig {
                enabled: false,
                ..cfg
            },
            limits,
        );
        assert!(off.take("a").await.is_ok(), "disabled");
    }
}
