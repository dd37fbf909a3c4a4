//! The real-time gateway over real sockets.

use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    sends_are_acknowledged_once_and_reach_agents,
    replies_reach_the_visitor_but_notes_never_do,
    sync_replays_what_a_reconnecting_visitor_missed,
    bad_frames_get_errors_and_the_socket_stays_open,
    visitors_never_see_each_other,
    sockets_need_valid_tokens_and_are_capped,
    sockets_are_capped_per_address,
    slow_consumers_are_cut_off_and_catch_up_by_sync,
    sockets_respect_the_inbox_origins,
    shutdown_closes_sockets_with_a_reconnect_hint,
);

struct Chat {
    owner: Owner,
    widget_key: Value,
}

async fn chat(app: &TestApp) -> Chat {
    let owner = app.owner("o@example.com").await;
    let inbox = app
        .post(
            &format!("/api/v1/workspaces/{}/inboxes", owner.workspace_id),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web"}),
        )
        .await
        .expect(201);
    Chat {
        owner,
        widget_key: inbox.body["widget_key"].clone(),
    }
}

fn send(client_msg_id: &str, body: &str) -> Value {
    json!({"type": "message.send", "client_msg_id": client_msg_id, "body": body})
}

async fn sends_are_acknowledged_once_and_reach_agents(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app).await;
    let mut agent = app.ws(&c.owner.access_token).await;
    let mut visitor = app.ws(&app.visitor_token(&c.widget_key).await).await;
    visitor.send(send("c-1", "你好")).await;
    let ack = visitor.recv().await;
    assert_eq!(
        (
            ack["type"].as_str(),
            ack["seq"].as_i64(),
            ack["client_msg_id"].as_str()
        ),
        (Some("message.ack"), Some(1), Some("c-1"))
    );
    let seen = agent.recv().await;
    assert_eq!(seen["type"], "message.created");
    assert_eq!(
        (seen["seq"].as_i64(), seen["message"]["body"].as_str()),
        (Some(1), Some("你好"))
    );
    assert_eq!(seen["message"]["sender"]["type"], "visitor");
    assert_eq!(seen["conversation_id"], ack["conversation_id"]);
    // The visitor's own socket hears about its message too (other tabs).
    assert_eq!(visitor.recv().await["type"], "message.created");
    // A retry is acknowledged identically and announced to nobody.
    visitor.send(send("c-1", "你好")).await;
    let again = visitor.recv().await;
    assert_eq!(
        (&again["message_id"], &again["seq"]),
        (&ack["message_id"], &ack["seq"])
    );
    assert!(agent.silent_for(300).await, "no second announcement");
    app.stop().await;
}

async fn replies_reach_the_visitor_but_notes_never_do(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app).await;
    let mut visitor = app.ws(&app.visitor_token(&c.widget_key).await).await;
    visitor.send(send("c-1", "help")).await;
    let conv = visitor.recv().await["conversation_id"].clone();
    visitor.recv().await; // its own message.created
    let mut agent = app.ws(&c.owner.access_token).await;
    agent.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "n-1", "body": "VIP, be kind", "private": true})).await;
    assert_eq!(agent.recv().await["type"], "message.ack");
    agent.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "a-1", "body": "您好"})).await;
    // The agent's own socket also hears its note; wait for the ack.
    let ack = agent.recv_type("message.ack").await;
    assert_eq!(
        (ack["type"].as_str(), ack["seq"].as_i64()),
        (Some("message.ack"), Some(3))
    );
    let got = visitor.recv().await;
    assert_eq!(
        (got["seq"].as_i64(), got["message"]["body"].as_str()),
        (Some(3), Some("您好")),
        "the note (seq 2) is skipped"
    );
    // A reply over REST arrives the same way.
    app.post(
        &format!(
            "/api/v1/workspaces/{}/conversations/{}/messages",
            c.owner.workspace_id,
            conv.as_str().unwrap()
        ),
        Some(&c.owner.access_token),
        json!({"body": "还在吗？", "client_msg_id": "a-2"}),
    )
    .await
    .expect(201);
    assert_eq!(visitor.recv().await["seq"], 4);
    // Status changes are announced too.
    app.post(
        &format!(
            "/api/v1/workspaces/{}/conversations/{}/handoff",
            c.owner.workspace_id,
            conv.as_str().unwrap()
        ),
        Some(&c.owner.access_token),
        json!({}),
    )
    .await
    .expect(200);
    let upd = visitor.recv().await;
    assert_eq!(
        (upd["type"].as_str(), upd["conversation"]["status"].as_str()),
        (Some("conversation.updated"), Some("queued"))
    );
    app.stop().await;
}

async fn sync_replays_what_a_reconnecting_visitor_missed(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app).await;
    let token = app.visitor_token(&c.widget_key).await;
    let conv = {
        let mut v = app.ws(&token).await;
        v.send(send("c-1", "one")).await;
        v.recv().await["conversation_id"].clone()
    }; // the socket closes: the visitor goes offline
    let base = format!(
        "/api/v1/workspaces/{}/conversations/{}/messages",
        c.owner.workspace_id,
        conv.as_str().unwrap()
    );
    for (i, private) in [(1, false), (2, true), (3, false)] {
        app.post(&base, Some(&c.owner.access_token), json!({"body": format!("reply {i}"), "private": private, "client_msg_id": format!("a-{i}")}))
            .await
            .expect(201);
    }
    let mut v = app.ws(&token).await;
    v.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 1}))
        .await;
    let first = v.recv().await;
    let second = v.recv().await;
    assert_eq!(
        (first["seq"].as_i64(), second["seq"].as_i64()),
        (Some(2), Some(4)),
        "seq 3 is a private note"
    );
    assert_eq!(second["message"]["body"], "reply 3");
    assert!(v.silent_for(200).await, "nothing else to replay");
    app.stop().await;
}

async fn bad_frames_get_errors_and_the_socket_stays_open(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.chat.max_message_chars = 10).await;
    let c = chat(&app).await;
    let mut v = app.ws(&app.visitor_token(&c.widget_key).await).await;
    v.send_raw("{not json").await;
    assert_eq!(v.recv().await["code"], "invalid_frame");
    v.send(json!({"type": "teleport"})).await;
    assert_eq!(v.recv().await["code"], "invalid_frame");
    v.send(send("c-1", "这条消息明显超过了十个字的限制")).await;
    let e = v.recv().await;
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str(), e["ref"].as_str()),
        (Some("error"), Some("validation_failed"), Some("c-1"))
    );
    v.send(json!({"type": "message.send", "client_msg_id": "p", "body": "x", "private": true}))
        .await;
    assert_eq!(v.recv().await["code"], "validation_failed");
    v.send(json!({"type": "typing", "conversation_id": uuid::Uuid::now_v7(), "on": true}))
        .await;
    assert_eq!(v.recv().await["code"], "conversation_not_found");
    v.send(json!({"type": "ping"})).await;
    assert_eq!(v.recv().await["type"], "pong", "still open and answering");
    app.stop().await;
}

async fn visitors_never_see_each_other(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app).await;
    let mut alice = app.ws(&app.visitor_token(&c.widget_key).await).await;
    let mut bob = app.ws(&app.visitor_token(&c.widget_key).await).await;
    alice.send(send("c-1", "my address is …")).await;
    let conv = alice.recv().await["conversation_id"].clone();
    assert!(bob.silent_for(300).await, "bob hears nothing of alice");
    bob.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    assert_eq!(bob.recv().await["code"], "conversation_not_found");
    bob.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "x", "body": "hi"})).await;
    assert_eq!(bob.recv().await["code"], "conversation_not_found");
    app.stop().await;
}

async fn sockets_need_valid_tokens_and_are_capped(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.chat.max_sockets_per_visitor = 2).await;
    let c = chat(&app).await;
    assert_eq!(app.ws_refused("").await, 401);
    assert_eq!(app.ws_refused("vt1.forged.token").await, 401);
    assert_eq!(app.ws_refused("kefu_pat_nope").await, 401);
    let token = app.visitor_token(&c.widget_key).await;
    let _one = app.ws(&token).await;
    let two = app.ws(&token).await;
    assert_eq!(app.ws_refused(&token).await, 429);
    drop(two);
    // The server frees the slot when it sees the socket go; poll for it.
    let mut freed = false;
    for _ in 0..50 {
        if app.ws_try(&token).await.is_ok() {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(freed, "a closed socket frees its slot");
    app.stop().await;
}

async fn sockets_are_capped_per_address(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.chat.max_sockets_per_ip = 3).await;
    let c = chat(&app).await;
    // Visitors and agents from one address share the cap.
    let _agent = app.ws(&c.owner.access_token).await;
    let _v1 = app.ws(&app.visitor_token(&c.widget_key).await).await;
    let v2 = app.ws(&app.visitor_token(&c.widget_key).await).await;
    let other = app.visitor_token(&c.widget_key).await;
    assert_eq!(app.ws_refused(&other).await, 429);
    assert_eq!(app.ws_refused(&c.owner.access_token).await, 429);
    drop(v2);
    let mut freed = false;
    for _ in 0..50 {
        if app.ws_try(&other).await.is_ok() {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(freed, "a closed socket frees its address's slot");
    app.stop().await;
}

/// A visitor whose socket stops reading is disconnected once a frame cannot
/// be sent within the deadline (rather than buffered without bound); the
/// agent's sends all succeed meanwhile, and the visitor's `sync` afterwards
/// gets everything.
async fn slow_consumers_are_cut_off_and_catch_up_by_sync(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.chat.socket_send_timeout_secs = 1;
        s.http.rate_limit.enabled = false;
    })
    .await;
    let c = chat(&app).await;
    let token = app.visitor_token(&c.widget_key).await;
    let first = app
        .post(
            "/api/v1/widget/messages",
            Some(&token),
            json!({"client_msg_id": "v-1", "body": "在吗"}),
        )
        .await
        .expect(201);
    let conv = first.body["conversation_id"].as_str().unwrap().to_string();
    let mut stalled = app.ws(&token).await;
    // Replies of ~27 KB each until the server gives up on the socket: the
    // kernel buffers between the two hold megabytes (their size depends on
    // the machine), so keep going until the slow-consumer close is counted.
    let body = "字".repeat(9000);
    let slow_closes = r#"kefu_ws_slow_consumer_closes_total{kind="visitor"} 1"#;
    let mut total = 0;
    while total < 4000 {
        for _ in 0..50 {
            app.post(
                &format!(
                    "/api/v1/workspaces/{}/conversations/{conv}/messages",
                    c.owner.workspace_id
                ),
                Some(&c.owner.access_token),
                json!({"body": body, "client_msg_id": format!("r-{total}")}),
            )
            .await
            .expect(201);
            total += 1;
        }
        if app.get("/metrics", None).await.text.contains(slow_closes) {
            break;
        }
    }
    let metrics = app.get("/metrics", None).await.expect(200).text;
    assert!(
        metrics.contains(slow_closes),
        "no slow-consumer close after {total} replies"
    );
    // Only now does the visitor read: what the buffers held, then the end.
    let got = stalled
        .drain_until_closed(60)
        .await
        .expect("the server closed the stalled socket");
    let created = got
        .iter()
        .filter(|f| f["type"] == "message.created")
        .count();
    assert!(
        created < total,
        "the server gave up on the socket ({created} of {total} delivered)"
    );
    // Reconnect and sync: every message is there, in order, once.
    let mut again = app.ws(&token).await;
    let metrics = app.get("/metrics", None).await.expect(200).text;
    assert!(
        metrics.contains(r#"kefu_ws_sessions{kind="visitor"} 1"#),
        "the stalled socket is gone, the new one counted: {metrics}"
    );
    again
        .send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    for seq in 1..=(total + 1) {
        let f = again.recv_type("message.created").await;
        assert_eq!(f["seq"], seq);
    }
    app.stop().await;
}

async fn shutdown_closes_sockets_with_a_reconnect_hint(b: Backend) {
    let mut app = TestApp::spawn(b).await;
    let c = chat(&app).await;
    let mut v = app.ws(&app.visitor_token(&c.widget_key).await).await;
    app.begin_shutdown();
    let closed = v.recv().await;
    assert_eq!(
        (closed["type"].as_str(), closed["code"].as_u64()),
        (Some("closed"), Some(1012))
    );
    app.stop().await;
}

async fn sockets_respect_the_inbox_origins(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let inbox = app
        .post(
            &format!("/api/v1/workspaces/{}/inboxes", owner.workspace_id),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "allowed_origins": ["https://shop.example.cn"]}),
        )
        .await
        .expect(201);
    let token = app.visitor_token(&inbox.body["widget_key"]).await;
    assert_eq!(
        app.ws_try_from(&token, Some("https://evil.example.com"))
            .await
            .err(),
        Some(403)
    );
    assert!(app
        .ws_try_from(&token, Some("https://shop.example.cn"))
        .await
        .is_ok());
    app.stop().await;
}
