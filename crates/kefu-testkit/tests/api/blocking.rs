//! Blocking abusive visitors (a contact, an address range) and the
//! contacts' CSV export.

use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    a_blocked_contact_is_refused_everywhere_until_unblocked,
    a_blocked_address_range_refuses_its_visitors,
    contacts_export_as_csv,
);

async fn setup(app: &TestApp) -> (kefu_testkit::Owner, String, Value) {
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let inbox = app
        .post(
            &format!("{base}/inboxes"),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "bot_enabled": false}),
        )
        .await
        .expect(201);
    (owner, base, inbox.body["widget_key"].clone())
}

async fn session(app: &TestApp, key: &Value, visitor_id: Option<&str>) -> reqwest::Response {
    let mut body = json!({ "widget_key": key });
    if let Some(v) = visitor_id {
        body["visitor_id"] = json!(v);
    }
    app.client
        .post(app.url("/api/v1/widget/sessions"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn a_blocked_contact_is_refused_everywhere_until_unblocked(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (owner, base, key) = setup(&app).await;
    let tok = Some(owner.access_token.as_str());
    let s = TestApp::reply(session(&app, &key, None).await)
        .await
        .expect(201);
    let vt = s.body["visitor_token"].as_str().unwrap().to_string();
    let vid = s.body["visitor_id"].as_str().unwrap().to_string();
    let contact = s.body["contact_id"].as_str().unwrap().to_string();
    let m = app
        .post(
            "/api/v1/widget/messages",
            Some(&vt),
            json!({"client_msg_id": "m-1", "body": "广告广告"}),
        )
        .await
        .expect(201);
    let conv = m.body["conversation_id"].as_str().unwrap().to_string();

    // An agent may not block; a supervisor may.
    let (_, agent) = app.member(&owner, "a@example.com", "agent").await;
    app.post(
        &format!("{base}/contacts/{contact}/block"),
        Some(&agent),
        json!({}),
    )
    .await
    .expect_error(403, "forbidden");
    let (_, sup) = app.member(&owner, "s@example.com", "supervisor").await;
    // The visitor's open socket closes at once (4003), on every replica.
    let mut open = app.ws(&vt).await;
    let blocked = app
        .post(
            &format!("{base}/contacts/{contact}/block"),
            Some(&sup),
            json!({}),
        )
        .await
        .expect(200);
    assert!(blocked.body["blocked_at"].is_string());
    assert_eq!(open.close_code(10).await, 4003);

    // Their messages (into the conversation, or a new one), uploads, new
    // sessions and sockets are refused.
    let refused = app
        .post(
            "/api/v1/widget/messages",
            Some(&vt),
            json!({"client_msg_id": "m-2", "body": "again", "conversation_id": conv}),
        )
        .await
        .expect_error(403, "visitor_blocked");
    assert!(!refused.body["message"].as_str().unwrap().is_empty());
    app.post(
        "/api/v1/widget/messages",
        Some(&vt),
        json!({"client_msg_id": "m-3", "body": "new"}),
    )
    .await
    .expect_error(403, "visitor_blocked");
    app.upload("/api/v1/widget/attachments", Some(&vt), "a.txt", b"hello")
        .await
        .expect_error(403, "visitor_blocked");
    TestApp::reply(session(&app, &key, Some(&vid)).await)
        .await
        .expect_error(403, "visitor_blocked");
    assert_eq!(app.ws_refused(&vt).await, 403);
    let mut ws = app.ws(&owner.access_token).await;
    drop(ws);
    // Nothing was stored.
    let log = app
        .get(&format!("{base}/conversations/{conv}/messages"), tok)
        .await
        .expect(200);
    assert_eq!(log.body["items"].as_array().unwrap().len(), 1);
    // A different browser is another contact: not blocked.
    TestApp::reply(session(&app, &key, None).await)
        .await
        .expect(201);

    // Unblocked: back to normal.
    let un = app
        .post(
            &format!("{base}/contacts/{contact}/unblock"),
            tok,
            json!({}),
        )
        .await
        .expect(200);
    assert!(un.body["blocked_at"].is_null());
    app.post(
        "/api/v1/widget/messages",
        Some(&vt),
        json!({"client_msg_id": "m-4", "body": "sorry", "conversation_id": conv}),
    )
    .await
    .expect(201);
    ws = app.ws(&vt).await;
    drop(ws);
    let audit = app.get(&format!("{base}/audit-log"), tok).await.expect(200);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"contact.blocked") && actions.contains(&"contact.unblocked"),
        "{actions:?}"
    );
}

async fn a_blocked_address_range_refuses_its_visitors(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (owner, base, key) = setup(&app).await;
    let tok = Some(owner.access_token.as_str());
    let s = TestApp::reply(session(&app, &key, None).await)
        .await
        .expect(201);
    let vt = s.body["visitor_token"].as_str().unwrap().to_string();
    for bad in ["10.0.0.0/33", "not an address", ""] {
        app.post(
            &format!("{base}/blocked-ranges"),
            tok,
            json!({ "cidr": bad }),
        )
        .await
        .expect_error(422, "validation_failed");
    }
    // Another range: nothing changes for 127.0.0.1.
    let other = app
        .post(
            &format!("{base}/blocked-ranges"),
            tok,
            json!({"cidr": "203.0.113.9/24", "note": "spam run"}),
        )
        .await
        .expect(201);
    assert_eq!(other.body["cidr"], "203.0.113.0/24", "normalised");
    app.post(
        &format!("{base}/blocked-ranges"),
        tok,
        json!({"cidr": "203.0.113.0/24"}),
    )
    .await
    .expect_error(409, "range_exists");
    app.post(
        "/api/v1/widget/messages",
        Some(&vt),
        json!({"client_msg_id": "m-1", "body": "hi"}),
    )
    .await
    .expect(201);
    // The test client's own address: refused at once on this replica.
    let mine = app
        .post(
            &format!("{base}/blocked-ranges"),
            tok,
            json!({"cidr": "127.0.0.0/8"}),
        )
        .await
        .expect(201);
    app.post(
        "/api/v1/widget/messages",
        Some(&vt),
        json!({"client_msg_id": "m-2", "body": "hi"}),
    )
    .await
    .expect_error(403, "visitor_blocked");
    TestApp::reply(session(&app, &key, None).await)
        .await
        .expect_error(403, "visitor_blocked");
    assert_eq!(app.ws_refused(&vt).await, 403);
    // Members are not visitors: the console still works from there.
    app.get(&format!("{base}/conversations"), tok)
        .await
        .expect(200);
    let list = app
        .get(&format!("{base}/blocked-ranges"), tok)
        .await
        .expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    app.delete(
        &format!(
            "{base}/blocked-ranges/{}",
            mine.body["id"].as_str().unwrap()
        ),
        tok,
    )
    .await
    .expect(204);
    app.post(
        "/api/v1/widget/messages",
        Some(&vt),
        json!({"client_msg_id": "m-3", "body": "hi"}),
    )
    .await
    .expect(201);
    app.delete(
        &format!(
            "{base}/blocked-ranges/{}",
            mine.body["id"].as_str().unwrap()
        ),
        tok,
    )
    .await
    .expect_error(404, "blocked_range_not_found");
}

async fn contacts_export_as_csv(b: Backend) {
    // 205 sessions from one address in a moment.
    let app = TestApp::spawn_with(b, |s| s.http.rate_limit.enabled = false).await;
    let (owner, base, key) = setup(&app).await;
    let tok = Some(owner.access_token.as_str());
    // More than one page (200) of contacts, one with awkward values.
    for i in 0..205 {
        let s = TestApp::reply(session(&app, &key, None).await)
            .await
            .expect(201);
        if i == 0 {
            let id = s.body["contact_id"].as_str().unwrap();
            app.patch(
                &format!("{base}/contacts/{id}"),
                tok,
                json!({"name": "王芳, \"小芳\"", "email": "fang@example.com", "phone": "+86 138 0013 8000",
                       "attributes": {"note": "=cmd|' /C calc'!A0", "plan": "vip"}}),
            )
            .await
            .expect(200);
        }
    }
    let res = app
        .client
        .get(app.url(&format!("{base}/contacts/export.csv")))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"kefu-contacts-"));
    let text = res.text().await.unwrap();
    assert!(
        text.starts_with('\u{feff}'),
        "a byte-order mark for spreadsheets"
    );
    let lines: Vec<&str> = text
        .trim_start_matches('\u{feff}')
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines[0],
        "id,name,email,phone,external_id,attributes,created_at,updated_at,blocked_at,erased_at"
    );
    assert_eq!(lines.len(), 1 + 205, "every contact, across pages");
    let fang = lines
        .iter()
        .find(|l| l.contains("fang@example.com"))
        .unwrap();
    assert!(fang.contains("\"王芳, \"\"小芳\"\"\""), "{fang}");
    assert!(
        fang.contains(",'+86 138 0013 8000,"),
        "a formula-like cell is defused: {fang}"
    );
    // Filters apply; agents may not export.
    let one = app
        .client
        .get(app.url(&format!("{base}/contacts/export.csv?attribute=plan:vip")))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(one.trim_end().split("\r\n").count(), 2);
    let (_, agent) = app.member(&owner, "a@example.com", "agent").await;
    app.get(&format!("{base}/contacts/export.csv"), Some(&agent))
        .await
        .expect_error(403, "forbidden");
    let audit = app.get(&format!("{base}/audit-log"), tok).await.expect(200);
    assert!(audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "contact.exported"));
}
