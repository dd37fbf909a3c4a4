//! The permission table through HTTP: one test per role × action, each
//! performed by a real member of that role on a real server.

use kefu_testkit::{Backend, TestApp};
use reqwest::Method;
use serde_json::json;

#[derive(Debug, Clone, Copy)]
enum Act {
    ViewWorkspace,
    UpdateSettings,
    ViewMembers,
    Invite,
    ChangeRole,
    RemoveMember,
    CreateToken,
    ViewAudit,
    ViewInboxes,
    CreateInbox,
    CreateTeam,
    SetOthersStatus,
    EditContact,
    ExportWorkspace,
}

/// Performs `act` as a fresh member with `role`; returns the status.
async fn attempt(b: Backend, role: &str, act: Act) -> u16 {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let token = if role == "owner" {
        owner.access_token.clone()
    } else {
        app.member(&owner, &format!("{role}@example.com"), role)
            .await
            .1
    };
    let (victim_id, _) = app.member(&owner, "victim@example.com", "agent").await;
    let (method, path, body) = match act {
        Act::ViewWorkspace => (Method::GET, base.clone(), None),
        Act::UpdateSettings => (
            Method::PATCH,
            base.clone(),
            Some(json!({"name": "Renamed"})),
        ),
        Act::ViewMembers => (Method::GET, format!("{base}/members"), None),
        Act::Invite => (
            Method::POST,
            format!("{base}/invitations"),
            Some(json!({"email": "n@example.com", "role": "agent"})),
        ),
        Act::ChangeRole => (
            Method::PATCH,
            format!("{base}/members/{victim_id}"),
            Some(json!({"role": "supervisor"})),
        ),
        Act::RemoveMember => (Method::DELETE, format!("{base}/members/{victim_id}"), None),
        Act::CreateToken => (
            Method::POST,
            format!("{base}/api-tokens"),
            Some(json!({"name": "t", "scopes": ["workspace:read"]})),
        ),
        Act::ViewAudit => (Method::GET, format!("{base}/audit-log"), None),
        Act::ViewInboxes => (Method::GET, format!("{base}/inboxes"), None),
        Act::CreateInbox => (
            Method::POST,
            format!("{base}/inboxes"),
            Some(json!({"name": "Web", "channel": "web"})),
        ),
        Act::CreateTeam => (
            Method::POST,
            format!("{base}/teams"),
            Some(json!({"name": "售后"})),
        ),
        Act::SetOthersStatus => (
            Method::PUT,
            format!("{base}/agents/{victim_id}/status"),
            Some(json!({"status": "online"})),
        ),
        Act::ExportWorkspace => (Method::GET, format!("{base}/export"), None),
        Act::EditContact => {
            let inbox = app
                .post(
                    &format!("{base}/inboxes"),
                    Some(&owner.access_token),
                    json!({"name": "Web", "channel": "web"}),
                )
                .await
                .expect(201);
            let visitor = app
                .post(
                    "/api/v1/widget/sessions",
                    None,
                    json!({"widget_key": inbox.body["widget_key"]}),
                )
                .await
                .expect(201);
            (
                Method::PATCH,
                format!(
                    "{base}/contacts/{}",
                    visitor.body["contact_id"].as_str().unwrap()
                ),
                Some(json!({"name": "张三"})),
            )
        }
    };
    let r = app.call(method, &path, Some(&token), body).await;
    if r.status == 403 {
        assert_eq!(r.code(), "forbidden", "{}", r.text);
    }
    let status = r.status.as_u16();
    app.stop().await;
    status
}

macro_rules! cells {
    ($($name:ident: $role:literal $act:ident => $allowed:literal;)*) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::check(kefu_testkit::Backend::Sqlite, $role, super::Act::$act, $allowed).await } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::check(kefu_testkit::Backend::Postgres, $role, super::Act::$act, $allowed).await } )*
        }
    };
}

async fn check(b: Backend, role: &str, act: Act, allowed: bool) {
    let status = attempt(b, role, act).await;
    if allowed {
        assert!(
            (200..300).contains(&status),
            "{role} should be allowed to {act:?}, got {status}"
        );
    } else {
        assert_eq!(status, 403, "{role} must be refused {act:?}");
    }
}

cells! {
    owner_view_workspace: "owner" ViewWorkspace => true;
    admin_view_workspace: "admin" ViewWorkspace => true;
    supervisor_view_workspace: "supervisor" ViewWorkspace => true;
    agent_view_workspace: "agent" ViewWorkspace => true;
    owner_update_settings: "owner" UpdateSettings => true;
    admin_update_settings: "admin" UpdateSettings => true;
    supervisor_update_settings: "supervisor" UpdateSettings => false;
    agent_update_settings: "agent" UpdateSettings => false;
    owner_view_members: "owner" ViewMembers => true;
    admin_view_members: "admin" ViewMembers => true;
    supervisor_view_members: "supervisor" ViewMembers => true;
    agent_view_members: "agent" ViewMembers => true;
    owner_invite: "owner" Invite => true;
    admin_invite: "admin" Invite => true;
    supervisor_invite: "supervisor" Invite => false;
    agent_invite: "agent" Invite => false;
    owner_change_role: "owner" ChangeRole => true;
    admin_change_role: "admin" ChangeRole => true;
    supervisor_change_role: "supervisor" ChangeRole => false;
    agent_change_role: "agent" ChangeRole => false;
    owner_remove_member: "owner" RemoveMember => true;
    admin_remove_member: "admin" RemoveMember => true;
    supervisor_remove_member: "supervisor" RemoveMember => false;
    agent_remove_member: "agent" RemoveMember => false;
    owner_create_token: "owner" CreateToken => true;
    admin_create_token: "admin" CreateToken => true;
    supervisor_create_token: "supervisor" CreateToken => false;
    agent_create_token: "agent" CreateToken => false;
    owner_view_audit: "owner" ViewAudit => true;
    admin_view_audit: "admin" ViewAudit => true;
    supervisor_view_audit: "supervisor" ViewAudit => false;
    agent_view_audit: "agent" ViewAudit => false;
    owner_view_inboxes: "owner" ViewInboxes => true;
    admin_view_inboxes: "admin" ViewInboxes => true;
    supervisor_view_inboxes: "supervisor" ViewInboxes => true;
    agent_view_inboxes: "agent" ViewInboxes => true;
    owner_create_inbox: "owner" CreateInbox => true;
    admin_create_inbox: "admin" CreateInbox => true;
    supervisor_create_inbox: "supervisor" CreateInbox => false;
    agent_create_inbox: "agent" CreateInbox => false;
    owner_create_team: "owner" CreateTeam => true;
    admin_create_team: "admin" CreateTeam => true;
    supervisor_create_team: "supervisor" CreateTeam => false;
    agent_create_team: "agent" CreateTeam => false;
    owner_set_others_status: "owner" SetOthersStatus => true;
    admin_set_others_status: "admin" SetOthersStatus => true;
    supervisor_set_others_status: "supervisor" SetOthersStatus => true;
    agent_set_others_status: "agent" SetOthersStatus => false;
    owner_edit_contact: "owner" EditContact => true;
    admin_edit_contact: "admin" EditContact => true;
    supervisor_edit_contact: "supervisor" EditContact => true;
    agent_edit_contact: "agent" EditContact => true;
    owner_export_workspace: "owner" ExportWorkspace => true;
    admin_export_workspace: "admin" ExportWorkspace => false;
    supervisor_export_workspace: "supervisor" ExportWorkspace => false;
    agent_export_workspace: "agent" ExportWorkspace => false;
}
