//! Login throttling. Two independent counters:
//! - per client IP: at most `ip_attempts` login attempts per window, whatever
//!   the outcome (stops password spraying across many accounts);
//! - per account: after `account_failures` failures in a window the account
//!   is locked for `lockout_secs` (stops guessing one account from many IPs).
//!   A success clears the account's failures.
//!
//! The counters live behind the [`Limits`] port: in this process on a single
//! node, in Redis in a cluster (the wiring chooses), so that N replicas
//! share one budget instead of granting N. When Redis does not answer, the
//! adapter counts locally for that call (per replica, as a single node
//! would) — see `kefu_bus::RedisLimits`.

use crate::config::ThrottleConfig;
use kefu_domain::limits::{Limits, LockoutRule, MemoryLimits, WindowRule};
use std::sync::Arc;
use std::time::Duration;

/// Scope of the per-IP login attempt windows.
pub const LOGIN_IP: &str = "login_ip";
/// Scope of the per-account failure counters and lockouts (e-mails, and
/// `password:<user>` / `totp:<user>` for re-authentication).
pub const LOGIN_ACCOUNT: &str = "login_account";

#[derive(Debug)]
pub struct LoginThrottle {
    limits: Arc<dyn Limits>,
    ip: WindowRule,
    account: LockoutRule,
}

/// Why a login was refused before the password was even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: Duration,
    pub reason: &'static str,
}

impl LoginThrottle {
    /// Over counters in this process's memory.
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self::with_limits(cfg, Arc::new(MemoryLimits::new()))
    }

    /// Over `limits` (Redis in a cluster).
    pub fn with_limits(cfg: ThrottleConfig, limits: Arc<dyn Limits>) -> Self {
        let window = Duration::from_secs(cfg.window_secs.max(1));
        Self {
            limits,
            ip: WindowRule {
                limit: cfg.ip_attempts,
                window,
                max_tracked: cfg.max_tracked,
            },
            account: LockoutRule {
                failures: cfg.account_failures,
                window,
                lockout: Duration::from_secs(cfg.lockout_secs),
                max_tracked: cfg.max_tracked,
            },
        }
    }

    /// Counts an attempt from `ip` for `account` and says whether it may go
    /// on. The account's attempt is *reserved* here, before the password is
    /// checked, so a burst of parallel guesses cannot all slip in before the
    /// first failure is recorded; a success clears the account's count.
    pub async fn check(&self, ip: Option<&str>, account: &str) -> Result<(), Refusal> {
        if let Some(ip) = ip {
            self.limits
                .hit(LOGIN_IP, ip, &self.ip)
                .await
                .map_err(|retry_after| Refusal {
                    retry_after,
                    reason: "too_many_attempts",
                })?;
        }
        self.limits
            .reserve(LOGIN_ACCOUNT, account, &self.account)
            .await
            .map_err(|retry_after| Refusal {
                retry_after,
                reason: "account_locked",
            })
    }

    /// Records that the reserved attempt failed; locks the account when the
    /// failures reach the limit.
    pub async fn failed(&self, account: &str) {
        if self
            .limits
            .failed(LOGIN_ACCOUNT, account, &self.account)
            .await
        {
            tracing::warn!(
                reason = "account_locked",
                "failed attempts reached the limit; locked"
            );
        }
    }

    pub async fn succeeded(&self, account: &str) {
        self.limits.clear(LOGIN_ACCOUNT, account).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ThrottleConfig {
        ThrottleConfig {
            ip_attempts: 3,
            account_failures: 2,
            window_secs: 60,
            lockout_secs: 300,
            max_tracked: 4,
        }
    }

    #[tokio::test]
    async fn ip_budget_is_shared_by_accounts() {
        let t = LoginThrottle::new(cfg());
        for i in 0..3 {
            assert!(t.check(Some("1.1.1.1"), &format!("u{i}")).await.is_ok());
        }
        let r = t.check(Some("1.1.1.1"), "u9").await.unwrap_err();
        assert_eq!(r.reason, "too_many_attempts");
        assert!(r.retry_after > Duration::from_secs(59));
        assert!(
            t.check(Some("2.2.2.2"), "u9").await.is_ok(),
            "other IPs unaffected"
        );
    }

    #[tokio::test]
    async fn account_locks_after_failures_and_success_clears() {
        let t = LoginThrottle::new(cfg());
        t.check(None, "a").await.unwrap();
        t.failed("a").await;
        t.check(None, "a").await.unwrap();
        t.succeeded("a").await;
        t.check(None, "a").await.unwrap();
        t.failed("a").await;
        t.check(None, "a").await.unwrap();
        t.failed("a").await;
        let r = t.check(None, "a").await.unwrap_err();
        assert_eq!(r.reason, "account_locked");
        assert!(r.retry_after > Duration::from_secs(299));
    }

    /// Parallel guesses reserve their attempts up front: with a limit of two,
    /// the third concurrent attempt is refused before any failure is known.
    #[tokio::test]
    async fn parallel_attempts_cannot_exceed_the_limit() {
        let t = LoginThrottle::new(cfg());
        assert!(t.check(Some("1.1.1.1"), "a").await.is_ok());
        assert!(t.check(Some("2.2.2.2"), "a").await.is_ok());
        let r = t.check(Some("3.3.3.3"), "a").await.unwrap_err();
        assert_eq!(r.reason, "account_locked");
    }
}
