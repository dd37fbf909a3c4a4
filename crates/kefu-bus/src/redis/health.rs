//! The bus's health as two links (publisher, subscriber) — healthy when both
//! are up — with one log line per change of state; the reconnect back-off;
//! and a throttle for repeated warnings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    Publisher,
    Subscriber,
}

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Publisher => "publisher",
            Link::Subscriber => "subscriber",
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Health {
    /// Read on every publish and every `/readyz`: lock-free.
    publisher: AtomicBool,
    healthy: AtomicBool,
    /// Transitions are decided under the lock, so two links changing at
    /// once log exactly one line.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    publisher: bool,
    subscriber: bool,
    /// Was it ever healthy (start-up failures read differently)?
    ever_up: bool,
    /// The current outage has been reported.
    reported: bool,
    down_since: Option<Instant>,
}

impl Health {
    pub(super) fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub(super) fn publisher_up(&self) -> bool {
        self.publisher.load(Ordering::Acquire)
    }

    pub(super) fn up(&self, link: Link, endpoint: &str) {
        let mut s = self.state.lock().expect("health lock");
        s.set(link, true);
        if link == Link::Publisher {
            self.publisher.store(true, Ordering::Release);
        }
        if s.publisher && s.subscriber && !self.healthy() {
            self.healthy.store(true, Ordering::Release);
            let down_ms = s.down_since.take().map(|t| t.elapsed().as_millis() as u64);
            if s.ever_up {
                tracing::info!(redis = %endpoint, down_ms, "event bus: Redis reconnected; replicas hear each other again");
            } else {
                tracing::info!(redis = %endpoint, "event bus: connected to Redis");
            }
            s.ever_up = true;
            s.reported = false;
        }
    }

    /// `reason` is a Redis or I/O error: it names no credentials.
    pub(super) fn down(&self, link: Link, endpoint: &str, reason: &str) {
        let mut s = self.state.lock().expect("health lock");
        s.set(link, false);
        if link == Link::Publisher {
            self.publisher.store(false, Ordering::Release);
        }
        self.healthy.store(false, Ordering::Release);
        if s.down_since.is_none() {
            s.down_since = Some(Instant::now());
        }
        if s.reported {
            tracing::debug!(redis = %endpoint, link = link.name(), error = %reason, "event bus: Redis still unavailable");
            return;
        }
        s.reported = true;
        if s.ever_up {
            tracing::warn!(
                redis = %endpoint,
                link = link.name(),
                error = %reason,
                "event bus: lost Redis; events no longer reach other replicas (their clients catch up with sync); \
                 /readyz reports the bus unavailable; reconnecting"
            );
        } else {
            tracing::warn!(
                redis = %endpoint,
                link = link.name(),
                error = %reason,
                "event bus: cannot reach Redis at start-up; serving this replica's own clients meanwhile \
                 (/readyz reports the bus unavailable) and retrying"
            );
        }
    }
}

impl State {
    fn set(&mut self, link: Link, up: bool) {
        match link {
            Link::Publisher => self.publisher = up,
            Link::Subscriber => self.subscriber = up,
        }
    }
}

/// Capped exponential back-off with ±20 % jitter, so replicas that lost
/// Redis together do not reconnect in lock-step.
#[derive(Debug)]
pub(super) struct Backoff {
    next: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    pub(super) fn new() -> Self {
        Self { next: Self::MIN }
    }

    pub(super) fn reset(&mut self) {
        self.next = Self::MIN;
    }

    pub(super) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        base.mul_f64(rand::random::<f64>() * 0.4 + 0.8)
    }
}

/// Lets a warning through at most once per period; counts what it held back.
#[derive(Debug)]
pub(super) struct Throttle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    pub(super) fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Records `n` occurrences; `Some(count since the last warning)` when a
    /// warning is due now.
    pub(super) fn hit(&self, n: u64) -> Option<u64> {
        let mut s = self.state.lock().expect("throttle lock");
        s.1 += n;
        let due = s.0.is_none_or(|last| last.elapsed() >= self.every);
        due.then(|| {
            s.0 = Some(Instant::now());
            std::mem::take(&mut s.1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_only_with_both_links() {
        let h = Health::default();
        assert!(!h.healthy());
        h.up(Link::Publisher, "x");
        assert!(!h.healthy() && h.publisher_up());
        h.up(Link::Subscriber, "x");
        assert!(h.healthy());
        h.down(Link::Subscriber, "x", "gone");
        assert!(!h.healthy() && h.publisher_up());
        h.down(Link::Publisher, "x", "gone");
        assert!(!h.publisher_up());
        h.up(Link::Publisher, "x");
        h.up(Link::Subscriber, "x");
        assert!(h.healthy());
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        let mut b = Backoff::new();
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(80) && delays[0] <= Duration::from_millis(120));
        assert!(delays[1] >= Duration::from_millis(160));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(6)));
        assert!(delays[9] >= Duration::from_secs(4));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }

    #[test]
    fn throttle_counts_what_it_held_back() {
        let t = Throttle::new(Duration::from_secs(3600));
        assert_eq!(t.hit(1), Some(1));
        assert_eq!(t.hit(1), None);
        assert_eq!(t.hit(5), None);
        let t = Throttle::new(Duration::ZERO);
        assert_eq!(t.hit(2), Some(2));
        assert_eq!(t.hit(1), Some(1));
    }
}
