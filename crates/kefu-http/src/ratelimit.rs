//! The general per-IP rate limit: a token bucket per client address.
//! In memory, per replica (see `kefu_service::throttle` for the same
//! trade-off); buckets that have refilled completely are forgotten.

use crate::config::RateLimitConfig;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// One token bucket: `burst` tokens at most, refilled at `rate` per second.
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
}

#[derive(Debug)]
pub struct RateLimiter {
    cfg: RateLimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(cfg: RateLimitConfig) -> Self {
        Self {
            cfg,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `key`; on refusal, the seconds until one is free.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        if !self.cfg.enabled {
            return Ok(());
        }
        let rate = self.cfg.per_second.max(0.001);
        let burst = f64::from(self.cfg.burst.max(1));
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= self.cfg.max_tracked && !buckets.contains_key(key) {
            // Full buckets carry no information: dropping them is free.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
            if buckets.len() >= self.cfg.max_tracked {
                // Still full: under a flood of distinct addresses, start over
                // rather than grow without bound.
                buckets.clear();
            }
        }
        buckets
            .entry(key.to_string())
            .or_insert(Bucket::full(self.cfg.burst, now))
            .take(rate, self.cfg.burst, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let l = RateLimiter::new(RateLimitConfig {
            enabled: true,
            per_second: 2.0,
            burst: 3,
            max_tracked: 10,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("a", t0).is_ok());
        }
        assert_eq!(l.take("a", t0), Err(1));
        assert!(l.take("b", t0).is_ok(), "per key");
        assert!(l.take("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(l.take("a", t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn bounded_memory() {
        let l = RateLimiter::new(RateLimitConfig {
            enabled: true,
            per_second: 1.0,
            burst: 5,
            max_tracked: 8,
        });
        let now = Instant::now();
        for i in 0..100 {
            let _ = l.take(&format!("k{i}"), now);
        }
        assert!(l.buckets.lock().unwrap().len() <= 8);
    }
}
