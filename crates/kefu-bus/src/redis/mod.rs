//! `RedisBus`: the cluster bus. Every replica publishes its events to Redis
//! and hears every other replica's, so a visitor on one replica and an agent
//! on another see each other live.
//!
//! How it fits together:
//! - **Local first.** `publish` hands the event to an embedded [`MemoryBus`]
//!   at once, then queues it for Redis. Sockets on this replica never wait
//!   for Redis and keep working through a Redis outage.
//! - **Never blocks.** The queue is bounded; a publisher task drains it over
//!   its own connection, pipelining what has piled up. When the queue is full
//!   or Redis is down the event is dropped for the other replicas and counted
//!   ([`RedisBus::publish_failures`]), with a warning at most every few
//!   seconds — never one line per message.
//! - **One subscription.** A subscriber task holds one connection with
//!   `PSUBSCRIBE kefu:*` and forwards to the local topics that have
//!   subscribers. The pattern means every replica receives every event and
//!   drops those nobody on it listens to: simple and cheap at our scale (tens
//!   of replicas, thousands of events a second). Far beyond that, per-topic
//!   `SUBSCRIBE` as sockets come and go would save the traffic at the price
//!   of subscription bookkeeping.
//! - **No echo.** Each event travels as `{"node":…,"event":…}` on channel
//!   `kefu:<topic key>`; the subscriber skips its own node's envelopes, since
//!   they were delivered locally already — so local delivery is exactly once.
//! - **Outages lose events, never messages.** The bus is a doorbell
//!   (DESIGN.md §3): while Redis is unreachable, other replicas miss this
//!   one's events. `healthy()` turns false at once when a connection closes,
//!   and within three seconds when it merely goes silent (a one-second
//!   heartbeat with a two-second timeout); `/readyz` answers 503,
//!   one warning is logged per outage, and both tasks reconnect with capped
//!   exponential back-off (0.1 s doubling to 5 s, jittered) and resubscribe.
//!   Clients catch up with `sync` from the database.
//! - **Start-up.** A malformed URL fails [`RedisBus::connect`]; an
//!   unreachable Redis does not: the replica starts unhealthy (so a load
//!   balancer keeps traffic away), logs once, and keeps retrying — Redis
//!   restarting together with the replicas must not crash-loop them.
//! - Connections speak RESP3 (Redis 6 or later) and are named
//!   `kefu-bus-<pid>-<node>-pub` / `-sub` (`CLIENT LIST` shows which process
//!   owns which). The URL's password is never logged: logs name the host
//!   and port only. `rediss://` speaks TLS (rustls), trusting the system's
//!   roots or, for a private CA, the PEM given to [`RedisBus::connect_with_ca`].
//! - Dropping the bus stops both tasks: the subscriber at once, the
//!   publisher once it has flushed what was already queued.

mod health;
mod limits;
mod publisher;
mod subscriber;

pub use limits::{RedisLimits, CALL_TIMEOUT as LIMITS_CALL_TIMEOUT};

use crate::memory::MemoryBus;
use health::{Health, Throttle};
use kefu_domain::bus::{Bus, BusStats, Event, Topic};
use redis::{IntoConnectionInfo, ProtocolVersion, Value};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Channel prefix; the channel of a topic is `kefu:<topic key>`.
const PREFIX: &str = "kefu:";
/// What the subscriber listens to.
const PATTERN: &str = "kefu:*";
/// Both connections are pinged this often when idle, to notice a dead link.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Connecting, and any one command, give up after this long.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Warnings about dropped or undecodable events: at most one per this.
const WARN_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The URL cannot be used (the message never repeats the URL, which may
    /// hold a password).
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    #[error("the Redis bus must be started inside a Tokio runtime")]
    NoRuntime,
    /// The CA certificates given for `rediss://` cannot be used.
    #[error("invalid Redis CA certificate: {0}")]
    InvalidCa(String),
}

/// The cluster bus; see the module documentation.
pub struct RedisBus {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    stop: CancellationToken,
}

/// What the tasks and the handle share.
struct Shared {
    node: String,
    client_name: String,
    /// `host:port` — what logs may say about the server (no credentials).
    endpoint: String,
    /// `{"node":"<node>",` — how our own envelopes start (see `deliver`).
    own_prefix: Vec<u8>,
    local: MemoryBus,
    health: Health,
    publish_failures: AtomicU64,
    decode_failures: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    /// Publish → receive delays of received events, in microseconds.
    lag_micros: AtomicU64,
    lag_count: AtomicU64,
    /// Bumped when the subscription comes back after being lost.
    resync: tokio::sync::watch::Sender<u64>,
    /// The publishing connection while it is up, for [`RedisLimits`]'
    /// commands (a multiplexed connection serves many callers at once).
    commands: tokio::sync::watch::Sender<Option<redis::aio::MultiplexedConnection>>,
    drop_warning: Throttle,
    decode_warning: Throttle,
}

/// An event waiting for the publisher task.
struct Outgoing {
    channel: String,
    event: Arc<Event>,
}

#[derive(Serialize)]
struct OutEnvelope<'a> {
    node: &'a str,
    /// When it was published (Unix microseconds), for the lag metric.
    at: i64,
    event: &'a Event,
}

#[derive(Deserialize)]
struct InEnvelope {
    node: String,
    /// Absent from older versions' envelopes.
    #[serde(default)]
    at: Option<i64>,
    event: Event,
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl RedisBus {
    /// Parses `url` (`redis://[user:password@]host[:port][/db]`) and starts
    /// the publisher and subscriber tasks; it does not wait for Redis (see
    /// the module documentation on start-up). `capacity` bounds both how far
    /// a local subscriber may lag and how many events may wait for Redis.
    /// Must be called inside a Tokio runtime.
    pub fn connect(url: &str, capacity: usize) -> Result<Self, BusError> {
        Self::connect_with_ca(url, capacity, None)
    }

    /// [`Self::connect`], trusting `ca_pem` (PEM certificates) instead of
    /// the system's roots for a `rediss://` URL.
    pub fn connect_with_ca(
        url: &str,
        capacity: usize,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, BusError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BusError::NoRuntime)?;
        let mut info = url
            .into_connection_info()
            .map_err(|e| BusError::InvalidUrl(e.to_string()))?;
        // The subscriber needs RESP3: pushes arrive on an ordinary
        // connection, which can also name itself and answer pings.
        info.redis.protocol = ProtocolVersion::RESP3;
        let endpoint = info.addr.to_string();
        if let Some(pem) = ca_pem {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BusError::InvalidCa(e.to_string()))?;
            if certs.is_empty() {
                return Err(BusError::InvalidCa("no PEM certificate in it".into()));
            }
        }
        let client = match ca_pem {
            Some(pem) => redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.to_vec()),
                },
            )
            .map_err(|e| BusError::InvalidCa(e.to_string()))?,
            None => redis::Client::open(info).map_err(|e| BusError::InvalidUrl(e.to_string()))?,
        };

        let node = format!("{:016x}", rand::random::<u64>());
        let capacity = capacity.max(1);
        let shared = Arc::new(Shared {
            client_name: format!("kefu-bus-{}-{node}", std::process::id()),
            own_prefix: format!("{{\"node\":\"{node}\",").into_bytes(),
            node,
            endpoint,
            local: MemoryBus::new(capacity),
            health: Health::default(),
            publish_failures: AtomicU64::new(0),
            decode_failures: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            lag_micros: AtomicU64::new(0),
            lag_count: AtomicU64::new(0),
            resync: tokio::sync::watch::channel(0).0,
            commands: tokio::sync::watch::channel(None).0,
            drop_warning: Throttle::new(WARN_EVERY),
            decode_warning: Throttle::new(WARN_EVERY),
        });
        let (outgoing, queue) = mpsc::channel(capacity);
        let stop = CancellationToken::new();
        runtime.spawn(publisher::run(
            shared.clone(),
            client.clone(),
            queue,
            stop.clone(),
        ));
        runtime.spawn(subscriber::run(shared.clone(), client, stop.clone()));
        tracing::debug!(redis = %shared.endpoint, node = %shared.node, "event bus: connecting to Redis");
        Ok(Self {
            shared,
            outgoing,
            stop,
        })
    }

    /// This process's random id, carried in every envelope it publishes.
    pub fn node_id(&self) -> &str {
        &self.shared.node
    }

    /// The prefix of this bus's Redis connection names
    /// (`<prefix>-pub`, `<prefix>-sub`), as `CLIENT LIST` shows them.
    pub fn client_name(&self) -> &str {
        &self.shared.client_name
    }

    /// Limit counters in this Redis, over the bus's publishing connection
    /// (see [`RedisLimits`]). `secret` (the token signing key, which all
    /// replicas share) keys the digests that name the counters.
    pub fn limits(&self, secret: &[u8]) -> RedisLimits {
        RedisLimits::new(
            self.shared.commands.subscribe(),
            self.shared.endpoint.clone(),
            secret,
        )
    }

    /// Events that did not reach Redis (queue full, Redis down, a failed
    /// publish) since start — for metrics.
    pub fn publish_failures(&self) -> u64 {
        self.shared.publish_failures.load(Ordering::Relaxed)
    }

    /// Envelopes from other replicas that could not be decoded (say, an
    /// event kind from a newer version during a rolling upgrade).
    pub fn decode_failures(&self) -> u64 {
        self.shared.decode_failures.load(Ordering::Relaxed)
    }
}

impl Bus for RedisBus {
    fn publish(&self, topic: &Topic, event: Arc<Event>) {
        let key = topic.key();
        self.shared.local.publish_key(&key, event.clone());
        if !self.shared.health.publisher_up() {
            self.shared.dropped(1);
            return;
        }
        let out = Outgoing {
            channel: format!("{PREFIX}{key}"),
            event,
        };
        if self.outgoing.try_send(out).is_err() {
            self.shared.dropped(1);
        }
    }

    fn subscribe(&self, topic: &Topic) -> broadcast::Receiver<Arc<Event>> {
        self.shared.local.subscribe(topic)
    }

    fn healthy(&self) -> bool {
        self.shared.health.healthy()
    }

    fn resyncs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.resync.subscribe()
    }

    fn stats(&self) -> BusStats {
        let s = &self.shared;
        BusStats {
            published: s.published.load(Ordering::Relaxed),
            publish_failures: s.publish_failures.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            decode_failures: s.decode_failures.load(Ordering::Relaxed),
            lag_seconds_sum: s.lag_micros.load(Ordering::Relaxed) as f64 / 1e6,
            lag_count: s.lag_count.load(Ordering::Relaxed),
        }
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        // The subscriber stops now; the publisher stops once the queue (whose
        // only sender is about to be dropped with us) is drained.
        self.stop.cancel();
    }
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("endpoint", &self.shared.endpoint)
            .field("node", &self.shared.node)
            .field("healthy", &self.shared.health.healthy())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Counts events that will not reach the other replicas.
    fn dropped(&self, n: u64) {
        let total = self.publish_failures.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(since_last) = self.drop_warning.hit(n) {
            tracing::warn!(
                redis = %self.endpoint,
                dropped = since_last,
                dropped_total = total,
                "event bus: events did not reach the other replicas (Redis unavailable or the queue is full); \
                 their clients catch up with sync"
            );
        }
    }

    /// A `pmessage` push from the subscription: `[pattern, channel, payload]`.
    fn deliver(&self, data: &[Value]) {
        let [_, Value::BulkString(channel), Value::BulkString(payload)] = data else {
            return;
        };
        // Our own events were delivered locally when published.
        if payload.starts_with(&self.own_prefix) {
            return;
        }
        let Some(key) = channel
            .strip_prefix(PREFIX.as_bytes())
            .and_then(|k| std::str::from_utf8(k).ok())
        else {
            return;
        };
        if !self.local.has_subscribers(key) {
            return;
        }
        match serde_json::from_slice::<InEnvelope>(payload) {
            Ok(envelope) if envelope.node != self.node => {
                self.received.fetch_add(1, Ordering::Relaxed);
                if let Some(at) = envelope.at {
                    // Clocks of different hosts may disagree a little: a
                    // negative delay is skew, not news.
                    let lag = u64::try_from(now_micros() - at).unwrap_or(0);
                    self.lag_micros.fetch_add(lag, Ordering::Relaxed);
                    self.lag_count.fetch_add(1, Ordering::Relaxed);
                }
                self.local.publish_key(key, Arc::new(envelope.event));
            }
            Ok(_) => {}
            Err(e) => {
                let total = self.decode_failures.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(since_last) = self.decode_warning.hit(1) {
                    tracing::warn!(
                        channel = %String::from_utf8_lossy(channel),
                        error = %e,
                        undecodable = since_last,
                        undecodable_total = total,
                        "event bus: ignored an event from another replica that this version cannot read"
                    );
                }
            }
        }
    }

    fn encode(&self, event: &Event) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&OutEnvelope {
            node: &self.node,
            at: now_micros(),
            event,
        })
    }
}

/// Both tasks' connections: RESP3, timeouts on connect and on every command.
fn connection_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(TIMEOUT)
}

/// Names the connection so operators (and tests) can tell it apart.
async fn set_name(
    con: &mut redis::aio::MultiplexedConnection,
    name: &str,
) -> redis::RedisResult<()> {
    redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .exec_async(con)
        .await
}

/// Sleeps for the back-off, or returns false when the bus is stopped.
async fn pause(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn malformed_urls_fail_without_echoing_the_password() {
        for url in [
            "http://u:hunter2@localhost",
            "redis://u:hunter2@host:notaport",
            "not a url hunter2",
        ] {
            let err = RedisBus::connect(url, 8).unwrap_err().to_string();
            assert!(err.starts_with("invalid Redis URL"), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn outside_a_runtime_it_says_so() {
        assert!(matches!(
            RedisBus::connect("redis://127.0.0.1:1", 8),
            Err(BusError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn own_envelopes_are_recognised_by_their_prefix() {
        // Port 1: nothing listens, so the tasks only retry in the background.
        let bus = RedisBus::connect("redis://127.0.0.1:1", 8).unwrap();
        let ws = kefu_domain::WorkspaceId::new();
        let event = crate::testing::event(ws);
        let bytes = bus.shared.encode(&event).unwrap();
        assert!(bytes.starts_with(&bus.shared.own_prefix));
        let back: InEnvelope = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back.node, bus.node_id());
        assert_eq!(back.event, *event);
    }
}
