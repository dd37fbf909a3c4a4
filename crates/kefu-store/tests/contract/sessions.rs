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
    password_changes_and_sign_out_everywhere_end_the_right_sessions,
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

async fn password_changes_and_sign_out_everywhere_end_the_right_sessions(store: Arc<dyn Store>) {
    let (ws, user) = workspace(&store, "o@example.com").await;
    let (_, bystander) = workspace(&store, "b@example.com").await;
    let theirs = session(&store, bystander, "b1").await;
    let this = session(&store, user, "u1").await;
    session(&store, user, "u2").await;
    session(&store, user, "u3").await;
    let live = |s: Session| {
        let store = store.clone();
        async move { store.get_session(s.id).await.unwrap().revoked_at.is_none() }
    };
    // Sign out everywhere else.
    let ended = store
        .revoke_user_sessions(user, Some(this.id), now())
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert!(live(this.clone()).await);
    assert_eq!(
        store
            .revoke_user_sessions(user, Some(this.id), now())
            .await
            .unwrap(),
        0
    );
    // A new password ends the others too, and is stored.
    let other = session(&store, user, "u4").await;
    let ended = store
        .set_password(user, "$argon2id$new", Some(this.id), now())
        .await
        .unwrap();
    assert_eq!(ended, 1);
    assert!(!live(other).await);
    assert!(live(this.clone()).await);
    let u = store
        .find_user_by_email("o@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.password_hash, "$argon2id$new");
    assert!(!u.password_change_required);
    // An administrator requires a change: every session ends, audited.
    let ended = store
        .require_password_change(user, record(ws, "member.password_reset"), now())
        .await
        .unwrap();
    assert_eq!(ended, 1);
    assert!(!live(this).await);
    let u = store
        .find_user_by_email("o@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(u.password_change_required);
    let audit = store.list_audit(ws, None, 1).await.unwrap();
    assert_eq!(audit.entries[0].action, "member.password_reset");
    // Setting the password clears the requirement.
    store
        .set_password(user, "$argon2id$newer", None, now())
        .await
        .unwrap();
    let u = store
        .find_user_by_email("o@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(!u.password_change_required);
    // Someone else's session was never touched.
    assert!(live(theirs).await);
}
