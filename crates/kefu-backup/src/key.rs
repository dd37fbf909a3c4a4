//! Backup keys: 32 random bytes kept in a file as 64 hex characters (made by
//! `openssl rand -hex 32 > F`). An archive names its key by an id derived
//! from the key (an HMAC, so the id reveals nothing of the key), which lets
//! a restore pick the right one of several keys while keys are rotated.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;

#[derive(Clone)]
pub struct BackupKey {
    pub(crate) bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackupKey({})", self.id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the key file {path} must hold 64 hex characters (32 random bytes); make one with `openssl rand -hex 32 > {path}`")]
    Format { path: String },
}

impl BackupKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            id: key_id(&bytes),
            bytes,
        }
    }

    /// Parses the key file's text: 64 hex characters, surrounding
    /// whitespace (the trailing newline) ignored.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&t[i * 2..i * 2 + 2], 16).ok()?;
        }
        Some(Self::from_bytes(bytes))
    }

    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).ok_or(KeyError::Format { path: shown })
    }

    /// A short public name of the key: 16 hex characters.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A public name for the token signing key (which key a backup was made
/// under), derived so that it reveals nothing of the key.
pub fn signing_key_id(key: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(b"kefu signing key id v1");
    hex(&mac.finalize().into_bytes()[..8])
}

fn key_id(bytes: &[u8; 32]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(bytes).expect("any key length");
    mac.update(b"kefu backup key id v1");
    hex(&mac.finalize().into_bytes()[..8])
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_output_and_refuses_others() {
        let text = format!("{}\n", "ab".repeat(32));
        let k = BackupKey::parse(&text).unwrap();
        assert_eq!(k.bytes, [0xab; 32]);
        assert_eq!(k.id().len(), 16);
        assert!(BackupKey::parse(&"ab".repeat(31)).is_none());
        assert!(BackupKey::parse(&"zz".repeat(32)).is_none());
        let other = BackupKey::parse(&"cd".repeat(32)).unwrap();
        assert_ne!(k.id(), other.id());
    }
}
