//! Login throttling. Two independent counters:
//! - per client IP: at most `ip_attempts` login attempts per window, whatever
//!   the outcome (stops password spraying across many accounts);
//! - per account: after `account_failures` failures in a window the account
//!   is locked for `lockout_secs` (stops guessing one account from many IPs).
//!   A success clears the account's failures.
//!
//! State is in memory, per replica. In a cluster an attacker spread over N
//! replicas gets at most N times the budget; a Redis-backed counter can
//! replace this behind the same methods.

use crate::config::ThrottleConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
    locked_until: Option<Instant>,
}

impl Window {
    fn fresh(now: Instant) -> Self {
        Self {
            started: now,
            count: 0,
            locked_until: None,
        }
    }
}

#[derive(Debug)]
pub struct LoginThrottle {
    cfg: ThrottleConfig,
    ips: Mutex<HashMap<String, Window>>,
    accounts: Mutex<HashMap<String, Window>>,
}

/// Why a login was refused before the password was even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after: Duration,
    pub reason: &'static str,
}

impl LoginThrottle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self {
            cfg,
            ips: Mutex::default(),
            accounts: Mutex::default(),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.cfg.window_secs.max(1))
    }

    /// Counts an attempt from `ip` for `account` and says whether it may go
    /// on. The account's attempt is *reserved* here, before the password is
    /// checked, so a burst of parallel guesses cannot all slip in before the
    /// first failure is recorded; a success clears the account's count.
    pub fn check(&self, ip: Option<&str>, account: &str, now: Instant) -> Result<(), Refusal> {
        let window = self.window();
        if let Some(ip) = ip {
            let mut ips = self.ips.lock().expect("throttle lock");
            prune(&mut ips, self.cfg.max_tracked, window, now);
            let w = ips.entry(ip.to_string()).or_insert(Window::fresh(now));
            if now.duration_since(w.started) >= window {
                *w = Window::fresh(now);
            }
            if w.count >= self.cfg.ip_attempts {
                return Err(Refusal {
                    retry_after: (w.started + window).saturating_duration_since(now),
                    reason: "too_many_attempts",
                });
            }
            w.count += 1;
        }
        let mut accounts = self.accounts.lock().expect("throttle lock");
        prune(&mut accounts, self.cfg.max_tracked, window, now);
        let w = accounts
            .entry(account.to_string())
            .or_insert(Window::fresh(now));
        match w.locked_until {
            Some(until) if until > now => {
                return Err(Refusal {
                    retry_after: until - now,
                    reason: "account_locked",
                })
            }
            Some(_) => *w = Window::fresh(now),
            None if now.duration_since(w.started) >= window => *w = Window::fresh(now),
            None => {}
        }
        if w.count >= self.cfg.account_failures {
            let lockout = Duration::from_secs(self.cfg.lockout_secs);
            w.locked_until = Some(now + lockout);
            return Err(Refusal {
                retry_after: lockout,
                reason: "account_locked",
            });
        }
        w.count += 1;
        Ok(())
    }

    /// Records that the reserved attempt failed; locks the account when the
    /// failures reach the limit.
    pub fn failed(&self, account: &str, now: Instant) {
        let mut accounts = self.accounts.lock().expect("throttle lock");
        if let Some(w) = accounts.get_mut(account) {
            if w.count >= self.cfg.account_failures && w.locked_until.is_none() {
                w.locked_until = Some(now + Duration::from_secs(self.cfg.lockout_secs));
                tracing::warn!(
                    reason = "account_locked",
                    "failed attempts reached the limit; locked"
                );
            }
        }
    }

    pub fn succeeded(&self, account: &str) {
        self.accounts.lock().expect("throttle lock").remove(account);
    }
}

/// Keeps the map bounded: drops finished windows, and if still over the cap,
/// the oldest entries.
fn prune(map: &mut HashMap<String, Window>, cap: usize, window: Duration, now: Instant) {
    if map.len() < cap {
        return;
    }
    map.retain(|_, w| {
        now.duration_since(w.started) < window || w.locked_until.is_some_and(|u| u > now)
    });
    if map.len() >= cap {
        let mut by_age: Vec<(String, Instant)> =
            map.iter().map(|(k, w)| (k.clone(), w.started)).collect();
        by_age.sort_by_key(|(_, t)| *t);
        for (k, _) in by_age.into_iter().take(map.len() + 1 - cap) {
            map.remove(&k);
        }
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

    #[test]
    fn ip_budget_resets_after_the_window() {
        let t = LoginThrottle::new(cfg());
        let now = Instant::now();
        for i in 0..3 {
            assert!(t.check(Some("1.1.1.1"), &format!("u{i}"), now).is_ok());
        }
        let r = t.check(Some("1.1.1.1"), "u9", now).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_after),
            ("too_many_attempts", Duration::from_secs(60))
        );
        assert!(
            t.check(Some("2.2.2.2"), "u9", now).is_ok(),
            "other IPs unaffected"
        );
        assert!(t
            .check(Some("1.1.1.1"), "u9", now + Duration::from_secs(61))
            .is_ok());
    }

    #[test]
    fn account_locks_after_failures_and_success_clears() {
        let t = LoginThrottle::new(cfg());
        let now = Instant::now();
        t.check(None, "a", now).unwrap();
        t.failed("a", now);
        t.check(None, "a", now).unwrap();
        t.succeeded("a");
        t.check(None, "a", now).unwrap();
        t.failed("a", now);
        assert!(
            t.check(None, "a", now).is_ok(),
            "success cleared the first failure"
        );
        t.failed("a", now);
        let r = t
            .check(None, "a", now + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(
            (r.reason, r.retry_after),
            ("account_locked", Duration::from_secs(290))
        );
        assert!(t.check(None, "a", now + Duration::from_secs(301)).is_ok());
    }

    /// Parallel guesses reserve their attempts up front: with a limit of two,
    /// the third concurrent attempt is refused before any failure is known.
    #[test]
    fn parallel_attempts_cannot_exceed_the_limit() {
        let t = LoginThrottle::new(cfg());
        let now = Instant::now();
        assert!(t.check(Some("1.1.1.1"), "a", now).is_ok());
        assert!(t.check(Some("2.2.2.2"), "a", now).is_ok());
        let r = t.check(Some("3.3.3.3"), "a", now).unwrap_err();
        assert_eq!(r.reason, "account_locked");
    }

    #[test]
    fn memory_stays_bounded() {
        let t = LoginThrottle::new(cfg());
        let now = Instant::now();
        for i in 0..100 {
            let _ = t.check(Some(&format!("10.0.0.{i}")), "x", now);
        }
        assert!(t.ips.lock().unwrap().len() <= 4);
    }
}
