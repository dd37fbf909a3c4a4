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
// One audited FFI call (`sched_setscheduler`, which rustix does not wrap)
// lives in `priority`; everything else is safe code.
#![deny(unsafe_code)]

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

mod priority;
pub use priority::lower_priority;

pub use archive::{ArchiveReader, ArchiveWriter, Event};
pub use config::{BackupConfig, S3Config};
pub use error::{BackupError, Result};
pub use key::{signing_key_id, BackupKey, KeyError};

/// The name of the key-encryption key among an archive's secrets
/// (`--include-secrets`), beside `signing_key`.
pub const SECRET_KEK: &str = "secrets_key";
pub use progress::Progress;
pub use run::{
    create, restore, verify, CreateOptions, Created, RestoreOptions, Restored, Verified,
};
