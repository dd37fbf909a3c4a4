//! The audit log's hash chain.
//!
//! Each workspace has its own chain: entry `n` stores `sha256(prev_hash ‖
//! canonical(entry))`, where `prev_hash` is entry `n-1`'s hash (64 zeros for
//! the first). The workspace row keeps the head (last seq and hash) in the
//! same transaction, so editing, deleting or re-ordering any entry — the last
//! one included — breaks verification.

use crate::ids::{AuditEntryId, WorkspaceId};
use crate::model::ActorKind;
use chrono::{DateTime, SecondsFormat, Utc};
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

/// The hash an entry must carry, computed from its content and predecessor.
/// `details_text` is the stored form of `r.details` ([`canonical_details`]).
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    id: AuditEntryId,
    r: &AuditRecord,
    details_text: &str,
) -> String {
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
    let mut h = Sha256::new();
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    let ts = r.created_at.to_rfc3339_opts(SecondsFormat::Micros, true);
    h.update((ts.len() as u64).to_be_bytes());
    h.update(ts.as_bytes());
    hex(&h.finalize())
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
pub fn verify_chain(entries: &[AuditEntry], head_seq: i64, head_hash: &str) -> Vec<ChainFault> {
    let mut v = ChainVerifier::default();
    for e in entries {
        v.push(e);
    }
    v.finish(head_seq, head_hash)
}

/// [`verify_chain`] one entry at a time, for chains read as a stream (a
/// restore checks a whole database's log without holding it in memory).
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev: String,
    last_seq: i64,
    faults: Vec<ChainFault>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev: GENESIS_HASH.to_string(),
            last_seq: 0,
            faults: Vec::new(),
        }
    }
}

impl ChainVerifier {
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
        if entry_hash(&e.prev_hash, e.seq, e.id, &e.record(), &e.details_text) != e.hash {
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
            let hash = entry_hash(&prev, seq, id, &r, &text);
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
        assert_eq!(verify_chain(&c, 5, &head), vec![]);
        assert_eq!(verify_chain(&[], 0, GENESIS_HASH), vec![]);
    }

    #[test]
    fn details_are_verified_as_stored() {
        let (mut c, head) = chain(3);
        c[1].details_text = c[1].details_text.replace("\"b\":1", "\"b\":2");
        assert_eq!(
            verify_chain(&c, 3, &head),
            vec![ChainFault::Tampered { seq: 2 }]
        );
    }

    #[test]
    fn edit_is_detected() {
        let (mut c, head) = chain(5);
        c[2].action = "test.forged".into();
        assert_eq!(
            verify_chain(&c, 5, &head),
            vec![ChainFault::Tampered { seq: 3 }]
        );
    }

    #[test]
    fn deletion_in_the_middle_is_detected() {
        let (mut c, head) = chain(5);
        c.remove(1);
        assert!(verify_chain(&c, 5, &head).contains(&ChainFault::Gap {
            expected_seq: 2,
            found_seq: 3
        }));
    }

    #[test]
    fn truncated_tail_is_detected() {
        let (mut c, head) = chain(5);
        c.pop();
        assert_eq!(
            verify_chain(&c, 5, &head),
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
            &c[1].prev_hash,
            2,
            c[1].id,
            &c[1].record(),
            &c[1].details_text,
        );
        assert_eq!(
            verify_chain(&c, 4, &head),
            vec![ChainFault::BrokenLink { seq: 3 }]
        );
    }
}
