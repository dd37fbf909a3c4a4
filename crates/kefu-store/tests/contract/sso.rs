//! Single sign-on's storage: provider settings per workspace, sign-ins
//! under way spent once, identity links per workspace, SSO-bound sessions.

use crate::support::*;
use chrono::Duration;
use kefu_domain::model::*;
use kefu_domain::sso::{OidcConfig, OidcLogin, SsoBinding, SsoSignIn};
use kefu_domain::store::Store;
use kefu_domain::{RefreshTokenId, Role, SessionId, StoreError, UserId, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(
    oidc_configs_are_per_workspace,
    oidc_logins_are_spent_once_and_expire,
    sso_sign_in_links_joins_and_binds_sessions,
);

fn config(ws: WorkspaceId, issuer: &str) -> OidcConfig {
    OidcConfig {
        workspace_id: ws,
        issuer: issuer.into(),
        client_id: "kefu".into(),
        client_secret: "v0:secret".into(),
        scopes: vec!["openid".into(), "email".into()],
        enabled: true,
        jit_domains: vec!["corp.example".into()],
        jit_role: Role::Supervisor,
        created_at: now(),
        updated_at: now(),
    }
}

async fn oidc_configs_are_per_workspace(store: Arc<dyn Store>) {
    let (a, _) = workspace(&store, "a@example.com").await;
    let (b, _) = workspace(&store, "b@example.com").await;
    assert_eq!(store.oidc_config(a).await.unwrap(), None);
    let ca = config(a, "https://idp-a.example");
    store
        .put_oidc_config(&ca, record(a, "sso.configured"))
        .await
        .unwrap();
    assert_eq!(store.oidc_config(a).await.unwrap(), Some(ca.clone()));
    assert_eq!(store.oidc_config(b).await.unwrap(), None);
    let mut changed = ca.clone();
    changed.enabled = false;
    changed.jit_domains = vec![];
    changed.updated_at = now() + Duration::seconds(5);
    store
        .put_oidc_config(&changed, record(a, "sso.configured"))
        .await
        .unwrap();
    assert_eq!(store.oidc_config(a).await.unwrap(), Some(changed));
    assert!(matches!(
        store.delete_oidc_config(b, record(b, "sso.removed")).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .delete_oidc_config(a, record(a, "sso.removed"))
        .await
        .unwrap();
    assert_eq!(store.oidc_config(a).await.unwrap(), None);
}

fn login(ws: WorkspaceId, hash: &str, valid_for: Duration) -> OidcLogin {
    OidcLogin {
        state_hash: hash.into(),
        workspace_id: ws,
        nonce: "n".into(),
        code_verifier: "v".into(),
        created_at: now(),
        expires_at: now() + valid_for,
    }
}

async fn oidc_logins_are_spent_once_and_expire(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "a@example.com").await;
    let l = login(ws, "h1", Duration::minutes(10));
    store.create_oidc_login(&l).await.unwrap();
    store
        .create_oidc_login(&login(ws, "h2", Duration::minutes(10)))
        .await
        .unwrap();
    assert_eq!(store.take_oidc_login("h1", now()).await.unwrap(), Some(l));
    assert_eq!(store.take_oidc_login("h1", now()).await.unwrap(), None);
    assert_eq!(store.take_oidc_login("nope", now()).await.unwrap(), None);
    // Expired: not given out, and gone.
    let late = now() + Duration::minutes(11);
    assert_eq!(store.take_oidc_login("h2", late).await.unwrap(), None);
    assert_eq!(store.take_oidc_login("h2", now()).await.unwrap(), None);
}

async fn sso_sign_in_links_joins_and_binds_sessions(store: Arc<dyn Store>) {
    let (a, _) = workspace(&store, "a@example.com").await;
    let (b, _) = workspace(&store, "b@example.com").await;
    let user = new_user("ann@corp.example");
    let sign_in = SsoSignIn {
        workspace_id: a,
        issuer: "https://idp.example".into(),
        subject: "sub-ann".into(),
        email: Some(user.email.clone()),
        user_id: user.id,
        new_user: Some(user.clone()),
        join_as: Some(Role::Supervisor),
        now: now(),
        audit: vec![record(a, "member.joined_via_sso"), record(a, "sso.login")],
    };
    store.record_sso_sign_in(&sign_in).await.unwrap();
    assert_eq!(
        store.member_role(a, user.id).await.unwrap(),
        Role::Supervisor
    );
    assert!(store.member_role(b, user.id).await.is_err());
    let find = |ws, sub: &'static str| {
        let store = store.clone();
        async move {
            store
                .find_oidc_identity(ws, "https://idp.example", sub)
                .await
                .unwrap()
        }
    };
    assert_eq!(find(a, "sub-ann").await, Some(user.id));
    assert_eq!(find(b, "sub-ann").await, None, "links are per workspace");
    assert_eq!(find(a, "sub-other").await, None);
    // Signing in again updates the link; a new account with a taken
    // e-mail is a conflict.
    let again = SsoSignIn {
        new_user: None,
        join_as: None,
        audit: vec![record(a, "sso.login")],
        ..sign_in.clone()
    };
    store.record_sso_sign_in(&again).await.unwrap();
    let mut clash = new_user("ann@corp.example");
    clash.id = UserId::new();
    let dup = SsoSignIn {
        subject: "sub-2".into(),
        user_id: clash.id,
        new_user: Some(clash),
        ..again.clone()
    };
    assert!(matches!(
        store.record_sso_sign_in(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    // A session bound to the workspace reads back bound.
    let s = Session {
        id: SessionId::new(),
        user_id: user.id,
        created_at: now(),
        expires_at: now() + Duration::days(1),
        revoked_at: None,
        ip: None,
        user_agent: None,
        sso: Some(SsoBinding {
            workspace_id: a,
            mfa: true,
        }),
    };
    let first = NewRefreshToken {
        id: RefreshTokenId::new(),
        token_hash: "rt".into(),
        created_at: now(),
        expires_at: now() + Duration::days(1),
    };
    store.create_session(&s, &first).await.unwrap();
    assert_eq!(store.get_session(s.id).await.unwrap(), s);
}
