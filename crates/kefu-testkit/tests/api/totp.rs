use kefu_service::auth::totp;
use kefu_testkit::{on_both_backends, Backend, TestApp, PASSWORD};
use serde_json::json;

on_both_backends!(
    totp_enrolment_is_enforced_at_login,
    recovery_codes_work_once,
    workspace_can_require_totp_for_admins,
);

/// The code of the current time step moved by `offset` steps (the server
/// accepts one step of drift either way, and each step's code only once).
fn code(secret: &str, offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp::code_at(secret, now / totp::STEP_SECS + offset).unwrap()
}

/// Enrols the owner; returns (secret, recovery codes).
pub(crate) async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let e = app
        .post("/api/v1/me/totp", Some(token), json!({}))
        .await
        .expect(201);
    let secret = e.body["secret"].as_str().unwrap().to_string();
    assert!(e.body["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Kefu:"));
    app.post(
        "/api/v1/me/totp/confirm",
        Some(token),
        json!({"code": "000000"}),
    )
    .await
    .expect_error(422, "validation_failed");
    let c = app
        .post(
            "/api/v1/me/totp/confirm",
            Some(token),
            json!({"code": code(&secret, 0)}),
        )
        .await
        .expect(200);
    let codes: Vec<String> = c.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

async fn totp_enrolment_is_enforced_at_login(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    // Before confirmation, login still works without a code.
    app.post("/api/v1/me/totp", Some(&owner.access_token), json!({}))
        .await
        .expect(201);
    app.login("o@example.com", PASSWORD).await.expect(200);
    let (secret, recovery) = enrol(&app, &owner.access_token).await;
    app.post("/api/v1/me/totp", Some(&owner.access_token), json!({}))
        .await
        .expect_error(409, "totp_already_enabled");
    app.login("o@example.com", PASSWORD)
        .await
        .expect_error(401, "totp_required");
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": "o@example.com", "password": PASSWORD, "totp": "123456"}),
    )
    .await
    .expect_error(401, "invalid_totp");
    let next = code(&secret, 1);
    let login = json!({"email": "o@example.com", "password": PASSWORD, "totp": next});
    let r = app
        .post("/api/v1/auth/login", None, login.clone())
        .await
        .expect(200);
    // A code is good once: a replayed (phished, shoulder-surfed) code fails.
    app.post("/api/v1/auth/login", None, login)
        .await
        .expect_error(401, "invalid_totp");
    let me = app
        .get("/api/v1/me", Some(r.body["access_token"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(me.body["user"]["totp_enabled"], true);
    // A code never substitutes for the password.
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": "o@example.com", "password": "wrong-wrong", "totp": code(&secret, 0)}),
    )
    .await
    .expect_error(401, "invalid_credentials");
    // Disabling needs a valid code (here: a recovery code).
    app.call(
        reqwest::Method::DELETE,
        "/api/v1/me/totp",
        Some(&owner.access_token),
        Some(json!({"code": "111111"})),
    )
    .await
    .expect_error(422, "validation_failed");
    app.call(
        reqwest::Method::DELETE,
        "/api/v1/me/totp",
        Some(&owner.access_token),
        Some(json!({"code": recovery[0]})),
    )
    .await
    .expect(204);
    app.login("o@example.com", PASSWORD).await.expect(200);
    app.stop().await;
}

async fn recovery_codes_work_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let (_, codes) = enrol(&app, &owner.access_token).await;
    let login =
        |code: String| json!({"email": "o@example.com", "password": PASSWORD, "totp": code});
    app.post("/api/v1/auth/login", None, login(codes[0].to_uppercase()))
        .await
        .expect(200);
    app.post("/api/v1/auth/login", None, login(codes[0].clone()))
        .await
        .expect_error(401, "invalid_totp");
    app.post("/api/v1/auth/login", None, login(codes[1].replace('-', "")))
        .await
        .expect(200);
    app.stop().await;
}

async fn workspace_can_require_totp_for_admins(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let (_, admin_token) = app.member(&owner, "admin@example.com", "admin").await;
    let (_, agent_token) = app.member(&owner, "agent@example.com", "agent").await;
    let ws = format!("/api/v1/workspaces/{}", owner.workspace_id);
    // Requiring what one lacks would lock oneself out: refused.
    app.patch(
        &ws,
        Some(&owner.access_token),
        json!({"require_admin_totp": true}),
    )
    .await
    .expect_error(409, "enable_totp_first");
    enrol(&app, &owner.access_token).await;
    let r = app
        .patch(
            &ws,
            Some(&owner.access_token),
            json!({"require_admin_totp": true}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["require_admin_totp"], true);
    // The admin without a second factor is shut out until they enrol; the
    // agent is not concerned; the owner (enrolled) carries on.
    app.get(&format!("{ws}/members"), Some(&admin_token))
        .await
        .expect_error(403, "totp_enrollment_required");
    app.get(&format!("{ws}/members"), Some(&agent_token))
        .await
        .expect(200);
    app.get(&format!("{ws}/members"), Some(&owner.access_token))
        .await
        .expect(200);
    enrol(&app, &admin_token).await;
    app.get(&format!("{ws}/members"), Some(&admin_token))
        .await
        .expect(200);
    app.stop().await;
}
