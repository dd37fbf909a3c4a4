//! What happens by itself, on a real server with a fast sweep: auto-resolve
//! per inbox, snoozes, the presence timeout, the away message.

use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    auto_resolve_resolves_only_conversations_waiting_on_the_visitor,
    auto_resolve_settings_are_validated,
    snoozed_conversations_leave_the_list_and_wake,
    an_agent_whose_sockets_closed_goes_offline_and_comes_back,
    the_away_message_tells_when_the_team_is_back,
);

/// A server whose sweeper runs every second, with short limits.
async fn app(b: Backend) -> TestApp {
    TestApp::spawn_with(b, |s| {
        s.chat.sweep_interval_secs = 1;
        s.chat.auto_resolve_min_secs = 1;
        s.chat.presence_timeout_secs = 2;
    })
    .await
}

struct Desk {
    owner: Owner,
    base: String,
    inbox: String,
    widget_key: String,
}

async fn desk(app: &TestApp, settings: Value) -> Desk {
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let mut body = json!({"name": "Web", "channel": "web", "bot_enabled": false});
    body.as_object_mut()
        .unwrap()
        .extend(settings.as_object().unwrap().clone());
    let inbox = app
        .post(&format!("{base}/inboxes"), Some(&owner.access_token), body)
        .await
        .expect(201);
    Desk {
        inbox: inbox.body["id"].as_str().unwrap().to_string(),
        widget_key: inbox.body["widget_key"].as_str().unwrap().to_string(),
        owner,
        base,
    }
}

/// A new visitor's first message; (visitor token, conversation id).
async fn visitor_says(app: &TestApp, d: &Desk, body: &str) -> (String, String) {
    let token = app.visitor_token(&json!(d.widget_key)).await;
    let m = app
        .post(
            "/api/v1/widget/messages",
            Some(&token),
            json!({"client_msg_id": "m-1", "body": body}),
        )
        .await
        .expect(201);
    (
        token,
        m.body["conversation_id"].as_str().unwrap().to_string(),
    )
}

async fn online(app: &TestApp, d: &Desk, token: &str) {
    app.call(
        reqwest::Method::PUT,
        &format!("{}/agents/me/status", d.base),
        Some(token),
        Some(json!({"status": "online", "capacity": 10})),
    )
    .await
    .expect(200);
}

async fn conversation(app: &TestApp, d: &Desk, id: &str) -> Value {
    app.get(
        &format!("{}/conversations/{id}", d.base),
        Some(&d.owner.access_token),
    )
    .await
    .expect(200)
    .body
}

async fn messages(app: &TestApp, d: &Desk, id: &str) -> Vec<Value> {
    app.get(
        &format!("{}/conversations/{id}/messages?after_seq=0", d.base),
        Some(&d.owner.access_token),
    )
    .await
    .expect(200)
    .body["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn reply(app: &TestApp, d: &Desk, token: &str, id: &str, body: &str) {
    app.post(
        &format!("{}/conversations/{id}/messages", d.base),
        Some(token),
        json!({"body": body, "client_msg_id": format!("a-{body}")}),
    )
    .await
    .expect(201);
}

/// Polls `probe` until it holds, for up to `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if probe().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not within {secs} s: {what}");
}

async fn auto_resolve_resolves_only_conversations_waiting_on_the_visitor(b: Backend) {
    let app = app(b).await;
    let d = desk(
        &app,
        json!({"auto_resolve": {"after_secs": 2, "message": "本次会话已结束，如有问题请随时留言。"}}),
    )
    .await;
    let (_, agent) = app.member(&d.owner, "a@example.com", "agent").await;
    online(&app, &d, &agent).await;
    // Answered, then the visitor went quiet: resolved, and told.
    let (answered_v, answered) = visitor_says(&app, &d, "请问发货了吗？").await;
    reply(&app, &d, &agent, &answered, "已发货").await;
    // The visitor's question is still open: never resolved by the timer.
    let (_, waiting) = visitor_says(&app, &d, "还有一个问题").await;
    // A private note is no answer to the visitor.
    let (_, noted) = visitor_says(&app, &d, "第三位").await;
    app.post(
        &format!("{}/conversations/{noted}/messages", d.base),
        Some(&agent),
        json!({"body": "内部备注", "private": true, "client_msg_id": "n-1"}),
    )
    .await
    .expect(201);
    // Answered but snoozed: left alone while snoozed.
    let (_, snoozed) = visitor_says(&app, &d, "第四位").await;
    reply(&app, &d, &agent, &snoozed, "稍后回复您").await;
    let until = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    app.post(
        &format!("{}/conversations/{snoozed}/snooze", d.base),
        Some(&agent),
        json!({ "until": until }),
    )
    .await
    .expect(200);

    eventually(15, "the answered conversation is auto-resolved", || async {
        conversation(&app, &d, &answered).await["status"] == "resolved"
    })
    .await;
    let log = messages(&app, &d, &answered).await;
    let last = log.last().unwrap();
    assert_eq!(last["sender"]["type"], "bot");
    assert_eq!(last["auto_reply"], "auto_resolve");
    assert_eq!(last["body"], "本次会话已结束，如有问题请随时留言。");
    // Two more sweeps: the others stay as they were.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for id in [&waiting, &noted, &snoozed] {
        assert_eq!(
            conversation(&app, &d, id).await["status"],
            "assigned",
            "{id}"
        );
    }
    assert_eq!(
        conversation(&app, &d, &answered).await["status"],
        "resolved",
        "resolved once, not flapping"
    );
    let resolved_msgs = messages(&app, &d, &answered)
        .await
        .iter()
        .filter(|m| m["auto_reply"] == "auto_resolve")
        .count();
    assert_eq!(resolved_msgs, 1, "the visitor is told once");
    // The visitor comes back: the conversation reopens to its agent.
    app.post(
        "/api/v1/widget/messages",
        Some(&answered_v),
        json!({"client_msg_id": "m-2", "body": "还没收到", "conversation_id": answered}),
    )
    .await
    .expect(201);
    assert_eq!(
        conversation(&app, &d, &answered).await["status"],
        "assigned"
    );
    let metrics = app.get("/metrics", None).await;
    assert!(
        metrics
            .text
            .contains("kefu_automation_actions_total{kind=\"auto_resolved\"} 1"),
        "{}",
        metrics.text
    );
}

async fn auto_resolve_settings_are_validated(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app, json!({})).await;
    let url = format!("{}/inboxes/{}", d.base, d.inbox);
    let tok = Some(d.owner.access_token.as_str());
    // Under chat.auto_resolve_min_secs (600 by default).
    app.patch(&url, tok, json!({"auto_resolve": {"after_secs": 60}}))
        .await
        .expect_error(422, "validation_failed");
    app.patch(
        &url,
        tok,
        json!({"prechat_form": {"when": "always", "fields": [{"key": "order no", "label": "订单号"}]}}),
    )
    .await
    .expect_error(422, "validation_failed");
    // A custom field needs its label; a key appears once.
    app.patch(
        &url,
        tok,
        json!({"prechat_form": {"when": "always", "fields": [{"key": "订单号"}]}}),
    )
    .await
    .expect_error(422, "validation_failed");
    app.patch(
        &url,
        tok,
        json!({"prechat_form": {"when": "always", "fields": [{"key": "name"}, {"key": "name"}]}}),
    )
    .await
    .expect_error(422, "validation_failed");
    let set = app
        .patch(
            &url,
            tok,
            json!({
                "auto_resolve": {"after_secs": 3600},
                "away_message": "  我们下班了，明早回复您。\n紧急请拨打热线。 ",
                "prechat_form": {"when": "offline", "fields": [
                    {"key": "name", "required": true},
                    {"key": "order_no", "label": "订单号"}
                ]}
            }),
        )
        .await
        .expect(200);
    assert_eq!(
        set.body["auto_resolve"],
        json!({"after_secs": 3600, "message": null})
    );
    assert_eq!(
        set.body["away_message"],
        "我们下班了，明早回复您。\n紧急请拨打热线。"
    );
    assert_eq!(set.body["prechat_form"]["fields"][1]["label"], "订单号");
    // Kept by an unrelated change, then cleared by null.
    let kept = app
        .patch(&url, tok, json!({"name": "官网"}))
        .await
        .expect(200);
    assert_eq!(kept.body["auto_resolve"]["after_secs"], 3600);
    let cleared = app
        .patch(
            &url,
            tok,
            json!({"auto_resolve": null, "away_message": null, "prechat_form": null}),
        )
        .await
        .expect(200);
    for k in ["auto_resolve", "away_message", "prechat_form"] {
        assert!(cleared.body[k].is_null(), "{k}");
    }
    let stored = app.get(&url, tok).await.expect(200);
    assert!(stored.body["auto_resolve"].is_null());
}

async fn snoozed_conversations_leave_the_list_and_wake(b: Backend) {
    let app = app(b).await;
    let d = desk(&app, json!({})).await;
    let (_, agent) = app.member(&d.owner, "a@example.com", "agent").await;
    // Queued: nobody online yet; a queued conversation does not snooze.
    let (_, queued) = visitor_says(&app, &d, "排队中").await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    app.post(
        &format!("{}/conversations/{queued}/snooze", d.base),
        Some(&d.owner.access_token),
        json!({ "until": soon }),
    )
    .await
    .expect_error(409, "invalid_transition");
    online(&app, &d, &agent).await;
    assert_eq!(conversation(&app, &d, &queued).await["status"], "assigned");
    let (visitor, later) = visitor_says(&app, &d, "明天再说").await;

    // Not in the past, not years ahead.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let far = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    for until in [past, far] {
        app.post(
            &format!("{}/conversations/{later}/snooze", d.base),
            Some(&agent),
            json!({ "until": until }),
        )
        .await
        .expect_error(422, "validation_failed");
    }

    // Snoozed until soon: out of the awake list, in the snoozed one.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let s = app
        .post(
            &format!("{}/conversations/{queued}/snooze", d.base),
            Some(&agent),
            json!({ "until": soon }),
        )
        .await
        .expect(200);
    assert!(s.body["snoozed_until"].is_string());
    // Snoozed for a day: the visitor's message wakes it.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    app.post(
        &format!("{}/conversations/{later}/snooze", d.base),
        Some(&agent),
        json!({ "until": tomorrow }),
    )
    .await
    .expect(200);
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let awake = app
        .get(
            &format!("{}/conversations?snoozed=false", d.base),
            Some(&agent),
        )
        .await
        .expect(200);
    assert!(ids(&awake.body).is_empty(), "{:?}", awake.body);
    let asleep = app
        .get(
            &format!("{}/conversations?snoozed=true", d.base),
            Some(&agent),
        )
        .await
        .expect(200);
    assert_eq!(ids(&asleep.body).len(), 2);
    let all = app
        .get(&format!("{}/conversations", d.base), Some(&agent))
        .await
        .expect(200);
    assert_eq!(ids(&all.body).len(), 2, "no filter: both");

    app.post(
        "/api/v1/widget/messages",
        Some(&visitor),
        json!({"client_msg_id": "m-2", "body": "我回来了", "conversation_id": later}),
    )
    .await
    .expect(201);
    assert!(conversation(&app, &d, &later).await["snoozed_until"].is_null());
    // The time wakes the other.
    eventually(10, "the snooze ends", || async {
        conversation(&app, &d, &queued).await["snoozed_until"].is_null()
    })
    .await;
    let awake = app
        .get(
            &format!("{}/conversations?snoozed=false", d.base),
            Some(&agent),
        )
        .await
        .expect(200);
    assert_eq!(ids(&awake.body).len(), 2);
    // Unsnooze on demand.
    app.post(
        &format!("{}/conversations/{later}/snooze", d.base),
        Some(&agent),
        json!({ "until": tomorrow }),
    )
    .await
    .expect(200);
    let woke = app
        .post(
            &format!("{}/conversations/{later}/unsnooze", d.base),
            Some(&agent),
            json!({}),
        )
        .await
        .expect(200);
    assert!(woke.body["snoozed_until"].is_null());
}

async fn an_agent_whose_sockets_closed_goes_offline_and_comes_back(b: Backend) {
    let app = app(b).await;
    let d = desk(&app, json!({})).await;
    let (agent_id, agent) = app.member(&d.owner, "a@example.com", "agent").await;
    let mut ws = app.ws(&agent).await;
    online(&app, &d, &agent).await;
    // Longer than the timeout with the socket open: still online.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(status_of(&app, &d, &agent_id).await, "online");
    drop(ws);
    eventually(10, "the agent goes offline", || async {
        status_of(&app, &d, &agent_id).await == "offline"
    })
    .await;
    // Offline: a new visitor waits in the queue.
    let (_, c) = visitor_says(&app, &d, "有人吗").await;
    assert_eq!(conversation(&app, &d, &c).await["status"], "queued");
    // Back: online again, and the waiting conversation is theirs.
    ws = app.ws(&agent).await;
    eventually(5, "the agent is back online", || async {
        status_of(&app, &d, &agent_id).await == "online"
    })
    .await;
    let back = conversation(&app, &d, &c).await;
    assert_eq!(back["status"], "assigned");
    assert_eq!(back["assignee_id"], agent_id.as_str());
    // Someone who chose offline stays offline when a socket opens.
    app.call(
        reqwest::Method::PUT,
        &format!("{}/agents/me/status", d.base),
        Some(&agent),
        Some(json!({"status": "offline"})),
    )
    .await
    .expect(200);
    drop(ws);
    let _ws = app.ws(&agent).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status_of(&app, &d, &agent_id).await, "offline");
}

async fn status_of(app: &TestApp, d: &Desk, user: &str) -> String {
    let list = app
        .get(&format!("{}/agents", d.base), Some(&d.owner.access_token))
        .await
        .expect(200)
        .body;
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["user_id"] == user)
        .map(|p| p["status"].as_str().unwrap().to_string())
        .unwrap()
}

async fn the_away_message_tells_when_the_team_is_back(b: Backend) {
    use chrono::{Timelike, Utc};
    let app = app(b).await;
    // Open for one hour a day, starting three hours from now (UTC).
    let h = (Utc::now().hour() + 3) % 24;
    let hours = json!({"time_zone": "UTC", "intervals": [{
        "days": [1, 2, 3, 4, 5, 6, 7],
        "open": format!("{h:02}:00"),
        "close": if h == 23 { "24:00".to_string() } else { format!("{:02}:00", h + 1) },
    }]});
    let d = desk(
        &app,
        json!({"away_message": "现在是非工作时间，我们会尽快回复您。", "business_hours": hours}),
    )
    .await;
    let (_, agent) = app.member(&d.owner, "a@example.com", "agent").await;
    online(&app, &d, &agent).await;
    let (_, closed) = visitor_says(&app, &d, "你好").await;
    let log = messages(&app, &d, &closed).await;
    assert_eq!(log.len(), 2, "{log:?}");
    let away = &log[1];
    assert_eq!(away["sender"]["type"], "bot");
    assert_eq!(away["auto_reply"], "away");
    assert_eq!(away["body"], "现在是非工作时间，我们会尽快回复您。");
    let next: chrono::DateTime<Utc> = away["next_open_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((next.hour(), next.minute()), (h, 0));
    let ahead = next - Utc::now();
    assert!(
        ahead > chrono::Duration::hours(2) && ahead <= chrono::Duration::hours(3),
        "{ahead}"
    );

    // Always open, nobody online: the message, no opening time.
    app.patch(
        &format!("{}/inboxes/{}", d.base, d.inbox),
        Some(&d.owner.access_token),
        json!({"business_hours": null}),
    )
    .await
    .expect(200);
    app.call(
        reqwest::Method::PUT,
        &format!("{}/agents/me/status", d.base),
        Some(&agent),
        Some(json!({"status": "away"})),
    )
    .await
    .expect(200);
    let (_, unstaffed) = visitor_says(&app, &d, "在吗").await;
    let log = messages(&app, &d, &unstaffed).await;
    assert_eq!(log.last().unwrap()["auto_reply"], "away");
    assert!(log.last().unwrap().get("next_open_at").is_none());

    // Someone online: assigned at once, no away message.
    online(&app, &d, &agent).await;
    let (_, staffed) = visitor_says(&app, &d, "您好").await;
    let log = messages(&app, &d, &staffed).await;
    assert!(log.iter().all(|m| m.get("auto_reply").is_none()), "{log:?}");
    assert_eq!(conversation(&app, &d, &staffed).await["status"], "assigned");
}
