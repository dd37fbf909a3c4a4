//! The knowledge base over HTTP: articles and their history, search in
//! Chinese and English, import with bad lines, status, evaluation and its
//! import gate.

use kefu_ai::fake::{EmbedBehaviour, FakeOpenAi};
use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    articles_keep_versions_and_stay_in_their_workspace,
    search_segments_chinese_and_stems_english,
    import_reports_bad_lines_and_updates_by_external_id,
    import_over_the_limit_is_refused,
    an_import_goes_on_past_bytes_that_are_not_utf8_and_nul,
    evaluation_reports_and_gates_imports,
    evaluation_reports_the_threshold_curve,
    embeddings_are_computed_in_the_background_and_used_in_search,
);

pub(crate) fn kb(owner: &Owner, rest: &str) -> String {
    format!("/api/v1/workspaces/{}/{rest}", owner.workspace_id)
}

/// Three articles every case can ask about.
pub(crate) const ARTICLES: &[(&str, &str, &str, &[&str])] = &[
    (
        "refund",
        "如何申请退款",
        "在**订单详情**页点击“申请退款”，填写原因后提交，款项将在 3–5 个工作日内原路退回。",
        &["怎么退款", "退款流程是什么", "我想退货退款"],
    ),
    (
        "invoice",
        "如何开具发票",
        "在订单页面点击“申请发票”，填写抬头和税号即可开具电子发票。",
        &["怎么开发票", "可以开增值税发票吗", "发票抬头怎么填"],
    ),
    (
        "password",
        "Reset your password",
        "Open **Settings → Security**, choose *Reset password* and follow the e-mail link.",
        &[
            "I forgot my password",
            "how can I change my password",
            "password reset link",
        ],
    ),
];

pub(crate) async fn seed(app: &TestApp, owner: &Owner) -> Vec<Value> {
    let mut out = Vec::new();
    for (ext, title, body, questions) in ARTICLES {
        let r = app
            .post(
                &kb(owner, "kb/articles"),
                Some(&owner.access_token),
                json!({"external_id": ext, "title": title, "body": body, "questions": questions}),
            )
            .await
            .expect(201);
        out.push(r.body);
    }
    out
}

/// The hits of `kb/search` for `q`.
pub(crate) async fn search(app: &TestApp, owner: &Owner, q: &str) -> Vec<Value> {
    let r = search_reply(app, owner, q).await.expect(200);
    r.body["hits"].as_array().unwrap().clone()
}

/// The bot's decision for `q` (`bot/ask`).
pub(crate) async fn ask(app: &TestApp, owner: &Owner, q: &str) -> Value {
    app.post(
        &kb(owner, "bot/ask"),
        Some(&owner.access_token),
        json!({ "question": q }),
    )
    .await
    .expect(200)
    .body
}

async fn search_reply(app: &TestApp, owner: &Owner, q: &str) -> kefu_testkit::Reply {
    let req = app
        .client
        .get(app.url(&kb(owner, "kb/search")))
        .query(&[("q", q)])
        .bearer_auth(&owner.access_token);
    TestApp::reply(req.send().await.unwrap()).await
}

async fn articles_keep_versions_and_stay_in_their_workspace(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let t = Some(owner.access_token.as_str());
    let created = seed(&app, &owner).await;
    let refund = &created[0];
    assert_eq!(refund["version"], 1);
    assert_eq!(refund["locale"], "zh-CN", "guessed from the text");
    assert_eq!(created[2]["locale"], "en");
    let path = kb(
        &owner,
        &format!("kb/articles/{}", refund["id"].as_str().unwrap()),
    );

    let edit = json!({"external_id": "refund", "title": "如何申请退款（新）", "body": "新的退款流程。",
                      "questions": ["怎么退款"], "version": 1});
    let put = app
        .call(reqwest::Method::PUT, &path, t, Some(edit.clone()))
        .await
        .expect(200);
    assert_eq!(put.body["version"], 2);
    // An editor who still holds version 1 does not overwrite version 2.
    app.call(reqwest::Method::PUT, &path, t, Some(edit))
        .await
        .expect_error(409, "version_conflict");
    let history = app.get(&format!("{path}/versions"), t).await.expect(200);
    let titles: Vec<_> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["title"].clone())
        .collect();
    assert_eq!(titles, [json!("如何申请退款"), json!("如何申请退款（新）")]);
    assert_eq!(history.body[1]["author_kind"], "user");

    // Bad input: named fields, nothing stored.
    let bad = app
        .post(
            &kb(&owner, "kb/articles"),
            t,
            json!({"title": " ", "body": ""}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert!(bad.body["details"]["fields"]["title"].is_string());
    app.post(
        &kb(&owner, "kb/articles"),
        t,
        json!({"title": "重复", "body": "x", "external_id": "refund"}),
    )
    .await
    .expect_error(409, "external_id_taken");

    // Agents read and search but do not write.
    let (_, agent) = app.member(&owner, "agent@example.com", "agent").await;
    app.get(&path, Some(&agent)).await.expect(200);
    app.post(
        &kb(&owner, "kb/articles"),
        Some(&agent),
        json!({"title": "t", "body": "b"}),
    )
    .await
    .expect_error(403, "forbidden");

    // Another workspace sees nothing of it.
    let other = app.owner("other@example.com").await;
    let foreign = path.replace(&owner.workspace_id, &other.workspace_id);
    app.get(&foreign, Some(&other.access_token))
        .await
        .expect(404);
    assert!(search(&app, &other, "退款").await.is_empty());

    app.delete(&path, t).await.expect(204);
    app.get(&path, t).await.expect(404);
    assert!(
        search(&app, &owner, "退款流程")
            .await
            .iter()
            .all(|h| h["external_id"] != "refund"),
        "a deleted article leaves search at once"
    );
    let history = app.get(&format!("{path}/versions"), t).await.expect(200);
    assert_eq!(history.body[2]["deleted"], true);
    let audit = app.get(&kb(&owner, "audit-log"), t).await.expect(200);
    let actions: Vec<_> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    for a in [
        "kb.article_created",
        "kb.article_updated",
        "kb.article_deleted",
    ] {
        assert!(actions.contains(&json!(a)), "{a} audited: {actions:?}");
    }
}

async fn search_segments_chinese_and_stems_english(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    let top = |hits: &[Value]| {
        hits.first()
            .map(|h| h["external_id"].clone())
            .unwrap_or_default()
    };
    assert_eq!(
        top(&search(&app, &owner, "请问怎么申请退款呢").await),
        "refund"
    );
    assert_eq!(
        top(&search(&app, &owner, "退貨退款").await),
        "refund",
        "traditional folds to simplified"
    );
    assert_eq!(top(&search(&app, &owner, "增值税发票").await), "invoice");
    assert_eq!(
        top(&search(&app, &owner, "resetting passwords").await),
        "password",
        "stemmed"
    );
    assert_eq!(
        top(&search(&app, &owner, "ＰＡＳＳＷＯＲＤ").await),
        "password",
        "full width folds"
    );
    let hit = &search(&app, &owner, "退款").await[0];
    assert!(hit["snippet"].as_str().unwrap().contains("退款"), "{hit}");
    assert!(
        !hit["snippet"].as_str().unwrap().contains("**"),
        "Markdown is stripped: {hit}"
    );

    let status = app
        .get(&kb(&owner, "kb/status"), Some(&owner.access_token))
        .await
        .expect(200);
    assert_eq!(
        status.body,
        json!({"articles": 3, "indexed": 3, "embedded": 0, "pending": 0})
    );
    // A draft is not searchable.
    app.post(
        &kb(&owner, "kb/articles"),
        Some(&owner.access_token),
        json!({"title": "会员积分规则", "body": "积分可以抵扣现金。", "status": "draft"}),
    )
    .await
    .expect(201);
    assert!(search(&app, &owner, "会员积分").await.is_empty());
    search_reply(&app, &owner, " ")
        .await
        .expect_error(422, "validation_failed");
}

async fn import(app: &TestApp, owner: &Owner, body: &str) -> kefu_testkit::Reply {
    let res = app
        .client
        .post(app.url(&kb(owner, "kb/import")))
        .bearer_auth(&owner.access_token)
        .header("content-type", "application/x-ndjson")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await
}

/// Issue 14, finding 4: one bad line (not UTF-8, or a NUL on PostgreSQL)
/// stopped an import halfway with 422 or 500 and no line number; the lines
/// before it stayed saved but out of search for ten minutes.
async fn an_import_goes_on_past_bytes_that_are_not_utf8_and_nul(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let first = json!({"external_id": "hours", "title": "营业时间", "body": "每天 9:00–21:00 在线。", "questions": ["几点上班"]});
    let last = json!({"external_id": "invoice", "title": "开发票", "body": "在订单页申请电子发票。", "questions": ["怎么开发票"]});
    let mut body = format!("{first}\n").into_bytes();
    body.extend_from_slice(b"{\"title\": \"\xff\xfe bad bytes\", \"body\": \"x\"}\n");
    body.extend_from_slice(br#"{"title": "nul", "body": "a\u0000b"}"#);
    body.push(b'\n');
    body.extend_from_slice(format!("{last}\n").as_bytes());
    let res = app
        .client
        .post(app.url(&kb(&owner, "kb/import")))
        .bearer_auth(&owner.access_token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let r = TestApp::reply(res).await.expect(200);
    assert_eq!(r.body["imported"], 2, "{}", r.body);
    let failed: Vec<(i64, String)> = r.body["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_i64().unwrap(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            (2, "not_utf8".to_string()),
            (3, "validation_failed".to_string())
        ]
    );
    // Both good lines are searchable at once, the one after the bad lines too.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let a = search(&app, &owner, "几点上班").await;
        let b = search(&app, &owner, "怎么开发票").await;
        if !a.is_empty() && !b.is_empty() {
            assert_eq!(
                (&a[0]["external_id"], &b[0]["external_id"]),
                (&json!("hours"), &json!("invoice"))
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "imported articles not searchable within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

async fn import_reports_bad_lines_and_updates_by_external_id(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let good1 = json!({"external_id": "ship", "title": "发货时间", "body": "下单后 48 小时内发货。", "questions": ["什么时候发货"]});
    let good2 = json!({"external_id": "track", "title": "Track your parcel", "body": "Use the tracking number in your e-mail."});
    let body = format!(
        "{good1}\n{{not json\n\n{}\n{good2}\n",
        json!({"body": "没有标题"})
    );
    let r = import(&app, &owner, &body).await.expect(200);
    assert_eq!(
        (r.body["imported"].clone(), r.body["created"].clone()),
        (json!(2), json!(2))
    );
    let failed = r.body["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(
        (failed[0]["line"].clone(), failed[0]["code"].clone()),
        (json!(2), json!("invalid_json"))
    );
    assert_eq!(
        (failed[1]["line"].clone(), failed[1]["code"].clone()),
        (json!(4), json!("validation_failed"))
    );
    assert!(failed[1]["message"].as_str().unwrap().contains("title"));
    assert_eq!(
        search(&app, &owner, "什么时候发货").await[0]["external_id"],
        "ship"
    );

    // The same external id updates; an identical line changes nothing.
    let edited = json!({"external_id": "ship", "title": "发货时间", "body": "下单后 24 小时内发货。", "questions": ["什么时候发货"]});
    let r = import(&app, &owner, &format!("{edited}\n{good2}\n"))
        .await
        .expect(200);
    assert_eq!(
        (
            r.body["updated"].clone(),
            r.body["unchanged"].clone(),
            r.body["created"].clone()
        ),
        (json!(1), json!(1), json!(0))
    );
    let list = app
        .get(&kb(&owner, "kb/articles"), Some(&owner.access_token))
        .await
        .expect(200);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let ship = items.iter().find(|a| a["external_id"] == "ship").unwrap();
    assert_eq!(
        (ship["version"].clone(), ship["body"].clone()),
        (json!(2), json!("下单后 24 小时内发货。"))
    );

    // Export gives the lines back.
    let export = app
        .client
        .get(app.url(&kb(&owner, "kb/export")))
        .bearer_auth(&owner.access_token)
        .send()
        .await
        .unwrap();
    let text = export.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines
        .iter()
        .any(|l| l["external_id"] == "track" && l["title"] == "Track your parcel"));
}

async fn import_over_the_limit_is_refused(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.kb.import_max_bytes = 2048).await;
    let owner = app.owner("o@example.com").await;
    let line = json!({"title": "大文件", "body": "很长的内容".repeat(300)}).to_string();
    import(&app, &owner, &format!("{line}\n"))
        .await
        .expect_error(413, "payload_too_large");
    let list = app
        .get(&kb(&owner, "kb/articles"), Some(&owner.access_token))
        .await
        .expect(200);
    assert_eq!(list.body["items"], json!([]));
    // Within the limit the same endpoint works.
    import(
        &app,
        &owner,
        &format!("{}\n", json!({"title": "小文件", "body": "短内容"})),
    )
    .await
    .expect(200);
}

const EVAL: &str = r#"{"question": "退款要怎么操作", "expected_external_id": "refund", "locale": "zh-CN"}
{"question": "发票怎么开", "expected_external_id": "invoice", "locale": "zh-CN"}
{"question": "I can't remember my password", "expected_external_id": "password", "locale": "en"}
{"question": "今天北京天气怎么样", "expected_external_id": null, "locale": "zh-CN"}
"#;

async fn evaluation_reports_and_gates_imports(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let t = Some(owner.access_token.as_str());
    seed(&app, &owner).await;
    let res = app
        .client
        .post(app.url(&kb(&owner, "kb/eval")))
        .bearer_auth(&owner.access_token)
        .body(EVAL)
        .send()
        .await
        .unwrap();
    let report = TestApp::reply(res).await.expect(200).body;
    assert_eq!(
        (
            report["cases"].clone(),
            report["in_scope"].clone(),
            report["off_topic"].clone()
        ),
        (json!(4), json!(3), json!(1))
    );
    assert_eq!(report["hit_at_1"], 1.0, "{report}");
    assert_eq!(report["off_topic_handoff"], 1.0, "{report}");

    // Gate: imports must keep hit@1 at 1.0 on this set.
    app.patch(
        &kb(&owner, "bot/settings"),
        t,
        json!({"eval_gate": {"questions": EVAL, "min_hit_at_1": 1.0, "min_off_topic_handoff": 1.0}}),
    )
    .await
    .expect(200);
    // Unpublishing the refund article would break the first question.
    let breaking = json!({"external_id": "refund", "title": "如何申请退款", "body": "已下线", "status": "draft"});
    let r = import(&app, &owner, &format!("{breaking}\n"))
        .await
        .expect_error(422, "eval_gate_failed");
    assert_eq!(r.body["details"]["gate"]["passed"], false);
    assert!(
        r.body["details"]["gate"]["report"]["hit_at_1"]
            .as_f64()
            .unwrap()
            < 1.0
    );
    assert_eq!(
        search(&app, &owner, "怎么退款").await[0]["external_id"],
        "refund",
        "nothing was imported"
    );
    // A harmless import passes the gate and is stored.
    let fine = json!({"external_id": "ship", "title": "发货时间", "body": "48 小时内发货。"});
    let r = import(&app, &owner, &format!("{fine}\n")).await.expect(200);
    assert_eq!(
        (r.body["created"].clone(), r.body["gate"]["passed"].clone()),
        (json!(1), json!(true))
    );
}

async fn eval(app: &TestApp, owner: &Owner, questions: &str) -> Value {
    let res = app
        .client
        .post(app.url(&kb(owner, "kb/eval")))
        .bearer_auth(&owner.access_token)
        .body(questions.to_string())
        .send()
        .await
        .unwrap();
    TestApp::reply(res).await.expect(200).body
}

/// The curve's point at threshold `t`.
fn point(report: &Value, t: f64) -> &Value {
    report["curve"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| (p["threshold"].as_f64().unwrap() - t).abs() < 1e-6)
        .unwrap_or_else(|| panic!("no point at {t}: {report}"))
}

/// Asserts that the curve gives back the report's figures at the
/// workspace's thresholds (coverage and off-topic hand-off at the suggest
/// threshold; outright answers, their precision and count at the answer
/// threshold).
fn curve_agrees_with_report(r: &Value, answer: f64, suggest: f64) {
    let t = &r["thresholds"];
    assert!(
        (t["answer"].as_f64().unwrap() - answer).abs() < 1e-6
            && (t["suggest"].as_f64().unwrap() - suggest).abs() < 1e-6,
        "{r}"
    );
    let (s, a) = (point(r, suggest), point(r, answer));
    for (p, key) in [
        (s, "coverage"),
        (s, "off_topic_handoff"),
        (a, "outright"),
        (a, "answer_precision"),
        (a, "answered"),
    ] {
        assert_eq!(p[key], r[key], "{key} at the threshold: {r}");
    }
}

/// `kb/eval` returns the curve: 21 thresholds, consistent with the report
/// at the workspace's thresholds (and after an admin moves them), moving
/// the way a threshold moves them; another workspace's curve is its own.
async fn evaluation_reports_the_threshold_curve(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    let r = eval(&app, &owner, EVAL).await;
    let curve = r["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 21, "{r}");
    for (i, p) in curve.iter().enumerate() {
        let t = p["threshold"].as_f64().unwrap();
        assert!((t - i as f64 * 0.05).abs() < 1e-6, "{p}");
    }
    curve_agrees_with_report(&r, 0.8, 0.4);
    // At 0 every in-scope question with a hit is covered (all three have
    // one); at 1 the off-topic one is handed off.
    assert_eq!(curve[0]["coverage"], 1.0, "{r}");
    assert_eq!(curve[20]["off_topic_handoff"], 1.0, "{r}");
    for w in curve.windows(2) {
        let f = |p: &Value, k: &str| p[k].as_f64().unwrap();
        assert!(f(&w[1], "coverage") <= f(&w[0], "coverage"), "{r}");
        assert!(
            f(&w[1], "off_topic_handoff") >= f(&w[0], "off_topic_handoff"),
            "{r}"
        );
        assert!(f(&w[1], "answered") <= f(&w[0], "answered"), "{r}");
    }

    // The admin moves the thresholds: the decisions follow, the curve
    // (which does not depend on them) stays, and still agrees.
    app.patch(
        &kb(&owner, "bot/settings"),
        Some(&owner.access_token),
        json!({"answer_threshold": 0.95, "suggest_threshold": 0.5}),
    )
    .await
    .expect(200);
    let moved = eval(&app, &owner, EVAL).await;
    assert_eq!(moved["curve"], r["curve"]);
    curve_agrees_with_report(&moved, 0.95, 0.5);

    // Another workspace without articles: nothing covered at any threshold.
    let other = app.owner("p@example.com").await;
    let theirs = eval(&app, &other, EVAL).await;
    assert!(
        theirs["curve"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["coverage"] == 0.0 && p["off_topic_handoff"] == 1.0),
        "{theirs}"
    );
}

async fn status(app: &TestApp, owner: &Owner) -> Value {
    app.get(&kb(owner, "kb/status"), Some(&owner.access_token))
        .await
        .expect(200)
        .body
}

/// Polls `kb/status` until `want` holds (10 s).
async fn status_until(app: &TestApp, owner: &Owner, what: &str, want: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = status(app, owner).await;
        if want(&s) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: kb/status is {s}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// With an embeddings endpoint configured (a fake speaking the OpenAI wire
/// format): vectors are computed in the background, retried while the
/// endpoint fails, recomputed on edits; `kb/status` shows them pending and
/// then embedded; search sends the query in query mode and ranks with the
/// vectors; an endpoint that fails at query time leaves search lexical.
async fn embeddings_are_computed_in_the_background_and_used_in_search(b: Backend) {
    let fake = FakeOpenAi::start().await;
    fake.set_embeddings(EmbedBehaviour::Error {
        status: 503,
        message: "model loading".into(),
    });
    let mut embeddings = fake.embeddings_config();
    embeddings.retries = 0;
    let app = TestApp::spawn_with(b, |s| {
        s.embeddings = Some(embeddings);
        s.kb.embed_retry_secs = 1;
        s.kb.query_embed_timeout_ms = 500;
    })
    .await;
    let owner = app.owner("o@example.com").await;
    let articles = seed(&app, &owner).await;

    // Searchable at once; the vectors wait for the endpoint.
    status_until(&app, &owner, "the endpoint was tried", |_| {
        !fake.embedding_requests().is_empty()
    })
    .await;
    let s = status(&app, &owner).await;
    assert_eq!(
        (&s["articles"], &s["indexed"], &s["embedded"], &s["pending"]),
        (&json!(3), &json!(3), &json!(0), &json!(3)),
        "{s}"
    );
    assert_eq!(
        search(&app, &owner, "怎么退款").await[0]["external_id"],
        "refund"
    );

    // The endpoint recovers: the worker's retry embeds every article, in
    // passage mode.
    fake.set_embeddings(EmbedBehaviour::Ok);
    status_until(&app, &owner, "every article embedded", |s| {
        s["embedded"] == 3 && s["pending"] == 0
    })
    .await;
    let passages: Vec<_> = fake
        .embedding_requests()
        .into_iter()
        .filter(|r| r.body["input_type"] == "passage")
        .collect();
    let sent: Vec<&str> = passages.iter().flat_map(|r| r.inputs()).collect();
    assert!(
        sent.iter().any(|t| t.contains("如何开具发票")),
        "articles are sent as passages: {sent:?}"
    );

    // A search now embeds the question in query mode and ranks with it.
    fake.clear_requests();
    let hits = search(&app, &owner, "forgot my password").await;
    assert_eq!(hits[0]["external_id"], "password", "{hits:?}");
    let queries = fake.embedding_requests();
    assert_eq!(queries.len(), 1, "{queries:?}");
    assert_eq!(queries[0].body["input_type"], "query");
    assert_eq!(queries[0].inputs(), ["forgot my password"]);
    assert_eq!(queries[0].model(), Some("fake-embed"));

    // An edit is pending until its new version is embedded.
    let refund = &articles[0];
    let id = refund["id"].as_str().unwrap();
    app.call(
        reqwest::Method::PUT,
        &kb(&owner, &format!("kb/articles/{id}")),
        Some(&owner.access_token),
        Some(json!({
            "title": "退款政策",
            "body": "七天无理由退货，退款原路返回。",
            "external_id": "refund",
            "version": refund["version"]
        })),
    )
    .await
    .expect(200);
    status_until(&app, &owner, "the edit re-embedded", |s| {
        s["embedded"] == 3 && s["pending"] == 0
    })
    .await;
    assert!(
        fake.embedding_requests()
            .iter()
            .flat_map(|r| r.inputs())
            .any(|t| t.contains("七天无理由退货")),
        "the new version was embedded"
    );

    // Deleted: neither counted nor found.
    app.delete(
        &kb(
            &owner,
            &format!("kb/articles/{}", articles[1]["id"].as_str().unwrap()),
        ),
        Some(&owner.access_token),
    )
    .await
    .expect(204);
    let s = status(&app, &owner).await;
    assert_eq!(
        (&s["articles"], &s["embedded"], &s["pending"]),
        (&json!(2), &json!(2), &json!(0)),
        "{s}"
    );

    // The endpoint failing at query time: search (and the bot) go on lexically.
    fake.set_embeddings(EmbedBehaviour::Error {
        status: 500,
        message: "boom".into(),
    });
    let hits = search(&app, &owner, "七天无理由退货").await;
    assert_eq!(hits[0]["external_id"], "refund", "{hits:?}");
    assert!(search(&app, &owner, "开发票").await.is_empty());
    let asked = ask(&app, &owner, "I forgot my password").await;
    assert_eq!(asked["decision"], "answer", "{asked}");
}
