use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::json;

on_both_backends!(
    tokens_act_within_their_scopes,
    tokens_cannot_mint_stronger_tokens,
    tokens_never_outrank_their_creator,
    token_input_is_validated,
);

async fn tokens_act_within_their_scopes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let t = app
        .post(
            &format!("{base}/api-tokens"),
            Some(&owner.access_token),
            json!({"name": "CRM sync", "scopes": ["workspace:read"], "expires_in_days": 30}),
        )
        .await
        .expect(201);
    let secret = t.body["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("kefu_pat_"));
    assert_eq!(t.body["scopes"], json!(["workspace:read"]));
    assert!(secret.starts_with(t.body["prefix"].as_str().unwrap()));
    app.get(&format!("{base}/members"), Some(&secret))
        .await
        .expect(200);
    // Outside its scopes: forbidden even though the creator could.
    app.get(&format!("{base}/audit-log"), Some(&secret))
        .await
        .expect_error(403, "forbidden");
    app.post(
        &format!("{base}/invitations"),
        Some(&secret),
        json!({"email": "x@example.com", "role": "agent"}),
    )
    .await
    .expect_error(403, "forbidden");
    // Tokens cannot sign out or enrol a second factor.
    app.post("/api/v1/auth/logout", Some(&secret), json!({}))
        .await
        .expect_error(403, "forbidden");
    app.post("/api/v1/me/totp", Some(&secret), json!({}))
        .await
        .expect_error(403, "forbidden");
    let list = app
        .get(&format!("{base}/api-tokens"), Some(&owner.access_token))
        .await
        .expect(200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert!(
        list.body[0].get("token").is_none(),
        "the secret is never listed"
    );
    assert!(list.body[0]["last_used_at"].is_string(), "use is recorded");
    let id = t.body["id"].as_str().unwrap();
    app.delete(
        &format!("{base}/api-tokens/{id}"),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    app.get(&format!("{base}/members"), Some(&secret))
        .await
        .expect_error(401, "unauthorized");
    app.stop().await;
}

async fn tokens_never_outrank_their_creator(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let (admin_id, admin) = app.member(&owner, "admin@example.com", "admin").await;
    let t = app
        .post(
            &format!("{base}/api-tokens"),
            Some(&admin),
            json!({"name": "ops", "scopes": ["audit:read", "workspace:read"]}),
        )
        .await
        .expect(201);
    let secret = t.body["token"].as_str().unwrap().to_string();
    app.get(&format!("{base}/audit-log"), Some(&secret))
        .await
        .expect(200);
    // The creator is demoted: the token follows.
    app.patch(
        &format!("{base}/members/{admin_id}"),
        Some(&owner.access_token),
        json!({"role": "agent"}),
    )
    .await
    .expect(200);
    app.get(&format!("{base}/audit-log"), Some(&secret))
        .await
        .expect_error(403, "forbidden");
    app.get(&format!("{base}/members"), Some(&secret))
        .await
        .expect(200);
    // The creator is removed: the token is revoked.
    app.delete(
        &format!("{base}/members/{admin_id}"),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    app.get(&format!("{base}/members"), Some(&secret))
        .await
        .expect_error(401, "unauthorized");
    app.stop().await;
}

async fn token_input_is_validated(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let url = format!("/api/v1/workspaces/{}/api-tokens", owner.workspace_id);
    let r = app
        .post(
            &url,
            Some(&owner.access_token),
            json!({"name": "", "scopes": [], "expires_in_days": 0}),
        )
        .await
        .expect_error(422, "validation_failed");
    let f = &r.body["details"]["fields"];
    assert_eq!(
        (
            f["name"].as_str(),
            f["scopes"].as_str(),
            f["expires_in_days"].as_str()
        ),
        (Some("required"), Some("required"), Some("out_of_range"))
    );
    app.post(
        &url,
        Some(&owner.access_token),
        json!({"name": "x", "scopes": ["root:all"]}),
    )
    .await
    .expect_error(422, "validation_failed");
    assert!(
        app.get(&url, Some(&owner.access_token))
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing half-written"
    );
    app.stop().await;
}

async fn tokens_cannot_mint_stronger_tokens(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let url = format!("/api/v1/workspaces/{}/api-tokens", owner.workspace_id);
    let manager = app
        .post(
            &url,
            Some(&owner.access_token),
            json!({"name": "token manager", "scopes": ["tokens:manage", "workspace:read"], "expires_in_days": 7}),
        )
        .await
        .expect(201);
    let secret = manager.body["token"].as_str().unwrap().to_string();
    app.post(
        &url,
        Some(&secret),
        json!({"name": "escalate", "scopes": ["audit:read"]}),
    )
    .await
    .expect_error(403, "forbidden");
    let child = app
        .post(
            &url,
            Some(&secret),
            json!({"name": "child", "scopes": ["workspace:read"], "expires_in_days": 365}),
        )
        .await
        .expect(201);
    assert_eq!(
        child.body["expires_at"], manager.body["expires_at"],
        "a child token expires no later than its parent"
    );
    app.stop().await;
}
