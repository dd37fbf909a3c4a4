use crate::support::*;
use chrono::Duration;
use kefu_domain::model::Invitee;
use kefu_domain::store::Store;
use kefu_domain::{Role, StoreError};
use std::sync::Arc;

crate::store_contract!(
    invitation_lifecycle,
    invitation_is_single_use_and_expires,
    existing_account_can_accept,
    cannot_invite_a_member_and_revocation_is_tenant_scoped,
);

async fn invitation_lifecycle(store: Arc<dyn Store>) {
    let (ws, owner) = workspace(&store, "o@example.com").await;
    let inv = invitation(
        ws,
        owner,
        "new@example.com",
        Role::Supervisor,
        Duration::days(7),
    );
    store
        .create_invitation(&inv, record(ws, "invitation.created"))
        .await
        .unwrap();
    let pending = store.list_invitations(ws, now()).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].email, "new@example.com");
    let found = store
        .find_invitation(&inv.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, inv.id);
    let user = new_user("new@example.com");
    let uid = store
        .accept_invitation(
            inv.id,
            &Invitee::New(user.clone()),
            now(),
            record(ws, "invitation.accepted"),
        )
        .await
        .unwrap();
    assert_eq!(uid, user.id);
    assert_eq!(store.member_role(ws, uid).await.unwrap(), Role::Supervisor);
    assert!(store.list_invitations(ws, now()).await.unwrap().is_empty());
}

async fn invitation_is_single_use_and_expires(store: Arc<dyn Store>) {
    let (ws, owner) = workspace(&store, "o@example.com").await;
    let inv = invitation(ws, owner, "x@example.com", Role::Agent, Duration::days(1));
    store
        .create_invitation(&inv, record(ws, "i"))
        .await
        .unwrap();
    store
        .accept_invitation(
            inv.id,
            &Invitee::New(new_user("x@example.com")),
            now(),
            record(ws, "a"),
        )
        .await
        .unwrap();
    let again = store
        .accept_invitation(
            inv.id,
            &Invitee::New(new_user("y@example.com")),
            now(),
            record(ws, "a"),
        )
        .await;
    assert!(matches!(again, Err(StoreError::NotFound(_))), "{again:?}");
    assert!(store
        .find_user_by_email("y@example.com")
        .await
        .unwrap()
        .is_none());

    let late = invitation(
        ws,
        owner,
        "late@example.com",
        Role::Agent,
        Duration::minutes(5),
    );
    store
        .create_invitation(&late, record(ws, "i"))
        .await
        .unwrap();
    let after_expiry = now() + Duration::minutes(6);
    let res = store
        .accept_invitation(
            late.id,
            &Invitee::New(new_user("late@example.com")),
            after_expiry,
            record(ws, "a"),
        )
        .await;
    assert!(matches!(res, Err(StoreError::NotFound(_))), "{res:?}");
    assert!(store
        .list_invitations(ws, after_expiry)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .find_user_by_email("late@example.com")
        .await
        .unwrap()
        .is_none());
}

async fn existing_account_can_accept(store: Arc<dyn Store>) {
    let (ws_a, _) = workspace(&store, "a@example.com").await;
    let (ws_b, owner_b) = workspace(&store, "b@example.com").await;
    let a_user = store
        .find_user_by_email("a@example.com")
        .await
        .unwrap()
        .unwrap();
    let inv = invitation(
        ws_b,
        owner_b,
        "a@example.com",
        Role::Agent,
        Duration::days(1),
    );
    store
        .create_invitation(&inv, record(ws_b, "i"))
        .await
        .unwrap();
    store
        .accept_invitation(
            inv.id,
            &Invitee::Existing(a_user.id),
            now(),
            record(ws_b, "a"),
        )
        .await
        .unwrap();
    let mine = store.user_workspaces(a_user.id).await.unwrap();
    let ids: Vec<_> = mine.iter().map(|m| (m.workspace.id, m.role)).collect();
    assert_eq!(ids, vec![(ws_a, Role::Owner), (ws_b, Role::Agent)]);
}

async fn cannot_invite_a_member_and_revocation_is_tenant_scoped(store: Arc<dyn Store>) {
    let (ws_a, owner_a) = workspace(&store, "a@example.com").await;
    let (ws_b, _) = workspace(&store, "b@example.com").await;
    let dup = invitation(
        ws_a,
        owner_a,
        "a@example.com",
        Role::Agent,
        Duration::days(1),
    );
    let err = store
        .create_invitation(&dup, record(ws_a, "i"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("already_member")),
        "{err:?}"
    );
    let inv = invitation(
        ws_a,
        owner_a,
        "c@example.com",
        Role::Agent,
        Duration::days(1),
    );
    store
        .create_invitation(&inv, record(ws_a, "i"))
        .await
        .unwrap();
    let cross = store
        .revoke_invitation(ws_b, inv.id, record(ws_b, "r"))
        .await;
    assert!(matches!(cross, Err(StoreError::NotFound(_))), "{cross:?}");
    assert!(store
        .list_invitations(ws_b, now())
        .await
        .unwrap()
        .is_empty());
    store
        .revoke_invitation(ws_a, inv.id, record(ws_a, "r"))
        .await
        .unwrap();
    assert!(store
        .find_invitation(&inv.token_hash)
        .await
        .unwrap()
        .is_none());
}
