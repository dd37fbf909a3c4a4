//! Secrets at rest: values sealed with a key-encryption key (KEK).
//!
//! TOTP secrets, inbox identity secrets and the audit chain's key are stored
//! sealed, never in clear: XChaCha20-Poly1305 (the `chacha20poly1305` crate,
//! RustCrypto; a random 192-bit nonce per value, so no nonce bookkeeping)
//! under a 256-bit KEK that lives outside the database (a file or the
//! environment). The associated data binds each ciphertext to its place
//! (`users.totp_secret:<user id>`), so someone who can write the database
//! cannot move a sealed value from one row to another.
//!
//! Stored form: `kek1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`. The
//! key id (16 hex characters, an HMAC of the key, revealing nothing of it)
//! names the KEK, so a [`Keyring`] holding the new key and the previous ones
//! opens everything during a rotation, and seals only under the new one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The audit chain key's name in the `sealed_keys` table.
pub const AUDIT_CHAIN_KEY: &str = "audit_chain";

/// The prefix of a sealed value; anything else in a secret column is a
/// plaintext value left by a version before sealing.
pub const SEALED_PREFIX: &str = "kek1:";

/// One key-encryption key: 32 random bytes.
#[derive(Clone)]
pub struct Kek {
    bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id)
    }
}

impl Kek {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("any key length");
        mac.update(b"kefu key-encryption key id v1");
        let id = hex(&mac.finalize().into_bytes()[..8]);
        Self { bytes, id }
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// Parses a key file's text: 64 hex characters (`openssl rand -hex 32`),
    /// surrounding whitespace ignored.
    pub fn parse_hex(text: &str) -> Option<Self> {
        parse_hex32(text).map(Self::from_bytes)
    }

    /// The key as its file holds it (64 hex characters).
    pub fn to_hex(&self) -> String {
        hex(&self.bytes)
    }

    /// The key's public name: 16 hex characters.
    pub fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret is sealed with key-encryption key {0}, which is not configured (configure it as secrets.key, or in secrets.previous_keys during a rotation)")]
    UnknownKey(String),
    #[error("a sealed secret does not open: it was altered, moved to another row, or is corrupt")]
    Forged,
    #[error("a sealed secret is malformed")]
    Malformed,
}

/// The primary KEK (seals) and the previous ones (open only).
#[derive(Debug, Clone)]
pub struct Keyring {
    primary: Kek,
    previous: Vec<Kek>,
}

/// A value taken out of its sealed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub plaintext: String,
    /// How it was stored: sealed under the primary key (`Current`), under a
    /// previous key, or in clear by an older version.
    pub state: SealState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealState {
    Current,
    PreviousKey(String),
    Plaintext,
}

impl Keyring {
    pub fn new(primary: Kek, previous: Vec<Kek>) -> Self {
        let previous = previous
            .into_iter()
            .filter(|k| k.id != primary.id)
            .collect();
        Self { primary, previous }
    }

    /// A keyring of one fresh random key: for tests and throwaway stores.
    pub fn ephemeral() -> Self {
        Self::new(Kek::generate(), Vec::new())
    }

    pub fn primary(&self) -> &Kek {
        &self.primary
    }

    pub fn previous(&self) -> &[Kek] {
        &self.previous
    }

    fn find(&self, id: &str) -> Option<&Kek> {
        std::iter::once(&self.primary)
            .chain(&self.previous)
            .find(|k| k.id == id)
    }

    /// Seals `plaintext` for the place `context` names.
    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        let aead = XChaCha20Poly1305::new((&self.primary.bytes).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("encryption of an in-memory buffer cannot fail");
        let mut blob = Vec::with_capacity(24 + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        format!(
            "{SEALED_PREFIX}{}:{}",
            self.primary.id,
            URL_SAFE_NO_PAD.encode(blob)
        )
    }

    /// Opens a stored value sealed for `context`. A value without the sealed
    /// prefix is a plaintext left by an older version: returned as it is,
    /// marked so that a re-seal pass can seal it.
    pub fn open(&self, context: &str, stored: &str) -> Result<Opened, SecretError> {
        let Some(rest) = stored.strip_prefix(SEALED_PREFIX) else {
            return Ok(Opened {
                plaintext: stored.to_string(),
                state: SealState::Plaintext,
            });
        };
        let (id, b64) = rest.split_once(':').ok_or(SecretError::Malformed)?;
        let key = self
            .find(id)
            .ok_or_else(|| SecretError::UnknownKey(id.to_string()))?;
        let blob = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| SecretError::Malformed)?;
        if blob.len() < 24 + 16 {
            return Err(SecretError::Malformed);
        }
        let aead = XChaCha20Poly1305::new((&key.bytes).into());
        let pt = aead
            .decrypt(
                XNonce::from_slice(&blob[..24]),
                Payload {
                    msg: &blob[24..],
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Forged)?;
        let plaintext = String::from_utf8(pt).map_err(|_| SecretError::Malformed)?;
        let state = if key.id == self.primary.id {
            SealState::Current
        } else {
            SealState::PreviousKey(key.id.clone())
        };
        Ok(Opened { plaintext, state })
    }

    /// The id of the key a stored value is sealed under (None: plaintext).
    pub fn key_id_of(stored: &str) -> Option<&str> {
        stored
            .strip_prefix(SEALED_PREFIX)
            .and_then(|r| r.split_once(':'))
            .map(|(id, _)| id)
    }
}

/// Where each kind of secret is sealed: the associated data.
pub mod context {
    pub fn totp_secret(user_id: uuid::Uuid) -> String {
        format!("users.totp_secret:{user_id}")
    }
    pub fn identity_secret(inbox_id: uuid::Uuid) -> String {
        format!("inboxes.identity_secret:{inbox_id}")
    }
    pub fn oidc_client_secret(workspace_id: uuid::Uuid) -> String {
        format!("oidc_configs.client_secret:{workspace_id}")
    }
    pub fn sealed_key(name: &str) -> String {
        format!("sealed_keys:{name}")
    }
}

/// 64 hex characters (surrounding whitespace ignored) as 32 bytes.
pub(crate) fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&t[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(bytes)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_under_the_primary_key() {
        let k = Keyring::ephemeral();
        let s = k.seal("users.totp_secret:1", "JBSWY3DPEHPK3PXP");
        assert!(s.starts_with("kek1:"));
        assert!(!s.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(Keyring::key_id_of(&s), Some(k.primary().id()));
        let o = k.open("users.totp_secret:1", &s).unwrap();
        assert_eq!(o.plaintext, "JBSWY3DPEHPK3PXP");
        assert_eq!(o.state, SealState::Current);
        // Two seals of one value differ (a fresh nonce each time).
        assert_ne!(s, k.seal("users.totp_secret:1", "JBSWY3DPEHPK3PXP"));
    }

    #[test]
    fn a_value_moved_to_another_row_or_altered_does_not_open() {
        let k = Keyring::ephemeral();
        let s = k.seal("users.totp_secret:1", "secret");
        assert_eq!(k.open("users.totp_secret:2", &s), Err(SecretError::Forged));
        let mut b = s.clone().into_bytes();
        let last = b.len() - 3;
        b[last] = if b[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(b).unwrap();
        assert_eq!(
            k.open("users.totp_secret:1", &altered),
            Err(SecretError::Forged)
        );
        assert_eq!(
            k.open("users.totp_secret:1", "kek1:nonsense"),
            Err(SecretError::Malformed)
        );
    }

    #[test]
    fn rotation_opens_old_values_and_seals_under_the_new_key() {
        let old = Kek::generate();
        let new = Kek::generate();
        let before = Keyring::new(old.clone(), vec![]);
        let s = before.seal("c", "v");
        let during = Keyring::new(new.clone(), vec![old.clone()]);
        let o = during.open("c", &s).unwrap();
        assert_eq!(o.state, SealState::PreviousKey(old.id().to_string()));
        let resealed = during.seal("c", &o.plaintext);
        assert_eq!(Keyring::key_id_of(&resealed), Some(new.id()));
        let after = Keyring::new(new, vec![]);
        assert_eq!(
            after.open("c", &resealed).unwrap().state,
            SealState::Current
        );
        assert_eq!(
            after.open("c", &s),
            Err(SecretError::UnknownKey(old.id().to_string()))
        );
    }

    #[test]
    fn plaintext_from_an_older_version_is_reported_as_such() {
        let k = Keyring::ephemeral();
        let o = k.open("c", "ids_legacy").unwrap();
        assert_eq!(o.plaintext, "ids_legacy");
        assert_eq!(o.state, SealState::Plaintext);
    }

    #[test]
    fn key_files_parse_and_ids_are_stable() {
        let k = Kek::generate();
        let again = Kek::parse_hex(&format!("  {}\n", k.to_hex())).unwrap();
        assert_eq!(again.id(), k.id());
        assert_eq!(k.id().len(), 16);
        assert!(Kek::parse_hex("abc").is_none());
        assert!(Kek::parse_hex(&"g".repeat(64)).is_none());
        assert!(!format!("{k:?}").contains(&k.to_hex()));
    }
}
