//! What the outside security probe found about sockets (issue 14), each
//! reproduced first. An open socket's rights follow the account (finding
//! 1): a session that ends closes its sockets, a change of membership or of
//! the workspace's rules changes what they receive, and every socket ends
//! when its token does unless it is renewed in-band. On PostgreSQL the
//! events travel through Redis, as between replicas. Frames are rate
//! limited (finding 5) and an oversized one gets a close frame (finding 10).
//! Hostile frames (hardening point 15) each get one error and store nothing.

use kefu_testkit::{on_both_backends, Backend, TestApp, PASSWORD};
use serde_json::{json, Value};

on_both_backends!(
    logout_closes_that_sessions_sockets_at_once,
    refresh_token_reuse_closes_the_sessions_sockets,
    a_removed_member_stops_receiving_and_cannot_send,
    the_admin_2fa_rule_reaches_open_admin_sockets,
    member_sockets_end_when_their_token_expires_unless_renewed,
    visitor_sockets_end_when_their_token_expires_unless_renewed,
    an_oversized_frame_is_closed_with_1009,
    hostile_frames_are_refused_whole,
    socket_messages_are_rate_limited_per_socket_and_per_visitor,
    a_visitor_socket_hears_only_its_inbox,
    agents_cannot_read_bot_settings,
);

/// Close codes of docs/protocol.md.
const SESSION_ENDED: u16 = 4001;
const TOKEN_EXPIRED: u16 = 4002;

async fn inbox_key(app: &TestApp, ws: &str, token: &str) -> Value {
    app.post(
        &format!("/api/v1/workspaces/{ws}/inboxes"),
        Some(token),
        json!({"name": "Web", "channel": "web"}),
    )
    .await
    .expect(201)
    .body["widget_key"]
        .clone()
}

fn send(client_msg_id: &str, body: &str) -> Value {
    json!({"type": "message.send", "client_msg_id": client_msg_id, "body": body})
}

/// Still open and answering.
async fn answers_ping(ws: &mut kefu_testkit::WsClient) {
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.recv_type("pong").await["type"], "pong");
}

async fn logout_closes_that_sessions_sockets_at_once(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let other = app.login("o@example.com", PASSWORD).await.expect(200);
    let other_token = other.body["access_token"].as_str().unwrap().to_string();
    let mut signed_out = app.ws(&owner.access_token).await;
    let mut kept = app.ws(&other_token).await;
    app.post("/api/v1/auth/logout", Some(&owner.access_token), json!({}))
        .await
        .expect(204);
    // Within a second: the event, not a timer.
    assert_eq!(signed_out.close_code(1).await, SESSION_ENDED);
    // The user's other session is not concerned.
    answers_ping(&mut kept).await;
    // And the dead token opens nothing.
    assert_eq!(app.ws_refused(&owner.access_token).await, 401);
    app.stop().await;
}

async fn refresh_token_reuse_closes_the_sessions_sockets(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let mut ws = app.ws(&owner.access_token).await;
    let refresh = |t: String| {
        let app = &app;
        async move {
            app.post("/api/v1/auth/refresh", None, json!({"refresh_token": t}))
                .await
        }
    };
    refresh(owner.refresh_token.clone()).await.expect(200);
    // The socket lives on through a normal rotation…
    answers_ping(&mut ws).await;
    // …and closes when a stolen, spent refresh token is replayed.
    refresh(owner.refresh_token.clone())
        .await
        .expect_error(401, "refresh_token_reused");
    assert_eq!(ws.close_code(1).await, SESSION_ENDED);
    app.stop().await;
}

async fn a_removed_member_stops_receiving_and_cannot_send(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let key = inbox_key(&app, &owner.workspace_id, &owner.access_token).await;
    let (agent_id, agent_token) = app.member(&owner, "a@example.com", "agent").await;
    let mut agent = app.ws(&agent_token).await;
    let mut visitor = app.ws(&app.visitor_token(&key).await).await;
    visitor.send(send("v-1", "在吗？")).await;
    let conv = visitor.recv_type("message.ack").await["conversation_id"].clone();
    let seen = agent.recv_type("message.created").await;
    assert_eq!(seen["message"]["body"], "在吗？");

    app.delete(
        &format!(
            "/api/v1/workspaces/{}/members/{agent_id}",
            owner.workspace_id
        ),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    // Give the event its second, then the visitor writes again: the
    // removed agent's socket hears nothing of it.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    visitor.send(send("v-2", "有人吗")).await;
    visitor.recv_type("message.ack").await;
    let mut heard = Vec::new();
    while !agent.silent_for(700).await {
        heard.push(agent.recv().await);
    }
    assert!(
        heard.iter().all(|f| f["type"] != "message.created"),
        "a removed member still received messages: {heard:?}"
    );
    // Neither replay nor sending works any more.
    agent
        .send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    assert_eq!(agent.recv().await["code"], "conversation_not_found");
    agent
        .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "a-1", "body": "still here"}))
        .await;
    let refused = agent.recv().await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("conversation_not_found"))
    );
    // Nothing was stored in their name.
    let msgs = app
        .get(
            &format!(
                "/api/v1/workspaces/{}/conversations/{}/messages",
                owner.workspace_id,
                conv.as_str().unwrap()
            ),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    let bodies: Vec<&str> = msgs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert!(!bodies.contains(&"still here"), "{bodies:?}");
    app.stop().await;
}

async fn the_admin_2fa_rule_reaches_open_admin_sockets(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let key = inbox_key(&app, &owner.workspace_id, &owner.access_token).await;
    let (_, admin_token) = app.member(&owner, "admin@example.com", "admin").await;
    let mut admin = app.ws(&admin_token).await;
    crate::totp::enrol(&app, &owner.access_token).await;
    app.patch(
        &format!("/api/v1/workspaces/{}", owner.workspace_id),
        Some(&owner.access_token),
        json!({"require_admin_totp": true}),
    )
    .await
    .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let mut visitor = app.ws(&app.visitor_token(&key).await).await;
    visitor.send(send("v-1", "hello")).await;
    visitor.recv_type("message.ack").await;
    let mut heard = Vec::new();
    while !admin.silent_for(700).await {
        heard.push(admin.recv().await);
    }
    assert!(
        heard.iter().all(|f| f["type"] != "message.created"),
        "an admin without the required second factor still received messages: {heard:?}"
    );
    // A socket opened now gets nothing of the workspace either.
    let mut fresh = app.ws(&admin_token).await;
    visitor.send(send("v-2", "anyone?")).await;
    visitor.recv_type("message.ack").await;
    assert!(fresh.silent_for(700).await);
    // Enrolling gives it back (the rights are recomputed on the event).
    crate::totp::enrol(&app, &admin_token).await;
    let mut after = app.ws(&admin_token).await;
    visitor.send(send("v-3", "hello again")).await;
    assert_eq!(
        after.recv_type("message.created").await["message"]["body"],
        "hello again"
    );
    app.stop().await;
}

async fn member_sockets_end_when_their_token_expires_unless_renewed(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.auth.service.access_token_ttl_secs = 6).await;
    let owner = app.owner("o@example.com").await;
    let mut lapsing = app.ws(&owner.access_token).await;
    let mut renewed = app.ws(&owner.access_token).await;
    // Someone else's token is refused and changes nothing.
    let (_, agent_token) = app.member(&owner, "a@example.com", "agent").await;
    renewed
        .send(json!({"type": "auth", "token": agent_token}))
        .await;
    assert_eq!(renewed.recv().await["code"], "unauthorized");
    // A fresh token from a refresh, sent in-band before expiry.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let fresh = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": owner.refresh_token}),
        )
        .await
        .expect(200);
    renewed
        .send(json!({"type": "auth", "token": fresh.body["access_token"]}))
        .await;
    let ok = renewed.recv().await;
    assert_eq!(ok["type"], "auth.ok", "{ok}");
    assert!(ok["token_expires_in_secs"].as_i64().unwrap() >= 2, "{ok}");
    assert_eq!(lapsing.close_code(8).await, TOKEN_EXPIRED);
    // Past the first token's expiry the renewed socket still answers…
    answers_ping(&mut renewed).await;
    // …until its new token expires in turn.
    assert_eq!(renewed.close_code(9).await, TOKEN_EXPIRED);
    app.stop().await;
}

async fn visitor_sockets_end_when_their_token_expires_unless_renewed(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.chat.visitor_token_ttl_secs = 6).await;
    let owner = app.owner("o@example.com").await;
    let key = inbox_key(&app, &owner.workspace_id, &owner.access_token).await;
    let session = app
        .post("/api/v1/widget/sessions", None, json!({"widget_key": key}))
        .await
        .expect(201);
    let token = session.body["visitor_token"].as_str().unwrap().to_string();
    let mut lapsing = app.ws(&token).await;
    let mut renewed = app.ws(&token).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // The same visitor resumes: a fresh token for the same contact.
    let again = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": key, "visitor_id": session.body["visitor_id"]}),
        )
        .await
        .expect(201);
    // Another visitor's token is refused.
    let stranger = app.visitor_token(&key).await;
    renewed
        .send(json!({"type": "auth", "token": stranger}))
        .await;
    assert_eq!(renewed.recv().await["code"], "unauthorized");
    renewed
        .send(json!({"type": "auth", "token": again.body["visitor_token"]}))
        .await;
    assert_eq!(renewed.recv().await["type"], "auth.ok");
    assert_eq!(lapsing.close_code(8).await, TOKEN_EXPIRED);
    answers_ping(&mut renewed).await;
    assert_eq!(renewed.close_code(9).await, TOKEN_EXPIRED);
    app.stop().await;
}

/// Finding 10: a frame over the limit used to drop the TCP connection
/// without a close frame.
async fn an_oversized_frame_is_closed_with_1009(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.chat.max_message_chars = 100).await;
    let owner = app.owner("o@example.com").await;
    let key = inbox_key(&app, &owner.workspace_id, &owner.access_token).await;
    let mut visitor = app.ws(&app.visitor_token(&key).await).await;
    // Over the message limit but under the frame limit: a clean refusal.
    visitor.send(send("v-1", &"x".repeat(101))).await;
    assert_eq!(visitor.recv().await["code"], "validation_failed");
    // Over the frame limit (100 × 4 + 4096 bytes): closed with 1009.
    visitor.send(send("v-2", &"x".repeat(20_000))).await;
    assert_eq!(visitor.close_code(3).await, 1009);
    app.stop().await;
}

/// Hardening point 15, end to end (the decoder alone runs many more
/// cases: kefu-http `ws::decode_props`): frames with NUL, unknown types,
/// broken or truncated JSON, wrong types and duplicate keys each get one
/// `error` frame and store nothing — the first real message afterwards is
/// seq 1 — and the socket stays open.
async fn hostile_frames_are_refused_whole(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.chat.socket_frame_burst = 1_000;
        s.chat.socket_message_burst = 1_000;
        s.chat.visitor_message_burst = 1_000;
    })
    .await;
    let owner = app.owner("o@example.com").await;
    let key = inbox_key(&app, &owner.workspace_id, &owner.access_token).await;
    let mut visitor = app.ws(&app.visitor_token(&key).await).await;
    let valid = send("v-1", "你好").to_string();
    let hostile: Vec<(String, &str)> = vec![
        (send("v-1", "a\0b").to_string(), "validation_failed"),
        (json!({"type": "message.send", "client_msg_id": "v-1\0", "body": "x"}).to_string(), "validation_failed"),
        (json!({"type": "message.send", "client_msg_id": "v-1", "body": "x", "x\0": 1}).to_string(), "validation_failed"),
        (json!({"type": "message.send", "client_msg_id": "v-1", "body": "x", "extra": {"deep": ["\0"]}}).to_string(), "validation_failed"),
        (r#"{"type":"message.send","client_msg_id":"v-1","body":"\\u0000\u0000"}"#.to_string(), "validation_failed"),
        (json!({"type": "message.sent", "client_msg_id": "v-1", "body": "x"}).to_string(), "invalid_frame"),
        (json!({"type": "MESSAGE.SEND", "client_msg_id": "v-1", "body": "x"}).to_string(), "invalid_frame"),
        (json!({"client_msg_id": "v-1", "body": "x"}).to_string(), "invalid_frame"),
        (json!({"type": "message.send", "client_msg_id": "v-1", "body": 5}).to_string(), "invalid_frame"),
        (json!({"type": "message.send", "client_msg_id": "v-1"}).to_string(), "invalid_frame"),
        (json!({"type": "message.send", "client_msg_id": "v-1", "body": "x", "private": "yes"}).to_string(), "invalid_frame"),
        (json!({"type": "message.send", "client_msg_id": "v-1", "body": "x", "conversation_id": "not-a-uuid"}).to_string(), "invalid_frame"),
        (r#"{"type":"message.send","client_msg_id":"v-1","body":"x","body":"y"}"#.to_string(), "invalid_frame"),
        (r#"{"type":"message.send","client_msg_id":"v-1","body":"\ud800"}"#.to_string(), "invalid_frame"),
        (format!("{valid} trailing"), "invalid_frame"),
        (format!("[{valid}]"), "invalid_frame"),
        (valid[..valid.len() - 1].to_string(), "invalid_frame"),
        (String::new(), "invalid_frame"),
        // An array in field order: serde would take it (found by fuzzing).
        (r#"["message.send",null,"v-1","x",false]"#.to_string(), "invalid_frame"),
    ];
    for (text, code) in &hostile {
        visitor.send_raw(text).await;
        let e = visitor.recv().await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some(*code)),
            "{text}: {e}"
        );
    }
    answers_ping(&mut visitor).await;
    visitor.send_raw(&valid).await;
    let ack = visitor.recv_type("message.ack").await;
    assert_eq!(ack["seq"], 1, "a hostile frame stored something: {ack}");
    app.stop().await;
}

/// Finding 5: one anonymous visitor socket stored 500 messages in 0.63 s.
async fn socket_messages_are_rate_limited_per_socket_and_per_visitor(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.chat.socket_message_burst = 5;
        s.chat.socket_messages_per_sec = 0.5;
        s.chat.visitor_message_burst = 8;
        s.chat.visitor_messages_per_sec = 0.5;
        s.chat.socket_frame_burst = 40;
        s.chat.socket_frames_per_sec = 0.5;
    })
    .await;
    let owner = app.owner("o@example.com").await;
    let key = inbox_key(&app, &owner.workspace_id, &owner.access_token).await;
    let session = app
        .post("/api/v1/widget/sessions", None, json!({"widget_key": key}))
        .await
        .expect(201);
    let token = session.body["visitor_token"].as_str().unwrap().to_string();

    /// Sends `n` messages as fast as possible; returns (acks, refusals).
    async fn flood(ws: &mut kefu_testkit::WsClient, tag: &str, n: usize) -> (usize, Vec<Value>) {
        for i in 0..n {
            ws.send(send(&format!("{tag}-{i}"), "spam")).await;
        }
        let (mut acks, mut refused) = (0, Vec::new());
        while acks + refused.len() < n {
            let f = ws.recv().await;
            match f["type"].as_str() {
                Some("message.ack") => acks += 1,
                Some("error") => refused.push(f),
                _ => {}
            }
        }
        (acks, refused)
    }

    let mut a = app.ws(&token).await;
    let (acks_a, refused_a) = flood(&mut a, "a", 30).await;
    assert!((5..=6).contains(&acks_a), "per socket: {acks_a} acks");
    let r = &refused_a[0];
    assert_eq!(r["code"], "rate_limited", "{r}");
    assert!(r["retry_after"].as_u64().unwrap() >= 1, "{r}");
    assert!(r["ref"].as_str().unwrap().starts_with("a-"), "{r}");
    // A second socket of the same visitor has its own socket budget but
    // shares the visitor's: 8 in all, give or take a refill.
    let mut b2 = app.ws(&token).await;
    let (acks_b, _) = flood(&mut b2, "b", 30).await;
    assert!(
        acks_a + acks_b <= 10,
        "per visitor: {acks_a} + {acks_b} acks"
    );
    assert!(acks_b >= 1, "the visitor's budget was not spent yet");
    // Exactly what was acknowledged is stored.
    let conv = app
        .get("/api/v1/widget/conversations", Some(&token))
        .await
        .expect(200);
    let id = conv.body["items"][0]["id"].as_str().unwrap().to_string();
    let msgs = app
        .get(
            &format!(
                "/api/v1/workspaces/{}/conversations/{id}/messages",
                owner.workspace_id
            ),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    let visitor_msgs = msgs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender"]["type"] == "visitor")
        .count();
    assert_eq!(visitor_msgs, acks_a + acks_b);
    // Frames of any kind are limited too (typing floods).
    let mut c = app.ws(&token).await;
    let conv_id = json!(id);
    for _ in 0..60 {
        c.send(json!({"type": "typing", "conversation_id": conv_id, "on": true}))
            .await;
    }
    let limited = c.recv_type("error").await;
    assert_eq!(limited["code"], "rate_limited");
    app.stop().await;
}

/// Finding 9: a visitor socket received the same contact's messages from
/// other inboxes, which REST answers with 404.
async fn a_visitor_socket_hears_only_its_inbox(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let shop = inbox_key(&app, &owner.workspace_id, &owner.access_token).await;
    let help = inbox_key(&app, &owner.workspace_id, &owner.access_token).await;
    let in_shop = app
        .post("/api/v1/widget/sessions", None, json!({"widget_key": shop}))
        .await
        .expect(201);
    // The same browser (visitor_id) on the workspace's other site: the same contact.
    let in_help = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": help, "visitor_id": in_shop.body["visitor_id"]}),
        )
        .await
        .expect(201);
    assert_eq!(in_shop.body["contact_id"], in_help.body["contact_id"]);
    let mut shop_ws = app
        .ws(in_shop.body["visitor_token"].as_str().unwrap())
        .await;
    let mut help_ws = app
        .ws(in_help.body["visitor_token"].as_str().unwrap())
        .await;
    help_ws
        .send(send("h-1", "a question for the help desk"))
        .await;
    let ack = help_ws.recv_type("message.ack").await;
    assert_eq!(
        help_ws.recv_type("message.created").await["message"]["body"],
        "a question for the help desk"
    );
    // REST refuses the other inbox's conversation to the shop's token…
    app.get(
        &format!(
            "/api/v1/widget/conversations/{}/messages",
            ack["conversation_id"].as_str().unwrap()
        ),
        in_shop.body["visitor_token"].as_str(),
    )
    .await
    .expect(404);
    // …and the shop's socket hears nothing of it.
    let mut heard = Vec::new();
    while !shop_ws.silent_for(700).await {
        heard.push(shop_ws.recv().await);
    }
    assert!(heard.is_empty(), "{heard:?}");
    // Its own conversation still reaches it.
    shop_ws.send(send("s-1", "where is my order")).await;
    shop_ws.recv_type("message.ack").await;
    assert_eq!(
        shop_ws.recv_type("message.created").await["message"]["body"],
        "where is my order"
    );
    app.stop().await;
}

/// Finding 9: agents could read `GET …/bot/settings`; the docs say owner
/// and admin only.
async fn agents_cannot_read_bot_settings(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let path = format!("/api/v1/workspaces/{}/bot/settings", owner.workspace_id);
    let (_, agent) = app.member(&owner, "a@example.com", "agent").await;
    let (_, supervisor) = app.member(&owner, "s@example.com", "supervisor").await;
    let (_, admin) = app.member(&owner, "ad@example.com", "admin").await;
    app.get(&path, Some(&agent))
        .await
        .expect_error(403, "forbidden");
    app.get(&path, Some(&supervisor))
        .await
        .expect_error(403, "forbidden");
    app.get(&path, Some(&admin)).await.expect(200);
    app.get(&path, Some(&owner.access_token)).await.expect(200);
    app.stop().await;
}
