use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::json;

on_both_backends!(
    admins_create_inboxes_members_read_them,
    inbox_input_is_validated
);

async fn admins_create_inboxes_members_read_them(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let (_, agent) = app.member(&owner, "agent@example.com", "agent").await;
    let r = app
        .post(
            &format!("{base}/inboxes"),
            Some(&owner.access_token),
            json!({
                "name": "官网咨询",
                "channel": "web",
                "allowed_origins": ["https://Shop.Example.cn/", "https://shop.example.cn"],
                "greeting": "您好，请问有什么可以帮您？"
            }),
        )
        .await
        .expect(201);
    let inbox = r.body;
    assert_eq!(inbox["name"], "官网咨询");
    assert_eq!(inbox["channel"], "web");
    assert_eq!(
        inbox["bot_enabled"], true,
        "the bot answers first by default"
    );
    assert_eq!(
        inbox["allowed_origins"],
        json!(["https://shop.example.cn"]),
        "normalised, deduplicated"
    );
    assert!(inbox["widget_key"]
        .as_str()
        .unwrap()
        .starts_with("kefu_wk_"));
    assert!(
        inbox["identity_secret"]
            .as_str()
            .is_some_and(|s| s.len() > 20),
        "admins get the HMAC secret to sign their users' ids"
    );
    let id = inbox["id"].as_str().unwrap();
    let one = app
        .get(&format!("{base}/inboxes/{id}"), Some(&agent))
        .await
        .expect(200);
    let mut public = inbox.clone();
    public.as_object_mut().unwrap().remove("identity_secret");
    assert_eq!(one.body, public, "agents never see the HMAC secret");
    let all = app
        .get(&format!("{base}/inboxes"), Some(&agent))
        .await
        .expect(200);
    assert_eq!(all.body, json!([public]));
    app.post(
        &format!("{base}/inboxes"),
        Some(&agent),
        json!({"name": "x", "channel": "web"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.get(
        &format!("{base}/inboxes/{}", uuid::Uuid::now_v7()),
        Some(&agent),
    )
    .await
    .expect_error(404, "inbox_not_found");
    let log = app
        .get(
            &format!("{base}/audit-log?limit=1"),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    assert_eq!(log.body["items"][0]["action"], "inbox.created");
    app.stop().await;
}

async fn inbox_input_is_validated(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let url = format!("/api/v1/workspaces/{}/inboxes", owner.workspace_id);
    let r = app
        .post(
            &url,
            Some(&owner.access_token),
            json!({"name": " ", "channel": "sms", "allowed_origins": ["shop.example.cn"]}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        r.body["details"]["fields"],
        json!({"name": "required", "channel": "unsupported", "allowed_origins": "invalid_origin"})
    );
    assert_eq!(
        app.get(&url, Some(&owner.access_token)).await.body,
        json!([]),
        "nothing half-written"
    );
    app.stop().await;
}
