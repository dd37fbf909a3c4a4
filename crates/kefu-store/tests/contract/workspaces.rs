use crate::support::*;
use kefu_domain::model::*;
use kefu_domain::store::Store;
use kefu_domain::{Role, StoreError, WorkspaceId};
use std::sync::Arc;

crate::store_contract!(
    creates_workspace_with_owner,
    duplicate_email_writes_nothing,
    updates_settings_with_audit,
    migrate_is_idempotent_and_health_reports_ready,
);

async fn creates_workspace_with_owner(store: Arc<dyn Store>) {
    let (ws, owner) = workspace(&store, "owner@example.com").await;
    let got = store.get_workspace(ws).await.unwrap();
    assert_eq!(got.name, "Workspace of owner@example.com");
    assert!(!got.require_admin_totp);
    assert_eq!(store.member_role(ws, owner).await.unwrap(), Role::Owner);
    let mine = store.user_workspaces(owner).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].workspace.id, mine[0].role), (ws, Role::Owner));
    let user = store
        .find_user_by_email("owner@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id, owner);
    assert!(store.list_workspace_ids().await.unwrap().contains(&ws));
    assert!(matches!(
        store.get_workspace(WorkspaceId::new()).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn duplicate_email_writes_nothing(store: Arc<dyn Store>) {
    workspace(&store, "dup@example.com").await;
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: "second".into(),
        require_admin_totp: false,
        created_at: now(),
    };
    let err = store
        .create_workspace(
            &ws,
            &Invitee::New(new_user("dup@example.com")),
            record(ws.id, "workspace.created"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("email_taken")),
        "{err:?}"
    );
    // The workspace row was inserted before the user failed: it must be gone.
    assert!(matches!(
        store.get_workspace(ws.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_workspace_ids().await.unwrap().len(), 1);
}

async fn updates_settings_with_audit(store: Arc<dyn Store>) {
    let (ws, _) = workspace(&store, "o@example.com").await;
    let patch = WorkspacePatch {
        name: None,
        require_admin_totp: Some(true),
    };
    let got = store
        .update_workspace(ws, &patch, record(ws, "workspace.updated"))
        .await
        .unwrap();
    assert!(got.require_admin_totp);
    assert_eq!(got.name, "Workspace of o@example.com");
    let page = store.list_audit(ws, None, 10).await.unwrap();
    assert_eq!(page.entries[0].action, "workspace.updated");
    let missing = WorkspaceId::new();
    assert!(matches!(
        store
            .update_workspace(missing, &patch, record(missing, "workspace.updated"))
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn migrate_is_idempotent_and_health_reports_ready(store: Arc<dyn Store>) {
    assert_eq!(store.migrate().await.unwrap(), 0);
    let h = store.health().await;
    assert!(h.reachable && h.migrations_applied, "{h:?}");
}
