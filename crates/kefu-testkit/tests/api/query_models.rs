//! The model endpoints a question meets on its way through retrieval, over
//! HTTP against a fake speaking their wire formats: the embeddings endpoint
//! and the reranker receive it with personal data masked (issue 15), and
//! the reranker's order is the order of `kb/search` and of the bot's
//! answer — unless it fails or is slow, when the search keeps its own.

use crate::kb::{ask, kb, search, seed};
use kefu_ai::fake::{fake_rerank_score, FakeOpenAi, RerankBehaviour};
use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    questions_reach_the_embeddings_endpoint_masked,
    the_reranker_orders_search_and_the_bots_answer,
    a_failing_or_slow_reranker_keeps_the_search_order,
);

/// A visitor's question with a phone number, an e-mail address and a
/// resident ID number in it.
const PERSONAL: &str =
    "我的手机号是13812345678，邮箱zhang.san@example.com，身份证11010519491231002X，怎么退款？";
const RAW: &[&str] = &["13812345678", "zhang.san@example.com", "11010519491231002X"];

fn titles(hits: &[Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["title"].as_str().unwrap().to_string())
        .collect()
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

/// Four English articles that all match "order page".
const ORDER_ARTICLES: &[(&str, &str, &str)] = &[
    (
        "order-cancel",
        "Cancel an order",
        "Open the order page and press Cancel before the order ships.",
    ),
    (
        "order-track",
        "Track an order",
        "The order page shows where your parcel is, with its tracking number.",
    ),
    (
        "order-invoice",
        "Get an invoice",
        "Download the invoice of an order from the order page.",
    ),
    (
        "order-address",
        "Change the delivery address",
        "Before it ships, change the address on the order page.",
    ),
];

async fn seed_orders(app: &TestApp, owner: &Owner) {
    for (ext, title, body) in ORDER_ARTICLES {
        add_article(app, owner, ext, title, body).await;
    }
}

/// With `[rerank]` (top_k 3): the three best hits go to the reranker as
/// `title\npassage`, with the masked question; its order is `kb/search`'s,
/// the fourth hit stays fourth, and the bot answers (or suggests) from the
/// reranker's first. A question with a single hit asks nothing.
async fn the_reranker_orders_search_and_the_bots_answer(b: Backend) {
    let fake = FakeOpenAi::start().await;
    let mut rerank = fake.rerank_config();
    rerank.top_k = 3;
    let app = TestApp::spawn_with(b, |s| s.rerank = Some(rerank)).await;
    let owner = app.owner("o@example.com").await;
    seed_orders(&app, &owner).await;
    let question = "where is my order page? call me on 13912345678";

    // The search's own order: what the reranker was sent, in order.
    fake.set_rerank(RerankBehaviour::Error {
        status: 500,
        message: "down".into(),
    });
    let own = titles(&search(&app, &owner, question).await);
    assert_eq!(own.len(), 4, "{own:?}");
    let sent = fake
        .rerank_requests()
        .pop()
        .expect("the reranker was asked");
    let docs = sent.documents();
    assert_eq!(docs.len(), 3, "top_k hits are sent: {docs:?}");
    for (doc, title) in docs.iter().zip(&own) {
        assert!(doc.starts_with(&format!("{title}\n")), "{doc:?} vs {title}");
        let body = ORDER_ARTICLES.iter().find(|a| a.1 == title).unwrap().2;
        assert!(doc.contains(body), "the passage follows the title: {doc:?}");
    }
    assert_eq!(
        sent.query(),
        Some("where is my order page? call me on [phone]"),
        "the question leaves masked"
    );
    assert_eq!(sent.model(), Some("fake-rerank"));
    assert_eq!(sent.body["top_n"], 3);

    // The reranker prefers the third: it comes first, the fourth stays last.
    let third = own[2].clone();
    fake.set_rerank(RerankBehaviour::Favour(format!("{third}\n")));
    let hits = search(&app, &owner, question).await;
    let reranked = titles(&hits);
    assert_eq!(reranked[0], third, "{reranked:?}");
    assert_eq!(reranked[3], own[3], "beyond top_k the order stands");
    // The other two in the order of the fake's scores (half their word
    // overlap with the masked question), not the search's.
    let sent = fake.rerank_requests().pop().unwrap();
    let masked = sent.query().unwrap();
    let mut rest: Vec<(usize, &str)> = sent.documents().into_iter().enumerate().collect();
    rest.retain(|(_, d)| !d.starts_with(&format!("{third}\n")));
    rest.sort_by(|a, b| {
        let score = |d: &str| fake_rerank_score(masked, d);
        score(b.1).total_cmp(&score(a.1)).then(a.0.cmp(&b.0))
    });
    let rest: Vec<&str> = rest
        .iter()
        .map(|(_, d)| d.split('\n').next().unwrap())
        .collect();
    assert_eq!(reranked[1..3], rest[..], "{reranked:?}");
    // Fewer hits wanted than top_k: still reranked over top_k.
    let req = app
        .client
        .get(app.url(&kb(&owner, "kb/search")))
        .query(&[("q", question), ("limit", "1")])
        .bearer_auth(&owner.access_token);
    let one = TestApp::reply(req.send().await.unwrap()).await.expect(200);
    assert_eq!(
        titles(one.body["hits"].as_array().unwrap()),
        vec![third.clone()]
    );
    assert_eq!(fake.rerank_requests().last().unwrap().documents().len(), 3);

    // The bot answers or suggests (never hands off, at this threshold)
    // from the reranker's first.
    app.patch(
        &kb(&owner, "bot/settings"),
        Some(&owner.access_token),
        json!({"suggest_threshold": 0.0}),
    )
    .await
    .expect(200);
    let a = ask(&app, &owner, question).await;
    assert_eq!(first_article(&a)["title"], json!(third), "{a}");

    // One hit: nothing to rerank, no call.
    let before = fake.rerank_requests().len();
    let hits = search(&app, &owner, "tracking number").await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(fake.rerank_requests().len(), before);
}

/// The value of a sample line `series value` in a Prometheus scrape.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// An error status, a malformed body or a timeout: `kb/search` keeps the
/// order it would have without a reranker, the bot still answers, the
/// failures are counted by outcome, and a slow reranker costs no more than
/// its timeout.
async fn a_failing_or_slow_reranker_keeps_the_search_order(b: Backend) {
    let fake = FakeOpenAi::start().await;
    let mut rerank = fake.rerank_config();
    rerank.timeout_ms = 300;
    let app = TestApp::spawn_with(b, |s| s.rerank = Some(rerank)).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    seed_orders(&app, &owner).await;
    let question = "order page";

    for failure in [
        RerankBehaviour::Error {
            status: 503,
            message: "reranker loading".into(),
        },
        RerankBehaviour::Raw("<html>502 Bad Gateway</html>".into()),
        RerankBehaviour::Delay(Duration::from_secs(5)),
    ] {
        fake.set_rerank(failure.clone());
        fake.clear_requests();
        let started = Instant::now();
        let hits = titles(&search(&app, &owner, question).await);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{failure:?}: {:?}",
            started.elapsed()
        );
        let sent = fake.rerank_requests();
        assert_eq!(sent.len(), 1, "{failure:?}");
        let sent_titles: Vec<&str> = sent[0]
            .documents()
            .iter()
            .map(|d| d.split('\n').next().unwrap())
            .collect();
        assert_eq!(hits, sent_titles, "{failure:?}: the search's own order");

        let a = ask(&app, &owner, "请问怎么申请退款？").await;
        assert_eq!(a["decision"], "answer", "{failure:?}: {a}");
        assert_eq!(a["citations"][0]["external_id"], "refund", "{a}");
    }

    // And when it answers, the reranker's order again.
    fake.set_rerank(RerankBehaviour::Favour(
        "Change the delivery address\n".into(),
    ));
    let hits = titles(&search(&app, &owner, question).await);
    assert_eq!(hits[0], "Change the delivery address", "{hits:?}");

    let metrics = app.get("/metrics", None).await.expect(200).text;
    let count = |outcome: &str| {
        sample(
            &metrics,
            &format!("kefu_rerank_request_duration_seconds_count{{outcome=\"{outcome}\"}}"),
        )
    };
    assert!(count("error") >= 2.0, "{metrics}");
    assert!(count("timeout") >= 1.0, "{metrics}");
    assert!(count("ok") >= 1.0, "{metrics}");
}
