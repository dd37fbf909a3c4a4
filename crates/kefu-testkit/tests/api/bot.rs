//! The bot over HTTP: `bot/ask` decisions and hand-off triggers, replies in
//! a live conversation (citations, feedback, hand-off with a summary), and
//! answers written by a language model (a fake speaking the real
//! chat-completions wire format) with their fall-backs.

use crate::kb::{ask, kb, seed};
use kefu_ai::fake::{ChatBehaviour, FakeOpenAi};
use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    ask_answers_suggests_and_hands_off,
    the_bot_answers_in_a_live_conversation,
    asking_for_a_person_or_unhelpful_answers_hand_off,
    agents_get_suggestions_for_the_latest_question,
    visitors_open_the_articles_the_bot_cites,
    a_reply_under_way_at_shutdown_is_stored_before_the_server_stops,
);

async fn ask_answers_suggests_and_hands_off(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    let a = ask(&app, &owner, "请问怎么申请退款？").await;
    assert_eq!(a["decision"], "answer", "{a}");
    assert_eq!(a["citations"][0]["external_id"], "refund");
    assert!(a["answer"].as_str().unwrap().contains("申请退款"));
    let c = a["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c));
    // The hits the decision was made on: the top one is the cited article,
    // its confidence the decision's, with the passage that matched.
    let hits = a["hits"].as_array().unwrap();
    assert_eq!(hits[0]["external_id"], "refund", "{a}");
    assert_eq!(hits[0]["article_id"], a["citations"][0]["article_id"]);
    assert_eq!(hits[0]["confidence"], a["confidence"]);
    assert!(hits[0]["snippet"].as_str().unwrap().contains("退款"), "{a}");
    assert!(hits[0]["anchor"].is_string(), "{a}");
    assert!(hits.iter().all(|h| h["score"].is_number()), "{a}");

    for (q, reason) in [
        ("转人工", "explicit_request"),
        ("我要找人工客服", "explicit_request"),
        ("Can I talk to a real person?", "explicit_request"),
        ("你们就是骗子，我要投诉", "negative_sentiment"),
        ("refund now or I call my bank", "negative_sentiment"),
        ("今天北京天气怎么样", "low_confidence"),
    ] {
        let a = ask(&app, &owner, q).await;
        assert_eq!(
            (a["decision"].clone(), a["reason"].clone()),
            (json!("handoff"), json!(reason)),
            "{q}: {a}"
        );
        if reason != "low_confidence" {
            // Handed off before retrieval: nothing was ranked.
            assert_eq!(a["hits"], json!([]), "{q}: {a}");
        }
    }
    // "agenda" is not "agent".
    let a = ask(&app, &owner, "what's on the agenda for password reset").await;
    assert_ne!(a["reason"], "explicit_request", "{a}");

    // Thresholds are per workspace: at 1.0 nothing is answered outright.
    app.patch(
        &kb(&owner, "bot/settings"),
        Some(&owner.access_token),
        json!({"answer_threshold": 1.0, "suggest_threshold": 0.0}),
    )
    .await
    .expect(200);
    let a = ask(&app, &owner, "请问怎么申请退款？").await;
    assert_eq!(a["decision"], "suggest", "{a}");
    assert_eq!(a["suggestions"][0]["external_id"], "refund");
    app.patch(
        &kb(&owner, "bot/settings"),
        Some(&owner.access_token),
        json!({"answer_threshold": 0.2, "suggest_threshold": 0.5}),
    )
    .await
    .expect_error(422, "validation_failed");
}

/// An app whose bot writes its answers with this language model, over the
/// seeded knowledge base, answering from confidence 0.5 on.
async fn app_with_model(b: Backend, llm: kefu_ai::LlmConfig) -> (TestApp, Owner) {
    let app = TestApp::spawn_with(b, |s| s.llm = Some(llm)).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    app.patch(
        &kb(&owner, "bot/settings"),
        Some(&owner.access_token),
        json!({"answer_threshold": 0.5, "suggest_threshold": 0.3}),
    )
    .await
    .expect(200);
    (app, owner)
}

/// An inbox with the bot on; returns the widget key.
async fn bot_inbox(app: &TestApp, owner: &Owner) -> String {
    let r = app
        .post(
            &kb(owner, "inboxes"),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "bot_enabled": true}),
        )
        .await
        .expect(201);
    r.body["widget_key"].as_str().unwrap().to_string()
}

async fn visitor(app: &TestApp, key: &str) -> String {
    let s = app
        .post("/api/v1/widget/sessions", None, json!({"widget_key": key}))
        .await
        .expect(201);
    s.body["visitor_token"].as_str().unwrap().to_string()
}

async fn say(app: &TestApp, token: &str, conv: Option<&str>, id: &str, body: &str) -> String {
    let m = app
        .post(
            "/api/v1/widget/messages",
            Some(token),
            json!({"conversation_id": conv, "client_msg_id": id, "body": body}),
        )
        .await
        .expect(201);
    m.body["conversation_id"].as_str().unwrap().to_string()
}

/// Waits for the visitor's view to hold `n` messages; returns them.
async fn visitor_messages(app: &TestApp, token: &str, conv: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let r = app
            .get(
                &format!("/api/v1/widget/conversations/{conv}/messages"),
                Some(token),
            )
            .await
            .expect(200);
        let items = r.body["items"].as_array().unwrap().clone();
        if items.len() >= n {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} messages after 5 s");
}

async fn conversation_status(app: &TestApp, owner: &Owner, conv: &str) -> Value {
    app.get(
        &kb(owner, &format!("conversations/{conv}")),
        Some(&owner.access_token),
    )
    .await
    .expect(200)
    .body["status"]
        .clone()
}

/// The hand-off's goodbye is sent before the conversation moves to the
/// queue (the visitor hears first): wait for the move, up to five seconds.
async fn wait_for_status(app: &TestApp, owner: &Owner, conv: &str, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let status = conversation_status(app, owner, conv).await;
        if status == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status {status}, expected {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn the_bot_answers_in_a_live_conversation(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    let key = bot_inbox(&app, &owner).await;
    let token = visitor(&app, &key).await;
    let mut ws = app.ws(&token).await;
    let conv = say(&app, &token, None, "q-1", "我想退货退款，怎么操作？").await;
    let msgs = visitor_messages(&app, &token, &conv, 2).await;
    let reply = &msgs[1];
    assert_eq!(reply["sender"]["type"], "bot", "{reply}");
    assert_eq!(reply["seq"], 2);
    assert_eq!(reply["decision"], "answer");
    assert_eq!(reply["citations"][0]["external_id"], "refund");
    assert_eq!(reply["feedback"], true);
    // The socket saw it too, citations included.
    loop {
        let f = ws.recv_type("message.created").await;
        if f["message"]["sender"]["type"] == "bot" {
            assert_eq!(f["message"]["citations"][0]["title"], "如何申请退款");
            break;
        }
    }
    assert_eq!(conversation_status(&app, &owner, &conv).await, "bot");
    // "Helpful" is recorded; the conversation stays with the bot.
    let fb = format!(
        "/api/v1/widget/conversations/{conv}/messages/{}/feedback",
        reply["id"].as_str().unwrap()
    );
    app.post(&fb, Some(&token), json!({"helpful": true}))
        .await
        .expect(200);
    // Someone else's conversation cannot be rated.
    let stranger = visitor(&app, &key).await;
    app.post(&fb, Some(&stranger), json!({"helpful": false}))
        .await
        .expect(404);
}

async fn visitors_open_the_articles_the_bot_cites(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let created = seed(&app, &owner).await;
    let key = bot_inbox(&app, &owner).await;
    let token = visitor(&app, &key).await;
    let conv = say(&app, &token, None, "q-1", "我想退货退款，怎么操作？").await;
    let msgs = visitor_messages(&app, &token, &conv, 2).await;
    let cited = msgs[1]["citations"][0]["article_id"].as_str().unwrap();
    let path = |id: &str| format!("/api/v1/widget/articles/{id}");

    let a = app.get(&path(cited), Some(&token)).await.expect(200).body;
    assert_eq!(a["id"], cited);
    assert_eq!(a["external_id"], "refund");
    assert_eq!(a["title"], "如何申请退款");
    assert!(a["body"].as_str().unwrap().contains("**订单详情**"), "{a}");
    assert_eq!(a["locale"], "zh-CN");
    assert!(
        a.get("questions").is_none(),
        "only what a visitor needs: {a}"
    );
    app.get(&path(cited), None).await.expect(401);
    app.get(&path("not-an-id"), Some(&token))
        .await
        .expect_error(404, "article_not_found");

    // A draft is not shown to visitors, nor is a deleted article.
    let t = Some(owner.access_token.as_str());
    let draft = app
        .post(
            &kb(&owner, "kb/articles"),
            t,
            json!({"title": "内部草稿", "body": "未发布", "status": "draft"}),
        )
        .await
        .expect(201)
        .body;
    app.get(&path(draft["id"].as_str().unwrap()), Some(&token))
        .await
        .expect_error(404, "article_not_found");
    let invoice = created[1]["id"].as_str().unwrap();
    app.get(&path(invoice), Some(&token)).await.expect(200);
    app.call(
        reqwest::Method::DELETE,
        &kb(&owner, &format!("kb/articles/{invoice}")),
        t,
        None,
    )
    .await
    .expect(204);
    app.get(&path(invoice), Some(&token))
        .await
        .expect_error(404, "article_not_found");

    // Another workspace's visitor does not read this workspace's articles.
    let other = app.owner("x@example.com").await;
    let other_key = bot_inbox(&app, &other).await;
    let stranger = visitor(&app, &other_key).await;
    app.get(&path(cited), Some(&stranger))
        .await
        .expect_error(404, "article_not_found");
}

async fn asking_for_a_person_or_unhelpful_answers_hand_off(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    let key = bot_inbox(&app, &owner).await;

    // Asked in words: the bot says so, and the agent gets a summary.
    let token = visitor(&app, &key).await;
    let conv = say(&app, &token, None, "q-1", "发票怎么开？").await;
    visitor_messages(&app, &token, &conv, 2).await;
    say(&app, &token, Some(&conv), "q-2", "还是不明白，转人工").await;
    let msgs = visitor_messages(&app, &token, &conv, 4).await;
    assert_eq!(msgs[3]["sender"]["type"], "bot");
    assert_eq!(msgs[3]["decision"], "handoff");
    assert!(
        msgs.iter().all(|m| m["private"] == false),
        "visitors never see the summary"
    );
    wait_for_status(&app, &owner, &conv, "queued").await;
    let agent_view = app
        .get(
            &kb(&owner, &format!("conversations/{conv}/messages")),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    let note = agent_view.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["private"] == true)
        .cloned()
        .expect("a private summary note");
    let text = note["body"].as_str().unwrap();
    assert!(text.contains("访客要求人工服务"), "{text}");
    assert!(text.contains("发票怎么开"), "the questions asked: {text}");
    assert!(text.contains("如何开具发票"), "the articles shown: {text}");
    assert_eq!(note["handoff_reason"], "explicit_request");

    // Two unhelpful answers in a row: the next message goes to people.
    let token = visitor(&app, &key).await;
    let conv = say(&app, &token, None, "q-1", "怎么退款").await;
    let first = visitor_messages(&app, &token, &conv, 2).await[1].clone();
    let rate = |m: &Value| {
        format!(
            "/api/v1/widget/conversations/{conv}/messages/{}/feedback",
            m["id"].as_str().unwrap()
        )
    };
    app.post(&rate(&first), Some(&token), json!({"helpful": false}))
        .await
        .expect(200);
    assert_eq!(conversation_status(&app, &owner, &conv).await, "bot");
    say(&app, &token, Some(&conv), "q-2", "退款流程是什么").await;
    let second = visitor_messages(&app, &token, &conv, 4).await[3].clone();
    let c = app
        .post(&rate(&second), Some(&token), json!({"helpful": false}))
        .await
        .expect(200);
    assert_eq!(c.body["status"], "queued");

    // The widget's "talk to a person" button.
    let token = visitor(&app, &key).await;
    let conv = say(&app, &token, None, "q-1", "怎么开发票").await;
    visitor_messages(&app, &token, &conv, 2).await;
    let c = app
        .post(
            &format!("/api/v1/widget/conversations/{conv}/handoff"),
            Some(&token),
            json!({"locale": "en"}),
        )
        .await
        .expect(200);
    assert_eq!(c.body["status"], "queued");
    let msgs = visitor_messages(&app, &token, &conv, 3).await;
    assert!(msgs[2]["body"].as_str().unwrap().contains("person"));
}

async fn agents_get_suggestions_for_the_latest_question(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    let key = bot_inbox(&app, &owner).await;
    let token = visitor(&app, &key).await;
    let conv = say(&app, &token, None, "q-1", "人工客服").await;
    visitor_messages(&app, &token, &conv, 2).await;
    say(&app, &token, Some(&conv), "q-2", "I forgot my password").await;
    let s = app
        .get(
            &kb(&owner, &format!("conversations/{conv}/suggestions")),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    assert_eq!(s.body["hits"][0]["external_id"], "password", "{}", s.body);
}

/// SQLite only: the model endpoint is a third party, the store is not the
/// point here.
#[tokio::test]
async fn a_language_model_writes_answers_and_failures_fall_back() {
    let fake = FakeOpenAi::start().await;
    let mut llm = fake.llm_config();
    llm.timeout_ms = 1500;
    llm.first_token_timeout_ms = 800;
    // The question below carries noise (a phone number); what is tested
    // is the model path, so the workspace answers from 0.5 on.
    let (app, owner) = app_with_model(Backend::Sqlite, llm).await;

    fake.set_chat(ChatBehaviour::Reply(
        "在订单详情页申请退款即可 [1]。联系电话 13812345678".into(),
    ));
    let a = ask(&app, &owner, "我的手机号是13912345678，怎么退款").await;
    assert_eq!(a["decision"], "answer", "{a}");
    assert!(a["answer"].as_str().unwrap().contains("[1]"), "{a}");
    assert_eq!(a["citations"][0]["external_id"], "refund");
    let sent = fake
        .chat_requests()
        .last()
        .unwrap()
        .message_texts()
        .join("\n");
    assert!(
        !sent.contains("13912345678"),
        "personal data is masked before it leaves: {sent}"
    );
    assert!(sent.contains("申请退款"), "the passages are sent");

    // Errors and timeouts fall back to the article itself.
    for failure in [
        ChatBehaviour::Error {
            status: 500,
            message: "boom".into(),
        },
        ChatBehaviour::Delay(Duration::from_secs(5), "too late".into()),
        ChatBehaviour::StallAfterFirstToken("在".into()),
    ] {
        fake.set_chat(failure.clone());
        let a = ask(&app, &owner, "怎么退款").await;
        assert_eq!(a["decision"], "answer", "{failure:?}: {a}");
        assert!(
            a["answer"].as_str().unwrap().contains("订单详情"),
            "{failure:?}: {a}"
        );
    }
    // A model that cannot answer from the passages hands off.
    fake.set_chat(ChatBehaviour::Refuse);
    let a = ask(&app, &owner, "怎么退款").await;
    assert_eq!(
        (a["decision"].clone(), a["reason"].clone()),
        (json!("handoff"), json!("model_cannot_answer"))
    );

    // In a conversation the answer streams as message.delta frames first.
    fake.set_chat(ChatBehaviour::Reply(
        "请在订单详情页点击申请退款 [1]".into(),
    ));
    let key = bot_inbox(&app, &owner).await;
    let token = visitor(&app, &key).await;
    let mut ws = app.ws(&token).await;
    let conv = say(&app, &token, None, "q-1", "怎么退款").await;
    let first = ws.recv_type("message.delta").await;
    assert_eq!(first["conversation_id"], json!(conv));
    let msgs = visitor_messages(&app, &token, &conv, 2).await;
    assert_eq!(
        msgs[1]["id"], first["message_id"],
        "the final message replaces the pieces"
    );
    assert_eq!(msgs[1]["body"], "请在订单详情页点击申请退款 [1]");
}

/// SIGTERM while the bot is writing an answer (a language model that takes
/// 1.5 s): the server waits for the reply, within its grace period, and
/// returns only once it is stored — not with the reply dropped mid-way.
async fn a_reply_under_way_at_shutdown_is_stored_before_the_server_stops(b: Backend) {
    let fake = FakeOpenAi::start().await;
    let mut llm = fake.llm_config();
    llm.timeout_ms = 10_000;
    llm.first_token_timeout_ms = 10_000;
    let (mut app, owner) = app_with_model(b, llm).await;
    fake.set_chat(ChatBehaviour::Delay(
        Duration::from_millis(1500),
        "请在订单详情页申请退款 [1]".into(),
    ));
    let key = bot_inbox(&app, &owner).await;
    let token = visitor(&app, &key).await;
    let conv = say(&app, &token, None, "q-1", "怎么退款").await;
    // The model has the question: the reply is under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fake.chat_requests().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the bot never asked the model"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.shut_down().await;
    let msgs = app
        .store
        .messages_after(
            owner.workspace_id.parse().unwrap(),
            conv.parse().unwrap(),
            0,
            10,
            true,
        )
        .await
        .unwrap();
    let bodies: Vec<&str> = msgs.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["怎么退款", "请在订单详情页申请退款 [1]"],
        "the answer is stored before the server returns"
    );
    app.stop().await;
}
