use crate::support::*;
use kefu_domain::model::ApiToken;
use kefu_domain::store::Store;
use kefu_domain::{ApiTokenId, Role, Scope, StoreError, UserId};
use std::sync::Arc;

crate::store_contract!(
    lists_and_changes_members,
    last_owner_cannot_leave_or_be_demoted,
    removal_revokes_the_members_tokens,
    other_workspaces_members_are_not_found,
    concurrent_owner_demotions_keep_one_owner,
);

async fn lists_and_changes_members(store: Arc<dyn Store>) {
    let (ws, owner) = workspace(&store, "o@example.com").await;
    let agent = add_member(&store, ws, owner, "a@example.com", Role::Agent).await;
    let members = store.list_members(ws).await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(
        members.iter().find(|m| m.user_id == agent).unwrap().role,
        Role::Agent
    );
    let m = store
        .set_member_role(
            ws,
            agent,
            Role::Supervisor,
            record(ws, "member.role_changed"),
        )
        .await
        .unwrap();
    assert_eq!(
        (m.role, m.email.as_str()),
        (Role::Supervisor, "a@example.com")
    );
    assert_eq!(
        store.get_member(ws, agent).await.unwrap().role,
        Role::Supervisor
    );
    store
        .remove_member(ws, agent, record(ws, "member.removed"))
        .await
        .unwrap();
    assert!(matches!(
        store.member_role(ws, agent).await,
        Err(StoreError::NotFound(_))
    ));
    // The account itself survives removal from a workspace.
    assert!(store.get_user(agent).await.is_ok());
}

async fn last_owner_cannot_leave_or_be_demoted(store: Arc<dyn Store>) {
    let (ws, owner) = workspace(&store, "o@example.com").await;
    let before = store.list_audit(ws, None, 100).await.unwrap().entries.len();
    let err = store
        .set_member_role(ws, owner, Role::Admin, record(ws, "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rule("last_owner")), "{err:?}");
    let err = store
        .remove_member(ws, owner, record(ws, "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rule("last_owner")), "{err:?}");
    // Refused changes leave no audit entry behind.
    assert_eq!(
        store.list_audit(ws, None, 100).await.unwrap().entries.len(),
        before
    );
    let second = add_member(&store, ws, owner, "o2@example.com", Role::Owner).await;
    store
        .set_member_role(ws, owner, Role::Admin, record(ws, "x"))
        .await
        .unwrap();
    assert_eq!(store.member_role(ws, second).await.unwrap(), Role::Owner);
}

async fn removal_revokes_the_members_tokens(store: Arc<dyn Store>) {
    let (ws, owner) = workspace(&store, "o@example.com").await;
    let admin = add_member(&store, ws, owner, "ad@example.com", Role::Admin).await;
    let token = ApiToken {
        id: ApiTokenId::new(),
        workspace_id: ws,
        name: "ci".into(),
        token_hash: "h1".into(),
        prefix: "kefu_pat_ab".into(),
        scopes: vec![Scope::WorkspaceRead],
        created_by: admin,
        created_at: now(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_api_token(&token, record(ws, "api_token.created"))
        .await
        .unwrap();
    store
        .remove_member(ws, admin, record(ws, "member.removed"))
        .await
        .unwrap();
    let found = store.find_api_token("h1").await.unwrap().unwrap();
    assert!(found.revoked_at.is_some());
    assert!(!found.is_active(now()));
}

async fn other_workspaces_members_are_not_found(store: Arc<dyn Store>) {
    let (ws_a, owner_a) = workspace(&store, "a@example.com").await;
    let (ws_b, owner_b) = workspace(&store, "b@example.com").await;
    assert!(matches!(
        store.member_role(ws_b, owner_a).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.get_member(ws_a, owner_b).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .set_member_role(ws_a, owner_b, Role::Agent, record(ws_a, "x"))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.remove_member(ws_a, owner_b, record(ws_a, "x")).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.member_role(ws_b, owner_b).await.unwrap(), Role::Owner);
    let a_members: Vec<UserId> = store
        .list_members(ws_a)
        .await
        .unwrap()
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(a_members, vec![owner_a]);
}

/// Two owners demote each other at the same time: exactly one may win.
async fn concurrent_owner_demotions_keep_one_owner(store: Arc<dyn Store>) {
    let (ws, first) = workspace(&store, "o1@example.com").await;
    let second = add_member(&store, ws, first, "o2@example.com", Role::Owner).await;
    let s1 = store.clone();
    let s2 = store.clone();
    let a = tokio::spawn(async move {
        s1.set_member_role(ws, first, Role::Admin, record(ws, "x"))
            .await
    });
    let b = tokio::spawn(async move {
        s2.set_member_role(ws, second, Role::Admin, record(ws, "x"))
            .await
    });
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "{a:?} {b:?}");
    let owners = store
        .list_members(ws)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    assert_eq!(owners, 1);
}
