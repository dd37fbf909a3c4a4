use kefu_testkit::{on_both_backends, Backend, TestApp, PASSWORD};
use serde_json::json;

on_both_backends!(
    invitation_flow_creates_a_member,
    invitations_are_single_use_and_revocable,
    invitations_die_with_their_inviters_authority,
    existing_accounts_join_with_their_password,
    role_changes_follow_the_rules,
    removed_members_lose_access,
);

async fn invitation_flow_creates_a_member(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let inv = app
        .post(
            &format!("{base}/invitations"),
            Some(&owner.access_token),
            json!({"email": "New@Example.com", "role": "supervisor"}),
        )
        .await
        .expect(201);
    assert!(inv.body["token"].as_str().unwrap().starts_with("kefu_inv_"));
    assert_eq!(inv.body["email"], "new@example.com");
    let pending = app
        .get(&format!("{base}/invitations"), Some(&owner.access_token))
        .await
        .expect(200);
    assert_eq!(pending.body.as_array().unwrap().len(), 1);
    assert!(
        pending.body[0].get("token").is_none(),
        "the secret is shown once only"
    );
    // Weak input is refused with field reasons and nothing is created.
    let weak = app
        .post(
            "/api/v1/invitations/accept",
            None,
            json!({"token": inv.body["token"], "name": " ", "password": "short"}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(weak.body["details"]["fields"]["password"], "too_short");
    assert_eq!(weak.body["details"]["fields"]["name"], "required");
    let user = app
        .post(
            "/api/v1/invitations/accept",
            None,
            json!({"token": inv.body["token"], "name": "小王", "password": PASSWORD}),
        )
        .await
        .expect(201);
    assert_eq!(user.body["email"], "new@example.com");
    assert_eq!(user.body["name"], "小王");
    let members = app
        .get(&format!("{base}/members"), Some(&owner.access_token))
        .await
        .expect(200);
    let list = members.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let m = list
        .iter()
        .find(|m| m["email"] == "new@example.com")
        .unwrap();
    assert_eq!(
        (m["role"].as_str(), m["status"].as_str(), m["name"].as_str()),
        (Some("supervisor"), Some("active"), Some("小王"))
    );
    assert_eq!(m["user_id"], user.body["id"]);
    let login = app.login("new@example.com", PASSWORD).await.expect(200);
    assert_eq!(login.body["workspaces"][0]["role"], "supervisor");
    app.stop().await;
}

async fn invitations_are_single_use_and_revocable(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let inv = app
        .post(
            &format!("{base}/invitations"),
            Some(&owner.access_token),
            json!({"email": "a@example.com", "role": "agent"}),
        )
        .await
        .expect(201);
    let accept = json!({"token": inv.body["token"], "name": "A", "password": PASSWORD});
    app.post("/api/v1/invitations/accept", None, accept.clone())
        .await
        .expect(201);
    app.post("/api/v1/invitations/accept", None, accept)
        .await
        .expect_error(404, "invitation_not_found");
    app.post(
        &format!("{base}/invitations"),
        Some(&owner.access_token),
        json!({"email": "a@example.com", "role": "agent"}),
    )
    .await
    .expect_error(409, "already_member");
    let inv2 = app
        .post(
            &format!("{base}/invitations"),
            Some(&owner.access_token),
            json!({"email": "b@example.com", "role": "agent"}),
        )
        .await
        .expect(201);
    app.delete(
        &format!("{base}/invitations/{}", inv2.body["id"].as_str().unwrap()),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    app.post(
        "/api/v1/invitations/accept",
        None,
        json!({"token": inv2.body["token"], "name": "B", "password": PASSWORD}),
    )
    .await
    .expect_error(404, "invitation_not_found");
    assert!(app
        .store
        .find_user_by_email("b@example.com")
        .await
        .unwrap()
        .is_none());
    app.stop().await;
}

async fn existing_accounts_join_with_their_password(b: Backend) {
    let app = TestApp::spawn(b).await;
    let a = app.owner("a@example.com").await;
    let bws = app.owner("b@example.com").await;
    let inv = app
        .post(
            &format!("/api/v1/workspaces/{}/invitations", bws.workspace_id),
            Some(&bws.access_token),
            json!({"email": "a@example.com", "role": "agent"}),
        )
        .await
        .expect(201);
    app.post(
        "/api/v1/invitations/accept",
        None,
        json!({"token": inv.body["token"], "name": "x", "password": "wrong-password"}),
    )
    .await
    .expect_error(401, "invalid_credentials");
    app.post(
        "/api/v1/invitations/accept",
        None,
        json!({"token": inv.body["token"], "name": "x", "password": PASSWORD}),
    )
    .await
    .expect(201);
    let me = app
        .get("/api/v1/me", Some(&a.access_token))
        .await
        .expect(200);
    let roles: Vec<&str> = me.body["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec!["owner", "agent"]);
    app.stop().await;
}

async fn role_changes_follow_the_rules(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let (admin_id, admin) = app.member(&owner, "admin@example.com", "admin").await;
    let (agent_id, _) = app.member(&owner, "agent@example.com", "agent").await;
    let owner_id = app.get("/api/v1/me", Some(&owner.access_token)).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = app
        .patch(
            &format!("{base}/members/{agent_id}"),
            Some(&admin),
            json!({"role": "supervisor"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["role"], "supervisor");
    // Admins can neither create owners nor touch them.
    app.patch(
        &format!("{base}/members/{agent_id}"),
        Some(&admin),
        json!({"role": "owner"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.patch(
        &format!("{base}/members/{owner_id}"),
        Some(&admin),
        json!({"role": "agent"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.delete(&format!("{base}/members/{owner_id}"), Some(&admin))
        .await
        .expect_error(403, "forbidden");
    // The last owner stays.
    app.patch(
        &format!("{base}/members/{owner_id}"),
        Some(&owner.access_token),
        json!({"role": "admin"}),
    )
    .await
    .expect_error(409, "last_owner");
    app.delete(
        &format!("{base}/members/{owner_id}"),
        Some(&owner.access_token),
    )
    .await
    .expect_error(409, "last_owner");
    app.patch(
        &format!("{base}/members/{admin_id}"),
        Some(&owner.access_token),
        json!({"role": "owner"}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("{base}/members/{owner_id}"),
        Some(&owner.access_token),
        json!({"role": "admin"}),
    )
    .await
    .expect(200);
    // Unknown and malformed member ids.
    app.patch(
        &format!("{base}/members/{}", uuid::Uuid::now_v7()),
        Some(&admin),
        json!({"role": "agent"}),
    )
    .await
    .expect_error(404, "member_not_found");
    app.patch(
        &format!("{base}/members/not-a-uuid"),
        Some(&admin),
        json!({"role": "agent"}),
    )
    .await
    .expect_error(404, "member_not_found");
    app.stop().await;
}

async fn removed_members_lose_access(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let (agent_id, agent) = app.member(&owner, "agent@example.com", "agent").await;
    app.get(&format!("{base}/members"), Some(&agent))
        .await
        .expect(200);
    app.delete(
        &format!("{base}/members/{agent_id}"),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    app.get(&format!("{base}/members"), Some(&agent))
        .await
        .expect_error(404, "workspace_not_found");
    let me = app.get("/api/v1/me", Some(&agent)).await.expect(200);
    assert_eq!(me.body["workspaces"], json!([]));
    app.delete(
        &format!("{base}/members/{agent_id}"),
        Some(&owner.access_token),
    )
    .await
    .expect_error(404, "member_not_found");
    app.stop().await;
}

async fn invitations_die_with_their_inviters_authority(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let (admin_id, admin) = app.member(&owner, "admin@example.com", "admin").await;
    let invite = |email: &str| json!({"email": email, "role": "admin"});
    let demoted = app
        .post(
            &format!("{base}/invitations"),
            Some(&admin),
            invite("friend1@example.com"),
        )
        .await
        .expect(201);
    // Demoted: the invitation can no longer be used.
    app.patch(
        &format!("{base}/members/{admin_id}"),
        Some(&owner.access_token),
        json!({"role": "agent"}),
    )
    .await
    .expect(200);
    app.post(
        "/api/v1/invitations/accept",
        None,
        json!({"token": demoted.body["token"], "name": "F", "password": PASSWORD}),
    )
    .await
    .expect_error(404, "invitation_not_found");
    // Removed: pending invitations are revoked with the membership.
    app.patch(
        &format!("{base}/members/{admin_id}"),
        Some(&owner.access_token),
        json!({"role": "admin"}),
    )
    .await
    .expect(200);
    let removed = app
        .post(
            &format!("{base}/invitations"),
            Some(&admin),
            invite("friend2@example.com"),
        )
        .await
        .expect(201);
    app.delete(
        &format!("{base}/members/{admin_id}"),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    let pending = app
        .get(&format!("{base}/invitations"), Some(&owner.access_token))
        .await
        .expect(200);
    assert!(
        pending
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["email"] != "friend2@example.com"),
        "{}",
        pending.text
    );
    app.post(
        "/api/v1/invitations/accept",
        None,
        json!({"token": removed.body["token"], "name": "F", "password": PASSWORD}),
    )
    .await
    .expect_error(404, "invitation_not_found");
    assert!(app
        .store
        .find_user_by_email("friend2@example.com")
        .await
        .unwrap()
        .is_none());
    app.stop().await;
}
