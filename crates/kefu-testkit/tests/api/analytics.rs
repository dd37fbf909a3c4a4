//! CSAT ratings, the offline form's contact details, the analytics summary
//! and canned responses, over HTTP.

use crate::kb::{kb, seed};
use chrono::{Duration as Days, Utc};
use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    visitors_rate_resolved_conversations_once_resolved,
    the_offline_form_leaves_contact_details,
    the_summary_counts_volume_times_containment_and_csat,
    the_bot_is_credited_only_with_verified_resolutions,
    canned_responses_are_shared_and_managed_by_supervisors,
);

async fn inbox(app: &TestApp, owner: &Owner, bot: bool) -> String {
    let r = app
        .post(
            &kb(owner, "inboxes"),
            Some(&owner.access_token),
            json!({"name": format!("Web {bot}"), "channel": "web", "bot_enabled": bot}),
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

async fn say(app: &TestApp, token: &str, body: &str) -> String {
    let m = app
        .post(
            "/api/v1/widget/messages",
            Some(token),
            json!({"client_msg_id": format!("m-{body}"), "body": body}),
        )
        .await
        .expect(201);
    m.body["conversation_id"].as_str().unwrap().to_string()
}

fn conv(owner: &Owner, id: &str, rest: &str) -> String {
    kb(owner, &format!("conversations/{id}{rest}"))
}

/// The agent takes the conversation, answers and resolves it.
async fn handle(app: &TestApp, owner: &Owner, agent: &(String, String), id: &str) {
    let (agent_id, token) = agent;
    app.post(
        &conv(owner, id, "/assign"),
        Some(&owner.access_token),
        json!({"assignee_id": agent_id}),
    )
    .await
    .expect(200);
    app.post(
        &conv(owner, id, "/messages"),
        Some(token),
        json!({"body": "我来帮您", "client_msg_id": format!("a-{id}")}),
    )
    .await
    .expect(201);
    app.post(&conv(owner, id, "/resolve"), Some(token), json!({}))
        .await
        .expect(200);
}

async fn rate(app: &TestApp, token: &str, id: &str, body: Value) -> kefu_testkit::Reply {
    app.post(
        &format!("/api/v1/widget/conversations/{id}/rating"),
        Some(token),
        body,
    )
    .await
}

async fn visitors_rate_resolved_conversations_once_resolved(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let agent = app.member(&owner, "s@example.com", "supervisor").await;
    let key = inbox(&app, &owner, false).await;
    let token = visitor(&app, &key).await;
    let id = say(&app, &token, "有人吗").await;

    rate(&app, &token, &id, json!({"score": 5}))
        .await
        .expect_error(409, "conversation_not_resolved");
    handle(&app, &owner, &agent, &id).await;
    for bad in [
        json!({"score": 0}),
        json!({"score": 6}),
        json!({"score": 5, "comment": "长".repeat(1001)}),
    ] {
        rate(&app, &token, &id, bad)
            .await
            .expect_error(422, "validation_failed");
    }
    let other = visitor(&app, &key).await;
    rate(&app, &other, &id, json!({"score": 1}))
        .await
        .expect_error(404, "conversation_not_found");

    let r = rate(&app, &token, &id, json!({"score": 4, "comment": "很快"}))
        .await
        .expect(200);
    assert_eq!(
        (&r.body["score"], &r.body["comment"]),
        (&json!(4), &json!("很快"))
    );
    // Rating again replaces it; agents and the visitor see it.
    rate(&app, &token, &id, json!({"score": 5, "comment": "  "}))
        .await
        .expect(200);
    let seen = app
        .get(&conv(&owner, &id, ""), Some(&owner.access_token))
        .await
        .expect(200);
    assert_eq!(seen.body["rating"]["score"], 5, "{}", seen.body);
    assert_eq!(seen.body["rating"]["comment"], Value::Null);
    let mine = app
        .get("/api/v1/widget/conversations", Some(&token))
        .await
        .expect(200);
    assert_eq!(mine.body["items"][0]["rating"]["score"], 5);
}

async fn the_offline_form_leaves_contact_details(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let key = inbox(&app, &owner, false).await;
    let token = visitor(&app, &key).await;
    // The widget runs on other sites: the PUT is preflighted.
    let pre = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/widget/contact"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    let allowed = pre.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("PUT"), "{allowed}");
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/widget/contact",
            Some(&token),
            Some(json!({"email": "not-an-email", "phone": "abc"})),
        )
        .await
        .expect_error(422, "validation_failed");
    let fields = r.body["details"]["fields"].to_string();
    assert!(
        fields.contains("email") && fields.contains("phone"),
        "{fields}"
    );
    app.call(
        reqwest::Method::PUT,
        "/api/v1/widget/contact",
        Some(&token),
        Some(json!({"name": "王小明", "email": "xm@example.com"})),
    )
    .await
    .expect(200);
    let id = say(&app, &token, "请回电").await;
    let c = app
        .get(&conv(&owner, &id, ""), Some(&owner.access_token))
        .await
        .expect(200);
    let contact = app
        .get(
            &kb(
                &owner,
                &format!("contacts/{}", c.body["contact_id"].as_str().unwrap()),
            ),
            Some(&owner.access_token),
        )
        .await
        .expect(200);
    assert_eq!(contact.body["name"], "王小明");
    assert_eq!(contact.body["email"], "xm@example.com");
    // Member routes refuse visitor tokens, and the other way round.
    app.call(
        reqwest::Method::PUT,
        "/api/v1/widget/contact",
        Some(&owner.access_token),
        Some(json!({"name": "x"})),
    )
    .await
    .expect(401);
}

async fn summary(app: &TestApp, owner: &Owner, token: &str, query: &str) -> kefu_testkit::Reply {
    app.get(
        &kb(owner, &format!("analytics/summary{query}")),
        Some(token),
    )
    .await
}

async fn the_summary_counts_volume_times_containment_and_csat(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let agent = app.member(&owner, "s@example.com", "supervisor").await;
    seed(&app, &owner).await;
    let bot_key = inbox(&app, &owner, true).await;
    let people_key = inbox(&app, &owner, false).await;

    // 1. The bot answers and nobody else is needed.
    let v1 = visitor(&app, &bot_key).await;
    let contained = say(&app, &v1, "怎么退款").await;
    // 2. Straight to people: answered, resolved, rated 4.
    let v2 = visitor(&app, &people_key).await;
    let direct = say(&app, &v2, "发票怎么开").await;
    handle(&app, &owner, &agent, &direct).await;
    rate(&app, &v2, &direct, json!({"score": 4}))
        .await
        .expect(200);
    // 3. The bot hands off on request; a person answers; rated 2.
    let v3 = visitor(&app, &bot_key).await;
    let handed = say(&app, &v3, "转人工").await;
    let mut status = Value::Null;
    for _ in 0..100 {
        status = app
            .get(&conv(&owner, &handed, ""), Some(&owner.access_token))
            .await
            .expect(200)
            .body["status"]
            .clone();
        if status == "queued" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, "queued", "the bot handed off");
    handle(&app, &owner, &agent, &handed).await;
    rate(&app, &v3, &handed, json!({"score": 2}))
        .await
        .expect(200);

    let today = Utc::now().date_naive();
    let range = format!(
        "?from={}&to={}&time_zone=Asia/Shanghai",
        today - Days::days(1),
        today + Days::days(1)
    );
    let s = summary(&app, &owner, &owner.access_token, &range)
        .await
        .expect(200)
        .body;
    assert_eq!(s["time_zone"], "Asia/Shanghai");
    assert_eq!(s["conversations"]["total"], 3, "{s}");
    let days = s["conversations"]["by_day"].as_array().unwrap();
    assert_eq!(days.len(), 3, "every day of the range: {s}");
    let per_day: i64 = days.iter().map(|d| d["count"].as_i64().unwrap()).sum();
    let per_hour: i64 = s["conversations"]["by_hour"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .sum();
    assert_eq!((per_day, per_hour), (3, 3));
    // The bot's conversation is undecided (a day has not passed), the
    // handed-off one is not the bot's resolution.
    assert_eq!(
        s["bot"],
        json!({"conversations": 2, "contained": 1, "handed_off": 1,
               "containment_rate": 0.5, "handoff_rate": 0.5,
               "resolved": 0, "confirmed": 0, "silent": 0, "pending": 1,
               "resolution_rate": 0.0, "resolution_window_hours": 24})
    );
    assert_eq!(s["csat"]["count"], 2);
    assert_eq!(s["csat"]["average"], 3.0);
    assert_eq!(s["csat"]["distribution"], json!([0, 1, 0, 1, 0]));
    assert_eq!(s["first_response_secs"]["count"], 2, "{s}");
    assert_eq!(s["resolution_secs"]["count"], 2);
    assert!(s["first_response_secs"]["median"].as_f64().unwrap() >= 0.0);
    let agents = s["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{s}");
    assert_eq!(agents[0]["user_id"], json!(agent.0));
    assert_eq!(agents[0]["conversations"], 2);
    assert_eq!(agents[0]["csat_average"], 3.0);
    let _ = contained;

    // An empty range has zeros and nulls, not errors.
    let empty = summary(
        &app,
        &owner,
        &owner.access_token,
        "?from=2020-01-01&to=2020-01-02",
    )
    .await
    .expect(200)
    .body;
    assert_eq!(empty["conversations"]["total"], 0);
    assert_eq!(empty["csat"]["average"], Value::Null);
    assert_eq!(empty["bot"]["containment_rate"], Value::Null);
    assert_eq!(empty["bot"]["resolution_rate"], Value::Null);
    // Default: the last seven days, today included.
    let default = summary(&app, &owner, &owner.access_token, "")
        .await
        .expect(200)
        .body;
    assert_eq!(
        default["conversations"]["by_day"].as_array().unwrap().len(),
        7
    );

    for bad in [
        "?from=2026-13-01",
        "?from=2026-02-01&to=2026-01-01",
        "?from=2020-01-01&to=2026-01-01",
        "?time_zone=Mars/Olympus",
    ] {
        summary(&app, &owner, &owner.access_token, bad)
            .await
            .expect_error(422, "validation_failed");
    }
    let (_, plain_agent) = app.member(&owner, "a@example.com", "agent").await;
    summary(&app, &owner, &plain_agent, "")
        .await
        .expect_error(403, "forbidden");
}

/// A widget session; `visitor_id` continues an earlier visitor (the same
/// contact). Returns (visitor token, visitor id).
async fn session(app: &TestApp, key: &str, visitor_id: Option<&str>) -> (String, String) {
    let s = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": key, "visitor_id": visitor_id}),
        )
        .await
        .expect(201);
    let text = |k: &str| s.body[k].as_str().unwrap().to_string();
    (text("visitor_token"), text("visitor_id"))
}

/// The visitor asks in `conv` (a new conversation when `None`) and waits
/// for the bot's reply to it; returns (conversation id, the reply).
async fn ask_bot(app: &TestApp, token: &str, conv: Option<&str>, q: &str) -> (String, Value) {
    let m = app
        .post(
            "/api/v1/widget/messages",
            Some(token),
            json!({"conversation_id": conv, "client_msg_id": uuid::Uuid::now_v7().to_string(), "body": q}),
        )
        .await
        .expect(201);
    let conv = m.body["conversation_id"].as_str().unwrap().to_string();
    let seq = m.body["seq"].as_i64().unwrap();
    for _ in 0..200 {
        let r = app
            .get(
                &format!("/api/v1/widget/conversations/{conv}/messages?after_seq={seq}"),
                Some(token),
            )
            .await
            .expect(200);
        if let Some(reply) = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["sender"]["type"] == "bot")
        {
            return (conv, reply.clone());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no bot reply to {q:?} within 5 s");
}

/// Moves the bot's answers in `conv` back `hours`, as if they had been
/// given then: time is not mocked (the server's clock is the system's),
/// so this is the day passing, written where the server keeps it.
async fn answered_hours_ago(app: &TestApp, b: Backend, conv: &str, hours: i64) {
    let at = kefu_domain::truncate_to_micros(Utc::now() - Days::hours(hours));
    let id = uuid::Uuid::parse_str(conv).unwrap();
    let url = app.settings.database_url.clone().unwrap();
    let sql =
        "UPDATE bot_turns SET created_at = $1 WHERE conversation_id = $2 AND decision = 'answer'";
    let moved = match b {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let r = sqlx::query(sql).bind(at).bind(id).execute(&pool).await;
            pool.close().await;
            r.unwrap().rows_affected()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let r = sqlx::query(sql).bind(at).bind(id).execute(&pool).await;
            pool.close().await;
            r.unwrap().rows_affected()
        }
    };
    assert_eq!(moved, 1, "one answer in {conv}");
}

async fn feedback(app: &TestApp, token: &str, conv: &str, reply: &Value, helpful: bool) {
    app.post(
        &format!(
            "/api/v1/widget/conversations/{conv}/messages/{}/feedback",
            reply["id"].as_str().unwrap()
        ),
        Some(token),
        json!({ "helpful": helpful }),
    )
    .await
    .expect(200);
}

/// Verified automated resolution: the bot is credited with a conversation
/// only when the visitor confirmed an answer, or let the window pass after
/// its last answer without coming back, and never reached a person. The
/// window here is 48 hours (`[analytics] resolution_window_hours`), so that
/// an answer 25 hours old is still pending where the default would not be.
async fn the_bot_is_credited_only_with_verified_resolutions(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.analytics.resolution_window_hours = 48).await;
    let owner = app.owner("o@example.com").await;
    seed(&app, &owner).await;
    let site = inbox(&app, &owner, true).await;
    let shop = inbox(&app, &owner, true).await;
    const Q: &str = "我想退货退款，怎么操作？";

    // Confirmed: "helpful: yes" settles it at once.
    let (v, _) = session(&app, &site, None).await;
    let (conv, reply) = ask_bot(&app, &v, None, Q).await;
    assert_eq!(reply["decision"], "answer", "{reply}");
    feedback(&app, &v, &conv, &reply, true).await;

    // Silent: answered two days ago, nothing since.
    let (v, _) = session(&app, &site, None).await;
    let (silent, _) = ask_bot(&app, &v, None, Q).await;
    answered_hours_ago(&app, b, &silent, 49).await;

    // Came back: the same visitor starts a conversation on the shop's
    // widget right after the answer (that one is the bot's too, and pending).
    let (v, visitor_id) = session(&app, &site, None).await;
    let (came_back, _) = ask_bot(&app, &v, None, Q).await;
    let (again, same_id) = session(&app, &shop, Some(&visitor_id)).await;
    assert_eq!(same_id, visitor_id);
    let (second, _) = ask_bot(&app, &again, None, Q).await;
    assert_ne!(second, came_back, "a conversation of its own");

    // Asked for a person after a helpful answer: a hand-off of any reason
    // is never the bot's resolution.
    let (v, _) = session(&app, &site, None).await;
    let (handed, reply) = ask_bot(&app, &v, None, Q).await;
    feedback(&app, &v, &handed, &reply, true).await;
    app.post(
        &format!("/api/v1/widget/conversations/{handed}/handoff"),
        Some(&v),
        json!({}),
    )
    .await
    .expect(200);

    // Pending: answered 25 hours ago, inside the 48-hour window.
    let (v, _) = session(&app, &site, None).await;
    let (pending, _) = ask_bot(&app, &v, None, Q).await;
    answered_hours_ago(&app, b, &pending, 25).await;

    // Wrote again in the same conversation, and the bot only offered
    // choices this time (every answer is a suggestion at threshold 1.0).
    let (v, _) = session(&app, &site, None).await;
    let (wrote_again, reply) = ask_bot(&app, &v, None, Q).await;
    assert_eq!(reply["decision"], "answer", "{reply}");
    app.patch(
        &kb(&owner, "bot/settings"),
        Some(&owner.access_token),
        json!({"answer_threshold": 1.0, "suggest_threshold": 0.0}),
    )
    .await
    .expect(200);
    let (_, reply) = ask_bot(&app, &v, Some(&wrote_again), "还是不明白，具体怎么退？").await;
    assert_eq!(reply["decision"], "suggest", "{reply}");

    let today = Utc::now().date_naive();
    let range = format!(
        "?from={}&to={}",
        today - Days::days(1),
        today + Days::days(1)
    );
    let bot = |s: Value| s["bot"].clone();
    let s = summary(&app, &owner, &owner.access_token, &range)
        .await
        .expect(200)
        .body;
    // Seven bot conversations: confirmed, silent, came back, the shop's
    // (pending), handed off, pending, wrote again.
    assert_eq!(
        bot(s),
        json!({"conversations": 7, "contained": 6, "handed_off": 1,
               "containment_rate": 6.0 / 7.0, "handoff_rate": 1.0 / 7.0,
               "resolved": 2, "confirmed": 1, "silent": 1, "pending": 2,
               "resolution_rate": 0.4, "resolution_window_hours": 48})
    );

    // A day later for the pending one: its window has passed too.
    answered_hours_ago(&app, b, &pending, 49).await;
    let s = summary(&app, &owner, &owner.access_token, &range)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            &s["bot"]["silent"],
            &s["bot"]["pending"],
            &s["bot"]["resolution_rate"]
        ),
        (&json!(2), &json!(1), &json!(0.5)),
        "{s}"
    );
    // Two days on, the shop's conversation is the bot's too; the one its
    // visitor came back from stays unresolved.
    answered_hours_ago(&app, b, &second, 49).await;
    let s = summary(&app, &owner, &owner.access_token, &range)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            &s["bot"]["resolved"],
            &s["bot"]["pending"],
            &s["bot"]["resolution_rate"]
        ),
        (&json!(4), &json!(0), &json!(4.0 / 7.0)),
        "{s}"
    );
}

async fn canned_responses_are_shared_and_managed_by_supervisors(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let (_, agent) = app.member(&owner, "a@example.com", "agent").await;
    let t = Some(owner.access_token.as_str());
    let path = kb(&owner, "canned-responses");
    let hello = app
        .post(
            &path,
            t,
            json!({"shortcut": "hello", "title": "问候", "body": "您好，请问有什么可以帮您？"}),
        )
        .await
        .expect(201)
        .body;
    app.post(
        &path,
        t,
        json!({"shortcut": "addr", "body": "我们的地址是……"}),
    )
    .await
    .expect(201);
    app.post(&path, t, json!({"shortcut": "hello", "body": "again"}))
        .await
        .expect_error(409, "shortcut_taken");
    app.post(&path, t, json!({"shortcut": "has space", "body": "x"}))
        .await
        .expect_error(422, "validation_failed");
    app.post(
        &path,
        Some(&agent),
        json!({"shortcut": "mine", "body": "x"}),
    )
    .await
    .expect_error(403, "forbidden");

    let list = app.get(&path, Some(&agent)).await.expect(200).body;
    let shortcuts: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["shortcut"].as_str().unwrap())
        .collect();
    assert_eq!(shortcuts, ["addr", "hello"]);

    let one = format!("{path}/{}", hello["id"].as_str().unwrap());
    let patched = app
        .patch(&one, t, json!({"body": "您好！"}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        (&patched["shortcut"], &patched["title"], &patched["body"]),
        (&json!("hello"), &json!("问候"), &json!("您好！"))
    );
    app.patch(&one, t, json!({"shortcut": "addr"}))
        .await
        .expect_error(409, "shortcut_taken");
    app.delete(&one, t).await.expect(204);
    app.get(&one, t)
        .await
        .expect_error(404, "canned_response_not_found");
    app.delete(&one, t)
        .await
        .expect_error(404, "canned_response_not_found");
}
