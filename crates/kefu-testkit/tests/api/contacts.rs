//! The contact list, merging and erasure, over HTTP (API-CONTRACT.md,
//! Conversations).

use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    the_contact_list_searches_filters_and_pages,
    merging_moves_the_conversations_and_the_visitor_follows,
    erasure_removes_the_personal_data_from_every_answer,
    closing_is_final_and_the_visitor_starts_afresh,
);

struct Site {
    owner: Owner,
    widget_key: Value,
}

async fn site(app: &TestApp) -> Site {
    let owner = app.owner("o@example.com").await;
    let inbox = app
        .post(
            &format!("/api/v1/workspaces/{}/inboxes", owner.workspace_id),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "bot_enabled": false}),
        )
        .await
        .expect(201);
    Site {
        widget_key: inbox.body["widget_key"].clone(),
        owner,
    }
}

/// A widget session: (visitor token, visitor id, contact id).
async fn session(app: &TestApp, site: &Site, visitor_id: Option<&str>) -> (String, String, String) {
    let s = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": site.widget_key, "visitor_id": visitor_id}),
        )
        .await
        .expect(201);
    let field = |k: &str| s.body[k].as_str().unwrap().to_string();
    (
        field("visitor_token"),
        field("visitor_id"),
        field("contact_id"),
    )
}

/// The visitor says something; returns the conversation id.
async fn say(app: &TestApp, token: &str, id: &str, body: &str) -> String {
    app.post(
        "/api/v1/widget/messages",
        Some(token),
        json!({"client_msg_id": id, "body": body}),
    )
    .await
    .expect(201)
    .body["conversation_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

async fn the_contact_list_searches_filters_and_pages(b: Backend) {
    let app = TestApp::spawn(b).await;
    let s = site(&app).await;
    let ws = &s.owner.workspace_id;
    let tok = Some(s.owner.access_token.as_str());
    let mut contacts = Vec::new();
    for (name, email, plan) in [
        ("王小明", "ming@example.com", "vip"),
        ("李雷", "lei@example.com", "free"),
        ("Han Meimei", "MEI@example.com", "vip"),
    ] {
        let (_, _, id) = session(&app, &s, None).await;
        app.patch(
            &format!("/api/v1/workspaces/{ws}/contacts/{id}"),
            tok,
            json!({"name": name, "email": email, "attributes": {"plan": plan}}),
        )
        .await
        .expect(200);
        contacts.push(id);
        // Distinct creation times, so the order is certain.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let list = |query: &str| {
        let path = format!("/api/v1/workspaces/{ws}/contacts{query}");
        let app = &app;
        async move { app.get(&path, tok).await }
    };
    let all = list("").await.expect(200);
    assert_eq!(
        ids(&all.body),
        [
            contacts[2].clone(),
            contacts[1].clone(),
            contacts[0].clone()
        ]
    );
    assert_eq!(all.body["items"][2]["name"], "王小明");
    assert_eq!(all.body["next_cursor"], Value::Null);
    assert_eq!(
        ids(&list("?q=小明").await.expect(200).body),
        [contacts[0].clone()]
    );
    assert_eq!(
        ids(&list("?q=mei%40EXAMPLE").await.expect(200).body),
        [contacts[2].clone()]
    );
    assert_eq!(
        ids(&list("?attribute=plan:vip").await.expect(200).body),
        [contacts[2].clone(), contacts[0].clone()]
    );
    let first = list("?limit=2").await.expect(200);
    assert_eq!(ids(&first.body), [contacts[2].clone(), contacts[1].clone()]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let rest = list(&format!("?limit=2&cursor={cursor}")).await.expect(200);
    assert_eq!(ids(&rest.body), [contacts[0].clone()]);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    list("?cursor=nonsense")
        .await
        .expect_error(422, "validation_failed");
    list("?attribute=no-colon")
        .await
        .expect_error(422, "validation_failed");
    list("?limit=abc")
        .await
        .expect_error(422, "validation_failed");
    // Any member reads the list; another workspace sees none of it.
    let (_, agent) = app.member(&s.owner, "agent@example.com", "agent").await;
    app.get(&format!("/api/v1/workspaces/{ws}/contacts"), Some(&agent))
        .await
        .expect(200);
    let stranger = app.owner("x@example.com").await;
    let theirs = app
        .get(
            &format!("/api/v1/workspaces/{}/contacts", stranger.workspace_id),
            Some(&stranger.access_token),
        )
        .await
        .expect(200);
    assert!(ids(&theirs.body).is_empty());
    app.get(
        &format!("/api/v1/workspaces/{ws}/contacts"),
        Some(&stranger.access_token),
    )
    .await
    .expect(404);
    app.stop().await;
}

async fn merging_moves_the_conversations_and_the_visitor_follows(b: Backend) {
    let app = TestApp::spawn(b).await;
    let s = site(&app).await;
    let ws = &s.owner.workspace_id;
    let tok = Some(s.owner.access_token.as_str());
    let (desk_token, _, keep) = session(&app, &s, None).await;
    let desk_conv = say(&app, &desk_token, "d-1", "电脑上问的").await;
    let (phone_token, phone_visitor, gone) = session(&app, &s, None).await;
    let phone_conv = say(&app, &phone_token, "p-1", "手机上问的").await;
    app.patch(
        &format!("/api/v1/workspaces/{ws}/contacts/{gone}"),
        tok,
        json!({"email": "fang@example.com", "attributes": {"city": "杭州"}}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/workspaces/{ws}/contacts/{keep}"),
        tok,
        json!({"name": "王芳"}),
    )
    .await
    .expect(200);
    let merge = |into: String, from: Value, token: Option<String>| {
        let app = &app;
        async move {
            app.post(
                &format!("/api/v1/workspaces/{ws}/contacts/{into}/merge"),
                token.as_deref(),
                json!({"from_contact_id": from}),
            )
            .await
        }
    };
    let (_, agent) = app.member(&s.owner, "agent@example.com", "agent").await;
    merge(keep.clone(), json!(gone), Some(agent))
        .await
        .expect_error(403, "forbidden");
    merge(keep.clone(), json!(keep), tok.map(Into::into))
        .await
        .expect_error(422, "validation_failed");
    merge(
        keep.clone(),
        json!(uuid::Uuid::now_v7()),
        tok.map(Into::into),
    )
    .await
    .expect_error(404, "contact_not_found");
    merge(keep.clone(), json!("not-a-uuid"), tok.map(Into::into))
        .await
        .expect(422);
    let (_, supervisor) = app.member(&s.owner, "sup@example.com", "supervisor").await;
    // The phone's open widget socket closes (4001): its next session is
    // the survivor's.
    let mut phone_socket = app.ws(&phone_token).await;
    let merged = merge(keep.clone(), json!(gone), Some(supervisor))
        .await
        .expect(200);
    assert_eq!(phone_socket.close_code(10).await, 4001);
    assert_eq!(merged.body["id"], keep.as_str());
    assert_eq!(merged.body["name"], "王芳");
    assert_eq!(merged.body["email"], "fang@example.com");
    assert_eq!(merged.body["attributes"], json!({"city": "杭州"}));

    let history = app
        .get(
            &format!("/api/v1/workspaces/{ws}/contacts/{keep}/conversations"),
            tok,
        )
        .await
        .expect(200);
    let mut convs: Vec<&str> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    convs.sort_unstable();
    let mut want = [desk_conv.as_str(), phone_conv.as_str()];
    want.sort_unstable();
    assert_eq!(convs, want);
    let conv = app
        .get(
            &format!("/api/v1/workspaces/{ws}/conversations/{phone_conv}"),
            tok,
        )
        .await
        .expect(200);
    assert_eq!(conv.body["contact_id"], keep.as_str());
    let listed = app
        .get(&format!("/api/v1/workspaces/{ws}/contacts"), tok)
        .await
        .expect(200);
    assert_eq!(ids(&listed.body), std::slice::from_ref(&keep));
    let old = app
        .get(&format!("/api/v1/workspaces/{ws}/contacts/{gone}"), tok)
        .await
        .expect(200);
    assert_eq!(old.body["merged_into"], keep.as_str());
    app.patch(
        &format!("/api/v1/workspaces/{ws}/contacts/{gone}"),
        tok,
        json!({"name": "x"}),
    )
    .await
    .expect_error(409, "contact_merged");
    merge(keep.clone(), json!(gone), tok.map(Into::into))
        .await
        .expect_error(404, "contact_not_found");

    // The phone's old token now speaks for a merged contact: 401, which
    // makes the widget open a new session; that session is the survivor's
    // and carries on in the same conversation.
    app.post(
        "/api/v1/widget/messages",
        Some(&phone_token),
        json!({"conversation_id": phone_conv, "client_msg_id": "p-2", "body": "还在吗"}),
    )
    .await
    .expect_error(401, "unauthorized");
    let (fresh, _, contact) = session(&app, &s, Some(&phone_visitor)).await;
    assert_eq!(contact, keep);
    let mine = app
        .get("/api/v1/widget/conversations", Some(&fresh))
        .await
        .expect(200);
    assert_eq!(
        mine.body["items"].as_array().map_or(0, Vec::len),
        2,
        "{}",
        mine.text
    );
    app.post(
        "/api/v1/widget/messages",
        Some(&fresh),
        json!({"conversation_id": phone_conv, "client_msg_id": "p-2", "body": "还在吗"}),
    )
    .await
    .expect(201);
    let audit = app
        .get(&format!("/api/v1/workspaces/{ws}/audit-log?limit=5"), tok)
        .await
        .expect(200);
    let entry = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "contact.merged")
        .expect("the merge is in the audit log")
        .clone();
    assert_eq!(entry["target_id"], keep.as_str());
    assert_eq!(entry["details"]["from_contact_id"], gone.as_str());
    app.stop().await;
}

async fn erasure_removes_the_personal_data_from_every_answer(b: Backend) {
    let app = TestApp::spawn(b).await;
    let s = site(&app).await;
    let ws = &s.owner.workspace_id;
    let tok = Some(s.owner.access_token.as_str());
    let (visitor, visitor_id, id) = session(&app, &s, None).await;
    let conv = say(&app, &visitor, "v-1", "我的身份证号是 110101199001011234").await;
    app.patch(
        &format!("/api/v1/workspaces/{ws}/contacts/{id}"),
        tok,
        json!({"name": "张伟", "email": "wei@example.com", "phone": "+86 138 0013 8000", "attributes": {"vip": true}}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages"),
        tok,
        json!({"body": "收到", "client_msg_id": "a-1"}),
    )
    .await
    .expect(201);
    // A photo of their ID card, sent; its link works until the erasure.
    let up = app
        .upload(
            "/api/v1/widget/attachments",
            Some(&visitor),
            "身份证.png",
            b"\x89PNG\r\n\x1a\nrest",
        )
        .await
        .expect(201);
    let with_file = app
        .post(
            "/api/v1/widget/messages",
            Some(&visitor),
            json!({"client_msg_id": "v-2", "conversation_id": conv, "attachment_ids": [up.body["id"]]}),
        )
        .await
        .expect(201);
    let link = with_file.body["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.fetch_bytes(&link).await.0, 200);
    let (_, supervisor) = app.member(&s.owner, "sup@example.com", "supervisor").await;
    let erase = format!("/api/v1/workspaces/{ws}/contacts/{id}/erase");
    app.post(&erase, Some(&supervisor), json!({}))
        .await
        .expect_error(403, "forbidden");
    let r = app.post(&erase, tok, json!({})).await.expect(204);
    assert!(r.text.is_empty());

    let c = app
        .get(&format!("/api/v1/workspaces/{ws}/contacts/{id}"), tok)
        .await
        .expect(200);
    for field in ["name", "email", "phone", "external_id"] {
        assert_eq!(c.body[field], Value::Null, "{field}: {}", c.text);
    }
    assert_eq!(c.body["attributes"], json!({}));
    assert!(c.body["erased_at"].is_string(), "{}", c.text);
    assert_ne!(c.body["visitor_id"], visitor_id.as_str());
    let msgs = app
        .get(
            &format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages"),
            tok,
        )
        .await
        .expect(200);
    let bodies: Vec<(i64, &str)> = msgs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["seq"].as_i64().unwrap(), m["body"].as_str().unwrap()))
        .collect();
    assert_eq!(bodies, [(1, ""), (2, "收到"), (3, "")]);
    assert!(
        msgs.body["items"][2].get("attachments").is_none(),
        "{}",
        msgs.text
    );
    // The file is gone: its link finds nothing, and nothing is on disk.
    assert_eq!(app.fetch_bytes(&link).await.0, 404);
    let stored = app.settings.data_dir.join("attachments").join(ws.as_str());
    assert_eq!(std::fs::read_dir(&stored).unwrap().count(), 0);
    let found = app
        .get(
            &format!("/api/v1/workspaces/{ws}/conversations?q=身份证"),
            tok,
        )
        .await
        .expect(200);
    assert!(found.body["items"].as_array().unwrap().is_empty());
    let listed = app
        .get(&format!("/api/v1/workspaces/{ws}/contacts?q=张伟"), tok)
        .await
        .expect(200);
    assert!(listed.body["items"].as_array().unwrap().is_empty());
    // The browser's next session is a stranger: no history.
    let (next, _, next_contact) = session(&app, &s, Some(&visitor_id)).await;
    assert_ne!(next_contact, id);
    let mine = app
        .get("/api/v1/widget/conversations", Some(&next))
        .await
        .expect(200);
    assert_eq!(
        mine.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        mine.text
    );
    // Nothing of the person is in the audit log: who erased, which contact.
    let audit = app
        .get(&format!("/api/v1/workspaces/{ws}/audit-log?limit=5"), tok)
        .await
        .expect(200);
    let entry = &audit.body["items"][0];
    assert_eq!(entry["action"], "contact.erased");
    assert_eq!(entry["target_id"], id.as_str());
    assert_eq!(entry["details"]["messages"], 2);
    assert_eq!(entry["details"]["files"], 1);
    assert!(!audit.text.contains("张伟") && !audit.text.contains("1101011990"));
    app.post(
        &format!(
            "/api/v1/workspaces/{ws}/contacts/{}/erase",
            uuid::Uuid::now_v7()
        ),
        tok,
        json!({}),
    )
    .await
    .expect_error(404, "contact_not_found");
    app.stop().await;
}

async fn closing_is_final_and_the_visitor_starts_afresh(b: Backend) {
    let app = TestApp::spawn(b).await;
    let s = site(&app).await;
    let ws = &s.owner.workspace_id;
    let tok = Some(s.owner.access_token.as_str());
    let (visitor, _, _) = session(&app, &s, None).await;
    let conv = say(&app, &visitor, "v-1", "你好").await;
    let base = format!("/api/v1/workspaces/{ws}/conversations/{conv}");
    let closed = app
        .post(&format!("{base}/close"), tok, json!({}))
        .await
        .expect(200);
    assert_eq!(closed.body["status"], "closed");
    for then in ["close", "reopen", "resolve", "handoff"] {
        app.post(&format!("{base}/{then}"), tok, json!({}))
            .await
            .expect_error(409, "invalid_transition");
    }
    app.post(
        &format!("{base}/messages"),
        tok,
        json!({"body": "x", "client_msg_id": "a-1"}),
    )
    .await
    .expect_error(409, "conversation_closed");
    app.post(
        "/api/v1/widget/messages",
        Some(&visitor),
        json!({"conversation_id": conv, "client_msg_id": "v-2", "body": "又来了"}),
    )
    .await
    .expect_error(409, "conversation_closed");
    let next = say(&app, &visitor, "v-3", "又来了").await;
    assert_ne!(
        next, conv,
        "a visitor message after closing starts a new conversation"
    );
    // A resolved conversation can be closed too.
    let next_base = format!("/api/v1/workspaces/{ws}/conversations/{next}");
    app.post(&format!("{next_base}/resolve"), tok, json!({}))
        .await
        .expect(200);
    let r = app
        .post(&format!("{next_base}/close"), tok, json!({}))
        .await
        .expect(200);
    assert_eq!(r.body["status"], "closed");
    let listed = app
        .get(
            &format!("/api/v1/workspaces/{ws}/conversations?status=closed"),
            tok,
        )
        .await
        .expect(200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    app.stop().await;
}
