//! The CPU priority of backup work. A backup reads, hashes, compresses and
//! encrypts a whole database; on a small machine it must only use the CPU
//! time that chat traffic leaves idle.
//!
//! A nice value alone is not enough on Linux's EEVDF scheduler (6.6+): a
//! nice-19 thread still runs out its time slice before a woken request
//! handler gets the core, and a chat message crosses several threads (the
//! socket's worker, SQLite's writer, the reply), so each ack can wait
//! several slices. Measured in the data-loss drill on 2 cores: ack p99 ×2.5
//! during a backup at nice 19. A thread in the `SCHED_IDLE` class is
//! preempted at once by any normal thread that wakes (and, under an I/O
//! scheduler that honours classes such as BFQ, its I/O gets the idle class
//! too); an unprivileged process may always move itself there.
//!
//! And its threads share one CPU (`[backup] max_cpus = 1`): the backup's
//! reading, hashing and compression then leave the other cores' caches to
//! the server, and hand data to each other within one cache (on 2 cores the
//! backup was also faster; figures in docs/benchmarks.md, "Chat latency
//! during a backup, session 7").

/// Lowers the calling thread's CPU priority as `[backup]` says: `nice`
/// (1–19) lowers its nice value (what other systems get), `idle_class` puts
/// it in Linux's `SCHED_IDLE` class, `max_cpus` confines it to that many of
/// the CPUs it may use (the last ones; 0: all). Threads the calling thread
/// starts afterwards inherit all three, sqlx's SQLite worker included.
/// Failures are logged and ignored: a priority is a hint.
pub fn lower_priority(config: &crate::BackupConfig) {
    lower(config.nice, config.idle_class, config.max_cpus);
}

fn lower(nice: i32, idle_class: bool, max_cpus: usize) {
    if max_cpus > 0 {
        if let Err(e) = confine(max_cpus) {
            tracing::debug!(error = %e, "could not confine the backup to fewer CPUs");
        }
    }
    if nice > 0 {
        if let Err(e) = rustix::process::setpriority_process(None, nice.min(19)) {
            tracing::debug!(error = %e, "could not lower the backup's CPU priority");
        }
    }
    if idle_class {
        if let Err(e) = enter_idle_class() {
            tracing::debug!(error = %e, "could not move the backup to the idle scheduling class");
        }
    }
}

/// Keeps the calling thread on the last `n` CPUs of those it may use.
#[cfg(target_os = "linux")]
fn confine(n: usize) -> std::io::Result<()> {
    use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
    let allowed = sched_getaffinity(None)?;
    let mine: Vec<usize> = (0..CpuSet::MAX_CPU)
        .filter(|&c| allowed.is_set(c))
        .collect();
    if mine.len() <= n {
        return Ok(());
    }
    let mut set = CpuSet::new();
    for &c in &mine[mine.len() - n..] {
        set.set(c);
    }
    Ok(sched_setaffinity(None, &set)?)
}

#[cfg(not(target_os = "linux"))]
fn confine(_n: usize) -> std::io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn enter_idle_class() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` reads the `sched_param` it is given
    // (a valid, initialised value on our stack, alive for the call) and
    // touches no other memory of ours. pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn enter_idle_class() -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "SCHED_IDLE exists on Linux only",
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The calling thread's scheduling policy, from field 41 of
    /// /proc/thread-self/stat (0 = SCHED_OTHER, 5 = SCHED_IDLE).
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The command name (field 2) may hold spaces: count from its ")".
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(41 - 3).unwrap().parse().unwrap()
    }

    #[test]
    fn lower_priority_applies_to_the_thread_and_its_children() {
        let here = policy();
        let cpus_here = rustix::thread::sched_getaffinity(None).unwrap().count();
        std::thread::spawn(|| {
            let before = rustix::process::getpriority_process(None).unwrap();
            assert_eq!(policy(), 0);
            super::lower(before + 3, true, 1);
            assert_eq!(
                rustix::process::getpriority_process(None).unwrap(),
                before + 3
            );
            assert_eq!(policy(), libc::SCHED_IDLE as u32);
            let cpus = || rustix::thread::sched_getaffinity(None).unwrap().count();
            let confined = cpus();
            assert_eq!(confined, 1);
            let child = std::thread::spawn(move || {
                (
                    rustix::process::getpriority_process(None).unwrap(),
                    policy(),
                    cpus(),
                )
            });
            assert_eq!(
                child.join().unwrap(),
                (before + 3, libc::SCHED_IDLE as u32, 1)
            );
        })
        .join()
        .unwrap();
        // Other threads keep theirs.
        assert!(rustix::process::getpriority_process(None).unwrap() < 19);
        assert_eq!(policy(), here);
        assert_eq!(
            rustix::thread::sched_getaffinity(None).unwrap().count(),
            cpus_here
        );
    }

    #[test]
    fn zero_and_false_leave_the_thread_alone() {
        std::thread::spawn(|| {
            let before = rustix::process::getpriority_process(None).unwrap();
            super::lower(0, false, 0);
            assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
            assert_eq!(policy(), 0);
        })
        .join()
        .unwrap();
    }
}
