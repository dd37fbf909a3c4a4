use crate::support::*;
use chrono::Duration;
use kefu_domain::model::*;
use kefu_domain::store::Store;
use kefu_domain::{RefreshTokenId, SessionId, StoreError, UserId};
use std::sync::Arc;

crate::store_contract!(
    refresh_rotates_and_reuse_revokes_the_family,
    expired_and_unknown_tokens_are_refused,
    concurrent_refresh_with_one_token_succeeds_once,
    logout_revokes_the_session,
);

fn token(hash: &str, valid_for: Duration) -> NewRefreshToken {
    NewRefreshToken {
        id: RefreshTokenId::new(),
        token_hash: hash.to_string(),
        created_at: now(),
        expires_at: now() + valid_for,
    }
}

async fn session(store: &Arc<dyn Store>, user: UserId, first_hash: &str) -> Session {
    let s = Session {
        id: SessionId::new(),
        user_id: user,
        created_at: now(),
        expires_at: now() + Duration::days(30),
        revoked_at: None,
        ip: Some("198.51.100.1".into()),
        user_agent: Some("test".into()),
        sso: None,
    };
    store
        .create_session(&s, &token(first_hash, Duration::days(30)))
        .await
        .unwrap();
    s
}

async fn refresh_rotates_and_reuse_revokes_the_family(store: Arc<dyn Store>) {
    let (_, user) = workspace(&store, "o@example.com").await;
    let s = session(&store, user, "t1").await;
    let got = store.get_session(s.id).await.unwrap();
    assert_eq!(got, s);
    match store
        .rotate_refresh_token("t1", &token("t2", Duration::days(30)), now())
        .await
        .unwrap()
    {
        RefreshOutcome::Rotated { session } => assert_eq!(session.id, s.id),
        other => panic!("{other:?}"),
    }
    match store
        .rotate_refresh_token("t2", &token("t3", Duration::days(30)), now())
        .await
        .unwrap()
    {
        RefreshOutcome::Rotated { .. } => {}
        other => panic!("{other:?}"),
    }
    // t1 is spent: presenting it again kills the whole family, t3 included.
    let reuse = store
        .rotate_refresh_token("t1", &token("t4", Duration::days(30)), now())
        .await
        .unwrap();
    assert_eq!(reuse, RefreshOutcome::Reused { session_id: s.id });
    assert!(!store.get_session(s.id).await.unwrap().is_active(now()));
    let after = store
        .rotate_refresh_token("t3", &token("t5", Duration::days(30)), now())
        .await
        .unwrap();
    assert_eq!(after, RefreshOutcome::Expired);
}

async fn expired_and_unknown_tokens_are_refused(store: Arc<dyn Store>) {
    let (_, user) = workspace(&store, "o@example.com").await;
    session(&store, user, "short").await;
    let later = now() + Duration::days(31);
    let out = store
        .rotate_refresh_token("short", &token("n", Duration::days(1)), later)
        .await
        .unwrap();
    assert_eq!(out, RefreshOutcome::Expired);
    let out = store
        .rotate_refresh_token("nope", &token("n2", Duration::days(1)), now())
        .await
        .unwrap();
    assert_eq!(out, RefreshOutcome::Unknown);
    assert!(matches!(
        store.get_session(SessionId::new()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn concurrent_refresh_with_one_token_succeeds_once(store: Arc<dyn Store>) {
    let (_, user) = workspace(&store, "o@example.com").await;
    session(&store, user, "race").await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = store.clone();
        set.spawn(async move {
            s.rotate_refresh_token(
                "race",
                &token(&format!("next{i}"), Duration::days(1)),
                now(),
            )
            .await
            .unwrap()
        });
    }
    let mut rotated = 0;
    while let Some(r) = set.join_next().await {
        if matches!(r.unwrap(), RefreshOutcome::Rotated { .. }) {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1);
}

async fn logout_revokes_the_session(store: Arc<dyn Store>) {
    let (_, user) = workspace(&store, "o@example.com").await;
    let s = session(&store, user, "l1").await;
    store.revoke_session(s.id, now()).await.unwrap();
    assert!(store.get_session(s.id).await.unwrap().revoked_at.is_some());
    let out = store
        .rotate_refresh_token("l1", &token("l2", Duration::days(1)), now())
        .await
        .unwrap();
    assert_eq!(out, RefreshOutcome::Expired);
}
