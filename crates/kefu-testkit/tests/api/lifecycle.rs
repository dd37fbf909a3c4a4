use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::json;
use std::time::Duration;

on_both_backends!(shutdown_drains_in_flight_requests);

/// SIGTERM while a request is running: the request still gets its answer,
/// new connections are refused, and the server exits cleanly.
async fn shutdown_drains_in_flight_requests(b: Backend) {
    let mut app = TestApp::spawn_with(b, |s| {
        // A login that takes a few hundred milliseconds (argon2 cost).
        s.auth.service.argon2_memory_kib = 64 * 1024;
        s.auth.service.argon2_iterations = 4;
    })
    .await;
    let url = app.url("/api/v1/auth/login");
    let client = app.client.clone();
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"email": "nobody@example.com", "password": "some-password"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.begin_shutdown();
    let res = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    let reply = TestApp::reply(res).await;
    reply.expect_error(401, "invalid_credentials");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = reqwest::Client::new().get(app.url("/healthz")).send().await;
    assert!(fresh.is_err(), "no new connections after shutdown began");
    app.stop().await;
}
