use kefu_testkit::{on_both_backends, Backend, TestApp, PASSWORD};
use serde_json::json;

on_both_backends!(
    login_returns_the_contract_shape,
    wrong_credentials_are_indistinguishable,
    refresh_rotates_and_reuse_revokes_the_session,
    logout_ends_the_session,
    console_cookies_need_the_csrf_header,
);

async fn login_returns_the_contract_shape(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("Li.Lei@Example.com").await;
    let r = app
        .login("  li.lei@example.COM ", PASSWORD)
        .await
        .expect(200);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert_eq!(r.body["user"]["email"], "li.lei@example.com");
    assert!(r.body["user"]["id"].is_string());
    assert_eq!(
        r.body["workspaces"],
        json!([{"id": owner.workspace_id, "name": "WS of Li.Lei@Example.com", "role": "owner"}])
    );
    assert_eq!(r.headers["cache-control"], "no-store");
    let token = r.body["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me", Some(token)).await.expect(200);
    assert_eq!(me.body["user"]["email"], "li.lei@example.com");
    assert_eq!(me.body["workspaces"][0]["role"], "owner");
    app.stop().await;
}

async fn wrong_credentials_are_indistinguishable(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.owner("o@example.com").await;
    let wrong_pw = app
        .login("o@example.com", "not the password")
        .await
        .expect_error(401, "invalid_credentials");
    let no_user = app
        .login("ghost@example.com", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(wrong_pw.body, no_user.body);
    app.stop().await;
}

async fn refresh_rotates_and_reuse_revokes_the_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let first = owner.refresh_token.clone();
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": first}),
        )
        .await
        .expect(200);
    let second = r.body["refresh_token"].as_str().unwrap().to_string();
    let access2 = r.body["access_token"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    app.get("/api/v1/me", Some(&access2)).await.expect(200);
    // Replaying the spent token: 401 reused, and the whole family dies.
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": first}),
    )
    .await
    .expect_error(401, "refresh_token_reused");
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": second}),
    )
    .await
    .expect_error(401, "unauthorized");
    app.get("/api/v1/me", Some(&access2))
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/v1/me", Some(&owner.access_token))
        .await
        .expect_error(401, "unauthorized");
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": "kefu_rt_nonsense"}),
    )
    .await
    .expect_error(401, "unauthorized");
    app.stop().await;
}

async fn logout_ends_the_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let other = app.login("o@example.com", PASSWORD).await.expect(200);
    let r = app
        .post("/api/v1/auth/logout", Some(&owner.access_token), json!({}))
        .await
        .expect(204);
    assert!(r
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("kefu_access=;")));
    app.get("/api/v1/me", Some(&owner.access_token))
        .await
        .expect_error(401, "unauthorized");
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": owner.refresh_token}),
    )
    .await
    .expect_error(401, "unauthorized");
    // Other sessions of the same person are untouched.
    app.get(
        "/api/v1/me",
        Some(other.body["access_token"].as_str().unwrap()),
    )
    .await
    .expect(200);
    app.stop().await;
}

fn cookie_value(r: &kefu_testkit::Reply, name: &str) -> (String, String) {
    let line = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"));
    let value = line
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    (value, line)
}

async fn console_cookies_need_the_csrf_header(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let r = app.login("o@example.com", PASSWORD).await.expect(200);
    let (access, line) = cookie_value(&r, "kefu_access");
    assert!(
        line.contains("HttpOnly") && line.contains("Secure") && line.contains("SameSite=Strict"),
        "{line}"
    );
    let (refresh, rline) = cookie_value(&r, "kefu_refresh");
    assert!(
        rline.contains("Path=/api/v1/auth") && rline.contains("HttpOnly"),
        "{rline}"
    );
    let (csrf, cline) = cookie_value(&r, "kefu_csrf");
    assert!(
        !cline.contains("HttpOnly"),
        "the console must read it: {cline}"
    );
    let cookies = format!("kefu_access={access}; kefu_csrf={csrf}; kefu_refresh={refresh}");

    // Safe methods: the cookie alone is enough.
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.expect(200);
    // The console's socket: the cookie, from the console's own origin only.
    let own = format!("http://{}", app.addr);
    let cookie = format!("kefu_access={access}");
    let ok = app
        .ws_try_with(None, &[("cookie", &cookie), ("origin", &own)])
        .await;
    assert!(ok.is_ok(), "the console's own origin opens a socket");
    for origin in [Some("https://evil.example"), None] {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend(origin.map(|o| ("origin", o)));
        assert_eq!(
            app.ws_try_with(None, &headers).await.err(),
            Some(403),
            "origin {origin:?}"
        );
    }
    assert_eq!(
        app.ws_try_with(None, &[("origin", &own)]).await.err(),
        Some(401)
    );
    // Unsafe methods need the header to match the cookie.
    let invite = format!("/api/v1/workspaces/{}/invitations", owner.workspace_id);
    let body = json!({"email": "a@example.com", "role": "agent"});
    let res = app
        .client
        .post(app.url(&invite))
        .header("cookie", &cookies)
        .json(&body)
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.expect_error(403, "csrf_failed");
    let res = app
        .client
        .post(app.url(&invite))
        .header("cookie", &cookies)
        .header("x-csrf-token", "kefu_csrf_wrong-wrong-wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.expect_error(403, "csrf_failed");
    let res = app
        .client
        .post(app.url(&invite))
        .header("cookie", &cookies)
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.expect(201);
    // Refresh from the cookie, also CSRF-checked.
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", &cookies)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.expect_error(403, "csrf_failed");
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", &cookies)
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.expect(200);
    app.stop().await;
}
