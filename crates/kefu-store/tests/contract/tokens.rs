use crate::support::*;
use chrono::Duration;
use kefu_domain::model::ApiToken;
use kefu_domain::store::Store;
use kefu_domain::{ApiTokenId, Scope, StoreError, UserId, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(api_tokens_are_scoped_to_their_workspace);

fn api_token(ws: WorkspaceId, by: UserId, hash: &str) -> ApiToken {
    ApiToken {
        id: ApiTokenId::new(),
        workspace_id: ws,
        name: "integration".into(),
        token_hash: hash.into(),
        prefix: "kefu_pat_xy".into(),
        scopes: vec![Scope::WorkspaceRead, Scope::AuditRead],
        created_by: by,
        created_at: now(),
        expires_at: Some(now() + Duration::days(90)),
        last_used_at: None,
        revoked_at: None,
    }
}

async fn api_tokens_are_scoped_to_their_workspace(store: Arc<dyn Store>) {
    let (ws_a, owner_a) = workspace(&store, "a@example.com").await;
    let (ws_b, _) = workspace(&store, "b@example.com").await;
    let t = api_token(ws_a, owner_a, "hash-a");
    store
        .create_api_token(&t, record(ws_a, "api_token.created"))
        .await
        .unwrap();
    let listed = store.list_api_tokens(ws_a).await.unwrap();
    assert_eq!(listed, vec![t.clone()]);
    assert!(store.list_api_tokens(ws_b).await.unwrap().is_empty());
    assert_eq!(
        store
            .find_api_token("hash-a")
            .await
            .unwrap()
            .unwrap()
            .scopes,
        t.scopes
    );
    store.touch_api_token(t.id, now()).await.unwrap();
    assert!(store
        .find_api_token("hash-a")
        .await
        .unwrap()
        .unwrap()
        .last_used_at
        .is_some());
    let cross = store
        .revoke_api_token(ws_b, t.id, record(ws_b, "api_token.revoked"))
        .await;
    assert!(matches!(cross, Err(StoreError::NotFound(_))), "{cross:?}");
    store
        .revoke_api_token(ws_a, t.id, record(ws_a, "api_token.revoked"))
        .await
        .unwrap();
    assert!(!store
        .find_api_token("hash-a")
        .await
        .unwrap()
        .unwrap()
        .is_active(now()));
    let twice = store
        .revoke_api_token(ws_a, t.id, record(ws_a, "api_token.revoked"))
        .await;
    assert!(matches!(twice, Err(StoreError::NotFound(_))));
    let dup = store
        .create_api_token(&api_token(ws_a, owner_a, "hash-a"), record(ws_a, "x"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
}
