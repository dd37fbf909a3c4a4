use kefu_testkit::{on_both_backends, Backend, Owner, Reply, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    visitors_and_agents_share_one_sequenced_log,
    a_bot_less_inbox_queues_new_conversations,
    visitors_only_reach_their_own_conversations,
    message_input_is_validated,
    api_tokens_need_conversation_scopes,
    the_lifecycle_follows_the_contract,
    agents_list_what_they_may_see,
    history_pages_back_and_lists_preview_each_conversation,
);

struct Chat {
    owner: Owner,
    visitor_token: String,
}

/// A workspace with an inbox and one visitor session.
async fn chat(app: &TestApp, bot_enabled: bool) -> Chat {
    let owner = app.owner("o@example.com").await;
    let inbox = app
        .post(
            &format!("/api/v1/workspaces/{}/inboxes", owner.workspace_id),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "bot_enabled": bot_enabled}),
        )
        .await
        .expect(201);
    Chat {
        visitor_token: visitor(app, &inbox.body["widget_key"]).await,
        owner,
    }
}

async fn visitor(app: &TestApp, widget_key: &Value) -> String {
    let s = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": widget_key}),
        )
        .await
        .expect(201);
    s.body["visitor_token"].as_str().unwrap().to_string()
}

async fn say(app: &TestApp, token: &str, client_msg_id: &str, body: &str) -> Reply {
    app.post(
        "/api/v1/widget/messages",
        Some(token),
        json!({"client_msg_id": client_msg_id, "body": body}),
    )
    .await
}

fn seqs(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

async fn visitors_and_agents_share_one_sequenced_log(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app, true).await;
    let first = say(&app, &c.visitor_token, "c-1", "你好，我的订单还没发货")
        .await
        .expect(201);
    assert_eq!(first.body["seq"], 1);
    assert_eq!(first.body["sender"]["type"], "visitor");
    assert_eq!(first.body["private"], false);
    let conv = first.body["conversation_id"].as_str().unwrap().to_string();
    // A retried send stores nothing and answers the original.
    let again = say(&app, &c.visitor_token, "c-1", "你好，我的订单还没发货")
        .await
        .expect(200);
    assert_eq!(
        (&again.body["id"], &again.body["seq"]),
        (&first.body["id"], &first.body["seq"])
    );
    let second = say(&app, &c.visitor_token, "c-2", "订单号 12345")
        .await
        .expect(201);
    assert_eq!(second.body["seq"], 2);
    assert_eq!(
        second.body["conversation_id"],
        conv.as_str(),
        "continues the open conversation"
    );

    let base = format!(
        "/api/v1/workspaces/{}/conversations/{conv}",
        c.owner.workspace_id
    );
    let detail = app
        .get(&base, Some(&c.owner.access_token))
        .await
        .expect(200);
    assert_eq!(detail.body["status"], "bot");
    assert_eq!(detail.body["last_seq"], 2);
    let reply = app
        .post(
            &format!("{base}/messages"),
            Some(&c.owner.access_token),
            json!({"body": "马上为您查询", "client_msg_id": "a-1"}),
        )
        .await
        .expect(201);
    assert_eq!(
        (
            reply.body["seq"].as_i64(),
            reply.body["sender"]["type"].as_str()
        ),
        (Some(3), Some("agent"))
    );
    app.post(
        &format!("{base}/messages"),
        Some(&c.owner.access_token),
        json!({"body": "VIP 客户", "private": true, "client_msg_id": "a-2"}),
    )
    .await
    .expect(201);

    let agent_view = app
        .get(&format!("{base}/messages"), Some(&c.owner.access_token))
        .await
        .expect(200);
    assert_eq!(seqs(&agent_view.body), vec![1, 2, 3, 4]);
    let tail = app
        .get(
            &format!("{base}/messages?after_seq=2&limit=1"),
            Some(&c.owner.access_token),
        )
        .await
        .expect(200);
    assert_eq!(seqs(&tail.body), vec![3]);
    let visitor_view = app
        .get(
            &format!("/api/v1/widget/conversations/{conv}/messages"),
            Some(&c.visitor_token),
        )
        .await
        .expect(200);
    assert_eq!(
        seqs(&visitor_view.body),
        vec![1, 2, 3],
        "private notes never reach the visitor"
    );
    assert!(!visitor_view.text.contains("VIP"));
    let mine = app
        .get("/api/v1/widget/conversations", Some(&c.visitor_token))
        .await
        .expect(200);
    assert_eq!(mine.body["items"][0]["id"], conv.as_str());
    assert_eq!(mine.body["items"][0]["last_seq"], 4);
    app.stop().await;
}

async fn a_bot_less_inbox_queues_new_conversations(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app, false).await;
    say(&app, &c.visitor_token, "c-1", "hello")
        .await
        .expect(201);
    let mine = app
        .get("/api/v1/widget/conversations", Some(&c.visitor_token))
        .await
        .expect(200);
    assert_eq!(mine.body["items"][0]["status"], "queued");
    app.stop().await;
}

async fn visitors_only_reach_their_own_conversations(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app, true).await;
    let conv = say(&app, &c.visitor_token, "c-1", "secret order")
        .await
        .expect(201)
        .body["conversation_id"]
        .clone();
    let inboxes = app
        .get(
            &format!("/api/v1/workspaces/{}/inboxes", c.owner.workspace_id),
            Some(&c.owner.access_token),
        )
        .await
        .expect(200);
    let stranger = visitor(&app, &inboxes.body[0]["widget_key"]).await;
    app.get(
        &format!(
            "/api/v1/widget/conversations/{}/messages",
            conv.as_str().unwrap()
        ),
        Some(&stranger),
    )
    .await
    .expect_error(404, "conversation_not_found");
    app.post(
        "/api/v1/widget/messages",
        Some(&stranger),
        json!({"conversation_id": conv, "client_msg_id": "x", "body": "hi"}),
    )
    .await
    .expect_error(404, "conversation_not_found");
    let theirs = app
        .get("/api/v1/widget/conversations", Some(&stranger))
        .await
        .expect(200);
    assert_eq!(theirs.body["items"], json!([]));
    app.get("/api/v1/widget/conversations", None)
        .await
        .expect_error(401, "unauthorized");
    app.get("/api/v1/widget/conversations", Some(&c.owner.access_token))
        .await
        .expect_error(401, "unauthorized");
    app.stop().await;
}

async fn message_input_is_validated(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.chat.max_message_chars = 20).await;
    let c = chat(&app, true).await;
    let r = say(&app, &c.visitor_token, "c-1", &"长".repeat(21))
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"]["body"], "too_long");
    say(&app, &c.visitor_token, "c-1", &"长".repeat(20))
        .await
        .expect(201);
    let r = say(&app, &c.visitor_token, "c-2", "   ")
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"]["body"], "required");
    let r = say(&app, &c.visitor_token, &"k".repeat(65), "hi")
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(r.body["details"]["fields"]["client_msg_id"], "invalid");
    let mine = app
        .get("/api/v1/widget/conversations", Some(&c.visitor_token))
        .await
        .expect(200);
    assert_eq!(
        mine.body["items"][0]["last_seq"], 1,
        "refused messages consume no seq"
    );
    app.stop().await;
}

async fn api_tokens_need_conversation_scopes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app, true).await;
    let conv = say(&app, &c.visitor_token, "c-1", "hi")
        .await
        .expect(201)
        .body["conversation_id"]
        .clone();
    let token = app
        .post(
            &format!("/api/v1/workspaces/{}/api-tokens", c.owner.workspace_id),
            Some(&c.owner.access_token),
            json!({"name": "reader", "scopes": ["conversations:read"]}),
        )
        .await
        .expect(201)
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!(
        "/api/v1/workspaces/{}/conversations/{}",
        c.owner.workspace_id,
        conv.as_str().unwrap()
    );
    app.get(&format!("{base}/messages"), Some(&token))
        .await
        .expect(200);
    app.post(
        &format!("{base}/messages"),
        Some(&token),
        json!({"body": "x", "client_msg_id": "t-1"}),
    )
    .await
    .expect_error(403, "forbidden");
    app.stop().await;
}

async fn the_lifecycle_follows_the_contract(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app, true).await;
    let (agent_id, agent) = app.member(&c.owner, "agent@example.com", "agent").await;
    let owner_id = app
        .get("/api/v1/me", Some(&c.owner.access_token))
        .await
        .body["user"]["id"]
        .clone();
    let conv = say(&app, &c.visitor_token, "c-1", "人工客服")
        .await
        .expect(201)
        .body["conversation_id"]
        .clone();
    let base = format!(
        "/api/v1/workspaces/{}/conversations/{}",
        c.owner.workspace_id,
        conv.as_str().unwrap()
    );
    let status = |r: &Reply| r.body["status"].as_str().unwrap().to_string();

    let r = app
        .post(&format!("{base}/handoff"), Some(&agent), json!({}))
        .await
        .expect(200);
    assert_eq!(status(&r), "queued");
    app.post(&format!("{base}/handoff"), Some(&agent), json!({}))
        .await
        .expect_error(409, "invalid_transition");
    // An agent takes it; an agent cannot hand it to someone else.
    let r = app
        .post(
            &format!("{base}/assign"),
            Some(&agent),
            json!({"assignee_id": agent_id}),
        )
        .await
        .expect(200);
    assert_eq!(
        (status(&r), r.body["assignee_id"].as_str()),
        ("assigned".into(), Some(agent_id.as_str()))
    );
    app.post(
        &format!("{base}/assign"),
        Some(&agent),
        json!({"assignee_id": owner_id}),
    )
    .await
    .expect_error(403, "forbidden");
    app.post(
        &format!("{base}/assign"),
        Some(&c.owner.access_token),
        json!({"assignee_id": uuid::Uuid::now_v7()}),
    )
    .await
    .expect_error(422, "validation_failed");
    app.post(
        &format!("{base}/assign"),
        Some(&c.owner.access_token),
        json!({"team_id": uuid::Uuid::now_v7()}),
    )
    .await
    .expect_error(422, "validation_failed");
    let r = app
        .post(&format!("{base}/resolve"), Some(&agent), json!({}))
        .await
        .expect(200);
    assert_eq!(status(&r), "resolved");
    // The visitor writes again: back to their agent.
    say(&app, &c.visitor_token, "c-2", "还有一个问题")
        .await
        .expect(201);
    let r = app
        .get(&base, Some(&c.owner.access_token))
        .await
        .expect(200);
    assert_eq!(
        (status(&r), r.body["assignee_id"].as_str()),
        ("assigned".into(), Some(agent_id.as_str()))
    );
    app.post(&format!("{base}/reopen"), Some(&agent), json!({}))
        .await
        .expect_error(409, "invalid_transition");
    app.post(&format!("{base}/resolve"), Some(&agent), json!({}))
        .await
        .expect(200);
    let r = app
        .post(&format!("{base}/reopen"), Some(&agent), json!({}))
        .await
        .expect(200);
    assert_eq!(status(&r), "assigned");
    // Naming the conversation reopens it the same way.
    app.post(&format!("{base}/resolve"), Some(&agent), json!({}))
        .await
        .expect(200);
    let conv = base.rsplit('/').next().unwrap();
    let m = app
        .post(
            "/api/v1/widget/messages",
            Some(&c.visitor_token),
            json!({"conversation_id": conv, "client_msg_id": "c-3", "body": "再问一下"}),
        )
        .await
        .expect(201);
    assert_eq!(m.body["seq"], 3, "{}", m.text);
    let r = app
        .get(&base, Some(&c.owner.access_token))
        .await
        .expect(200);
    assert_eq!(status(&r), "assigned");
    // A supervisor takes over; the agent loses sight of it.
    let (_, supervisor) = app.member(&c.owner, "sup@example.com", "supervisor").await;
    app.post(
        &format!("{base}/assign"),
        Some(&supervisor),
        json!({"assignee_id": owner_id}),
    )
    .await
    .expect(200);
    app.get(&base, Some(&agent))
        .await
        .expect_error(404, "conversation_not_found");
    app.post(
        &format!("{base}/messages"),
        Some(&agent),
        json!({"body": "x", "client_msg_id": "a-9"}),
    )
    .await
    .expect_error(404, "conversation_not_found");
    app.stop().await;
}

async fn agents_list_what_they_may_see(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = chat(&app, true).await;
    let (agent_id, agent) = app.member(&c.owner, "agent@example.com", "agent").await;
    let inboxes = app
        .get(
            &format!("/api/v1/workspaces/{}/inboxes", c.owner.workspace_id),
            Some(&c.owner.access_token),
        )
        .await
        .expect(200);
    let mut convs = Vec::new();
    for i in 0..5 {
        let v = visitor(&app, &inboxes.body[0]["widget_key"]).await;
        convs.push(
            say(&app, &v, &format!("c-{i}"), "hi")
                .await
                .expect(201)
                .body["conversation_id"]
                .clone(),
        );
    }
    let list = format!("/api/v1/workspaces/{}/conversations", c.owner.workspace_id);
    let conv_url = |id: &Value| format!("{list}/{}", id.as_str().unwrap());
    let owner_id = app
        .get("/api/v1/me", Some(&c.owner.access_token))
        .await
        .body["user"]["id"]
        .clone();
    app.post(
        &format!("{}/assign", conv_url(&convs[0])),
        Some(&c.owner.access_token),
        json!({"assignee_id": owner_id}),
    )
    .await
    .expect(200);
    app.post(
        &format!("{}/assign", conv_url(&convs[1])),
        Some(&agent),
        json!({"assignee_id": agent_id}),
    )
    .await
    .expect(200);

    let all = app
        .get(&list, Some(&c.owner.access_token))
        .await
        .expect(200);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 5);
    let agents = app.get(&list, Some(&agent)).await.expect(200);
    let ids: Vec<&Value> = agents.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids.len(), 4, "not the one assigned to the owner");
    assert!(!ids.contains(&&convs[0]));
    let assigned = app
        .get(
            &format!("{list}?status=assigned"),
            Some(&c.owner.access_token),
        )
        .await
        .expect(200);
    assert_eq!(assigned.body["items"].as_array().unwrap().len(), 2);
    let mine = app
        .get(
            &format!("{list}?assignee_id={agent_id}"),
            Some(&c.owner.access_token),
        )
        .await
        .expect(200);
    assert_eq!(mine.body["items"][0]["id"], convs[1]);
    // Pages of two, following next_cursor, cover everything once.
    let mut seen = Vec::new();
    let mut url = format!("{list}?limit=2");
    loop {
        let page = app.get(&url, Some(&c.owner.access_token)).await.expect(200);
        seen.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].clone()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cur) => url = format!("{list}?limit=2&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.sort_by_key(|v| v.as_str().unwrap().to_string());
    seen.dedup();
    assert_eq!(seen.len(), 5, "no repeats");
    app.get(
        &format!("{list}?cursor=garbage"),
        Some(&c.owner.access_token),
    )
    .await
    .expect_error(422, "validation_failed");
    app.get(&format!("{list}?status=open"), Some(&c.owner.access_token))
        .await
        .expect_error(422, "validation_failed");
    app.stop().await;
}

/// Scrolling back (`before_seq`) for agents and visitors, and the list rows'
/// contact and newest message; an agent's reply carries their name.
async fn history_pages_back_and_lists_preview_each_conversation(b: Backend) {
    let app = TestApp::spawn(b).await;
    let chat = chat(&app, false).await;
    let ws = &chat.owner.workspace_id;
    let t = Some(chat.owner.access_token.as_str());
    let mut conv = String::new();
    for i in 1..=7 {
        let m = say(
            &app,
            &chat.visitor_token,
            &format!("m{i}"),
            &format!("第{i}条"),
        )
        .await
        .expect(201);
        conv = m.body["conversation_id"].as_str().unwrap().to_string();
    }
    let base = format!("/api/v1/workspaces/{ws}/conversations/{conv}");
    app.post(
        &format!("{base}/messages"),
        t,
        json!({"body": "内部备注", "private": true, "client_msg_id": "n1"}),
    )
    .await
    .expect(201);
    let reply = app
        .post(
            &format!("{base}/messages"),
            t,
            json!({"body": "您好", "client_msg_id": "r1"}),
        )
        .await
        .expect(201);
    assert_eq!(reply.body["sender"]["name"], "Owner", "{}", reply.body);

    // Agents: the newest before a seq, oldest first.
    let page = app
        .get(&format!("{base}/messages?before_seq=9&limit=3"), t)
        .await
        .expect(200);
    assert_eq!(seqs(&page.body), [6, 7, 8]);
    let page = app
        .get(&format!("{base}/messages?before_seq=3&limit=50"), t)
        .await
        .expect(200);
    assert_eq!(seqs(&page.body), [1, 2]);
    app.get(&format!("{base}/messages?before_seq=3&after_seq=1"), t)
        .await
        .expect_error(422, "validation_failed");
    // Visitors: the same, without the private note (seq 8).
    let mine = app
        .get(
            &format!("/api/v1/widget/conversations/{conv}/messages?before_seq=10&limit=3"),
            Some(&chat.visitor_token),
        )
        .await
        .expect(200);
    assert_eq!(seqs(&mine.body), [6, 7, 9]);
    assert_eq!(mine.body["items"][2]["sender"]["name"], "Owner");

    // The list shows who and what came last, without further requests.
    app.call(
        reqwest::Method::PUT,
        "/api/v1/widget/contact",
        Some(&chat.visitor_token),
        Some(json!({"name": "李雷", "email": "li@example.com"})),
    )
    .await
    .expect(200);
    let list = app
        .get(&format!("/api/v1/workspaces/{ws}/conversations"), t)
        .await
        .expect(200);
    let row = &list.body["items"][0];
    assert_eq!(row["contact"]["name"], "李雷", "{row}");
    assert_eq!(row["contact"]["email"], "li@example.com");
    assert_eq!(row["last_message"]["seq"], 9);
    assert_eq!(row["last_message"]["body"], "您好");
    // A single conversation is not a list row.
    let one = app.get(&base, t).await.expect(200);
    assert!(one.body.get("last_message").is_none(), "{}", one.body);
}
