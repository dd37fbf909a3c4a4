//! Which archives to keep: the newest archive of each of the last N hours,
//! days, ISO weeks and months (the rule restic and borg call `keep-*`), and
//! always the newest archive of all. The rest may be deleted.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub hourly: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

/// A time's bucket: two archives in one bucket are one hour, day, ….
type Bucket = fn(&DateTime<Utc>) -> (i32, u32, u32, u32);

/// The indices of `times` to keep.
pub fn keep(times: &[DateTime<Utc>], p: &Policy) -> BTreeSet<usize> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|a, b| times[*b].cmp(&times[*a]));
    let mut kept = BTreeSet::new();
    if let Some(newest) = order.first() {
        kept.insert(*newest);
    }
    let buckets: [(u32, Bucket); 4] = [
        (p.hourly, |t| (t.year(), t.ordinal(), t.hour(), 0)),
        (p.daily, |t| (t.year(), t.ordinal(), 0, 0)),
        (p.weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week(), 0, 1)
        }),
        (p.monthly, |t| (t.year(), t.month(), 0, 2)),
    ];
    for (count, bucket) in buckets {
        let mut last = None;
        let mut n = 0;
        for &i in &order {
            if n >= count {
                break;
            }
            let b = bucket(&times[i]);
            if last != Some(b) {
                kept.insert(i);
                last = Some(b);
                n += 1;
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keeps_the_newest_of_each_bucket() {
        // Every 30 minutes for 10 days.
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let times: Vec<_> = (0..480)
            .map(|i| start + chrono::Duration::minutes(30 * i))
            .collect();
        let p = Policy {
            hourly: 24,
            daily: 7,
            weekly: 2,
            monthly: 1,
        };
        let kept = keep(&times, &p);
        // 24 hours (newest per hour), plus one per day for 7 days (the
        // newest day is already in), plus older weeks and the month.
        assert!(kept.contains(&479));
        assert!(
            !kept.contains(&478),
            "the older half-hour of the newest hour goes"
        );
        assert!(kept.contains(&477));
        let hourly: Vec<_> = kept.iter().filter(|i| **i >= 480 - 48).collect();
        assert_eq!(hourly.len(), 24);
        assert!(kept.len() <= 24 + 7 + 2 + 1);
        // The newest of each of the last 7 days is kept.
        for d in 3..10 {
            let last_of_day = (d + 1) * 48 - 1;
            assert!(kept.contains(&last_of_day), "day {d}");
        }
        // Nothing to keep: still the newest.
        let none = Policy {
            hourly: 0,
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(keep(&times, &none), BTreeSet::from([479]));
        assert!(keep(&[], &p).is_empty());
    }
}
