//! The open-loop schedule: message `i` is due at `start + i / rate`, sent
//! by visitor `i mod n`, whether or not earlier messages were answered.
//! Latency is measured from the due time, so a stalled server (or a stalled
//! load generator) shows up in the figures instead of silently lowering the
//! offered load (coordinated omission).

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub rate: f64,
    pub total: u64,
}

impl Schedule {
    /// `rate` messages per second for `duration`.
    pub fn new(start: Instant, rate: f64, duration: Duration) -> Self {
        let rate = rate.max(0.001);
        Self {
            start,
            rate,
            total: (rate * duration.as_secs_f64()).round() as u64,
        }
    }

    /// When message `i` is due.
    pub fn due(&self, i: u64) -> Instant {
        self.start + self.offset(i)
    }

    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// Which of `visitors` sends message `i`: round robin, so each visitor
    /// sends evenly spaced messages at `rate / visitors`.
    pub fn visitor(i: u64, visitors: usize) -> usize {
        (i % visitors.max(1) as u64) as usize
    }
}

/// `30`, `30s`, `500ms`, `2m`, `1.5s`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let t = raw.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration (e.g. 30s, 500ms, 2m)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{raw}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_round_robin() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 2000.0, Duration::from_secs(10));
        assert_eq!(s.total, 20_000);
        assert_eq!(s.due(0), t0);
        assert_eq!(s.due(1) - t0, Duration::from_micros(500));
        assert_eq!(s.due(2000) - t0, Duration::from_secs(1));
        assert_eq!(s.offset(s.total), Duration::from_secs(10));
        // Each of 4 visitors gets every 4th message.
        let firsts: Vec<usize> = (0..8).map(|i| Schedule::visitor(i, 4)).collect();
        assert_eq!(firsts, [0, 1, 2, 3, 0, 1, 2, 3]);
        assert_eq!(Schedule::visitor(5, 0), 0, "no division by zero");
    }

    #[test]
    fn fractional_rates() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 0.5, Duration::from_secs(9));
        assert_eq!(s.total, 5, "4.5 rounds to 5");
        assert_eq!(s.due(3) - t0, Duration::from_secs(6));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
