use kefu_testkit::{on_both_backends, Backend, TestApp};
use reqwest::Method;
use serde_json::json;

on_both_backends!(
    unknown_routes_and_methods,
    malformed_and_invalid_bodies,
    oversized_bodies_are_413,
    missing_or_bad_tokens_are_401,
    slow_requests_time_out,
);

async fn unknown_routes_and_methods(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.get("/api/v1/nothing-here", None)
        .await
        .expect_error(404, "not_found");
    app.get("/totally/elsewhere", None)
        .await
        .expect_error(404, "not_found");
    let r = app
        .call(Method::PUT, "/api/v1/auth/login", None, Some(json!({})))
        .await;
    let r = r.expect_error(405, "method_not_allowed");
    assert!(r.headers.contains_key("allow"));
    app.stop().await;
}

async fn malformed_and_invalid_bodies(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.expect_error(400, "invalid_json");
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": 5, "password": "x"}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"], json!({"email": "invalid"}));
    let r = app
        .post("/api/v1/auth/login", None, json!({"email": "a@b.co"}))
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"], json!({"password": "required"}));
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .body("{}")
        .send()
        .await
        .unwrap();
    TestApp::reply(res)
        .await
        .expect_error(415, "unsupported_media_type");
    // Field-level validation names the fields.
    let owner = app.owner("o@example.com").await;
    // An array of the fields in order is not an object: serde alone would
    // read it as one (found by fuzzing the socket frames, the same quirk).
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!(["o@example.com", "a-wrong-password"]),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"], json!({"body": "invalid"}));
    let r = app
        .post(
            &format!("/api/v1/workspaces/{}/teams", owner.workspace_id),
            Some(&owner.access_token),
            json!(["Team from an array"]),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"], json!({"body": "invalid"}));
    let r = app
        .post(
            &format!("/api/v1/workspaces/{}/invitations", owner.workspace_id),
            Some(&owner.access_token),
            json!({"email": "not-an-email", "role": "agent"}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"]["email"], "invalid_email");
    let r = app
        .post(
            &format!("/api/v1/workspaces/{}/invitations", owner.workspace_id),
            Some(&owner.access_token),
            json!({"email": "x@example.com", "role": "emperor"}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"], json!({"role": "invalid"}));
    assert!(r.body["details"]["reason"]
        .as_str()
        .unwrap()
        .contains("emperor"));
    // Query strings are validated the same way.
    let r = app
        .get(
            &format!(
                "/api/v1/workspaces/{}/audit-log?limit=lots",
                owner.workspace_id
            ),
            Some(&owner.access_token),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"], json!({"limit": "invalid"}));
    app.stop().await;
}

async fn oversized_bodies_are_413(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.http.body_limit_bytes = 2048).await;
    let big = "x".repeat(4096);
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": "a@b.co", "password": big}),
    )
    .await
    .expect_error(413, "payload_too_large");
    // Under the limit the same route answers normally.
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": "a@b.co", "password": "short"}),
    )
    .await
    .expect_error(401, "invalid_credentials");
    app.stop().await;
}

async fn missing_or_bad_tokens_are_401(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.get("/api/v1/me", None)
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/v1/me", Some("v1.garbage.sig"))
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/v1/me", Some("kefu_pat_unknown"))
        .await
        .expect_error(401, "unauthorized");
    let ws = uuid::Uuid::now_v7();
    app.get(&format!("/api/v1/workspaces/{ws}/members"), None)
        .await
        .expect_error(401, "unauthorized");
    app.stop().await;
}

/// A request that outlives `http.request_timeout_secs` is answered 503
/// `timeout`. Login is made slow by an expensive (but valid) argon2 cost.
async fn slow_requests_time_out(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.http.request_timeout_secs = 1;
        s.auth.service.argon2_memory_kib = 256 * 1024;
        s.auth.service.argon2_iterations = 12;
    })
    .await;
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": "slow@example.com", "password": "whatever-long"}),
    )
    .await
    .expect_error(503, "timeout");
    app.stop().await;
}
