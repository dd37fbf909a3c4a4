//! Tenant isolation: every workspace route, tried across workspaces, answers
//! 404 — exactly as if the workspace or resource did not exist — and leaves
//! the other workspace untouched.

use kefu_testkit::{on_both_backends, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    every_workspace_route_is_isolated,
    resources_of_another_workspace_are_not_found,
    api_tokens_stay_in_their_workspace
);

/// Every workspace-scoped route, with a body that would succeed.
fn routes(t: &Tenant) -> Vec<(Method, String, Option<Value>)> {
    let base = format!("/api/v1/workspaces/{}", t.owner.workspace_id);
    let (member, invitation, token, inbox) =
        (&t.member_id, &t.invitation_id, &t.token_id, &t.inbox_id);
    vec![
        (Method::GET, base.clone(), None),
        (
            Method::PATCH,
            base.clone(),
            Some(json!({"name": "hijacked"})),
        ),
        (Method::GET, format!("{base}/members"), None),
        (
            Method::PATCH,
            format!("{base}/members/{member}"),
            Some(json!({"role": "admin"})),
        ),
        (Method::DELETE, format!("{base}/members/{member}"), None),
        (Method::GET, format!("{base}/invitations"), None),
        (
            Method::POST,
            format!("{base}/invitations"),
            Some(json!({"email": "spy@example.com", "role": "owner"})),
        ),
        (
            Method::DELETE,
            format!("{base}/invitations/{invitation}"),
            None,
        ),
        (Method::GET, format!("{base}/api-tokens"), None),
        (
            Method::POST,
            format!("{base}/api-tokens"),
            Some(json!({"name": "spy", "scopes": ["workspace:read"]})),
        ),
        (Method::DELETE, format!("{base}/api-tokens/{token}"), None),
        (Method::GET, format!("{base}/audit-log"), None),
        (Method::GET, format!("{base}/sso/oidc"), None),
        (
            Method::PUT,
            format!("{base}/sso/oidc"),
            Some(
                json!({"issuer": "https://idp.example.com", "client_id": "c", "client_secret": "s", "enabled": false}),
            ),
        ),
        (Method::DELETE, format!("{base}/sso/oidc"), None),
        (Method::GET, format!("{base}/inboxes"), None),
        (
            Method::POST,
            format!("{base}/inboxes"),
            Some(json!({"name": "spy", "channel": "web"})),
        ),
        (Method::GET, format!("{base}/inboxes/{inbox}"), None),
        (
            Method::GET,
            format!("{base}/conversations/{}", t.conversation_id),
            None,
        ),
        (Method::GET, format!("{base}/conversations"), None),
        (
            Method::POST,
            format!("{base}/conversations/{}/handoff", t.conversation_id),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("{base}/conversations/{}/resolve", t.conversation_id),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("{base}/conversations/{}/reopen", t.conversation_id),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("{base}/conversations/{}/assign", t.conversation_id),
            Some(json!({"assignee_id": null})),
        ),
        (
            Method::GET,
            format!("{base}/conversations/{}/messages", t.conversation_id),
            None,
        ),
        (
            Method::POST,
            format!("{base}/conversations/{}/messages", t.conversation_id),
            Some(json!({"body": "spy", "client_msg_id": "spy-1"})),
        ),
        (
            Method::PATCH,
            format!("{base}/conversations/{}", t.conversation_id),
            Some(json!({"labels": ["spy"], "priority": 9})),
        ),
        (
            Method::POST,
            format!("{base}/conversations/{}/read", t.conversation_id),
            Some(json!({"seq": 1})),
        ),
        (
            Method::GET,
            format!("{base}/conversations/{}/assignments", t.conversation_id),
            None,
        ),
        (
            Method::PATCH,
            format!("{base}/inboxes/{inbox}"),
            Some(json!({"name": "spy"})),
        ),
        (
            Method::DELETE,
            format!("{base}/inboxes/{}", t.spare_inbox_id),
            None,
        ),
        (
            Method::GET,
            format!("{base}/contacts/{}", t.contact_id),
            None,
        ),
        (
            Method::PATCH,
            format!("{base}/contacts/{}", t.contact_id),
            Some(json!({"name": "spy"})),
        ),
        (
            Method::GET,
            format!("{base}/contacts/{}/conversations", t.contact_id),
            None,
        ),
        (Method::GET, format!("{base}/teams"), None),
        (
            Method::POST,
            format!("{base}/teams"),
            Some(json!({"name": "spies"})),
        ),
        (Method::GET, format!("{base}/teams/{}", t.team_id), None),
        (
            Method::PATCH,
            format!("{base}/teams/{}", t.team_id),
            Some(json!({"name": "spies"})),
        ),
        (Method::DELETE, format!("{base}/teams/{}", t.team_id), None),
        (Method::GET, format!("{base}/agents"), None),
        (Method::GET, format!("{base}/export"), None),
        (Method::GET, format!("{base}/export?format=csv"), None),
        (
            Method::PUT,
            format!("{base}/agents/me/status"),
            Some(json!({"status": "online"})),
        ),
        (Method::GET, format!("{base}/kb/synonyms"), None),
        (
            Method::PUT,
            format!("{base}/kb/synonyms"),
            Some(json!({"groups": [["spy", "mole"]]})),
        ),
    ]
}

struct Tenant {
    owner: kefu_testkit::Owner,
    member_id: String,
    invitation_id: String,
    token_id: String,
    token: String,
    inbox_id: String,
    spare_inbox_id: String,
    conversation_id: String,
    contact_id: String,
    team_id: String,
}

async fn tenant(app: &TestApp, email: &str) -> Tenant {
    let owner = app.owner(email).await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let (member_id, _) = app.member(&owner, &format!("agent.{email}"), "agent").await;
    let inv = app
        .post(
            &format!("{base}/invitations"),
            Some(&owner.access_token),
            json!({"email": format!("pending.{email}"), "role": "agent"}),
        )
        .await
        .expect(201);
    let t = app
        .post(&format!("{base}/api-tokens"), Some(&owner.access_token), json!({"name": "t", "scopes": ["workspace:read", "workspace:admin", "tokens:manage", "audit:read"]}))
        .await
        .expect(201);
    let inbox = app
        .post(
            &format!("{base}/inboxes"),
            Some(&owner.access_token),
            json!({"name": "web", "channel": "web"}),
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
    let sent = app
        .post(
            "/api/v1/widget/messages",
            Some(visitor.body["visitor_token"].as_str().unwrap()),
            json!({"client_msg_id": "hello", "body": "hello"}),
        )
        .await
        .expect(201);
    let spare = app
        .post(
            &format!("{base}/inboxes"),
            Some(&owner.access_token),
            json!({"name": "spare", "channel": "web"}),
        )
        .await
        .expect(201);
    let team = app
        .post(
            &format!("{base}/teams"),
            Some(&owner.access_token),
            json!({"name": "售后", "member_ids": [member_id]}),
        )
        .await
        .expect(201);
    app.call(
        reqwest::Method::PUT,
        &format!("{base}/kb/synonyms"),
        Some(&owner.access_token),
        Some(json!({"groups": [["退货", "退款"]]})),
    )
    .await
    .expect(200);
    Tenant {
        spare_inbox_id: spare.body["id"].as_str().unwrap().into(),
        contact_id: visitor.body["contact_id"].as_str().unwrap().into(),
        team_id: team.body["id"].as_str().unwrap().into(),
        conversation_id: sent.body["conversation_id"].as_str().unwrap().into(),
        inbox_id: inbox.body["id"].as_str().unwrap().into(),
        owner,
        member_id,
        invitation_id: inv.body["id"].as_str().unwrap().into(),
        token_id: t.body["id"].as_str().unwrap().into(),
        token: t.body["token"].as_str().unwrap().into(),
    }
}

async fn snapshot(app: &TestApp, t: &Tenant) -> Vec<Value> {
    let base = format!("/api/v1/workspaces/{}", t.owner.workspace_id);
    let mut out = Vec::new();
    for path in [
        base.clone(),
        format!("{base}/members"),
        format!("{base}/invitations"),
        format!("{base}/api-tokens"),
        format!("{base}/inboxes"),
        format!("{base}/conversations/{}/messages", t.conversation_id),
        format!("{base}/conversations"),
        format!("{base}/conversations/{}/assignments", t.conversation_id),
        format!("{base}/contacts/{}", t.contact_id),
        format!("{base}/teams"),
        format!("{base}/agents"),
        format!("{base}/kb/synonyms"),
    ] {
        out.push(
            app.get(&path, Some(&t.owner.access_token))
                .await
                .expect(200)
                .body,
        );
    }
    out
}

async fn every_workspace_route_is_isolated(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.http.rate_limit.enabled = false).await;
    let a = tenant(&app, "a@example.com").await;
    let victim = tenant(&app, "b@example.com").await;
    let before = snapshot(&app, &victim).await;
    let missing = uuid::Uuid::now_v7().to_string();
    for (method, path, body) in routes(&victim) {
        let cross = app
            .call(
                method.clone(),
                &path,
                Some(&a.owner.access_token),
                body.clone(),
            )
            .await;
        assert_eq!(
            cross.status, 404,
            "{method} {path} across tenants: {}",
            cross.text
        );
        assert_eq!(cross.code(), "workspace_not_found", "{method} {path}");
        // Indistinguishable from a workspace that does not exist.
        let path_missing = path.replace(&victim.owner.workspace_id, &missing);
        let none = app
            .call(
                method.clone(),
                &path_missing,
                Some(&a.owner.access_token),
                body,
            )
            .await;
        assert_eq!(
            (none.status, none.body.clone()),
            (cross.status, cross.body.clone()),
            "{method} {path}"
        );
    }
    assert_eq!(
        snapshot(&app, &victim).await,
        before,
        "the other workspace is untouched"
    );
    app.stop().await;
}

async fn resources_of_another_workspace_are_not_found(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.http.rate_limit.enabled = false).await;
    let a = tenant(&app, "a@example.com").await;
    let victim = tenant(&app, "b@example.com").await;
    let before = snapshot(&app, &victim).await;
    // A's own workspace in the path, B's resource ids.
    let base = format!("/api/v1/workspaces/{}", a.owner.workspace_id);
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("{base}/members/{}", victim.member_id),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::DELETE,
            format!("{base}/members/{}", victim.member_id),
            None,
        ),
        (
            Method::DELETE,
            format!("{base}/invitations/{}", victim.invitation_id),
            None,
        ),
        (
            Method::DELETE,
            format!("{base}/api-tokens/{}", victim.token_id),
            None,
        ),
        (
            Method::PATCH,
            format!("{base}/inboxes/{}", victim.inbox_id),
            Some(json!({"name": "spy"})),
        ),
        (
            Method::DELETE,
            format!("{base}/inboxes/{}", victim.spare_inbox_id),
            None,
        ),
        (
            Method::PATCH,
            format!("{base}/contacts/{}", victim.contact_id),
            Some(json!({"name": "spy"})),
        ),
        (
            Method::GET,
            format!("{base}/contacts/{}/conversations", victim.contact_id),
            None,
        ),
        (
            Method::PATCH,
            format!("{base}/teams/{}", victim.team_id),
            Some(json!({"name": "spies"})),
        ),
        (
            Method::DELETE,
            format!("{base}/teams/{}", victim.team_id),
            None,
        ),
        (
            Method::PATCH,
            format!("{base}/conversations/{}", victim.conversation_id),
            Some(json!({"priority": 9})),
        ),
        (
            Method::POST,
            format!("{base}/conversations/{}/read", victim.conversation_id),
            Some(json!({"seq": 1})),
        ),
        (
            Method::PUT,
            format!("{base}/agents/{}/status", victim.member_id),
            Some(json!({"status": "online"})),
        ),
    ] {
        let r = app
            .call(method.clone(), &path, Some(&a.owner.access_token), body)
            .await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
    }
    // Another workspace's team as a transfer target is the same as a team
    // that does not exist.
    let assign = format!("{base}/conversations/{}/assign", a.conversation_id);
    let foreign = app
        .post(
            &assign,
            Some(&a.owner.access_token),
            json!({"team_id": victim.team_id}),
        )
        .await;
    let missing = app
        .post(
            &assign,
            Some(&a.owner.access_token),
            json!({"team_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(foreign.status, 422);
    assert_eq!(foreign.body, missing.body);
    assert_eq!(snapshot(&app, &victim).await, before);
    app.stop().await;
}

async fn api_tokens_stay_in_their_workspace(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.http.rate_limit.enabled = false).await;
    let a = tenant(&app, "a@example.com").await;
    let victim = tenant(&app, "b@example.com").await;
    for (method, path, body) in routes(&victim) {
        let r = app.call(method.clone(), &path, Some(&a.token), body).await;
        assert_eq!(
            r.status, 404,
            "{method} {path} with another workspace's token: {}",
            r.text
        );
    }
    let me = app.get("/api/v1/me", Some(&a.token)).await.expect(200);
    let ids: Vec<&str> = me.body["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.owner.workspace_id.as_str()]);
    app.stop().await;
}
