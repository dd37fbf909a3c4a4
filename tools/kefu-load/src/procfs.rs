//! The server's memory and CPU time, from /proc (Linux).

use serde::Serialize;

/// Memory figures from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Memory {
    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
    pub fn hwm_mib(&self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }
}

/// Parses `VmRSS:` and `VmHWM:` lines of a status file.
pub fn parse_status(text: &str) -> Memory {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
    }
}

pub fn memory(pid: u32) -> Option<Memory> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .map(|t| parse_status(&t))
}

/// User + system CPU time of a process in clock ticks, from
/// `/proc/PID/stat` (fields 14 and 15; the command name may hold spaces and
/// parentheses, so fields are counted after the last `)`).
pub fn parse_stat_ticks(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds used so far (assumes the usual 100 ticks per second).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_ticks(&text).map(|t| t as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let text = "Name:\tkefu\nVmPeak:\t  999 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   51200 kB\nThreads:\t5\n";
        let m = parse_status(text);
        assert_eq!(
            m,
            Memory {
                rss_kib: 51200,
                hwm_kib: 81234
            }
        );
        assert_eq!(m.rss_mib(), 50.0);
        assert_eq!(parse_status(""), Memory::default());
    }

    #[test]
    fn stat_ticks_skip_the_command_name() {
        let text = "4242 (kefu (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 25 0 0 20 0 5 0";
        assert_eq!(parse_stat_ticks(text), Some(175));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }
}
