//! Kefu's backups: a consistent online snapshot of every table written as an
//! engine-neutral archive (zstd, optionally encrypted and authenticated with
//! XChaCha20-Poly1305 in the STREAM construction), verified end to end, and
//! restored into an empty database of either engine in one unit that is
//! checked (every table's row count and digest, the audit chains) before it
//! becomes visible. Destinations are a directory or S3; retention keeps N
//! hourly, daily, weekly and monthly archives.
//!
//! Memory is bounded by a few buffers whatever the database's size: rows are
//! streamed from the snapshot, encoded in 256 KiB blocks, compressed and
//! encrypted in 64 KiB chunks on a blocking thread behind a bounded channel;
//! a restore reads the same way and inserts in batches of at most 2,000 rows
//! or 4 MiB.
#![forbid(unsafe_code)]

mod archive;
mod chunk;
pub mod config;
pub mod dest;
mod error;
pub mod format;
mod key;
pub mod progress;
pub mod retention;
mod run;
pub mod schedule;

/// Lowers the calling thread's CPU priority to `nice` (Linux: per thread;
/// threads it starts afterwards inherit it), so a backup yields the cores to
/// the server's request handling. 0 leaves it alone; failures are ignored
/// (a priority is a hint).
pub fn lower_priority(nice: i32) {
    if nice > 0 {
        if let Err(e) = rustix::process::setpriority_process(None, nice.min(19)) {
            tracing::debug!(error = %e, "could not lower the backup's CPU priority");
        }
    }
}

pub use archive::{ArchiveReader, ArchiveWriter, Event};
pub use config::{BackupConfig, S3Config};
pub use error::{BackupError, Result};
pub use key::{signing_key_id, BackupKey, KeyError};
pub use progress::Progress;
pub use run::{
    create, restore, verify, CreateOptions, Created, RestoreOptions, Restored, Verified,
};

#[cfg(test)]
mod tests {
    #[test]
    fn lower_priority_applies_to_the_thread_and_its_children() {
        std::thread::spawn(|| {
            let before = rustix::process::getpriority_process(None).unwrap();
            super::lower_priority(before + 3);
            assert_eq!(
                rustix::process::getpriority_process(None).unwrap(),
                before + 3
            );
            let child = std::thread::spawn(|| rustix::process::getpriority_process(None).unwrap());
            assert_eq!(child.join().unwrap(), before + 3);
        })
        .join()
        .unwrap();
        // Other threads keep theirs.
        let here = rustix::process::getpriority_process(None).unwrap();
        assert!(here < 19);
    }
}
