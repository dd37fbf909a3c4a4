use crate::support::*;
use kefu_domain::audit::{verify_chain, GENESIS_HASH};
use kefu_domain::store::Store;
use std::sync::Arc;

crate::store_contract!(
    audit_chain_verifies_and_pages,
    concurrent_appends_keep_one_chain
);

async fn audit_chain_verifies_and_pages(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "o@example.com").await;
    for i in 0..5 {
        store
            .append_audit(record(ws, &format!("test.{i}")))
            .await
            .unwrap();
    }
    let (entries, head_seq, head_hash) = store.audit_chain(ws).await.unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(entries[0].prev_hash, GENESIS_HASH);
    assert_eq!(head_seq, 6);
    assert_eq!(verify_chain(&entries, head_seq, &head_hash), vec![]);
    // Stored details and timestamps survive the round trip bit for bit.
    assert_eq!(entries[1].details, serde_json::json!({"k": "v"}));

    let first = store.list_audit(ws, None, 4).await.unwrap();
    let seqs: Vec<i64> = first.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![6, 5, 4, 3]);
    assert_eq!(first.next_before_seq, Some(3));
    let second = store
        .list_audit(ws, first.next_before_seq, 4)
        .await
        .unwrap();
    let seqs: Vec<i64> = second.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![2, 1]);
    assert_eq!(second.next_before_seq, None);
}

async fn concurrent_appends_keep_one_chain(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "o@example.com").await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..16 {
        let s = store.clone();
        set.spawn(async move { s.append_audit(record(ws, &format!("c.{i}"))).await.unwrap() });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let (entries, head_seq, head_hash) = store.audit_chain(ws).await.unwrap();
    assert_eq!(head_seq, 17);
    assert_eq!(verify_chain(&entries, head_seq, &head_hash), vec![]);
}
