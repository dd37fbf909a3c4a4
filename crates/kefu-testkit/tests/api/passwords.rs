//! Issue 14, finding 8: the password rule was length only (`aaaaaaaaaa`,
//! `password12` and ten spaces were accepted), and there was no "change my
//! password", no "sign out everywhere" and no way for an owner or admin to
//! make a member reset theirs.

use kefu_testkit::{on_both_backends, Backend, TestApp, PASSWORD};
use serde_json::{json, Value};

on_both_backends!(
    weak_new_passwords_are_refused_with_a_reason,
    changing_my_password_signs_out_my_other_sessions,
    sign_out_everywhere_ends_every_session,
    an_admin_can_require_a_member_to_choose_a_new_password,
);

const SESSION_ENDED: u16 = 4001;

fn reason(r: &kefu_testkit::Reply, field: &str) -> Value {
    r.body["details"]["fields"][field].clone()
}

async fn weak_new_passwords_are_refused_with_a_reason(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let inv = app
        .post(
            &format!("/api/v1/workspaces/{}/invitations", owner.workspace_id),
            Some(&owner.access_token),
            json!({"email": "wang.fang@example.com", "role": "agent"}),
        )
        .await
        .expect(201);
    for (password, why) in [
        ("aaaaaaaaaa", "too_simple"),
        ("          ", "too_simple"),
        ("password12", "too_common"),
        ("Qwertyuiop1!", "too_common"),
        ("woaini1314520", "too_common"),
        ("wang.fang.2026", "too_similar"),
        ("short", "too_short"),
    ] {
        let r = app
            .post(
                "/api/v1/invitations/accept",
                None,
                json!({"token": inv.body["token"], "name": "Wang Fang", "password": password}),
            )
            .await
            .expect_error(422, "validation_failed");
        assert_eq!(reason(&r, "password"), why, "{password:?}");
    }
    // A good one is taken (the invitation was not spent by the refusals).
    app.post(
        "/api/v1/invitations/accept",
        None,
        json!({"token": inv.body["token"], "name": "Wang Fang", "password": "teapot on the balcony"}),
    )
    .await
    .expect(201);
    app.stop().await;
}

async fn changing_my_password_signs_out_my_other_sessions(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let other = app.login("o@example.com", PASSWORD).await.expect(200);
    let other_token = other.body["access_token"].as_str().unwrap().to_string();
    let mut other_socket = app.ws(&other_token).await;
    let mut my_socket = app.ws(&owner.access_token).await;
    let change = |current: &str, new: &str| {
        app.post(
            "/api/v1/me/password",
            Some(&owner.access_token),
            json!({"current_password": current, "new_password": new}),
        )
    };
    let r = change("not my password", "a much better passphrase")
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(reason(&r, "current_password"), "invalid_password");
    let r = change(PASSWORD, "password123")
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(reason(&r, "new_password"), "too_common");
    let r = change(PASSWORD, PASSWORD)
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(reason(&r, "new_password"), "unchanged");
    let r = change(PASSWORD, "绿茶配月饼，中秋快乐 2026")
        .await
        .expect(200);
    assert_eq!(r.body["sessions_ended"], 1);
    // The other session is over, its socket closed; this one carries on.
    assert_eq!(other_socket.close_code(2).await, SESSION_ENDED);
    app.get("/api/v1/me", Some(&other_token))
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/v1/me", Some(&owner.access_token))
        .await
        .expect(200);
    my_socket.send(json!({"type": "ping"})).await;
    assert_eq!(my_socket.recv().await["type"], "pong");
    app.login("o@example.com", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    app.login("o@example.com", "绿茶配月饼，中秋快乐 2026")
        .await
        .expect(200);
    app.stop().await;
}

async fn sign_out_everywhere_ends_every_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let other = app.login("o@example.com", PASSWORD).await.expect(200);
    let other_token = other.body["access_token"].as_str().unwrap().to_string();
    let mut socket = app.ws(&other_token).await;
    app.post(
        "/api/v1/auth/sessions/revoke",
        Some(&owner.access_token),
        json!({}),
    )
    .await
    .expect(204);
    assert_eq!(socket.close_code(2).await, SESSION_ENDED);
    for t in [&owner.access_token, &other_token] {
        app.get("/api/v1/me", Some(t))
            .await
            .expect_error(401, "unauthorized");
    }
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": owner.refresh_token}),
    )
    .await
    .expect_error(401, "unauthorized");
    // The password still works: signing out is not a lock-out.
    app.login("o@example.com", PASSWORD).await.expect(200);
    app.stop().await;
}

async fn an_admin_can_require_a_member_to_choose_a_new_password(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let (admin_id, admin) = app.member(&owner, "admin@example.com", "admin").await;
    let (agent_id, agent) = app.member(&owner, "agent@example.com", "agent").await;
    let base = format!("/api/v1/workspaces/{}/members", owner.workspace_id);
    let mut agent_socket = app.ws(&agent).await;
    // Agents may not; nobody may target themselves.
    app.post(
        &format!("{base}/{admin_id}/require-password-change"),
        Some(&agent),
        json!({}),
    )
    .await
    .expect_error(403, "forbidden");
    app.post(
        &format!("{base}/{admin_id}/require-password-change"),
        Some(&admin),
        json!({}),
    )
    .await
    .expect_error(403, "forbidden");
    let r = app
        .post(
            &format!("{base}/{agent_id}/require-password-change"),
            Some(&admin),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["sessions_ended"], 1);
    assert_eq!(agent_socket.close_code(2).await, SESSION_ENDED);
    app.get("/api/v1/me", Some(&agent))
        .await
        .expect_error(401, "unauthorized");
    app.login("agent@example.com", PASSWORD)
        .await
        .expect_error(403, "password_change_required");
    let set = |new: &str| {
        app.post(
            "/api/v1/auth/password",
            None,
            json!({"email": "agent@example.com", "password": PASSWORD, "new_password": new}),
        )
    };
    let r = set(PASSWORD).await.expect_error(422, "validation_failed");
    assert_eq!(reason(&r, "new_password"), "unchanged");
    set("a different long passphrase").await.expect(200);
    app.login("agent@example.com", "a different long passphrase")
        .await
        .expect(200);
    let log = app
        .get(
            &format!(
                "/api/v1/workspaces/{}/audit-log?limit=5",
                owner.workspace_id
            ),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    assert!(
        log.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "member.password_change_required"),
        "{}",
        log.body
    );
    app.stop().await;
}
