//! Publishing the audit chains' heads: `kefu serve` logs each workspace's
//! head when it moved (`audit chain head`, with `workspace_id`, `seq` and
//! `head`) and exports a digest of all heads as a metric. A copy of those
//! lines kept outside (a log archive) lets `kefu audit verify --heads FILE`
//! prove later that no entry up to a published head was rewritten, even by
//! someone holding the database and every key.

use kefu_domain::store::Store;
use kefu_domain::WorkspaceId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DigestLabel {
    digest: String,
}

#[derive(Debug, Default)]
pub struct HeadPublisher {
    heads: Family<DigestLabel, Gauge>,
    entries: Gauge,
    published: Gauge<f64, AtomicU64>,
    last: Mutex<(HashMap<WorkspaceId, i64>, Option<String>)>,
}

/// A digest of every workspace's head: 16 hex characters of SHA-256 over
/// the sorted `workspace seq head` lines.
pub fn heads_digest(heads: &[(WorkspaceId, i64, String)]) -> String {
    let mut lines: Vec<String> = heads
        .iter()
        .map(|(ws, seq, h)| format!("{ws} {seq} {h}\n"))
        .collect();
    lines.sort();
    let mut d = Sha256::new();
    for l in &lines {
        d.update(l.as_bytes());
    }
    d.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl HeadPublisher {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "audit_chain_heads",
            "1, labelled with the digest of every workspace's audit chain head (compare it with an outside copy)",
            self.heads.clone(),
        );
        r.register(
            "audit_chain_entries",
            "Audit entries in all chains (the sum of the heads' sequence numbers)",
            self.entries.clone(),
        );
        r.register(
            "audit_chain_published_timestamp_seconds",
            "When the audit chain heads were last published (Unix time)",
            self.published.clone(),
        );
    }

    /// Reads every head; logs those that moved since the last call.
    pub async fn publish(&self, store: &dyn Store) -> anyhow::Result<usize> {
        let heads = store.audit_heads().await?;
        let digest = heads_digest(&heads);
        let mut moved = 0;
        let mut last = self.last.lock().expect("not poisoned");
        for (ws, seq, head) in &heads {
            if last.0.get(ws) != Some(seq) && *seq > 0 {
                tracing::info!(
                    target: "kefu::audit",
                    workspace_id = %ws,
                    seq,
                    head = %head,
                    "audit chain head"
                );
                last.0.insert(*ws, *seq);
                moved += 1;
            }
        }
        if last.1.as_deref() != Some(digest.as_str()) {
            if let Some(old) = last.1.take() {
                self.heads.remove(&DigestLabel { digest: old });
            }
            self.heads
                .get_or_create(&DigestLabel {
                    digest: digest.clone(),
                })
                .set(1);
            last.1 = Some(digest);
        }
        self.entries.set(heads.iter().map(|(_, s, _)| *s).sum());
        self.published.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        Ok(moved)
    }
}

/// A published head, read back from a log line or a plain line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub workspace_id: String,
    pub seq: i64,
    pub head: String,
}

/// Reads published heads: JSON log lines holding `workspace_id`, `seq` and
/// `head` (at any depth, as the JSON log format nests fields), or plain
/// `<workspace id> <seq> <head>` lines. Other lines are skipped.
pub fn parse_published(text: &str) -> Vec<Published> {
    fn find(v: &serde_json::Value) -> Option<Published> {
        let obj = v.as_object()?;
        let ws = obj.get("workspace_id").and_then(|x| x.as_str());
        let head = obj.get("head").and_then(|x| x.as_str());
        let seq = obj.get("seq").and_then(|x| {
            x.as_i64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        });
        if let (Some(ws), Some(seq), Some(head)) = (ws, seq, head) {
            return Some(Published {
                workspace_id: ws.to_string(),
                seq,
                head: head.to_string(),
            });
        }
        obj.values().find_map(find)
    }
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('{') {
                return serde_json::from_str::<serde_json::Value>(line)
                    .ok()
                    .and_then(|v| find(&v));
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                [ws, seq, head] if head.len() == 64 => Some(Published {
                    workspace_id: ws.to_string(),
                    seq: seq.parse().ok()?,
                    head: head.to_string(),
                }),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_heads_are_read_from_json_logs_and_plain_lines() {
        let h = "a".repeat(64);
        let text = format!(
            "{{\"timestamp\":\"t\",\"level\":\"INFO\",\"fields\":{{\"message\":\"audit chain head\",\"workspace_id\":\"w1\",\"seq\":7,\"head\":\"{h}\"}}}}\n\
             not a head\n\
             {{\"message\":\"other\"}}\n\
             w2 3 {h}\n"
        );
        assert_eq!(
            parse_published(&text),
            vec![
                Published {
                    workspace_id: "w1".into(),
                    seq: 7,
                    head: h.clone()
                },
                Published {
                    workspace_id: "w2".into(),
                    seq: 3,
                    head: h
                },
            ]
        );
    }

    #[test]
    fn the_digest_does_not_depend_on_order_and_moves_with_any_head() {
        let a = (WorkspaceId::new(), 3, "x".repeat(64));
        let b = (WorkspaceId::new(), 5, "y".repeat(64));
        let d1 = heads_digest(&[a.clone(), b.clone()]);
        assert_eq!(d1, heads_digest(&[b.clone(), a.clone()]));
        let moved = (b.0, 6, "z".repeat(64));
        assert_ne!(d1, heads_digest(&[a, moved]));
        assert_eq!(d1.len(), 16);
    }
}
