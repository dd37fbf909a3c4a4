//! `RedisLimits`: the [`Limits`] port in Redis, so that every replica of a
//! cluster counts login attempts, lockouts and rate limits against one
//! budget (N replicas no longer mean N times the attempts).
//!
//! - **Atomic, one round trip.** Each operation is one Lua script, sent as
//!   `EVALSHA` (`redis::Script` loads it on first use, and again after Redis
//!   restarts and answers `NOSCRIPT`). Reading, deciding and writing a
//!   counter is one step on the server, so two replicas can never both take
//!   the last attempt or the last token.
//! - **Keys** are `kefu:rl:<scope>:{<digest>}` (the lock of a lockout
//!   counter adds `:lock`; the braces keep both in one Redis Cluster slot).
//!   The digest is HMAC-SHA256 of the caller's key (an e-mail, an IP address,
//!   a user or contact id), truncated to 128 bits: key length is bounded
//!   whatever a client sends, and Redis never holds an e-mail in clear. The
//!   HMAC key is derived from the token signing key, which every replica
//!   shares (so they agree on names); unlike a plain SHA-256, the digests
//!   cannot be matched against a list of candidate e-mails by someone who
//!   reads Redis but not the secret. A new signing key starts the counters
//!   afresh, which only forgives attempts in flight.
//! - **Every key has a TTL**: a window's counter expires with its window, a
//!   lock with its lockout, a bucket when it would be full again. Nothing
//!   outlives what it knows; an idle cluster leaves no `kefu:rl:*` keys.
//! - **Redis time.** The token bucket stores `tokens` and `at` (µs from the
//!   server's `TIME`, read inside the script); windows and locks are Redis
//!   TTLs. Replica clock skew changes nothing.
//! - **Connection.** The bus's publishing connection (multiplexed, named,
//!   TLS as configured, reconnected with back-off by the publisher task):
//!   no second connection path. While it is down, calls do not wait.
//! - **When Redis fails** (not connected, an error, or no answer within
//!   [`CALL_TIMEOUT`]), the call is answered by this replica's in-memory
//!   counters ([`MemoryLimits`]) — per-replica limits, as on a single node:
//!   never "unlimited", never "everyone locked out". Each such call counts
//!   in [`Limits::backend_errors`] (`kefu_ratelimit_backend_errors_total`);
//!   a warning is logged at most every ten seconds. A success clears the
//!   local counter too, so a lock taken during an outage does not outlive a
//!   successful login.

use super::health::Throttle;
use super::WARN_EVERY;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use kefu_domain::limits::{BucketRule, Limits, LockoutRule, MemoryLimits, WindowRule};
use redis::aio::MultiplexedConnection;
use redis::{FromRedisValue, Script};
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The longest a limit check waits for Redis before the local counters
/// answer: a slow Redis must not stall logins or requests.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);

/// Prefix of every key.
const PREFIX: &str = "kefu:rl:";

/// A fixed window. KEYS: counter. ARGV: limit, window (ms).
/// Returns 0 (counted) or the milliseconds left in the window (refused).
const HIT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    left = tonumber(ARGV[2])
  end
  return math.max(left, 1)
end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Reserves an attempt. KEYS: attempts, lock. ARGV: failures, window (ms),
/// lockout (ms). Returns 0 (reserved) or the milliseconds the key stays
/// locked (refused; an attempt beyond the limit locks it).
const RESERVE: &str = r"
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then
  return locked
end
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[3])
end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// A reserved attempt failed. KEYS: attempts, lock. ARGV: failures,
/// lockout (ms). Returns 1 when this failure locked the key.
const FAILED: &str = r"
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1])
   and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// A token bucket. KEYS: bucket (hash `tokens`, `at` in µs of server time).
/// ARGV: tokens per second, burst. Returns 0 (taken) or the whole seconds
/// until a token is free.
const TAKE: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000000 * rate)
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  retry = math.max(1, math.ceil((1 - tokens) / rate))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.ceil((burst - tokens) / rate * 1000) + 1000))
return retry
";

/// The counters in Redis; see the module documentation. Made by
/// [`super::RedisBus::limits`].
pub struct RedisLimits {
    connection: watch::Receiver<Option<MultiplexedConnection>>,
    endpoint: String,
    /// Names keys: HMAC-SHA256 under this.
    key: Hmac<Sha256>,
    local: MemoryLimits,
    errors: AtomicU64,
    warning: Throttle,
    timeout: Duration,
    hit: Script,
    reserve: Script,
    failed: Script,
    take: Script,
}

impl std::fmt::Debug for RedisLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimits")
            .field("endpoint", &self.endpoint)
            .field("errors", &self.errors.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RedisLimits {
    pub(super) fn new(
        connection: watch::Receiver<Option<MultiplexedConnection>>,
        endpoint: String,
        secret: &[u8],
    ) -> Self {
        // Domain separation: the signing key itself never names a key.
        let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
        derive.update(b"kefu rate-limit key names v1");
        let derived = derive.finalize().into_bytes();
        Self {
            connection,
            endpoint,
            key: <Hmac<Sha256> as Mac>::new_from_slice(&derived).expect("any key length"),
            local: MemoryLimits::new(),
            errors: AtomicU64::new(0),
            warning: Throttle::new(WARN_EVERY),
            timeout: CALL_TIMEOUT,
            hit: Script::new(HIT),
            reserve: Script::new(RESERVE),
            failed: Script::new(FAILED),
            take: Script::new(TAKE),
        }
    }

    /// The Redis key of `key` in `scope`: `kefu:rl:<scope>:{<32 hex>}`.
    pub fn redis_key(&self, scope: &str, key: &str) -> String {
        let mut mac = self.key.clone();
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(key.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{PREFIX}{scope}:{{{hex}}}")
    }

    /// Runs `script`; `None` when Redis did not answer in time or failed
    /// (counted and, now and then, logged): the caller asks the local
    /// counters instead.
    async fn run<T: FromRedisValue>(
        &self,
        what: &'static str,
        script: &Script,
        keys: &[&str],
        args: &[String],
    ) -> Option<T> {
        let Some(mut con) = self.connection() else {
            self.unavailable(what, "not connected");
            return None;
        };
        let mut call = script.prepare_invoke();
        for k in keys {
            call.key(*k);
        }
        for a in args {
            call.arg(a);
        }
        match tokio::time::timeout(self.timeout, call.invoke_async::<T>(&mut con)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.unavailable(what, &e.to_string());
                None
            }
            Err(_) => {
                self.unavailable(what, "timed out");
                None
            }
        }
    }

    /// The bus's publishing connection, while it is up.
    fn connection(&self) -> Option<MultiplexedConnection> {
        let current = self.connection.borrow();
        current.clone()
    }

    /// Counts a call the local counters answered; warns now and then.
    fn unavailable(&self, what: &'static str, why: &str) {
        let total = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(since_last) = self.warning.hit(1) {
            tracing::warn!(
                redis = %self.endpoint,
                operation = what,
                error = %why,
                fallbacks = since_last,
                fallbacks_total = total,
                "limits: Redis did not answer; this replica's own counters decide meanwhile \
                 (limits are per replica until Redis is back)"
            );
        }
    }
}

/// A script argument in whole milliseconds, at least one (`PX 0` is an
/// error in Redis).
fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

#[async_trait]
impl Limits for RedisLimits {
    async fn hit(&self, scope: &'static str, key: &str, rule: &WindowRule) -> Result<(), Duration> {
        let k = self.redis_key(scope, key);
        let args = [rule.limit.to_string(), millis(rule.window)];
        match self.run::<u64>("hit", &self.hit, &[&k], &args).await {
            Some(0) => Ok(()),
            Some(left) => Err(Duration::from_millis(left)),
            None => self.local.hit(scope, key, rule).await,
        }
    }

    async fn reserve(
        &self,
        scope: &'static str,
        key: &str,
        rule: &LockoutRule,
    ) -> Result<(), Duration> {
        let k = self.redis_key(scope, key);
        let lock = format!("{k}:lock");
        let args = [
            rule.failures.to_string(),
            millis(rule.window),
            millis(rule.lockout),
        ];
        match self
            .run::<u64>("reserve", &self.reserve, &[&k, &lock], &args)
            .await
        {
            Some(0) => Ok(()),
            Some(left) => Err(Duration::from_millis(left)),
            None => self.local.reserve(scope, key, rule).await,
        }
    }

    async fn failed(&self, scope: &'static str, key: &str, rule: &LockoutRule) -> bool {
        let k = self.redis_key(scope, key);
        let lock = format!("{k}:lock");
        let args = [rule.failures.to_string(), millis(rule.lockout)];
        match self
            .run::<u64>("failed", &self.failed, &[&k, &lock], &args)
            .await
        {
            Some(locked) => locked == 1,
            None => self.local.failed(scope, key, rule).await,
        }
    }

    async fn clear(&self, scope: &'static str, key: &str) {
        self.local.clear(scope, key).await;
        let k = self.redis_key(scope, key);
        let lock = format!("{k}:lock");
        let Some(mut con) = self.connection() else {
            self.unavailable("clear", "not connected");
            return;
        };
        let mut del = redis::cmd("DEL");
        del.arg(&k).arg(&lock);
        match tokio::time::timeout(self.timeout, del.exec_async(&mut con)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.unavailable("clear", &e.to_string()),
            Err(_) => self.unavailable("clear", "timed out"),
        }
    }

    async fn take(&self, scope: &'static str, key: &str, rule: &BucketRule) -> Result<(), u64> {
        let k = self.redis_key(scope, key);
        // `Display` of an f64 never uses an exponent: Lua reads it as is.
        let args = [
            rule.per_second.max(0.001).to_string(),
            rule.burst.max(1).to_string(),
        ];
        match self.run::<u64>("take", &self.take, &[&k], &args).await {
            Some(0) => Ok(()),
            Some(retry) => Err(retry),
            None => self.local.take(scope, key, rule).await,
        }
    }

    fn backend_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}
