//! Fixtures shared by the contract cases.

use chrono::{DateTime, Duration, Utc};
use kefu_domain::audit::AuditRecord;
use kefu_domain::model::*;
use kefu_domain::store::Store;
use kefu_domain::{truncate_to_micros_now, UserId, WorkspaceId};
use kefu_store::testing::TestDb;
use std::sync::Arc;

/// Declares each listed async case `fn(Arc<dyn Store>)` as one test per backend.
#[macro_export]
macro_rules! store_contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = kefu_store::testing::TestDb::sqlite();
                    let store = $crate::support::open(&db).await;
                    super::$case(store).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = kefu_store::testing::TestDb::postgres().await;
                    let store = $crate::support::open(&db).await;
                    super::$case(store).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

pub async fn open(db: &TestDb) -> Arc<dyn Store> {
    let store = kefu_store::connect(&kefu_store::testing::options(&db.url))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

pub fn now() -> DateTime<Utc> {
    truncate_to_micros_now()
}

pub fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: email.to_string(),
        name: format!("Name of {email}"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_string(),
        created_at: now(),
    }
}

pub fn record(ws: WorkspaceId, action: &str) -> AuditRecord {
    AuditRecord {
        workspace_id: ws,
        actor_kind: ActorKind::System,
        actor_id: None,
        action: action.to_string(),
        target_type: None,
        target_id: None,
        ip: Some("203.0.113.7".into()),
        details: serde_json::json!({"k": "v"}),
        created_at: now(),
    }
}

/// A workspace with a fresh owner; returns both ids.
pub async fn workspace(store: &Arc<dyn Store>, owner_email: &str) -> (WorkspaceId, UserId) {
    let ws = Workspace {
        id: WorkspaceId::new(),
        name: format!("Workspace of {owner_email}"),
        require_admin_totp: false,
        created_at: now(),
    };
    let owner = new_user(owner_email);
    let owner_id = owner.id;
    store
        .create_workspace(
            &ws,
            &Invitee::New(owner),
            record(ws.id, "workspace.created"),
        )
        .await
        .expect("create workspace");
    (ws.id, owner_id)
}

/// Adds a member with `role` through an accepted invitation.
pub async fn add_member(
    store: &Arc<dyn Store>,
    ws: WorkspaceId,
    inviter: UserId,
    email: &str,
    role: kefu_domain::Role,
) -> UserId {
    let inv = invitation(ws, inviter, email, role, Duration::days(7));
    store
        .create_invitation(&inv, record(ws, "invitation.created"))
        .await
        .expect("invite");
    let user = new_user(email);
    store
        .accept_invitation(
            inv.id,
            &Invitee::New(user),
            now(),
            record(ws, "invitation.accepted"),
        )
        .await
        .expect("accept")
}

pub fn invitation(
    ws: WorkspaceId,
    inviter: UserId,
    email: &str,
    role: kefu_domain::Role,
    valid_for: Duration,
) -> Invitation {
    Invitation {
        id: kefu_domain::InvitationId::new(),
        workspace_id: ws,
        email: email.to_string(),
        role,
        token_hash: format!("hash-{}", uuid::Uuid::now_v7()),
        invited_by: inviter,
        created_at: now(),
        expires_at: now() + valid_for,
        accepted_at: None,
    }
}

/// Moves the conversation from one of `from` to `to` now; it must succeed.
pub async fn move_to(
    store: &Arc<dyn Store>,
    ws: WorkspaceId,
    id: kefu_domain::ConversationId,
    from: &'static [kefu_domain::chat::ConversationStatus],
    to: kefu_domain::chat::ConversationStatus,
) -> kefu_domain::chat::Conversation {
    let t = kefu_domain::chat::Transition::new(from, to, now());
    store
        .transition_conversation(ws, id, &t)
        .await
        .expect("the transition applies")
}
