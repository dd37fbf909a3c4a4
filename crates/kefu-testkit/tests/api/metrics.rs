//! `/metrics` counts what happened: a conversation from the bot's answer
//! through the hand-off, the queue, the first reply and the resolution, the
//! cluster-wide gauges sampled from the database, the pool and the bus —
//! and `[metrics] listen` moves it all to a listener of its own.

use crate::kb::{kb, seed};
use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::json;
use std::time::Duration;

on_both_backends!(
    metrics_follow_a_conversation_end_to_end,
    metrics_can_have_their_own_listener,
);

/// A replica whose database disappears says so in `kefu_database_up`
/// (its `/readyz` turns 503, so no request would fail to tell).
#[tokio::test]
async fn postgres_losing_the_database_shows_in_database_up() {
    let app = TestApp::spawn_with(Backend::Postgres, |s| s.metrics.sample_interval_secs = 1).await;
    wait_for(&app, "kefu_database_up", 1.0).await;
    let url = app.settings.database_url.clone().unwrap();
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let admin = std::env::var("KEFU_TEST_DATABASE_URL").unwrap();
    let out = std::process::Command::new("psql")
        .arg(&admin)
        .args(["-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("DROP DATABASE {name} WITH (FORCE)"))
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(&app, "kefu_database_up", 0.0).await;
    app.get("/readyz", None).await.expect(503);
    app.stop().await;
}

/// The value of the sample `series` (name and labels, as printed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

async fn scrape(app: &TestApp) -> String {
    app.get("/metrics", None).await.expect(200).text
}

/// Scrapes until `series` has `want` (the gauges are sampled on a timer).
async fn wait_for(app: &TestApp, series: &str, want: f64) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(app).await;
        if sample(&text, series) == Some(want) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never became {want}:\n{text}");
}

async fn metrics_follow_a_conversation_end_to_end(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.metrics.sample_interval_secs = 1).await;
    let owner = app.owner("o@example.com").await;
    let t = Some(owner.access_token.as_str());
    seed(&app, &owner).await;
    let inbox = app
        .post(
            &kb(&owner, "inboxes"),
            t,
            json!({"name": "Web", "channel": "web", "bot_enabled": true}),
        )
        .await
        .expect(201);
    let key = inbox.body["widget_key"].as_str().unwrap();
    let session = app
        .post("/api/v1/widget/sessions", None, json!({"widget_key": key}))
        .await
        .expect(201);
    let visitor = session.body["visitor_token"].as_str().unwrap().to_string();
    let say = |id: &'static str, body: &'static str, conv: Option<String>| {
        let app = &app;
        let visitor = visitor.clone();
        async move {
            app.post(
                "/api/v1/widget/messages",
                Some(&visitor),
                json!({"conversation_id": conv, "client_msg_id": id, "body": body}),
            )
            .await
            .expect(201)
            .body["conversation_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };

    // The bot answers a known question.
    let conv = say("q-1", "请问怎么申请退款？", None).await;
    let text = wait_for(&app, r#"kefu_messages_total{sender="bot"}"#, 1.0).await;
    assert_eq!(
        sample(&text, r#"kefu_messages_total{sender="visitor"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"kefu_bot_decisions_total{decision="answer",reason="none"}"#
        ),
        Some(1.0),
        "{text}"
    );

    // "转人工": a hand-off, and a conversation waiting with nobody online.
    say("q-2", "转人工", Some(conv.clone())).await;
    let text = wait_for(&app, r#"kefu_queue_length{team="none"}"#, 1.0).await;
    assert_eq!(
        sample(
            &text,
            r#"kefu_bot_decisions_total{decision="handoff",reason="explicit_request"}"#
        ),
        Some(1.0),
        "{text}"
    );
    let text = wait_for(&app, "kefu_inboxes_open_unstaffed", 1.0).await;
    assert_eq!(sample(&text, "kefu_agents_online"), Some(0.0));
    assert_eq!(sample(&text, "kefu_database_up"), Some(1.0));
    assert_eq!(sample(&text, "kefu_queue_wait_seconds_count"), Some(0.0));

    // The owner comes online (routing assigns it), replies and resolves.
    app.call(
        reqwest::Method::PUT,
        &kb(&owner, "agents/me/status"),
        t,
        Some(json!({"status": "online", "capacity": 5})),
    )
    .await
    .expect(200);
    let text = wait_for(&app, r#"kefu_queue_length{team="none"}"#, 0.0).await;
    assert_eq!(
        sample(&text, "kefu_queue_wait_seconds_count"),
        Some(1.0),
        "{text}"
    );
    let text = wait_for(&app, "kefu_agents_online", 1.0).await;
    assert_eq!(sample(&text, "kefu_inboxes_open_unstaffed"), Some(0.0));
    let base = kb(&owner, &format!("conversations/{conv}"));
    for (id, body, private) in [
        ("n-1", "内部备注", true),
        ("a-1", "您好，我来帮您", false),
        ("a-2", "还在吗？", false),
    ] {
        app.post(
            &format!("{base}/messages"),
            t,
            json!({"client_msg_id": id, "body": body, "private": private}),
        )
        .await
        .expect(201);
    }
    app.post(&format!("{base}/resolve"), t, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/api/v1/widget/conversations/{conv}/rating"),
        Some(&visitor),
        json!({"score": 4}),
    )
    .await
    .expect(200);
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"kefu_messages_total{sender="agent"}"#),
        Some(3.0),
        "notes are messages too: {text}"
    );
    assert_eq!(
        sample(&text, "kefu_first_response_seconds_count"),
        Some(1.0),
        "only the first public reply counts: {text}"
    );
    assert_eq!(sample(&text, "kefu_resolution_seconds_count"), Some(1.0));
    assert_eq!(sample(&text, "kefu_csat_score_sum"), Some(4.0));
    assert_eq!(
        sample(&text, r#"kefu_csat_score_bucket{le="3.0"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"kefu_csat_score_bucket{le="4.0"}"#),
        Some(1.0)
    );

    // Read at scrape time: the pool, the bus, the process.
    assert!(sample(&text, "kefu_db_pool_max_connections").unwrap() >= 1.0);
    assert!(sample(&text, r#"kefu_db_pool_connections{state="idle"}"#).is_some());
    assert_eq!(sample(&text, "kefu_bus_connected"), Some(1.0));
    assert_eq!(sample(&text, "kefu_bus_publish_failures_total"), Some(0.0));
    // Limit checks Redis did not decide (always 0 in memory; on the cluster
    // set-up a check may time out under load, so only its presence).
    let fallbacks = sample(&text, "kefu_ratelimit_backend_errors_total");
    match b {
        Backend::Sqlite => assert_eq!(fallbacks, Some(0.0), "{text}"),
        Backend::Postgres => assert!(fallbacks.is_some(), "{text}"),
    }
    if b == Backend::Postgres {
        // The Redis bus carried this replica's events.
        assert!(
            sample(&text, "kefu_bus_published_total").unwrap() > 0.0,
            "{text}"
        );
    }
    assert!(sample(&text, "kefu_process_start_time_seconds").unwrap() > 1.7e9);
    // The standard process series, unprefixed, and the runtime's gauges.
    let get = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s}: {text}"));
    assert!(get("process_start_time_seconds") > 1.7e9);
    assert!(get("process_resident_memory_bytes") > 1_048_576.0);
    assert!(get("process_virtual_memory_bytes") >= get("process_resident_memory_bytes"));
    assert!(get("process_cpu_seconds_total") > 0.0);
    assert!(get("process_threads") >= 1.0);
    assert!(get("process_open_fds") >= 3.0);
    assert!(get("process_max_fds") >= get("process_open_fds"));
    assert!(get("kefu_runtime_workers") >= 1.0);
    assert!(get("kefu_runtime_alive_tasks") >= 1.0);
    assert!(sample(&text, "kefu_runtime_global_queue_depth").is_some());
    assert_eq!(text.matches("# EOF").count(), 1, "one end marker");
    assert!(text.trim_end().ends_with("# EOF"));
    // Bounded labels: no id of anything in any series.
    for id in [&owner.workspace_id, &conv] {
        assert!(!text.contains(id.as_str()), "an id in the labels: {text}");
    }
    app.stop().await;
}

async fn metrics_can_have_their_own_listener(b: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(b, |s| {
        s.metrics.listen = Some(format!("127.0.0.1:{port}"));
    })
    .await;
    app.get("/healthz", None).await.expect(200);
    app.get("/metrics", None)
        .await
        .expect_error(404, "not_found");
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"kefu_http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains("kefu_build_info"), "{text}");
    app.stop().await;
}
