//! Access tokens (short-lived, signed, stateless apart from a session check)
//! and opaque secrets (refresh tokens, API tokens, invitations), which are
//! stored only as SHA-256 digests.
//!
//! Access token format: `v1.<base64url(claims json)>.<base64url(hmac-sha256)>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use kefu_domain::{AttachmentId, ContactId, InboxId, SessionId, UserId, WorkspaceId};
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: UserId,
    pub sid: SessionId,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks access tokens with the server's key.
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

impl Signer {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    /// `<kind>.<base64url(json)>.<base64url(mac)>`; the kind is under the
    /// MAC, so a token of one kind can never pass as another.
    fn sign_kind(&self, kind: &str, claims: &impl Serialize) -> String {
        let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let signed = format!("{kind}.{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    fn attachment_mac(&self, ws: WorkspaceId, id: AttachmentId, exp: i64) -> HmacSha256 {
        let mut mac = self.mac();
        mac.update(format!("attachment|{ws}|{id}|{exp}").as_bytes());
        mac
    }

    /// The signature of an attachment's download link (its workspace, id
    /// and expiry are under it).
    pub fn sign_attachment(&self, ws: WorkspaceId, id: AttachmentId, exp: i64) -> String {
        B64.encode(self.attachment_mac(ws, id, exp).finalize().into_bytes())
    }

    /// Whether `sig` is the link's signature (constant-time).
    pub fn verify_attachment(
        &self,
        ws: WorkspaceId,
        id: AttachmentId,
        exp: i64,
        sig: &str,
    ) -> bool {
        let Ok(given) = B64.decode(sig.as_bytes()) else {
            return false;
        };
        self.attachment_mac(ws, id, exp)
            .verify_slice(&given)
            .is_ok()
    }

    fn verify_kind<T: DeserializeOwned>(&self, kind: &str, token: &str) -> Option<T> {
        let (signed, sig) = token.rsplit_once('.')?;
        let payload = signed.strip_prefix(kind)?.strip_prefix('.')?;
        let sig = B64.decode(sig).ok()?;
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        mac.verify_slice(&sig).ok()?; // constant-time
        serde_json::from_slice(&B64.decode(payload).ok()?).ok()
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        self.sign_kind("v1", claims)
    }

    /// The claims of a well-formed, correctly signed, unexpired access token.
    pub fn verify(&self, token: &str, now_unix: i64) -> Option<AccessClaims> {
        let claims: AccessClaims = self.verify_kind("v1", token)?;
        (claims.exp > now_unix).then_some(claims)
    }

    /// A password-reset link's token: good until `exp` and only while the
    /// password is the one it was issued for (`pw` is a fingerprint of its
    /// hash), so it works once.
    pub fn sign_reset(&self, claims: &ResetClaims) -> String {
        self.sign_kind("pr1", claims)
    }

    pub fn verify_reset(&self, token: &str, now_unix: i64) -> Option<ResetClaims> {
        let claims: ResetClaims = self.verify_kind("pr1", token)?;
        (claims.exp > now_unix).then_some(claims)
    }

    pub fn sign_visitor(&self, claims: &VisitorClaims) -> String {
        self.sign_kind("vt1", claims)
    }

    /// The claims of a well-formed, correctly signed, unexpired visitor token.
    pub fn verify_visitor(&self, token: &str, now_unix: i64) -> Option<VisitorClaims> {
        let claims: VisitorClaims = self.verify_kind("vt1", token)?;
        (claims.exp > now_unix).then_some(claims)
    }
}

/// What a widget's visitor token carries: the visitor may act as this
/// contact, in this inbox, until `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorClaims {
    pub ws: WorkspaceId,
    pub inbox: InboxId,
    pub contact: ContactId,
    pub iat: i64,
    pub exp: i64,
}

/// What a password-reset token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetClaims {
    pub user: UserId,
    /// The first 16 hex digits of SHA-256(the password hash at issue).
    pub pw: String,
    pub exp: i64,
}

/// A fresh 256-bit secret with a readable prefix: `kefu_<kind>_<base64url>`.
pub fn random_secret(kind: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("kefu_{kind}_{}", B64.encode(bytes))
}

/// Lower-case hex SHA-256: how opaque secrets are stored and looked up. They
/// carry 256 bits of entropy, so a fast hash is enough.
pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            sub: UserId::new(),
            sid: SessionId::new(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn signed_tokens_verify_until_they_expire() {
        let s = Signer::new(b"k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1");
        let c = claims(100);
        let t = s.sign(&c);
        assert_eq!(s.verify(&t, 99), Some(c));
        assert_eq!(s.verify(&t, 100), None);
    }

    #[test]
    fn tampered_or_foreign_tokens_fail() {
        let s = Signer::new(b"key-one-key-one-key-one-key-one!");
        let other = Signer::new(b"key-two-key-two-key-two-key-two!");
        let t = s.sign(&claims(100));
        assert_eq!(other.verify(&t, 0), None);
        let (head, sig) = t.rsplit_once('.').unwrap();
        let forged_payload = B64.encode(serde_json::to_vec(&claims(i64::MAX)).unwrap());
        assert_eq!(s.verify(&format!("v1.{forged_payload}.{sig}"), 0), None);
        assert_eq!(s.verify(head, 0), None);
        assert_eq!(s.verify("garbage", 0), None);
        assert_eq!(s.verify("", 0), None);
    }

    #[test]
    fn token_kinds_cannot_be_swapped() {
        let s = Signer::new(b"k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1");
        let v = VisitorClaims {
            ws: WorkspaceId::new(),
            inbox: InboxId::new(),
            contact: ContactId::new(),
            iat: 0,
            exp: 100,
        };
        let vt = s.sign_visitor(&v);
        assert!(vt.starts_with("vt1."));
        assert_eq!(s.verify_visitor(&vt, 50), Some(v.clone()));
        assert_eq!(s.verify_visitor(&vt, 100), None, "expired");
        assert_eq!(s.verify(&vt, 0), None, "a visitor token is no access token");
        let at = s.sign(&claims(100));
        assert_eq!(s.verify_visitor(&at, 0), None, "and the other way round");
        // Relabelling the kind breaks the MAC.
        assert_eq!(s.verify(&vt.replacen("vt1.", "v1.", 1), 0), None);
    }

    #[test]
    fn secrets_are_unique_and_digests_stable() {
        let a = random_secret("rt");
        assert!(a.starts_with("kefu_rt_") && a.len() > 40);
        assert_ne!(a, random_secret("rt"));
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
