use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    sessions_keep_a_returning_visitors_contact,
    allowed_origins_are_enforced,
    visitor_tokens_are_not_member_tokens,
    widget_routes_answer_cors,
);

/// An inbox in a fresh workspace; returns (owner, inbox json).
async fn inbox(app: &TestApp, origins: Value) -> (kefu_testkit::Owner, Value) {
    let owner = app.owner("o@example.com").await;
    let r = app
        .post(
            &format!("/api/v1/workspaces/{}/inboxes", owner.workspace_id),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "allowed_origins": origins}),
        )
        .await
        .expect(201);
    (owner, r.body)
}

async fn session(app: &TestApp, body: Value, origin: Option<&str>) -> kefu_testkit::Reply {
    let mut req = app
        .client
        .post(app.url("/api/v1/widget/sessions"))
        .json(&body);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    TestApp::reply(req.send().await.unwrap()).await
}

async fn sessions_keep_a_returning_visitors_contact(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (_, inbox) = inbox(&app, json!([])).await;
    let key = inbox["widget_key"].clone();
    let first = session(&app, json!({"widget_key": key, "locale": "zh-CN"}), None)
        .await
        .expect(201);
    let visitor_id = first.body["visitor_id"].as_str().unwrap().to_string();
    assert!(visitor_id.starts_with("v_"));
    assert!(first.body["visitor_token"]
        .as_str()
        .unwrap()
        .starts_with("vt1."));
    assert_eq!(first.body["expires_in"], 43200);
    let again = session(
        &app,
        json!({"widget_key": key, "visitor_id": visitor_id}),
        None,
    )
    .await
    .expect(201);
    assert_eq!(
        again.body["contact_id"], first.body["contact_id"],
        "history is kept"
    );
    assert_eq!(again.body["visitor_id"], visitor_id.as_str());
    // A guessable id is not honoured: it would unlock someone's history.
    let guess = session(&app, json!({"widget_key": key, "visitor_id": "1"}), None)
        .await
        .expect(201);
    assert_ne!(guess.body["visitor_id"], "1");
    assert_ne!(guess.body["contact_id"], first.body["contact_id"]);
    session(&app, json!({"widget_key": "kefu_wk_nope"}), None)
        .await
        .expect_error(404, "inbox_not_found");
    session(&app, json!({}), None)
        .await
        .expect_error(422, "validation_failed");
    app.stop().await;
}

async fn allowed_origins_are_enforced(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (_, inbox) = inbox(&app, json!(["https://shop.example.cn"])).await;
    let body = json!({"widget_key": inbox["widget_key"]});
    session(&app, body.clone(), Some("https://shop.example.cn"))
        .await
        .expect(201);
    session(&app, body.clone(), Some("https://SHOP.example.cn"))
        .await
        .expect(201);
    session(&app, body.clone(), Some("https://evil.example.com"))
        .await
        .expect_error(403, "origin_not_allowed");
    session(&app, body, Some("http://shop.example.cn"))
        .await
        .expect_error(403, "origin_not_allowed");
    app.stop().await;
}

async fn visitor_tokens_are_not_member_tokens(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (owner, inbox) = inbox(&app, json!([])).await;
    let s = session(&app, json!({"widget_key": inbox["widget_key"]}), None)
        .await
        .expect(201);
    let vt = s.body["visitor_token"].as_str().unwrap();
    app.get("/api/v1/me", Some(vt))
        .await
        .expect_error(401, "unauthorized");
    app.get(
        &format!("/api/v1/workspaces/{}/members", owner.workspace_id),
        Some(vt),
    )
    .await
    .expect_error(401, "unauthorized");
    app.stop().await;
}

async fn widget_routes_answer_cors(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/widget/sessions"))
        .header("origin", "https://shop.example.cn")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example.cn"
    );
    assert!(res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));
    // Member routes do not answer cross-origin requests.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("origin", "https://shop.example.cn")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    app.stop().await;
}
