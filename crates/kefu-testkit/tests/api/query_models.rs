//! The model endpoints a question meets on its way through retrieval, over
//! HTTP against a fake speaking their wire formats: the embeddings endpoint
//! receives it with personal data masked (issue 15).

use crate::kb::{kb, seed};
use kefu_ai::fake::FakeOpenAi;
use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(questions_reach_the_embeddings_endpoint_masked,);

/// A visitor's question with a phone number, an e-mail address and a
/// resident ID number in it.
const PERSONAL: &str =
    "我的手机号是13812345678，邮箱zhang.san@example.com，身份证11010519491231002X，怎么退款？";
const RAW: &[&str] = &["13812345678", "zhang.san@example.com", "11010519491231002X"];

async fn search(app: &TestApp, owner: &Owner, q: &str) -> Vec<Value> {
    let req = app
        .client
        .get(app.url(&kb(owner, "kb/search")))
        .query(&[("q", q)])
        .bearer_auth(&owner.access_token);
    let r = TestApp::reply(req.send().await.unwrap()).await.expect(200);
    r.body["hits"].as_array().unwrap().clone()
}

async fn ask(app: &TestApp, owner: &Owner, q: &str) -> Value {
    app.post(
        &kb(owner, "bot/ask"),
        Some(&owner.access_token),
        json!({ "question": q }),
    )
    .await
    .expect(200)
    .body
}

/// The article the bot answers with, or the first it suggests.
fn first_article(a: &Value) -> &Value {
    match a["decision"].as_str() {
        Some("answer") => &a["citations"][0],
        Some("suggest") => &a["suggestions"][0],
        _ => panic!("neither an answer nor a suggestion: {a}"),
    }
}

async fn add_article(app: &TestApp, owner: &Owner, ext: &str, title: &str, body: &str) {
    app.post(
        &kb(owner, "kb/articles"),
        Some(&owner.access_token),
        json!({ "external_id": ext, "title": title, "body": body }),
    )
    .await
    .expect(201);
}

/// Polls `kb/status` until `want` holds (10 s).
async fn status_until(app: &TestApp, owner: &Owner, what: &str, want: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = app
            .get(&kb(owner, "kb/status"), Some(&owner.access_token))
            .await
            .expect(200)
            .body;
        if want(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: kb/status is {s}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The outside audit's finding: raw visitor questions went to the
/// embeddings endpoint. Through `bot/ask`, `kb/search` and a live
/// conversation alike, the question now arrives masked — while the
/// articles, the team's own text, are embedded as written.
async fn questions_reach_the_embeddings_endpoint_masked(b: Backend) {
    let fake = FakeOpenAi::start().await;
    let mut embeddings = fake.embeddings_config();
    embeddings.retries = 0;
    let app = TestApp::spawn_with(b, |s| s.embeddings = Some(embeddings)).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    add_article(
        &app,
        &owner,
        "hotline",
        "联系客服",
        "客服热线 13800138000，工作日 9–18 点。",
    )
    .await;
    status_until(&app, &owner, "every article embedded", |s| {
        s["embedded"] == 4 && s["pending"] == 0
    })
    .await;
    let passages: Vec<String> = fake
        .embedding_requests()
        .iter()
        .filter(|r| r.body["input_type"] == "passage")
        .flat_map(|r| r.inputs().into_iter().map(str::to_owned))
        .collect();
    assert!(
        passages.iter().any(|p| p.contains("13800138000")),
        "articles are embedded as written: {passages:?}"
    );
    fake.clear_requests();

    let a = ask(&app, &owner, PERSONAL).await;
    assert_eq!(first_article(&a)["external_id"], "refund", "{a}");
    assert_eq!(
        search(&app, &owner, PERSONAL).await[0]["external_id"],
        "refund"
    );
    let inbox = app
        .post(
            &kb(&owner, "inboxes"),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "bot_enabled": true}),
        )
        .await
        .expect(201);
    let visitor = app.visitor_token(&inbox.body["widget_key"]).await;
    app.post(
        "/api/v1/widget/messages",
        Some(&visitor),
        json!({"client_msg_id": "q-1", "body": PERSONAL}),
    )
    .await
    .expect(201);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.embedding_requests().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "the bot did not embed the visitor's question"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let queries = fake.embedding_requests();
    assert_eq!(queries.len(), 3, "{queries:?}");
    for q in &queries {
        assert_eq!(q.body["input_type"], "query");
        let sent = q.inputs().join("\n");
        for raw in RAW {
            assert!(
                !sent.contains(raw),
                "{raw} left for the embeddings endpoint: {sent}"
            );
        }
        assert_eq!(
            sent,
            "我的手机号是[phone]，邮箱[email]，身份证[id]，怎么退款？"
        );
    }
}
