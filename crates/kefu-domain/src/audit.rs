//! The audit log's keyed hash chain.
//!
//! Each workspace has its own chain: entry `n` stores `HMAC-SHA256(chain key,
//! prev_hash ‖ canonical(entry))`, where `prev_hash` is entry `n-1`'s hash (64
//! zeros for the first). The workspace row keeps the head (last seq and hash)
//! in the same transaction, so editing, deleting or re-ordering any entry —
//! the last one included — breaks verification.
//!
//! The chain key is random, stored in the database only sealed under the
//! key-encryption key ([`crate::secrets`]), which is held outside it. So
//! someone who can write the database but does not have the KEK cannot
//! compute a valid hash for an entry they forge, and cannot rewrite a chain
//! consistently. Chains written before the key existed used plain SHA-256
//! ([`legacy_entry_hash`]); the store re-seals them once, when it creates the
//! key. Heads are published (a log line and a metric), so a copy kept outside
//! proves that history was not rewritten even by someone holding every key.

use crate::ids::{AuditEntryId, WorkspaceId};
use crate::model::ActorKind;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a use case records; the store assigns `seq`, `prev_hash` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub workspace_id: WorkspaceId,
    pub actor_kind: ActorKind,
    /// The user or API token id, absent for `System`.
    pub actor_id: Option<uuid::Uuid>,
    /// Dotted name, for example `member.role_changed`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    /// Extra facts (old and new role, scopes, …). Never secrets.
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub workspace_id: WorkspaceId,
    pub seq: i64,
    pub actor_kind: ActorKind,
    pub actor_id: Option<uuid::Uuid>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
    /// `details` exactly as stored and hashed. Verification hashes this text,
    /// not a re-serialisation, so no JSON round trip can cause a false alarm.
    #[serde(skip)]
    pub details_text: String,
    pub created_at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
}

/// The audit chain's HMAC key: 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ChainKey([u8; 32]);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(…)")
    }
}

impl ChainKey {
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(b)
    }

    pub fn to_hex(&self) -> String {
        crate::secrets::hex(&self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        crate::secrets::parse_hex32(text).map(Self)
    }
}

/// How a chain's entry hashes can be checked.
#[derive(Debug, Clone)]
pub enum ChainCheck {
    /// HMAC-SHA256 under the chain key: content and links.
    Keyed(ChainKey),
    /// Plain SHA-256, as written before the chain was keyed (old archives).
    Legacy,
    /// Without the key: sequence, links and head only, not content.
    LinksOnly,
}

impl ChainCheck {
    fn hash(
        &self,
        prev_hash: &str,
        seq: i64,
        id: AuditEntryId,
        r: &AuditRecord,
        details_text: &str,
    ) -> Option<String> {
        match self {
            Self::Keyed(k) => Some(entry_hash(k, prev_hash, seq, id, r, details_text)),
            Self::Legacy => Some(legacy_entry_hash(prev_hash, seq, id, r, details_text)),
            Self::LinksOnly => None,
        }
    }
}

/// The hash an entry must carry, computed from its content and predecessor
/// under the chain key. `details_text` is the stored form of `r.details`
/// ([`canonical_details`]).
pub fn entry_hash(
    key: &ChainKey,
    prev_hash: &str,
    seq: i64,
    id: AuditEntryId,
    r: &AuditRecord,
    details_text: &str,
) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("any key length");
    feed(&mut |b| mac.update(b), prev_hash, seq, id, r, details_text);
    hex(&mac.finalize().into_bytes())
}

/// The plain SHA-256 hash of chains written before the chain key existed.
pub fn legacy_entry_hash(
    prev_hash: &str,
    seq: i64,
    id: AuditEntryId,
    r: &AuditRecord,
    details_text: &str,
) -> String {
    let mut h = Sha256::new();
    feed(&mut |b| h.update(b), prev_hash, seq, id, r, details_text);
    hex(&h.finalize())
}

fn feed(
    update: &mut dyn FnMut(&[u8]),
    prev_hash: &str,
    seq: i64,
    id: AuditEntryId,
    r: &AuditRecord,
    details_text: &str,
) {
    // A fixed field order with explicit separators and lengths, so two
    // different entries can never serialise to the same bytes.
    let fields: [&str; 11] = [
        prev_hash,
        &seq.to_string(),
        &id.to_string(),
        &r.workspace_id.to_string(),
        r.actor_kind.as_str(),
        &r.actor_id.map(|u| u.to_string()).unwrap_or_default(),
        &r.action,
        r.target_type.as_deref().unwrap_or(""),
        r.target_id.as_deref().unwrap_or(""),
        r.ip.as_deref().unwrap_or(""),
        details_text,
    ];
    for f in fields {
        update(&(f.len() as u64).to_be_bytes());
        update(f.as_bytes());
    }
    let ts = r.created_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    update(&(ts.len() as u64).to_be_bytes());
    update(ts.as_bytes());
}

/// serde_json's map is ordered by key, so serialising a parsed value is stable.
pub fn canonical_details(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl AuditEntry {
    pub fn record(&self) -> AuditRecord {
        AuditRecord {
            workspace_id: self.workspace_id,
            actor_kind: self.actor_kind,
            actor_id: self.actor_id,
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            ip: self.ip.clone(),
            details: self.details.clone(),
            created_at: self.created_at,
        }
    }
}

/// What `kefu audit verify` found wrong in one workspace's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// An entry's content no longer matches its hash (edited).
    Tampered { seq: i64 },
    /// The sequence skips (an entry was deleted) or starts past 1.
    Gap { expected_seq: i64, found_seq: i64 },
    /// An entry's `prev_hash` does not match its predecessor.
    BrokenLink { seq: i64 },
    /// The workspace's recorded head disagrees with the last entry (the tail
    /// was cut off or the head edited).
    HeadMismatch { head_seq: i64, last_seq: i64 },
}

/// Checks a workspace's whole chain, given in `seq` order, against its head.
pub fn verify_chain(
    check: &ChainCheck,
    entries: &[AuditEntry],
    head_seq: i64,
    head_hash: &str,
) -> Vec<ChainFault> {
    let mut v = ChainVerifier::new(check.clone());
    for e in entries {
        v.push(e);
    }
    v.finish(head_seq, head_hash)
}

/// [`verify_chain`] one entry at a time, for chains read as a stream (a
/// restore checks a whole database's log without holding it in memory).
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    check: ChainCheck,
    expected_seq: i64,
    prev: String,
    last_seq: i64,
    faults: Vec<ChainFault>,
}

impl ChainVerifier {
    pub fn new(check: ChainCheck) -> Self {
        Self {
            check,
            expected_seq: 1,
            prev: GENESIS_HASH.to_string(),
            last_seq: 0,
            faults: Vec::new(),
        }
    }

    /// The next entry, in `seq` order.
    pub fn push(&mut self, e: &AuditEntry) {
        if e.seq != self.expected_seq {
            self.faults.push(ChainFault::Gap {
                expected_seq: self.expected_seq,
                found_seq: e.seq,
            });
        } else if e.prev_hash != self.prev {
            self.faults.push(ChainFault::BrokenLink { seq: e.seq });
        }
        let expected = self
            .check
            .hash(&e.prev_hash, e.seq, e.id, &e.record(), &e.details_text);
        if expected.is_some_and(|h| h != e.hash) {
            self.faults.push(ChainFault::Tampered { seq: e.seq });
        }
        self.expected_seq = e.seq + 1;
        self.prev = e.hash.clone();
        self.last_seq = e.seq;
    }

    /// Compares the end of the chain with the workspace's recorded head.
    pub fn finish(mut self, head_seq: i64, head_hash: &str) -> Vec<ChainFault> {
        if self.last_seq != head_seq || (head_seq > 0 && self.prev != head_hash) {
            self.faults.push(ChainFault::HeadMismatch {
                head_seq,
                last_seq: self.last_seq,
            });
        }
        self.faults
    }
}

fn hex(bytes: &[u8]) -> String {
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

    fn key() -> ChainKey {
        ChainKey::from_hex(&"7".repeat(64)).unwrap()
    }

    fn keyed() -> ChainCheck {
        ChainCheck::Keyed(key())
    }

    fn chain(n: i64) -> (Vec<AuditEntry>, String) {
        let ws = WorkspaceId::new();
        let mut prev = GENESIS_HASH.to_string();
        let mut out = Vec::new();
        for seq in 1..=n {
            let r = AuditRecord {
                workspace_id: ws,
                actor_kind: ActorKind::System,
                actor_id: None,
                action: format!("test.{seq}"),
                target_type: None,
                target_id: None,
                ip: Some("127.0.0.1".into()),
                details: serde_json::json!({"b": 1, "a": [seq]}),
                created_at: crate::clock::truncate_to_micros(Utc::now()),
            };
            let id = AuditEntryId::new();
            let text = canonical_details(&r.details);
            let hash = entry_hash(&key(), &prev, seq, id, &r, &text);
            out.push(AuditEntry {
                id,
                workspace_id: ws,
                seq,
                actor_kind: r.actor_kind,
                actor_id: None,
                action: r.action.clone(),
                target_type: None,
                target_id: None,
                ip: r.ip.clone(),
                details: r.details.clone(),
                details_text: text,
                created_at: r.created_at,
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        (out, prev)
    }

    #[test]
    fn intact_chain_verifies() {
        let (c, head) = chain(5);
        assert_eq!(verify_chain(&keyed(), &c, 5, &head), vec![]);
        assert_eq!(verify_chain(&keyed(), &[], 0, GENESIS_HASH), vec![]);
    }

    #[test]
    fn details_are_verified_as_stored() {
        let (mut c, head) = chain(3);
        c[1].details_text = c[1].details_text.replace("\"b\":1", "\"b\":2");
        assert_eq!(
            verify_chain(&keyed(), &c, 3, &head),
            vec![ChainFault::Tampered { seq: 2 }]
        );
    }

    #[test]
    fn edit_is_detected() {
        let (mut c, head) = chain(5);
        c[2].action = "test.forged".into();
        assert_eq!(
            verify_chain(&keyed(), &c, 5, &head),
            vec![ChainFault::Tampered { seq: 3 }]
        );
    }

    #[test]
    fn deletion_in_the_middle_is_detected() {
        let (mut c, head) = chain(5);
        c.remove(1);
        assert!(
            verify_chain(&keyed(), &c, 5, &head).contains(&ChainFault::Gap {
                expected_seq: 2,
                found_seq: 3
            })
        );
    }

    #[test]
    fn truncated_tail_is_detected() {
        let (mut c, head) = chain(5);
        c.pop();
        assert_eq!(
            verify_chain(&keyed(), &c, 5, &head),
            vec![ChainFault::HeadMismatch {
                head_seq: 5,
                last_seq: 4
            }]
        );
    }

    #[test]
    fn rehashed_forgery_breaks_the_link_to_the_next_entry() {
        let (mut c, head) = chain(4);
        c[1].action = "test.forged".into();
        c[1].hash = entry_hash(
            &key(),
            &c[1].prev_hash,
            2,
            c[1].id,
            &c[1].record(),
            &c[1].details_text,
        );
        assert_eq!(
            verify_chain(&keyed(), &c, 4, &head),
            vec![ChainFault::BrokenLink { seq: 3 }]
        );
    }

    #[test]
    fn a_forger_without_the_key_cannot_rewrite_a_chain() {
        // Someone with write access to the database re-hashes a forged
        // entry and everything after it, with plain SHA-256 or a key of
        // their own, and moves the head along.
        let (mut c, _) = chain(4);
        c[1].action = "test.forged".into();
        let other = ChainKey::generate();
        type Forge = Box<dyn Fn(&AuditEntry) -> String>;
        let forges: [Forge; 2] = [
            Box::new(|e: &AuditEntry| {
                legacy_entry_hash(&e.prev_hash, e.seq, e.id, &e.record(), &e.details_text)
            }),
            Box::new(move |e: &AuditEntry| {
                entry_hash(
                    &other,
                    &e.prev_hash,
                    e.seq,
                    e.id,
                    &e.record(),
                    &e.details_text,
                )
            }),
        ];
        for forge in forges {
            let mut prev = c[0].hash.clone();
            for e in c.iter_mut().skip(1) {
                e.prev_hash = prev.clone();
                e.hash = forge(e);
                prev = e.hash.clone();
            }
            let faults = verify_chain(&keyed(), &c, 4, &prev);
            assert!(
                faults.contains(&ChainFault::Tampered { seq: 2 }),
                "{faults:?}"
            );
            // Without the key only the links are checked: consistent.
            assert_eq!(verify_chain(&ChainCheck::LinksOnly, &c, 4, &prev), vec![]);
        }
    }

    #[test]
    fn links_only_still_sees_gaps_and_cut_tails() {
        let (mut c, head) = chain(4);
        c.remove(2);
        let faults = verify_chain(&ChainCheck::LinksOnly, &c, 4, &head);
        assert!(faults.contains(&ChainFault::Gap {
            expected_seq: 3,
            found_seq: 4
        }));
    }
}
