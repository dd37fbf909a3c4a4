//! What can go wrong with an archive, each case named so an operator knows
//! what to do: find the right key, fetch the file again, upgrade Kefu.

use kefu_store::snapshot::SnapshotError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a Kefu backup archive (the file does not start with the archive signature)")]
    NotAnArchive,
    #[error("the archive is truncated: it ends {0}; the copy is incomplete (an interrupted upload or a full disk?)")]
    Truncated(&'static str),
    #[error("the archive is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the archive is encrypted with key {archive_key_id}, and no key given matches it ({given})"
    )]
    WrongKey {
        archive_key_id: String,
        given: String,
    },
    #[error("the archive is encrypted with key {0}: give its key file with --key-file")]
    NeedsKey(String),
    #[error("the archive was made by a newer Kefu ({what} {archive}, this binary reads up to {supported}): restore it with that version or newer")]
    Newer {
        what: &'static str,
        archive: u32,
        supported: u32,
    },
    #[error("restore check failed: {0}")]
    Mismatch(String),
    #[error("{0}")]
    Database(#[from] SnapshotError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("storage: {0}")]
    Storage(String),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = BackupError> = std::result::Result<T, E>;

impl BackupError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| from_io(context, source)
    }
}

/// An I/O error, unwrapping the archive errors the chunk reader raises
/// through `std::io::Read`.
pub(crate) fn from_io(context: String, e: std::io::Error) -> BackupError {
    if e.get_ref().is_some_and(|inner| inner.is::<BackupError>()) {
        if let Ok(inner) = e.into_inner().unwrap().downcast::<BackupError>() {
            return *inner;
        }
        unreachable!("checked above");
    }
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return BackupError::Truncated("in the middle of its data");
    }
    // zstd reports damaged frames as other I/O errors.
    if context == "decompressing" {
        return BackupError::Corrupt(format!("the compressed data is damaged ({e})"));
    }
    BackupError::Io { context, source: e }
}

pub(crate) fn wrap(e: BackupError) -> std::io::Error {
    std::io::Error::other(e)
}
