use kefu_testkit::{on_both_backends, Backend, TestApp, PASSWORD};

on_both_backends!(
    invitation_acceptance_is_no_password_oracle,
    accounts_lock_after_repeated_failures,
    login_attempts_are_limited_per_ip,
    general_rate_limit_applies_per_ip
);

async fn accounts_lock_after_repeated_failures(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.auth.service.throttle.account_failures = 3;
        s.auth.service.throttle.lockout_secs = 600;
    })
    .await;
    app.owner("o@example.com").await;
    for _ in 0..3 {
        app.login("o@example.com", "wrong-password")
            .await
            .expect_error(401, "invalid_credentials");
    }
    // Locked: even the right password is refused until the lockout ends.
    let r = app
        .login("o@example.com", PASSWORD)
        .await
        .expect_error(429, "rate_limited");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((500..=600).contains(&retry), "{retry}");
    assert_eq!(r.body["details"]["reason"], "account_locked");
    // Other accounts are not affected.
    app.login("ghost@example.com", "x-wrong-password")
        .await
        .expect_error(401, "invalid_credentials");
    app.stop().await;
}

async fn login_attempts_are_limited_per_ip(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.auth.service.throttle.ip_attempts = 4).await;
    app.owner("o@example.com").await; // signs in once
    for i in 0..3 {
        app.login(&format!("u{i}@example.com"), "wrong-password")
            .await
            .expect_error(401, "invalid_credentials");
    }
    let r = app
        .login("o@example.com", PASSWORD)
        .await
        .expect_error(429, "rate_limited");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(r.body["details"]["reason"], "too_many_attempts");
    app.stop().await;
}

async fn general_rate_limit_applies_per_ip(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.http.rate_limit.burst = 5;
        s.http.rate_limit.per_second = 0.5;
    })
    .await;
    for _ in 0..5 {
        app.get("/api/v1/me", None).await.expect(401);
    }
    let r = app
        .get("/api/v1/me", None)
        .await
        .expect_error(429, "rate_limited");
    assert_eq!(r.headers["retry-after"], "2");
    // Probes are exempt, so an orchestrator never sees a throttled health check.
    app.get("/healthz", None).await.expect(200);
    app.get("/readyz", None).await.expect(200);
    let m = app.get("/metrics", None).await.expect(200);
    assert!(
        m.text
            .contains(r#"kefu_rate_limited_requests_total{reason="ip"} 1"#),
        "{}",
        m.text
    );
    app.stop().await;
}

/// Whoever holds an invitation for an existing account's e-mail cannot use
/// the accept endpoint to guess that account's password without limit.
async fn invitation_acceptance_is_no_password_oracle(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.auth.service.throttle.account_failures = 3).await;
    app.owner("victim@example.com").await;
    let attacker = app.owner("attacker@example.com").await;
    let inv = app
        .post(
            &format!("/api/v1/workspaces/{}/invitations", attacker.workspace_id),
            Some(&attacker.access_token),
            serde_json::json!({"email": "victim@example.com", "role": "agent"}),
        )
        .await
        .expect(201);
    let guess =
        |pw: &str| serde_json::json!({"token": inv.body["token"], "name": "x", "password": pw});
    for i in 0..3 {
        app.post(
            "/api/v1/invitations/accept",
            None,
            guess(&format!("guess-{i}-long")),
        )
        .await
        .expect_error(401, "invalid_credentials");
    }
    app.post("/api/v1/invitations/accept", None, guess(PASSWORD))
        .await
        .expect_error(429, "rate_limited");
    // The lock is the account's: login is refused as well.
    app.login("victim@example.com", PASSWORD)
        .await
        .expect_error(429, "rate_limited");
    app.stop().await;
}
