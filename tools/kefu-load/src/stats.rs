//! Latency samples and their summary (nearest-rank percentiles).

use serde::Serialize;
use std::time::Duration;

/// Latency samples in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples(Vec<u64>);

impl Samples {
    pub fn record(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    /// Adds another set's samples.
    pub fn extend(&mut self, other: &Samples) {
        self.0.extend_from_slice(&other.0);
    }

    pub fn summary(&self) -> Summary {
        let mut v = self.0.clone();
        v.sort_unstable();
        Summary::of_sorted(&v)
    }
}

/// Count, mean and percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    fn of_sorted(v: &[u64]) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let mean = if v.is_empty() {
            0.0
        } else {
            v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1000.0
        };
        Self {
            count: v.len(),
            mean_ms: mean,
            p50_ms: ms(percentile(v, 50.0)),
            p95_ms: ms(percentile(v, 95.0)),
            p99_ms: ms(percentile(v, 99.0)),
            max_ms: ms(v.last().copied().unwrap_or(0)),
        }
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at
/// least `p` percent of the samples at or below it; 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 99.0), 0);
        // 10 samples: p99 is the largest, p50 the fifth.
        let v: Vec<u64> = (1..=10).collect();
        assert_eq!(percentile(&v, 99.0), 10);
        assert_eq!(percentile(&v, 50.0), 5);
    }

    #[test]
    fn summary_in_milliseconds() {
        let mut s = Samples::default();
        for ms in [4u64, 1, 3, 2, 100] {
            s.record(Duration::from_millis(ms));
        }
        let sum = s.summary();
        assert_eq!(sum.count, 5);
        assert_eq!(sum.p50_ms, 3.0);
        assert_eq!(sum.p99_ms, 100.0);
        assert_eq!(sum.max_ms, 100.0);
        assert!((sum.mean_ms - 22.0).abs() < 1e-9);
        let empty = Samples::default().summary();
        assert_eq!((empty.count, empty.p99_ms, empty.mean_ms), (0, 0.0, 0.0));
    }
}
