//! The standard `process_*` series (as every Prometheus client library
//! exports them, unprefixed, so node and container dashboards line up) and
//! the tokio runtime's gauges, read from `/proc/self` and the runtime at
//! each scrape. On a system without `/proc` the series read from it are
//! left out rather than reported as zero (the start time stays).

use crate::metrics::{counter, gauge};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

/// What one reading of `/proc/self` gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: i64,
    pub virtual_bytes: i64,
    pub threads: i64,
    pub open_fds: i64,
    pub max_fds: i64,
}

/// Parses `/proc/self/stat` (fields after the command, which may hold
/// spaces and parentheses) and `/proc/self/statm`.
pub(crate) fn parse(
    stat: &str,
    statm: &str,
    ticks: u64,
    page: u64,
) -> Option<(f64, i64, i64, i64)> {
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the command: state is field 3, so field n is f[n - 3].
    let utime: u64 = f.get(14 - 3)?.parse().ok()?;
    let stime: u64 = f.get(15 - 3)?.parse().ok()?;
    let threads: i64 = f.get(20 - 3)?.parse().ok()?;
    let mut m = statm.split_whitespace();
    let size: i64 = m.next()?.parse().ok()?;
    let resident: i64 = m.next()?.parse().ok()?;
    let page = i64::try_from(page).ok()?;
    let cpu = (utime + stime) as f64 / ticks.max(1) as f64;
    Some((cpu, resident * page, size * page, threads))
}

fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    let page = rustix::param::page_size() as u64;
    let (cpu_seconds, resident_bytes, virtual_bytes, threads) = parse(&stat, &statm, ticks, page)?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    let max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    Some(ProcessStats {
        cpu_seconds,
        resident_bytes,
        virtual_bytes,
        threads,
        open_fds,
        max_fds,
    })
}

#[derive(Debug)]
pub(crate) struct ProcessCollector {
    pub started: f64,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        gauge(
            &mut e,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            self.started,
        )?;
        if let Some(p) = read() {
            counter(
                &mut e,
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                p.cpu_seconds,
            )?;
            gauge(
                &mut e,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                p.resident_bytes,
            )?;
            gauge(
                &mut e,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                p.virtual_bytes,
            )?;
            gauge(
                &mut e,
                "process_threads",
                "Number of OS threads in the process",
                p.threads,
            )?;
            gauge(
                &mut e,
                "process_open_fds",
                "Number of open file descriptors",
                p.open_fds,
            )?;
            gauge(
                &mut e,
                "process_max_fds",
                "Maximum number of open file descriptors (the soft limit)",
                p.max_fds,
            )?;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let m = rt.metrics();
            gauge(
                &mut e,
                "kefu_runtime_workers",
                "Worker threads of the async runtime",
                m.num_workers() as i64,
            )?;
            gauge(
                &mut e,
                "kefu_runtime_alive_tasks",
                "Tasks alive in the async runtime",
                m.num_alive_tasks() as i64,
            )?;
            gauge(
                &mut e,
                "kefu_runtime_global_queue_depth",
                "Tasks waiting in the async runtime's global queue (a backlog means the workers cannot keep up)",
                m.global_queue_depth() as i64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_with_spaces_and_parentheses_does_not_shift_the_fields() {
        // pid (comm) state ppid … utime(14) stime(15) … num_threads(20)
        let stat =
            "42 (kefu (worker) x) S 1 42 42 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 7 0 100 2000 300";
        let statm = "5000 1200 300 10 0 900 0";
        let (cpu, rss, vsz, threads) = parse(stat, statm, 100, 4096).unwrap();
        assert!((cpu - 3.0).abs() < 1e-9, "{cpu}");
        assert_eq!((rss, vsz, threads), (1200 * 4096, 5000 * 4096, 7));
        assert_eq!(parse("garbage", statm, 100, 4096), None);
    }

    #[test]
    fn this_process_reads_sensibly() {
        let p = read().expect("/proc/self on Linux");
        assert!(p.resident_bytes > 1 << 20, "{p:?}");
        assert!(p.threads >= 1 && p.open_fds >= 3, "{p:?}");
        assert!(p.max_fds >= p.open_fds, "{p:?}");
        assert!(p.cpu_seconds >= 0.0);
    }
}
