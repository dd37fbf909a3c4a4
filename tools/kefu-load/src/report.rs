//! What a run reports, as text and as JSON.

use crate::stats::Summary;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub url: String,
    pub label: Option<String>,
    pub visitors_requested: usize,
    pub visitors_connected: usize,
    pub agents_connected: usize,
    pub sessions_per_sec: f64,
    pub connect_secs: f64,
    pub server: Option<ServerMemory>,
    pub setup_errors: BTreeMap<String, u64>,
    pub phases: Vec<PhaseReport>,
    pub idle: Option<IdleReport>,
    pub find_max: Option<FindMax>,
    /// Socket-level trouble over the whole run (closes, read errors).
    pub socket_errors: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct ServerMemory {
    /// Before any session or socket was opened.
    pub rss_start_mib: f64,
    pub rss_end_mib: f64,
    pub hwm_end_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    pub name: String,
    pub target_rate: f64,
    pub duration_secs: f64,
    pub scheduled: u64,
    pub sent: u64,
    pub acked: u64,
    pub refused: u64,
    pub unanswered: u64,
    pub delivered: u64,
    pub delivered_expected: u64,
    /// Acks per second: acked / max(duration, last ack − start).
    pub achieved_rate: f64,
    pub ack: Summary,
    pub delivery: Summary,
    /// Due → dispatched: how well the load generator kept its schedule.
    pub dispatch_lag: Summary,
    /// Dispatched → written to the socket (part of the latencies).
    pub send_lag: Summary,
    pub errors: BTreeMap<String, u64>,
    pub server_rss_before_mib: Option<f64>,
    pub server_rss_after_mib: Option<f64>,
    pub server_hwm_mib: Option<f64>,
    /// Average cores the server process used during the phase.
    pub server_cpu_cores: Option<f64>,
    /// For `--find-max`: whether the phase met the bounds.
    pub sustained: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub sockets_open: usize,
    pub sockets_alive_at_end: usize,
    pub hold_secs: f64,
    pub ping_interval_secs: f64,
    pub pongs: u64,
    pub rss_before_sockets_mib: Option<f64>,
    pub rss_sockets_open_mib: Option<f64>,
    pub rss_end_mib: Option<f64>,
    pub hwm_mib: Option<f64>,
    /// (RSS with the sockets open − RSS before) / sockets.
    pub bytes_per_socket: Option<f64>,
    pub bytes_per_socket_at_end: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindMax {
    pub max_sustained_rate: Option<f64>,
    pub first_failing_rate: Option<f64>,
    pub ack_p99_bound_ms: f64,
    pub min_achieved_ratio: f64,
}

/// Whether a phase held its rate: acks kept up (≥ `min_ratio` of the
/// target), every message was answered, and ack p99 stayed within the bound.
pub fn sustained(p: &PhaseReport, ack_p99_bound_ms: f64, min_ratio: f64) -> bool {
    p.achieved_rate >= p.target_rate * min_ratio
        && p.unanswered == 0
        && p.refused == 0
        && p.ack.p99_ms <= ack_p99_bound_ms
}

fn lat(s: &crate::stats::Summary) -> String {
    format!(
        "p50 {:>7.2}  p95 {:>7.2}  p99 {:>7.2}  max {:>8.2} ms  (n={})",
        s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.count
    )
}

fn errors_line(e: &BTreeMap<String, u64>) -> String {
    if e.is_empty() {
        return "none".into();
    }
    e.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.1}{unit}"))
}

impl Report {
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "kefu-load {}{}",
            self.url,
            self.label
                .as_deref()
                .map(|l| format!(" [{l}]"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            o,
            "visitors {}/{} connected, agents {}; sessions {:.0}/s, sockets opened in {:.1}s",
            self.visitors_connected,
            self.visitors_requested,
            self.agents_connected,
            self.sessions_per_sec,
            self.connect_secs
        );
        if !self.setup_errors.is_empty() {
            let _ = writeln!(o, "setup errors: {}", errors_line(&self.setup_errors));
        }
        for p in &self.phases {
            let _ = writeln!(
                o,
                "\n== {} — target {:.0} msg/s for {:.0}s{}",
                p.name,
                p.target_rate,
                p.duration_secs,
                match p.sustained {
                    Some(true) => " — SUSTAINED",
                    Some(false) => " — NOT sustained",
                    None => "",
                }
            );
            let _ = writeln!(
                o,
                "sent {} / {} scheduled, acked {}, refused {}, unanswered {}, delivered {} / {} expected",
                p.sent, p.scheduled, p.acked, p.refused, p.unanswered, p.delivered, p.delivered_expected
            );
            let _ = writeln!(o, "achieved     {:.0} msg/s", p.achieved_rate);
            let _ = writeln!(o, "ack          {}", lat(&p.ack));
            let _ = writeln!(o, "delivery     {}", lat(&p.delivery));
            let _ = writeln!(o, "dispatch lag {}", lat(&p.dispatch_lag));
            let _ = writeln!(o, "write lag    {}", lat(&p.send_lag));
            let _ = writeln!(o, "errors       {}", errors_line(&p.errors));
            if p.server_rss_after_mib.is_some() {
                let _ = writeln!(
                    o,
                    "server       RSS {} → {} (peak {}), CPU {} cores",
                    opt(p.server_rss_before_mib, " MiB"),
                    opt(p.server_rss_after_mib, " MiB"),
                    opt(p.server_hwm_mib, " MiB"),
                    p.server_cpu_cores
                        .map_or_else(|| "-".into(), |c| format!("{c:.2}"))
                );
            }
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                o,
                "\n== idle: {} sockets held {:.0}s (ping every {:.0}s), {} alive at the end, {} pongs",
                i.sockets_open, i.hold_secs, i.ping_interval_secs, i.sockets_alive_at_end, i.pongs
            );
            let _ = writeln!(
                o,
                "server RSS before sockets {}, with sockets open {}, at the end {}, peak {}",
                opt(i.rss_before_sockets_mib, " MiB"),
                opt(i.rss_sockets_open_mib, " MiB"),
                opt(i.rss_end_mib, " MiB"),
                opt(i.hwm_mib, " MiB")
            );
            let _ = writeln!(
                o,
                "per socket: {} (open), {} (end of hold)",
                i.bytes_per_socket
                    .map_or_else(|| "-".into(), |b| format!("{:.1} KiB", b / 1024.0)),
                i.bytes_per_socket_at_end
                    .map_or_else(|| "-".into(), |b| format!("{:.1} KiB", b / 1024.0))
            );
        }
        if let Some(f) = &self.find_max {
            let _ = writeln!(
                o,
                "\n== max sustained rate: {} (first failing: {}); bounds: ack p99 ≤ {} ms, achieved ≥ {:.0}% of target, nothing unanswered",
                f.max_sustained_rate
                    .map_or_else(|| "none".into(), |r| format!("{r:.0} msg/s")),
                f.first_failing_rate
                    .map_or_else(|| "none".into(), |r| format!("{r:.0} msg/s")),
                f.ack_p99_bound_ms,
                f.min_achieved_ratio * 100.0
            );
        }
        if let Some(s) = &self.server {
            let _ = writeln!(
                o,
                "\nserver RSS at start {:.1} MiB, at the end {:.1} MiB, peak {:.1} MiB",
                s.rss_start_mib, s.rss_end_mib, s.hwm_end_mib
            );
        }
        let _ = writeln!(o, "socket errors: {}", errors_line(&self.socket_errors));
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(target: f64, achieved: f64, p99: f64) -> PhaseReport {
        let s = Summary {
            count: 1,
            mean_ms: p99,
            p50_ms: p99,
            p95_ms: p99,
            p99_ms: p99,
            max_ms: p99,
        };
        PhaseReport {
            name: "x".into(),
            target_rate: target,
            duration_secs: 10.0,
            scheduled: 10,
            sent: 10,
            acked: 10,
            refused: 0,
            unanswered: 0,
            delivered: 10,
            delivered_expected: 10,
            achieved_rate: achieved,
            ack: s,
            delivery: s,
            dispatch_lag: s,
            send_lag: s,
            errors: BTreeMap::new(),
            server_rss_before_mib: None,
            server_rss_after_mib: None,
            server_hwm_mib: None,
            server_cpu_cores: None,
            sustained: None,
        }
    }

    #[test]
    fn sustained_needs_rate_latency_and_answers() {
        assert!(sustained(&phase(1000.0, 990.0, 20.0), 100.0, 0.95));
        assert!(!sustained(&phase(1000.0, 900.0, 20.0), 100.0, 0.95));
        assert!(!sustained(&phase(1000.0, 1000.0, 150.0), 100.0, 0.95));
        let mut p = phase(1000.0, 1000.0, 20.0);
        p.unanswered = 1;
        assert!(!sustained(&p, 100.0, 0.95));
        let text = Report {
            phases: vec![phase(500.0, 500.0, 3.0)],
            ..Report::default()
        }
        .to_text();
        assert!(text.contains("target 500 msg/s"), "{text}");
    }
}
