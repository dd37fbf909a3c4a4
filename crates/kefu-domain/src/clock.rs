//! The clock port: services ask it for "now" so tests can control time.

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time, truncated to microseconds so that values survive a round
/// trip through PostgreSQL (`timestamptz` keeps microseconds) unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        truncate_to_micros(Utc::now())
    }
}

pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// The current time as stores keep it (microsecond precision).
pub fn truncate_to_micros_now() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}
