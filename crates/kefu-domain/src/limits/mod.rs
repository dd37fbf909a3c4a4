//! The limits port: the counters behind login throttling, account lockout
//! and rate limits. [`MemoryLimits`] keeps them in this process (a single
//! node); the Redis adapter (`kefu_bus::RedisLimits`) keeps them in Redis,
//! so every replica of a cluster counts against the same budget.
//!
//! Three kinds of counter, each named by a *scope* (which family of keys:
//! login attempts per IP, HTTP requests per IP, …) and a key within it:
//! - a fixed **window** of at most `limit` hits ([`Limits::hit`]);
//! - a **lockout** counter: attempts are reserved up front, a failure at
//!   the limit locks the key for a while, a success clears it
//!   ([`Limits::reserve`], [`Limits::failed`], [`Limits::clear`]);
//! - a **token bucket** ([`Limits::take`]).
//!
//! The methods cannot fail: an adapter whose backend is unavailable answers
//! from local counters instead (never "unlimited", never "refuse everyone")
//! and counts it in [`Limits::backend_errors`].

mod memory;

pub use memory::{Bucket, MemoryLimits};

use async_trait::async_trait;
use std::time::Duration;

/// At most `limit` hits per fixed window of `window`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRule {
    pub limit: u32,
    pub window: Duration,
    /// Keys of this scope kept in memory at most (the oldest go first).
    pub max_tracked: usize,
}

/// At most `failures` attempts per `window` without a success in between;
/// then the key is locked for `lockout`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LockoutRule {
    pub failures: u32,
    pub window: Duration,
    pub lockout: Duration,
    /// Keys of this scope kept in memory at most (the oldest go first).
    pub max_tracked: usize,
}

/// A token bucket: `burst` at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketRule {
    pub per_second: f64,
    pub burst: u32,
    /// Keys of this scope kept in memory at most (under a flood of new
    /// keys the in-memory buckets start over rather than grow).
    pub max_tracked: usize,
}

#[async_trait]
pub trait Limits: Send + Sync + std::fmt::Debug {
    /// Counts a hit on `key`; once the window holds `rule.limit` hits,
    /// refuses with the time left until the window ends (refusals are not
    /// counted).
    async fn hit(&self, scope: &'static str, key: &str, rule: &WindowRule) -> Result<(), Duration>;

    /// Reserves an attempt on `key` before its outcome is known, so that
    /// parallel attempts cannot all slip in before the first failure is
    /// recorded. Refused while the key is locked; an attempt beyond
    /// `rule.failures` locks it. Refusals carry the time left.
    async fn reserve(
        &self,
        scope: &'static str,
        key: &str,
        rule: &LockoutRule,
    ) -> Result<(), Duration>;

    /// The reserved attempt failed: locks the key when the attempts reached
    /// `rule.failures`. True when this failure locked it.
    async fn failed(&self, scope: &'static str, key: &str, rule: &LockoutRule) -> bool;

    /// The attempt succeeded: forgets the key's attempts (and lock).
    async fn clear(&self, scope: &'static str, key: &str);

    /// Takes one token from `key`'s bucket; when it is empty, refuses with
    /// the whole seconds until a token is free (at least one).
    async fn take(&self, scope: &'static str, key: &str, rule: &BucketRule) -> Result<(), u64>;

    /// Calls the shared backend failed (error or timeout) and the local
    /// counters answered instead, since start. Always 0 in memory.
    fn backend_errors(&self) -> u64 {
        0
    }
}
