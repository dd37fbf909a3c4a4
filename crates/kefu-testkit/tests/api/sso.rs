//! Single sign-on with OpenID Connect against a real provider
//! (`oidc_provider`): the whole flow over HTTP, who is let in and who is
//! not, replay and tampering, and tenant isolation.

use super::oidc_provider::{client, Browser, Provider};
use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

on_both_backends!(
    sso_signs_in_and_joins_just_in_time,
    sso_refuses_what_it_must,
    sso_links_an_existing_member_by_verified_email,
    sso_sessions_stay_in_their_workspace,
    sso_tampered_callbacks_are_refused,
    sso_admins_need_a_provider_second_factor_where_required,
    sso_a_sign_in_started_on_one_replica_finishes_on_another,
);

const SECRET: &str = "client-secret-for-tests";

fn callback_uri(app: &TestApp) -> String {
    app.url("/api/v1/auth/oidc/callback")
}

fn start_url(app: &TestApp, ws: &str) -> String {
    app.url(&format!("/api/v1/auth/oidc/{ws}/start"))
}

/// A provider with client `kefu` (RS256) and `kefu-es` (ES256).
fn provider(app: &TestApp, host: &str) -> Provider {
    let cb = callback_uri(app);
    Provider::start(
        vec![
            client("kefu", SECRET, "RS256", &cb),
            client("kefu-es", SECRET, "ES256", &cb),
        ],
        host,
    )
}

async fn configure(app: &TestApp, owner: &Owner, body: Value) -> kefu_testkit::Reply {
    app.call(
        Method::PUT,
        &format!("/api/v1/workspaces/{}/sso/oidc", owner.workspace_id),
        Some(&owner.access_token),
        Some(body),
    )
    .await
}

fn settings(p: &Provider, client_id: &str, jit: &[&str], role: &str) -> Value {
    json!({
        "issuer": p.issuer, "client_id": client_id, "client_secret": SECRET,
        "enabled": true, "jit_domains": jit, "jit_role": role,
    })
}

/// Visits the callback; on success returns the session's access token.
async fn finish(b: &mut Browser, callback: &str) -> Result<String, String> {
    let page = b.get(callback).await;
    assert_eq!(page.status, 303, "callback: {}", page.body);
    let to = page.location.expect("a redirect").to_string();
    if to.ends_with("/#/inbox") {
        Ok(b.cookie(callback, "kefu_access").expect("access cookie"))
    } else {
        let code = to
            .split("sso_error=")
            .nth(1)
            .unwrap_or_else(|| panic!("{to}"));
        Err(code.to_string())
    }
}

async fn sign_in(app: &TestApp, ws: &str, login: &str) -> Result<String, String> {
    let mut b = Browser::default();
    let cb = b.sign_in_at_provider(&start_url(app, ws), login).await;
    finish(&mut b, &cb).await
}

async fn sso_signs_in_and_joins_just_in_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner("owner@corp.example").await;
    let p = provider(&app, "127.0.0.1");
    let set = configure(
        &app,
        &owner,
        settings(&p, "kefu", &["Corp.Example"], "supervisor"),
    )
    .await
    .expect(200);
    assert_eq!(set.body["client_secret_set"], true);
    assert_eq!(set.body["jit_domains"], json!(["corp.example"]));
    assert_eq!(set.body["scopes"], json!(["openid", "email", "profile"]));
    assert_eq!(set.body["redirect_uri"], callback_uri(&app));
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let got = app
        .get(&format!("{base}/sso/oidc"), Some(&owner.access_token))
        .await
        .expect(200);
    assert!(!got.text.contains(SECRET), "the secret is never returned");
    assert!(got.body.get("client_secret").is_none());

    // A new person of an allowed domain signs in and joins.
    let token = sign_in(&app, &owner.workspace_id, "ann@corp.example")
        .await
        .expect("signed in");
    let me = app.get("/api/v1/me", Some(&token)).await.expect(200);
    assert_eq!(me.body["user"]["email"], "ann@corp.example");
    assert_eq!(me.body["user"]["name"], "Ann");
    let spaces = me.body["workspaces"].as_array().unwrap();
    assert_eq!(spaces.len(), 1);
    assert_eq!(spaces[0]["id"], owner.workspace_id.as_str());
    assert_eq!(spaces[0]["role"], "supervisor");
    app.get(&format!("{base}/conversations"), Some(&token))
        .await
        .expect(200);
    let user_id = me.body["user"]["id"].clone();

    // Again: the same account (linked by issuer and subject), no new member.
    let again = sign_in(&app, &owner.workspace_id, "ann@corp.example")
        .await
        .unwrap();
    let me2 = app.get("/api/v1/me", Some(&again)).await.expect(200);
    assert_eq!(me2.body["user"]["id"], user_id);
    let members = app
        .get(&format!("{base}/members"), Some(&owner.access_token))
        .await
        .expect(200);
    assert_eq!(members.body.as_array().unwrap().len(), 2);

    // Audited: one joining, two sign-ins.
    let log = app
        .get(&format!("{base}/audit-log"), Some(&owner.access_token))
        .await
        .expect(200);
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[..4],
        [
            "sso.login",
            "sso.login",
            "member.joined_via_sso",
            "sso.configured"
        ]
    );
    assert!(!log.text.contains(SECRET));

    // The session ends like any other.
    app.post("/api/v1/auth/logout", Some(&again), json!({}))
        .await
        .expect(204);
    app.get("/api/v1/me", Some(&again)).await.expect(401);
}

async fn sso_refuses_what_it_must(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner("owner@corp.example").await;
    let p = provider(&app, "127.0.0.1");
    let ws = owner.workspace_id.clone();

    // Not configured yet, or not enabled.
    let b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = b.get(start_url(&app, &ws)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/#/login?sso_error=sso_not_configured"
    );
    let r = b
        .get(start_url(&app, &ws))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let r = TestApp::reply(r).await;
    r.expect_error(404, "sso_not_configured");

    // Validation: owner is never given by JIT; the secret is needed first.
    let mut bad = settings(&p, "kefu", &["corp.example"], "owner");
    configure(&app, &owner, bad.clone())
        .await
        .expect_error(422, "validation_failed");
    bad["jit_role"] = json!("agent");
    bad.as_object_mut().unwrap().remove("client_secret");
    let r = configure(&app, &owner, bad).await.expect(422);
    assert_eq!(r.body["details"]["fields"]["client_secret"], "required");
    let r = configure(
        &app,
        &owner,
        json!({"issuer": "http://idp.example", "client_id": "x",
        "client_secret": "y", "enabled": false}),
    )
    .await
    .expect(422);
    assert_eq!(r.body["details"]["fields"]["issuer"], "invalid_url");

    // JIT off: someone who is not a member is refused.
    configure(&app, &owner, settings(&p, "kefu", &[], "agent"))
        .await
        .expect(200);
    assert_eq!(
        sign_in(&app, &ws, "zoe@corp.example").await.unwrap_err(),
        "sso_not_a_member"
    );
    // JIT on, for another domain.
    configure(
        &app,
        &owner,
        settings(&p, "kefu", &["corp.example"], "agent"),
    )
    .await
    .expect(200);
    assert_eq!(
        sign_in(&app, &ws, "eve@other.example").await.unwrap_err(),
        "sso_domain_not_allowed"
    );
    // An e-mail the provider did not verify, or none at all.
    assert_eq!(
        sign_in(&app, &ws, "unverified+bob@corp.example")
            .await
            .unwrap_err(),
        "sso_email_unverified"
    );
    assert_eq!(
        sign_in(&app, &ws, "noemail").await.unwrap_err(),
        "sso_email_unverified"
    );
    // An unverified claim to an existing account's e-mail does not reach it.
    assert_eq!(
        sign_in(&app, &ws, "unverified+owner@corp.example")
            .await
            .unwrap_err(),
        "sso_email_unverified"
    );
    // A wrong client secret: the provider refuses the code exchange.
    let mut wrong = settings(&p, "kefu", &["corp.example"], "agent");
    wrong["client_secret"] = json!("not-the-secret");
    configure(&app, &owner, wrong).await.expect(200);
    assert_eq!(
        sign_in(&app, &ws, "ann@corp.example").await.unwrap_err(),
        "sso_provider_error"
    );
    // Updating without a secret keeps the stored one.
    let mut keep = settings(&p, "kefu", &["corp.example"], "agent");
    keep["client_secret"] = json!(SECRET);
    configure(&app, &owner, keep.clone()).await.expect(200);
    keep.as_object_mut().unwrap().remove("client_secret");
    configure(&app, &owner, keep).await.expect(200);
    sign_in(&app, &ws, "ann@corp.example")
        .await
        .expect("signs in");

    // An issuer whose discovery document names another issuer: the same
    // server under another name (`localhost`), its document still says
    // `127.0.0.1`.
    let mut other_name = settings(&p, "kefu", &[], "agent");
    other_name["issuer"] = json!(p.issuer.replace("127.0.0.1", "localhost"));
    let r = configure(&app, &owner, other_name).await.expect(422);
    assert_eq!(r.body["details"]["fields"]["issuer"], "discovery_failed");

    // Removed: no more sign-ins.
    app.delete(
        &format!("/api/v1/workspaces/{ws}/sso/oidc"),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    assert_eq!(
        sign_in_start_error(&app, &ws).await,
        "/#/login?sso_error=sso_not_configured"
    );
}

/// Where a browser starting a sign-in is sent when it cannot start.
async fn sign_in_start_error(app: &TestApp, ws: &str) -> String {
    let page = Browser::default().get(&start_url(app, ws)).await;
    assert_eq!(page.status, 303);
    let to = page.location.unwrap().to_string();
    to.strip_prefix(&app.url("")).unwrap_or(&to).to_string()
}

async fn sso_links_an_existing_member_by_verified_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner("owner@corp.example").await;
    let (member_id, _) = app.member(&owner, "mia@corp.example", "agent").await;
    let p = provider(&app, "127.0.0.1");
    configure(&app, &owner, settings(&p, "kefu-es", &[], "agent"))
        .await
        .expect(200);
    // ES256 ID tokens this time.
    let token = sign_in(&app, &owner.workspace_id, "mia@corp.example")
        .await
        .expect("signed in");
    let me = app.get("/api/v1/me", Some(&token)).await.expect(200);
    assert_eq!(me.body["user"]["id"], member_id.as_str());
    assert_eq!(me.body["workspaces"][0]["role"], "agent");
    // The password still works as before.
    app.login("mia@corp.example", kefu_testkit::PASSWORD)
        .await
        .expect(200);
}

async fn sso_sessions_stay_in_their_workspace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.owner("owner-a@corp.example").await;
    let b = app.owner("owner-b@corp.example").await;
    // Ann is a member of both, through invitations with a password.
    let (ann, _) = app.member(&a, "ann@corp.example", "agent").await;
    let (ann_b, _) = app.member(&b, "ann@corp.example", "agent").await;
    assert_eq!(ann, ann_b);
    let p = provider(&app, "127.0.0.1");
    configure(&app, &a, settings(&p, "kefu", &["corp.example"], "agent"))
        .await
        .expect(200);

    // Through A's provider, a session for A only.
    let token = sign_in(&app, &a.workspace_id, "ann@corp.example")
        .await
        .unwrap();
    let me = app.get("/api/v1/me", Some(&token)).await.expect(200);
    let spaces = me.body["workspaces"].as_array().unwrap();
    assert_eq!(spaces.len(), 1);
    assert_eq!(spaces[0]["id"], a.workspace_id.as_str());
    app.get(
        &format!("/api/v1/workspaces/{}", a.workspace_id),
        Some(&token),
    )
    .await
    .expect(200);
    app.get(
        &format!("/api/v1/workspaces/{}", b.workspace_id),
        Some(&token),
    )
    .await
    .expect_error(404, "workspace_not_found");
    // Her password sign-in still reaches both.
    let login_b = app
        .login("ann@corp.example", kefu_testkit::PASSWORD)
        .await
        .expect(200);
    assert_eq!(login_b.body["workspaces"].as_array().unwrap().len(), 2);

    // A's provider is not B's: B has none, and JIT into B never happens.
    assert_eq!(
        sign_in_start_error(&app, &b.workspace_id).await,
        "/#/login?sso_error=sso_not_configured"
    );
    let zed = sign_in(&app, &a.workspace_id, "zed@corp.example")
        .await
        .unwrap();
    let me = app.get("/api/v1/me", Some(&zed)).await.expect(200);
    assert_eq!(me.body["workspaces"].as_array().unwrap().len(), 1);
    app.get(
        &format!("/api/v1/workspaces/{}/members", b.workspace_id),
        Some(&zed),
    )
    .await
    .expect_error(404, "workspace_not_found");
    // B's owner cannot read or change A's provider.
    let path = format!("/api/v1/workspaces/{}/sso/oidc", a.workspace_id);
    app.get(&path, Some(&b.access_token))
        .await
        .expect_error(404, "workspace_not_found");
    // A's agents cannot either.
    app.get(&path, Some(&zed))
        .await
        .expect_error(403, "forbidden");
}

async fn sso_tampered_callbacks_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner("owner@corp.example").await;
    let p = provider(&app, "127.0.0.1");
    configure(
        &app,
        &owner,
        settings(&p, "kefu", &["corp.example"], "agent"),
    )
    .await
    .expect(200);
    let ws = owner.workspace_id.clone();
    let mut b = Browser::default();

    // An unknown state, and none.
    let bogus = format!("{}?state=made-up&code=x", callback_uri(&app));
    assert_eq!(
        finish(&mut b, &bogus).await.unwrap_err(),
        "sso_state_invalid"
    );
    assert_eq!(
        finish(&mut b, &callback_uri(&app)).await.unwrap_err(),
        "sso_state_invalid"
    );
    let r = app
        .client
        .get(&bogus)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    TestApp::reply(r)
        .await
        .expect_error(400, "sso_state_invalid");

    // A used callback cannot be replayed.
    let cb = b
        .sign_in_at_provider(&start_url(&app, &ws), "ann@corp.example")
        .await;
    finish(&mut b, &cb).await.expect("first use");
    let mut other = Browser::default();
    assert_eq!(
        finish(&mut other, &cb).await.unwrap_err(),
        "sso_state_invalid"
    );

    // One sign-in's code with another's state: the PKCE verifier does not
    // match, and the provider refuses the exchange.
    let first = b
        .sign_in_at_provider(&start_url(&app, &ws), "ann@corp.example")
        .await;
    let second = b
        .sign_in_at_provider(&start_url(&app, &ws), "ann@corp.example")
        .await;
    let param = |u: &str, k: &str| {
        reqwest::Url::parse(u)
            .unwrap()
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string())
            .unwrap()
    };
    let mut swapped = reqwest::Url::parse(&callback_uri(&app)).unwrap();
    swapped
        .query_pairs_mut()
        .append_pair("code", &param(&first, "code"))
        .append_pair("state", &param(&second, "state"));
    assert_eq!(
        finish(&mut b, swapped.as_str()).await.unwrap_err(),
        "sso_provider_error"
    );
    // A callback naming another issuer (RFC 9207) is refused.
    let third = b
        .sign_in_at_provider(&start_url(&app, &ws), "ann@corp.example")
        .await;
    let mut mixed = reqwest::Url::parse(&callback_uri(&app)).unwrap();
    mixed
        .query_pairs_mut()
        .append_pair("code", &param(&third, "code"))
        .append_pair("state", &param(&third, "state"))
        .append_pair("iss", "https://evil.example");
    assert_eq!(
        finish(&mut b, mixed.as_str()).await.unwrap_err(),
        "sso_issuer_mismatch"
    );
    // The provider's own refusal.
    let fourth = b
        .sign_in_at_provider(&start_url(&app, &ws), "ann@corp.example")
        .await;
    let mut denied = reqwest::Url::parse(&callback_uri(&app)).unwrap();
    denied
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("state", &param(&fourth, "state"));
    assert_eq!(
        finish(&mut b, denied.as_str()).await.unwrap_err(),
        "sso_denied"
    );
}

async fn sso_admins_need_a_provider_second_factor_where_required(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner("owner@corp.example").await;
    super::totp::enrol(&app, &owner.access_token).await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    app.patch(
        &base,
        Some(&owner.access_token),
        json!({"require_admin_totp": true}),
    )
    .await
    .expect(200);
    let p = provider(&app, "127.0.0.1");
    configure(
        &app,
        &owner,
        settings(&p, "kefu", &["corp.example"], "admin"),
    )
    .await
    .expect(200);
    // The development login reports no second factor (`amr`): an admin's
    // SSO session is refused the workspace, with its own code.
    let token = sign_in(&app, &owner.workspace_id, "adam@corp.example")
        .await
        .unwrap();
    app.get(&base, Some(&token))
        .await
        .expect_error(403, "sso_mfa_required");
}

async fn sso_a_sign_in_started_on_one_replica_finishes_on_another(backend: Backend) {
    // Replicas share their keys (as a cluster must).
    let shared_keys = |s: &mut kefu::Settings| {
        s.secrets.key = Some(kefu_testkit::TEST_SECRETS_KEY.to_string().into());
    };
    let one = TestApp::spawn_with(backend, shared_keys).await;
    // A second server on the same database, as a replica behind a load
    // balancer: the public address (and so the redirect URI) is the same.
    let two = TestApp::spawn_with(backend, |s| {
        shared_keys(s);
        s.database_url = one.settings.database_url.clone();
        s.http.public_url = Some(one.url(""));
    })
    .await;
    let owner = one.owner("owner@corp.example").await;
    let p = provider(&one, "127.0.0.1");
    configure(
        &one,
        &owner,
        settings(&p, "kefu", &["corp.example"], "agent"),
    )
    .await
    .expect(200);
    let mut b = Browser::default();
    let cb = b
        .sign_in_at_provider(&start_url(&one, &owner.workspace_id), "ann@corp.example")
        .await;
    // The provider sends the browser to `one`; the balancer gives it `two`.
    let on_two = cb.replace(&one.url(""), &two.url(""));
    assert_ne!(on_two, cb);
    let token = finish(&mut b, &on_two)
        .await
        .expect("signed in on the other replica");
    let me = two.get("/api/v1/me", Some(&token)).await.expect(200);
    assert_eq!(me.body["user"]["email"], "ann@corp.example");
    // And spent there: `one` cannot take it again.
    let back = on_two.replace(&two.url(""), &one.url(""));
    assert_eq!(
        finish(&mut b, &back).await.unwrap_err(),
        "sso_state_invalid"
    );
}
