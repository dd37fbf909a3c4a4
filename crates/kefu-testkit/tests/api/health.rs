use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::json;

on_both_backends!(
    the_web_assets_are_served_compressed_and_cached,
    health_and_readiness,
    readyz_is_503_until_migrations_are_applied,
    metrics_use_route_templates,
    openapi_documents_every_api_route,
    request_ids_are_generated_and_propagated,
    security_headers_are_set,
);

async fn health_and_readiness(b: Backend) {
    let app = TestApp::spawn(b).await;
    let h = app.get("/healthz", None).await.expect(200);
    assert_eq!(h.body, json!({"status": "ok"}));
    let r = app.get("/readyz", None).await.expect(200);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["checks"]["database"], "ok");
    app.stop().await;
}

async fn readyz_is_503_until_migrations_are_applied(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.auto_migrate = false).await;
    let r = app.get("/readyz", None).await.expect(503);
    assert_eq!(r.body["status"], "unavailable");
    assert_eq!(r.body["checks"]["database"], "migrations_pending");
    assert_eq!(
        app.get("/healthz", None).await.status,
        200,
        "alive though not ready"
    );
    app.store.migrate().await.unwrap();
    app.get("/readyz", None).await.expect(200);
    app.stop().await;
}

async fn metrics_use_route_templates(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    app.get(
        &format!("/api/v1/workspaces/{}/members", owner.workspace_id),
        Some(&owner.access_token),
    )
    .await
    .expect(200);
    app.get("/no/such/route", None).await.expect(404);
    let m = app.get("/metrics", None).await.expect(200);
    let text = m.text;
    assert!(
        text.contains(r#"kefu_http_requests_total{method="GET",route="/api/v1/workspaces/{workspace_id}/members",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains(&owner.workspace_id), "no ids in labels");
    assert!(
        text.contains(r#"kefu_http_request_duration_seconds_count{method="GET",route="/api/v1/workspaces/{workspace_id}/members",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("kefu_build_info"));
    app.stop().await;
}

async fn openapi_documents_every_api_route(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200).body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/auth/login", &["post"][..]),
        ("/api/v1/auth/refresh", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/me", &["get"]),
        ("/api/v1/me/totp", &["post", "delete"]),
        ("/api/v1/me/totp/confirm", &["post"]),
        ("/api/v1/invitations/accept", &["post"]),
        ("/api/v1/workspaces/{workspace_id}", &["get", "patch"]),
        ("/api/v1/workspaces/{workspace_id}/members", &["get"]),
        (
            "/api/v1/workspaces/{workspace_id}/members/{user_id}",
            &["patch", "delete"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/invitations",
            &["get", "post"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/invitations/{invitation_id}",
            &["delete"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/api-tokens",
            &["get", "post"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/api-tokens/{token_id}",
            &["delete"],
        ),
        ("/api/v1/workspaces/{workspace_id}/audit-log", &["get"]),
        ("/api/v1/workspaces/{workspace_id}/export", &["get"]),
        ("/api/v1/openapi.json", &["get"]),
        (
            "/api/v1/workspaces/{workspace_id}/inboxes",
            &["get", "post"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/inboxes/{inbox_id}",
            &["get"],
        ),
        ("/api/v1/widget/sessions", &["post"]),
        ("/api/v1/widget/messages", &["post"]),
        ("/api/v1/widget/conversations", &["get"]),
        (
            "/api/v1/widget/conversations/{conversation_id}/messages",
            &["get"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}",
            &["get"],
        ),
        ("/api/v1/workspaces/{workspace_id}/conversations", &["get"]),
        (
            "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/assign",
            &["post"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/handoff",
            &["post"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/resolve",
            &["post"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/reopen",
            &["post"],
        ),
        (
            "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/messages",
            &["get", "post"],
        ),
    ] {
        let entry = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from {:?}", paths.keys()));
        for m in methods {
            assert!(entry.get(*m).is_some(), "{m} {path} missing");
        }
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    app.stop().await;
}

async fn request_ids_are_generated_and_propagated(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    let replaced = res.headers()["x-request-id"].to_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(replaced).is_ok(),
        "oversized ids are replaced: {replaced}"
    );
    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    assert!(
        res.headers().contains_key("x-request-id"),
        "errors carry ids too"
    );
    app.stop().await;
}

async fn security_headers_are_set(b: Backend) {
    let app = TestApp::spawn(b).await;
    let r = app.get("/api/v1/me", None).await;
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    assert!(r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert!(
        !r.headers.contains_key("strict-transport-security"),
        "no HSTS over plain http"
    );
    app.stop().await;
    let app = TestApp::spawn_with(b, |s| s.http.trust_proxy_headers = true).await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(res.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    app.stop().await;
}

/// The embedded UI: the console at `/`, the widget with an ETag (304 on a
/// match) and its gzip copy, the demo page with only a well-formed key put
/// into it, and nothing outside the asset tree.
async fn the_web_assets_are_served_compressed_and_cached(b: Backend) {
    let app = TestApp::spawn(b).await;
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut req = app.client.get(app.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    let console = get("/", &[]).await.unwrap();
    assert_eq!(console.status(), 200);
    assert!(console.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(console.text().await.unwrap().contains("/console/app.js"));

    let plain = get("/widget.js", &[]).await.unwrap();
    assert_eq!(plain.status(), 200);
    let etag = plain.headers()["etag"].to_str().unwrap().to_string();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.unwrap().len();
    let gz = get("/widget.js", &[("accept-encoding", "gzip, br")])
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["etag"].to_str().unwrap(), etag);
    assert!(gz.bytes().await.unwrap().len() < plain_len / 2);
    let again = get("/widget.js", &[("if-none-match", &etag)])
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let demo = get("/demo?key=wk_abc-123", &[])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(demo.contains(r#"data-key="wk_abc-123""#), "{demo}");
    let hostile = get("/demo?key=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", &[])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!hostile.contains("alert(1)"), "a malformed key is dropped");
    assert!(hostile.contains(r#"data-key="""#));
    assert_eq!(get("/console/missing.js", &[]).await.unwrap().status(), 404);
}

/// Served from a directory (`http.assets_dir`), a path cannot climb out of it.
#[tokio::test]
async fn an_assets_dir_keeps_requests_inside_it() {
    let root = tempfile::tempdir().unwrap();
    let assets = root.path().join("assets");
    std::fs::create_dir_all(assets.join("console")).unwrap();
    std::fs::write(assets.join("console/app.js"), "// app").unwrap();
    std::fs::write(root.path().join("secret.txt"), "do not serve").unwrap();
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.http.assets_dir = Some(assets)).await;
    let get = |path: &str| app.client.get(app.url(path)).send();
    let ok = get("/console/app.js").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.text().await.unwrap(),
        "// app",
        "read from the directory"
    );
    for path in [
        "/console/..%2F..%2Fsecret.txt",
        "/console/%2e%2e/%2e%2e/secret.txt",
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("do not serve"));
    }
}
