//! The files that hold secrets — the SQLite database (password hashes, TOTP
//! secrets, identity secrets) with its `-wal` and `-shm`, the signing key —
//! are private to the user Kefu runs as: new directories 0700, new files
//! 0600. SQLite gives its `-wal` and `-shm` the database file's mode, so
//! creating the database 0600 before SQLite opens it is enough. Existing
//! files keep their mode (an operator may share a group on purpose); wider
//! ones are reported at start-up.

use std::path::Path;

/// Creates `dir` (and missing parents) readable by the owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Creates an empty `file` readable by the owner only, unless it exists.
pub fn create_private_file(file: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The mode of `path` when group or others have any access to it (unix).
pub fn wider_than_private(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Logs a warning for each of `paths` that exists and is wider than
/// private; returns how many were.
pub fn warn_if_wider<'a>(paths: impl IntoIterator<Item = &'a Path>) -> usize {
    let mut n = 0;
    for p in paths {
        if let Some(mode) = wider_than_private(p) {
            n += 1;
            let fix = if p.is_dir() { "700" } else { "600" };
            tracing::warn!(
                path = %p.display(),
                mode = format!("{mode:o}"),
                "holds secrets but other local users can access it: chmod {fix} {}",
                p.display()
            );
        }
    }
    n
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_dirs_and_files_are_private_and_existing_ones_are_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let f = dir.join("kefu.db");
        create_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        assert_eq!(wider_than_private(&f), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        create_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o644, "an existing file keeps its mode");
        assert_eq!(wider_than_private(&f), Some(0o644));
        assert_eq!(warn_if_wider([f.as_path(), dir.as_path()]), 1);
        assert_eq!(wider_than_private(&dir.join("missing")), None);
    }
}
