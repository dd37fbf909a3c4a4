//! The access-token signing key: from configuration, or generated once into
//! the data dir (mode 0600). Never a built-in default.

use crate::config::Settings;
use anyhow::Context;
use kefu_domain::secrets::{Kek, Keyring};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::path::Path;

pub const KEY_FILE: &str = "signing.key";
/// The generated key-encryption key of a single node.
pub const KEK_FILE: &str = "secrets.key";

/// Returns the key bytes and whether a new key was generated.
pub fn signing_key(settings: &Settings) -> anyhow::Result<(SecretString, bool)> {
    if let Some(k) = &settings.auth.signing_key {
        return Ok((k.clone(), false));
    }
    // Replicas of a cluster each have a data directory of their own: keys
    // generated there would differ, and a token signed by one replica would
    // fail on the next. A cluster must be given its one key.
    anyhow::ensure!(
        settings.redis_url.is_none(),
        "redis_url is set (a cluster) but auth.signing_key is not: every replica must sign tokens \
         with the same key. Make one with `openssl rand -hex 32 > signing.key` and give it to every \
         replica as auth.signing_key_file = \"/path/to/signing.key\" (or KEFU_AUTH__SIGNING_KEY_FILE)"
    );
    let path = settings.data_dir.join(KEY_FILE);
    if path.exists() {
        let key = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let key = key.trim().to_string();
        kefu_store::private_files::warn_if_wider([path.as_path()]);
        anyhow::ensure!(
            key.len() >= 32,
            "{} is too short: delete it to generate a new key",
            path.display()
        );
        return Ok((SecretString::from(key), false));
    }
    kefu_store::private_files::create_private_dir(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &key)?;
    Ok((SecretString::from(key), true))
}

/// The key-encryption keyring: `[secrets] key` and `previous_keys`, or on
/// a single node a key generated once into `<data_dir>/secrets.key` (0600).
/// Returns the keyring and whether a new key was generated.
pub fn keyring(settings: &Settings) -> anyhow::Result<(Keyring, bool)> {
    let previous = match &settings.secrets.previous_keys {
        Some(text) => text
            .expose_secret()
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|k| !k.is_empty())
            .map(|k| {
                Kek::parse_hex(k).ok_or_else(|| {
                    anyhow::anyhow!(
                        "secrets.previous_keys: every key must be 64 hex characters (32 bytes)"
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    if let Some(k) = &settings.secrets.key {
        let primary = Kek::parse_hex(k.expose_secret()).ok_or_else(|| {
            anyhow::anyhow!(
                "secrets.key must be 64 hex characters (32 random bytes): make one with \
                 `kefu keys generate > secrets.key` or `openssl rand -hex 32 > secrets.key`"
            )
        })?;
        return Ok((Keyring::new(primary, previous), false));
    }
    anyhow::ensure!(
        settings.redis_url.is_none(),
        "redis_url is set (a cluster) but secrets.key is not: every replica must open the \
         database's sealed secrets with the same key-encryption key. Make one with \
         `kefu keys generate > secrets.key` (or `openssl rand -hex 32`) and give it to every \
         replica as secrets.key_file = \"/path/to/secrets.key\" (or KEFU_SECRETS__KEY_FILE)"
    );
    let path = settings.data_dir.join(KEK_FILE);
    if path.exists() {
        kefu_store::private_files::warn_if_wider([path.as_path()]);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let primary = Kek::parse_hex(&text)
            .ok_or_else(|| anyhow::anyhow!("{} must hold 64 hex characters", path.display()))?;
        return Ok((Keyring::new(primary, previous), false));
    }
    kefu_store::private_files::create_private_dir(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let primary = Kek::generate();
    write_private(&path, &format!("{}\n", primary.to_hex()))?;
    Ok((Keyring::new(primary, previous), true))
}

/// The keyring if a key exists (configured, or already in the data dir),
/// without generating one.
pub fn keyring_if_any(settings: &Settings) -> anyhow::Result<Option<Keyring>> {
    if settings.secrets.key.is_some() || settings.data_dir.join(KEK_FILE).exists() {
        return Ok(Some(keyring(settings)?.0));
    }
    Ok(None)
}

/// Puts a restored key-encryption key into the data dir (only where none
/// exists and none is configured).
pub fn write_kek(settings: &Settings, key_hex: &str) -> anyhow::Result<Option<std::path::PathBuf>> {
    if settings.secrets.key.is_some() || settings.data_dir.join(KEK_FILE).exists() {
        return Ok(None);
    }
    kefu_store::private_files::create_private_dir(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let path = settings.data_dir.join(KEK_FILE);
    write_private(&path, &format!("{}\n", key_hex.trim()))?;
    Ok(Some(path))
}

/// The signing key if one exists (configured, or already in the data dir),
/// without generating one.
pub fn signing_key_if_any(settings: &Settings) -> anyhow::Result<(Option<SecretString>, bool)> {
    if settings.auth.signing_key.is_some() || settings.data_dir.join(KEY_FILE).exists() {
        let (k, generated) = signing_key(settings)?;
        return Ok((Some(k), generated));
    }
    Ok((None, false))
}

/// Puts a restored signing key into the data dir (only where none exists).
pub fn write_signing_key(settings: &Settings, key: &str) -> anyhow::Result<std::path::PathBuf> {
    kefu_store::private_files::create_private_dir(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let path = settings.data_dir.join(KEY_FILE);
    write_private(&path, key.trim())?;
    Ok(path)
}

/// Creates the file only if absent (two processes starting at once must not
/// overwrite each other's key), readable by the owner only.
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

pub fn expose(key: &SecretString) -> &[u8] {
    key.expose_secret().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let (k1, created) = signing_key(&settings).unwrap();
        assert!(created);
        assert_eq!(k1.expose_secret().len(), 64);
        let (k2, created) = signing_key(&settings).unwrap();
        assert!(!created);
        assert_eq!(k1.expose_secret(), k2.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(settings.data_dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(&settings.data_dir)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700, "a new data directory is private");
        }
    }

    /// Issue 14, finding 10: replicas started without a shared key each
    /// made their own, and tokens then failed across replicas.
    #[test]
    fn a_cluster_replica_needs_a_configured_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            redis_url: Some("redis://127.0.0.1:6379".into()),
            ..Settings::default()
        };
        let e = signing_key(&settings).unwrap_err().to_string();
        assert!(e.contains("openssl rand -hex 32"), "{e}");
        assert!(
            !settings.data_dir.join(KEY_FILE).exists(),
            "nothing generated"
        );
        settings.auth.signing_key = Some("k".repeat(64).into());
        assert!(signing_key(&settings).is_ok());
    }

    #[test]
    fn the_key_encryption_key_is_generated_once_privately_and_a_cluster_needs_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let (k1, created) = keyring(&settings).unwrap();
        assert!(created);
        let (k2, created) = keyring(&settings).unwrap();
        assert!(!created);
        assert_eq!(k1.primary().id(), k2.primary().id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(settings.data_dir.join(KEK_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Configured keys: the primary and the previous ones.
        let old = Kek::generate();
        let new = Kek::generate();
        settings.secrets.key = Some(new.to_hex().into());
        settings.secrets.previous_keys = Some(format!("{}\n", old.to_hex()).into());
        let (k, created) = keyring(&settings).unwrap();
        assert!(!created);
        assert_eq!(k.primary().id(), new.id());
        assert_eq!(k.previous()[0].id(), old.id());
        settings.secrets.key = Some("short".to_string().into());
        let e = keyring(&settings).unwrap_err().to_string();
        assert!(e.contains("64 hex"), "{e}");
        // A cluster replica refuses to generate one of its own.
        let other = tempfile::tempdir().unwrap();
        let cluster = Settings {
            data_dir: other.path().join("data"),
            redis_url: Some("redis://127.0.0.1:6379".into()),
            ..Settings::default()
        };
        let e = keyring(&cluster).unwrap_err().to_string();
        assert!(e.contains("secrets.key"), "{e}");
        assert!(!cluster.data_dir.join(KEK_FILE).exists());
    }
}
