use crate::support::*;
use kefu_domain::audit::{verify_chain, ChainCheck, GENESIS_HASH};
use kefu_domain::store::Store;
use std::sync::Arc;

crate::store_contract!(
    concurrent_audited_writes_of_different_kinds_do_not_deadlock,
    audit_chain_verifies_and_pages,
    concurrent_appends_keep_one_chain,
    every_workspaces_head_is_published,
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
    assert_eq!(
        verify_chain(
            &ChainCheck::Keyed(store.audit_chain_key().unwrap()),
            &entries,
            head_seq,
            &head_hash
        ),
        vec![]
    );
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
    assert_eq!(
        verify_chain(
            &ChainCheck::Keyed(store.audit_chain_key().unwrap()),
            &entries,
            head_seq,
            &head_hash
        ),
        vec![]
    );
}

/// Invitations and tokens insert rows referencing the workspace (a foreign-key
/// lock on it) and then append to its audit chain (a row lock on it): many at
/// once, mixed with role changes, must all succeed.
async fn concurrent_audited_writes_of_different_kinds_do_not_deadlock(store: Arc<dyn Store>) {
    use chrono::Duration;
    use kefu_domain::model::ApiToken;
    use kefu_domain::{ApiTokenId, Role, Scope};
    let (ws, owner) = workspace(&store, "o@example.com").await;
    let agent = add_member(&store, ws, owner, "agent@example.com", Role::Agent).await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..24 {
        let s = store.clone();
        set.spawn(async move {
            match i % 3 {
                0 => {
                    let inv = invitation(
                        ws,
                        owner,
                        &format!("p{i}@example.com"),
                        Role::Agent,
                        Duration::days(1),
                    );
                    s.create_invitation(&inv, record(ws, "invitation.created"))
                        .await
                }
                1 => {
                    let t = ApiToken {
                        id: ApiTokenId::new(),
                        workspace_id: ws,
                        name: format!("t{i}"),
                        token_hash: format!("hash-{i}"),
                        prefix: "kefu_pat_x".into(),
                        scopes: vec![Scope::WorkspaceRead],
                        created_by: owner,
                        created_at: now(),
                        expires_at: None,
                        last_used_at: None,
                        revoked_at: None,
                    };
                    s.create_api_token(&t, record(ws, "api_token.created"))
                        .await
                }
                _ => {
                    let role = if i % 2 == 0 {
                        Role::Supervisor
                    } else {
                        Role::Agent
                    };
                    s.set_member_role(ws, agent, role, record(ws, "member.role_changed"))
                        .await
                        .map(|_| ())
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap().expect("every concurrent write succeeds");
    }
    let (entries, head_seq, head_hash) = store.audit_chain(ws).await.unwrap();
    assert_eq!(head_seq, 3 + 24);
    assert_eq!(
        verify_chain(
            &ChainCheck::Keyed(store.audit_chain_key().unwrap()),
            &entries,
            head_seq,
            &head_hash
        ),
        vec![]
    );
}

/// The heads published for an outside copy are each chain's last entry.
async fn every_workspaces_head_is_published(store: Arc<dyn Store>) {
    let (a, _) = workspace(&store, "a@example.com").await;
    let (b, _) = workspace(&store, "b@example.com").await;
    for i in 0..3 {
        store
            .append_audit(record(a, &format!("thing.{i}")))
            .await
            .unwrap();
    }
    let mut heads = store.audit_heads().await.unwrap();
    heads.sort();
    let mut want = Vec::new();
    for ws in [a, b] {
        let (entries, seq, hash) = store.audit_chain(ws).await.unwrap();
        assert_eq!(entries.last().map(|e| e.seq), Some(seq));
        want.push((ws, seq, hash));
    }
    want.sort();
    assert_eq!(heads, want);
    assert_eq!(heads.iter().find(|h| h.0 == a).unwrap().1, 4, "created + 3");
}
