//! [`MemoryLimits`]: the counters in this process's memory — a single
//! node's limits, and what the Redis adapter falls back to when Redis does
//! not answer. Each scope is its own map, bounded by its rule's
//! `max_tracked`, so a flood of keys in one scope (say, HTTP requests from
//! many addresses) cannot push out another's (say, an account's lockout).

use super::{BucketRule, Limits, LockoutRule, WindowRule};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One token bucket: `burst` tokens at most, refilled at `rate` per second.
/// Also used on its own, for limits that are local by nature (one socket's
/// frames).
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(burst: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst.max(1)),
            at: now,
        }
    }

    /// Takes one token; on refusal, the whole seconds until one is free.
    pub fn take(&mut self, rate: f64, burst: u32, now: Instant) -> Result<(), u64> {
        let rate = rate.max(0.001);
        let burst = f64::from(burst.max(1));
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    /// Would it be full by `now`? (Then it carries no information.)
    fn full_by(&self, rate: f64, burst: u32, now: Instant) -> bool {
        self.tokens + now.duration_since(self.at).as_secs_f64() * rate.max(0.001)
            >= f64::from(burst.max(1))
    }
}

/// A fixed window's count, and the lock of a lockout counter.
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

type Scoped<T> = HashMap<&'static str, HashMap<String, T>>;

#[derive(Debug, Default)]
pub struct MemoryLimits {
    windows: Mutex<Scoped<Window>>,
    buckets: Mutex<Scoped<Bucket>>,
}

impl MemoryLimits {
    pub fn new() -> Self {
        Self::default()
    }

    /// [`Limits::hit`] at `now`.
    pub fn hit_at(
        &self,
        scope: &'static str,
        key: &str,
        rule: &WindowRule,
        now: Instant,
    ) -> Result<(), Duration> {
        let window = rule.window.max(Duration::from_secs(1));
        let mut windows = self.windows.lock().expect("limits lock");
        let map = windows.entry(scope).or_default();
        prune(map, rule.max_tracked, window, now);
        let w = map.entry(key.to_string()).or_insert(Window::fresh(now));
        if now.duration_since(w.started) >= window {
            *w = Window::fresh(now);
        }
        if w.count >= rule.limit {
            return Err((w.started + window).saturating_duration_since(now));
        }
        w.count += 1;
        Ok(())
    }

    /// [`Limits::reserve`] at `now`.
    pub fn reserve_at(
        &self,
        scope: &'static str,
        key: &str,
        rule: &LockoutRule,
        now: Instant,
    ) -> Result<(), Duration> {
        let window = rule.window.max(Duration::from_secs(1));
        let mut windows = self.windows.lock().expect("limits lock");
        let map = windows.entry(scope).or_default();
        prune(map, rule.max_tracked, window, now);
        let w = map.entry(key.to_string()).or_insert(Window::fresh(now));
        match w.locked_until {
            Some(until) if until > now => return Err(until - now),
            Some(_) => *w = Window::fresh(now),
            None if now.duration_since(w.started) >= window => *w = Window::fresh(now),
            None => {}
        }
        if w.count >= rule.failures {
            w.locked_until = Some(now + rule.lockout);
            return Err(rule.lockout);
        }
        w.count += 1;
        Ok(())
    }

    /// [`Limits::failed`] at `now`.
    pub fn failed_at(
        &self,
        scope: &'static str,
        key: &str,
        rule: &LockoutRule,
        now: Instant,
    ) -> bool {
        let mut windows = self.windows.lock().expect("limits lock");
        let Some(w) = windows.get_mut(scope).and_then(|m| m.get_mut(key)) else {
            return false;
        };
        let lock = w.count >= rule.failures && w.locked_until.is_none();
        if lock {
            w.locked_until = Some(now + rule.lockout);
        }
        lock
    }

    /// [`Limits::clear`].
    pub fn clear_now(&self, scope: &'static str, key: &str) {
        let mut windows = self.windows.lock().expect("limits lock");
        if let Some(m) = windows.get_mut(scope) {
            m.remove(key);
        }
    }

    /// [`Limits::take`] at `now`.
    pub fn take_at(
        &self,
        scope: &'static str,
        key: &str,
        rule: &BucketRule,
        now: Instant,
    ) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().expect("limits lock");
        let map = buckets.entry(scope).or_default();
        if map.len() >= rule.max_tracked && !map.contains_key(key) {
            // Full buckets carry no information: dropping them is free.
            map.retain(|_, b| !b.full_by(rule.per_second, rule.burst, now));
            if map.len() >= rule.max_tracked {
                // Still full: under a flood of distinct keys, start over
                // rather than grow without bound.
                map.clear();
            }
        }
        map.entry(key.to_string())
            .or_insert(Bucket::full(rule.burst, now))
            .take(rule.per_second, rule.burst, now)
    }

    /// Keys held for `scope` (for tests of the memory bound).
    pub fn tracked(&self, scope: &'static str) -> usize {
        let windows = self.windows.lock().expect("limits lock");
        let buckets = self.buckets.lock().expect("limits lock");
        windows.get(scope).map_or(0, HashMap::len) + buckets.get(scope).map_or(0, HashMap::len)
    }
}

#[async_trait]
impl Limits for MemoryLimits {
    async fn hit(&self, scope: &'static str, key: &str, rule: &WindowRule) -> Result<(), Duration> {
        self.hit_at(scope, key, rule, Instant::now())
    }

    async fn reserve(
        &self,
        scope: &'static str,
        key: &str,
        rule: &LockoutRule,
    ) -> Result<(), Duration> {
        self.reserve_at(scope, key, rule, Instant::now())
    }

    async fn failed(&self, scope: &'static str, key: &str, rule: &LockoutRule) -> bool {
        self.failed_at(scope, key, rule, Instant::now())
    }

    async fn clear(&self, scope: &'static str, key: &str) {
        self.clear_now(scope, key);
    }

    async fn take(&self, scope: &'static str, key: &str, rule: &BucketRule) -> Result<(), u64> {
        self.take_at(scope, key, rule, Instant::now())
    }
}

/// Keeps a scope's map bounded: drops finished windows, and if still over
/// the cap, the oldest entries.
fn prune(map: &mut HashMap<String, Window>, cap: usize, window: Duration, now: Instant) {
    if map.len() < cap.max(1) {
        return;
    }
    map.retain(|_, w| {
        now.duration_since(w.started) < window || w.locked_until.is_some_and(|u| u > now)
    });
    if map.len() >= cap.max(1) {
        let mut by_age: Vec<(String, Instant)> =
            map.iter().map(|(k, w)| (k.clone(), w.started)).collect();
        by_age.sort_by_key(|(_, t)| *t);
        for (k, _) in by_age.into_iter().take(map.len() + 1 - cap.max(1)) {
            map.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: WindowRule = WindowRule {
        limit: 3,
        window: Duration::from_secs(60),
        max_tracked: 4,
    };
    const ACCOUNT: LockoutRule = LockoutRule {
        failures: 2,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(300),
        max_tracked: 4,
    };

    #[test]
    fn window_resets_after_it_ends() {
        let l = MemoryLimits::new();
        let now = Instant::now();
        for _ in 0..3 {
            assert!(l.hit_at("ip", "1.1.1.1", &IP, now).is_ok());
        }
        assert_eq!(
            l.hit_at("ip", "1.1.1.1", &IP, now),
            Err(Duration::from_secs(60))
        );
        assert!(l.hit_at("ip", "2.2.2.2", &IP, now).is_ok(), "per key");
        assert!(l.hit_at("other", "1.1.1.1", &IP, now).is_ok(), "per scope");
        assert!(l
            .hit_at("ip", "1.1.1.1", &IP, now + Duration::from_secs(61))
            .is_ok());
    }

    #[test]
    fn lockout_after_failures_and_success_clears() {
        let l = MemoryLimits::new();
        let now = Instant::now();
        l.reserve_at("acct", "a", &ACCOUNT, now).unwrap();
        l.failed_at("acct", "a", &ACCOUNT, now);
        l.reserve_at("acct", "a", &ACCOUNT, now).unwrap();
        l.clear_now("acct", "a");
        l.reserve_at("acct", "a", &ACCOUNT, now).unwrap();
        l.failed_at("acct", "a", &ACCOUNT, now);
        assert!(
            l.reserve_at("acct", "a", &ACCOUNT, now).is_ok(),
            "the success cleared the first failure"
        );
        assert!(l.failed_at("acct", "a", &ACCOUNT, now), "this one locks");
        assert_eq!(
            l.reserve_at("acct", "a", &ACCOUNT, now + Duration::from_secs(10)),
            Err(Duration::from_secs(290))
        );
        assert!(l
            .reserve_at("acct", "a", &ACCOUNT, now + Duration::from_secs(301))
            .is_ok());
    }

    /// Parallel attempts reserve up front: with a limit of two, the third
    /// concurrent attempt is refused before any failure is known.
    #[test]
    fn parallel_attempts_cannot_exceed_the_limit() {
        let l = MemoryLimits::new();
        let now = Instant::now();
        assert!(l.reserve_at("acct", "a", &ACCOUNT, now).is_ok());
        assert!(l.reserve_at("acct", "a", &ACCOUNT, now).is_ok());
        assert_eq!(
            l.reserve_at("acct", "a", &ACCOUNT, now),
            Err(Duration::from_secs(300))
        );
    }

    #[test]
    fn windows_stay_bounded_per_scope() {
        let l = MemoryLimits::new();
        let now = Instant::now();
        l.reserve_at("acct", "victim", &ACCOUNT, now).unwrap();
        for i in 0..100 {
            let _ = l.hit_at("ip", &format!("10.0.0.{i}"), &IP, now);
        }
        assert!(l.tracked("ip") <= 4);
        assert_eq!(
            l.tracked("acct"),
            1,
            "another scope's flood leaves it alone"
        );
    }

    #[test]
    fn bucket_burst_then_refill() {
        let l = MemoryLimits::new();
        let rule = BucketRule {
            per_second: 2.0,
            burst: 3,
            max_tracked: 10,
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take_at("http", "a", &rule, t0).is_ok());
        }
        assert_eq!(l.take_at("http", "a", &rule, t0), Err(1));
        assert!(l.take_at("http", "b", &rule, t0).is_ok(), "per key");
        let later = t0 + Duration::from_millis(500);
        assert!(l.take_at("http", "a", &rule, later).is_ok());
        assert!(l.take_at("http", "a", &rule, later).is_err());
    }

    #[test]
    fn buckets_stay_bounded() {
        let l = MemoryLimits::new();
        let rule = BucketRule {
            per_second: 1.0,
            burst: 5,
            max_tracked: 8,
        };
        let now = Instant::now();
        for i in 0..100 {
            let _ = l.take_at("http", &format!("k{i}"), &rule, now);
        }
        assert!(l.tracked("http") <= 8);
    }
}
