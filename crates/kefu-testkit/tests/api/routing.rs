//! Routing over HTTP and the socket: presence and capacity, the queue's
//! order, teams, assignment races, the visitor's queue position, contacts,
//! labels, read positions and typing.

use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    the_queue_assigns_by_priority_within_capacity,
    agents_taking_at_once_get_one_success,
    teams_scope_what_agents_see,
    identified_visitors_prove_who_they_are,
    an_identified_contacts_history_needs_its_hmac_in_every_session,
    contacts_are_edited_by_agents,
    read_positions_unread_counts_and_typing_reach_the_other_side,
    colleagues_hear_who_is_viewing_and_writing_a_note,
    labels_priority_and_search,
    inbox_settings_are_validated_and_editable,
    waiting_visitors_hear_their_place_in_the_queue,
);

struct Desk {
    owner: Owner,
    base: String,
    widget_key: String,
}

/// A workspace with a bot-less inbox (new conversations go to the queue).
async fn desk(app: &TestApp) -> Desk {
    let owner = app.owner("o@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let inbox = app
        .post(
            &format!("{base}/inboxes"),
            Some(&owner.access_token),
            json!({"name": "Web", "channel": "web", "bot_enabled": false}),
        )
        .await
        .expect(201);
    Desk {
        widget_key: inbox.body["widget_key"].as_str().unwrap().to_string(),
        owner,
        base,
    }
}

/// A new visitor's first message; returns (visitor token, conversation id).
async fn visitor_says(app: &TestApp, d: &Desk, body: &str) -> (String, String) {
    let s = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key}),
        )
        .await
        .expect(201);
    let token = s.body["visitor_token"].as_str().unwrap().to_string();
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

async fn status(app: &TestApp, d: &Desk, token: &str, status: &str, capacity: i64) -> Value {
    app.call(
        reqwest::Method::PUT,
        &format!("{}/agents/me/status", d.base),
        Some(token),
        Some(json!({"status": status, "capacity": capacity})),
    )
    .await
    .expect(200)
    .body
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

async fn the_queue_assigns_by_priority_within_capacity(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let (a_id, a) = app.member(&d.owner, "a@example.com", "agent").await;
    let (b_id, b_tok) = app.member(&d.owner, "b@example.com", "agent").await;
    let p = status(&app, &d, &a, "online", 1).await;
    assert_eq!(
        (
            p["status"].as_str(),
            p["capacity"].as_i64(),
            p["load"].as_i64()
        ),
        (Some("online"), Some(1), Some(0))
    );

    let (_, c1) = visitor_says(&app, &d, "第一位").await;
    let first = conversation(&app, &d, &c1).await;
    assert_eq!(first["status"], "assigned");
    assert_eq!(first["assignee_id"], a_id.as_str());
    assert_eq!(first["assignment_reason"], "least_loaded");

    // a is full: the next two wait, in arrival order…
    let (v2, c2) = visitor_says(&app, &d, "第二位").await;
    let (_, c3) = visitor_says(&app, &d, "第三位").await;
    assert_eq!(conversation(&app, &d, &c2).await["status"], "queued");
    let mine = app
        .get("/api/v1/widget/conversations", Some(&v2))
        .await
        .expect(200);
    let q = &mine.body["items"][0]["queue"];
    assert_eq!(q["position"], 1, "{}", mine.text);
    assert!(
        q["estimated_wait_secs"].as_i64().is_some(),
        "one assignment in the window gives an estimate: {q}"
    );
    // …until the third becomes urgent and jumps ahead.
    app.patch(
        &format!("{}/conversations/{c3}", d.base),
        Some(&d.owner.access_token),
        json!({"priority": 5}),
    )
    .await
    .expect(200);
    let mine = app
        .get("/api/v1/widget/conversations", Some(&v2))
        .await
        .expect(200);
    assert_eq!(mine.body["items"][0]["queue"]["position"], 2);

    // b comes online with room for one: the urgent one is theirs.
    status(&app, &d, &b_tok, "online", 1).await;
    let third = conversation(&app, &d, &c3).await;
    assert_eq!(
        (third["status"].as_str(), third["assignee_id"].as_str()),
        (Some("assigned"), Some(b_id.as_str()))
    );
    assert_eq!(conversation(&app, &d, &c2).await["status"], "queued");

    // a resolves theirs: capacity frees, the second one goes to a.
    app.post(
        &format!("{}/conversations/{c1}/resolve", d.base),
        Some(&a),
        json!({}),
    )
    .await
    .expect(200);
    let second = conversation(&app, &d, &c2).await;
    assert_eq!(second["assignee_id"], a_id.as_str());
    let history = app
        .get(
            &format!("{}/conversations/{c2}/assignments", d.base),
            Some(&d.owner.access_token),
        )
        .await
        .expect(200);
    let reasons: Vec<_> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["reason"].clone())
        .collect();
    assert_eq!(reasons, vec![json!("least_loaded")]);
    assert!(history.body[0]["waited_ms"].as_i64().is_some());
    let agents = app
        .get(&format!("{}/agents", d.base), Some(&d.owner.access_token))
        .await
        .expect(200);
    let load = |id: &str| {
        agents
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["user_id"] == id)
            .unwrap()["load"]
            .clone()
    };
    assert_eq!((load(&a_id), load(&b_id)), (json!(1), json!(1)));
    // Capacity is validated; others' status needs a supervisor.
    app.call(
        reqwest::Method::PUT,
        &format!("{}/agents/me/status", d.base),
        Some(&a),
        Some(json!({"status": "online", "capacity": 1000})),
    )
    .await
    .expect_error(422, "validation_failed");
    app.call(
        reqwest::Method::PUT,
        &format!("{}/agents/{b_id}/status", d.base),
        Some(&a),
        Some(json!({"status": "offline"})),
    )
    .await
    .expect_error(403, "forbidden");
    app.call(
        reqwest::Method::PUT,
        &format!("{}/agents/{b_id}/status", d.base),
        Some(&d.owner.access_token),
        Some(json!({"status": "away"})),
    )
    .await
    .expect(200);
    app.stop().await;
}

async fn agents_taking_at_once_get_one_success(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let (a_id, a) = app.member(&d.owner, "a@example.com", "agent").await;
    let (b_id, b_tok) = app.member(&d.owner, "b@example.com", "agent").await;
    let (_, sup) = app.member(&d.owner, "s@example.com", "supervisor").await;
    for round in 0..5 {
        let (_, c) = visitor_says(&app, &d, &format!("第{round}位")).await;
        let path = format!("{}/conversations/{c}/assign", d.base);
        let (ra, rb) = tokio::join!(
            app.post(&path, Some(&a), json!({"assignee_id": a_id})),
            app.post(&path, Some(&b_tok), json!({"assignee_id": b_id})),
        );
        let codes = [ra.status.as_u16(), rb.status.as_u16()];
        assert!(
            codes.contains(&200) && codes.contains(&409),
            "round {round}: {codes:?} {} {}",
            ra.text,
            rb.text
        );
        let winner = if ra.status == 200 { &a_id } else { &b_id };
        let loser = if ra.status == 200 { &rb } else { &ra };
        assert!(
            ["invalid_transition", "assignment_conflict"].contains(&loser.code()),
            "{}",
            loser.text
        );
        let now = conversation(&app, &d, &c).await;
        assert_eq!(now["assignee_id"], winner.as_str());
        assert_eq!(now["assignment_reason"], "self_assigned");
    }
    // An agent cannot hand a conversation to someone else…
    let (_, c) = visitor_says(&app, &d, "转人工").await;
    let path = format!("{}/conversations/{c}/assign", d.base);
    app.post(&path, Some(&a), json!({"assignee_id": b_id}))
        .await
        .expect_error(403, "forbidden");
    // …a supervisor can, and a stale view of the assignee is refused.
    app.post(
        &path,
        Some(&sup),
        json!({"assignee_id": a_id, "expected_assignee_id": null}),
    )
    .await
    .expect(200);
    app.post(
        &path,
        Some(&sup),
        json!({"assignee_id": b_id, "expected_assignee_id": null}),
    )
    .await
    .expect_error(409, "assignment_conflict");
    let moved = app
        .post(
            &path,
            Some(&sup),
            json!({"assignee_id": b_id, "expected_assignee_id": a_id}),
        )
        .await
        .expect(200);
    assert_eq!(moved.body["assignment_reason"], "manual");
    // Taking over someone else's is recorded as such.
    let (sup_id, _) = (
        app.get("/api/v1/me", Some(&sup)).await.expect(200).body["user"]["id"].clone(),
        (),
    );
    let took = app
        .post(&path, Some(&sup), json!({"assignee_id": sup_id}))
        .await
        .expect(200);
    assert_eq!(took.body["assignment_reason"], "takeover");
    app.post(
        &path,
        Some(&sup),
        json!({"assignee_id": uuid::Uuid::now_v7()}),
    )
    .await
    .expect_error(422, "validation_failed");
    app.stop().await;
}

async fn teams_scope_what_agents_see(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let owner = &d.owner.access_token;
    let (_, a) = app.member(&d.owner, "a@example.com", "agent").await;
    let (b_id, b_tok) = app.member(&d.owner, "b@example.com", "agent").await;
    let team = app
        .post(
            &format!("{}/teams", d.base),
            Some(owner),
            json!({"name": "售后", "member_ids": [b_id]}),
        )
        .await
        .expect(201);
    let team_id = team.body["id"].as_str().unwrap().to_string();
    assert_eq!(team.body["member_ids"], json!([b_id]));
    app.post(
        &format!("{}/teams", d.base),
        Some(owner),
        json!({"name": "售后"}),
    )
    .await
    .expect_error(409, "team_name_taken");
    app.post(
        &format!("{}/teams", d.base),
        Some(owner),
        json!({"name": "x", "member_ids": [uuid::Uuid::now_v7()]}),
    )
    .await
    .expect_error(422, "validation_failed");
    app.post(
        &format!("{}/teams", d.base),
        Some(&a),
        json!({"name": "mine"}),
    )
    .await
    .expect_error(403, "forbidden");

    let (_, c) = visitor_says(&app, &d, "我要退款").await;
    let mut a_ws = app.ws(&a).await;
    // Both agents see the general queue; after the transfer only b does.
    app.get(&format!("{}/conversations/{c}", d.base), Some(&a))
        .await
        .expect(200);
    let moved = app
        .post(
            &format!("{}/conversations/{c}/assign", d.base),
            Some(owner),
            json!({"team_id": team_id}),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            moved.body["status"].as_str(),
            moved.body["team_id"].as_str(),
            moved.body["assignment_reason"].as_str()
        ),
        (Some("queued"), Some(team_id.as_str()), Some("transfer"))
    );
    let hidden = a_ws.recv_type("conversation.hidden").await;
    assert_eq!(hidden["conversation_id"], c.as_str());
    app.get(&format!("{}/conversations/{c}", d.base), Some(&a))
        .await
        .expect_error(404, "conversation_not_found");
    app.get(&format!("{}/conversations/{c}", d.base), Some(&b_tok))
        .await
        .expect(200);
    let listed = app
        .get(
            &format!("{}/conversations?team_id={team_id}", d.base),
            Some(&b_tok),
        )
        .await
        .expect(200);
    assert_eq!(listed.body["items"][0]["id"], c.as_str());
    let for_a = app
        .get(&format!("{}/conversations", d.base), Some(&a))
        .await
        .expect(200);
    assert!(
        for_a.body["items"].as_array().unwrap().is_empty(),
        "{}",
        for_a.text
    );
    // a online takes nothing from a team they are not in; b online takes it.
    status(&app, &d, &a, "online", 5).await;
    assert_eq!(conversation(&app, &d, &c).await["status"], "queued");
    status(&app, &d, &b_tok, "online", 5).await;
    assert_eq!(
        conversation(&app, &d, &c).await["assignee_id"],
        b_id.as_str()
    );
    // Deleting a team is audited and leaves conversations in place.
    app.patch(
        &format!("{}/teams/{team_id}", d.base),
        Some(owner),
        json!({"name": "售后服务"}),
    )
    .await
    .expect(200);
    app.delete(&format!("{}/teams/{team_id}", d.base), Some(owner))
        .await
        .expect(204);
    assert_eq!(conversation(&app, &d, &c).await["team_id"], Value::Null);
    let log = app
        .get(&format!("{}/audit-log?limit=3", d.base), Some(owner))
        .await
        .expect(200);
    let actions: Vec<_> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        vec![
            json!("team.deleted"),
            json!("team.updated"),
            json!("team.created")
        ]
    );
    app.stop().await;
}

fn sign(secret: &str, external_id: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(external_id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn identified_visitors_prove_who_they_are(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let inbox = app
        .get(&format!("{}/inboxes", d.base), Some(&d.owner.access_token))
        .await
        .expect(200);
    let secret = inbox.body[0]["identity_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let session = |identity: Value, visitor_id: Option<&str>| {
        app.post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key, "identity": identity, "visitor_id": visitor_id}),
        )
    };
    let laptop = session(
        json!({"external_id": "user-42", "hmac": sign(&secret, "user-42")}),
        None,
    )
    .await
    .expect(201);
    let phone = session(
        json!({"external_id": "user-42", "hmac": sign(&secret, "user-42").to_uppercase()}),
        None,
    )
    .await
    .expect(201);
    assert_eq!(
        laptop.body["contact_id"], phone.body["contact_id"],
        "one person, one contact"
    );
    let contact = app
        .get(
            &format!(
                "{}/contacts/{}",
                d.base,
                laptop.body["contact_id"].as_str().unwrap()
            ),
            Some(&d.owner.access_token),
        )
        .await
        .expect(200);
    assert_eq!(contact.body["external_id"], "user-42");
    for bad in [
        json!({"external_id": "user-42", "hmac": sign(&secret, "user-43")}),
        json!({"external_id": "user-42", "hmac": sign("guess", "user-42")}),
        json!({"external_id": "user-42", "hmac": "not hex"}),
        json!({"external_id": "user-42", "hmac": ""}),
    ] {
        session(bad, None)
            .await
            .expect_error(401, "invalid_identity");
    }
    session(json!({"external_id": "", "hmac": "00"}), None)
        .await
        .expect_error(422, "validation_failed");
    app.stop().await;
}

/// Issue 14, finding 2: an identified visitor's history could be read with
/// their `visitor_id` alone, which every device they signed in on shares.
async fn an_identified_contacts_history_needs_its_hmac_in_every_session(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let inbox = app
        .get(&format!("{}/inboxes", d.base), Some(&d.owner.access_token))
        .await
        .expect(200);
    let secret = inbox.body[0]["identity_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let identity = json!({"external_id": "user-42", "hmac": sign(&secret, "user-42")});
    let signed_in = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key, "identity": identity}),
        )
        .await
        .expect(201);
    let token = signed_in.body["visitor_token"].as_str().unwrap();
    app.post(
        "/api/v1/widget/messages",
        Some(token),
        json!({"client_msg_id": "m-1", "body": "我的地址是北京市朝阳区……"}),
    )
    .await
    .expect(201);
    // Someone who learnt the visitor_id (it is the same on every device):
    let stranger = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key, "visitor_id": signed_in.body["visitor_id"]}),
        )
        .await
        .expect(201);
    assert_ne!(stranger.body["contact_id"], signed_in.body["contact_id"]);
    assert_ne!(stranger.body["visitor_id"], signed_in.body["visitor_id"]);
    let seen = app
        .get(
            "/api/v1/widget/conversations",
            stranger.body["visitor_token"].as_str(),
        )
        .await
        .expect(200);
    assert_eq!(seen.body["items"], json!([]), "no history without the HMAC");
    // With the HMAC, the same person finds it again on any device.
    let again = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key, "identity": identity, "visitor_id": stranger.body["visitor_id"]}),
        )
        .await
        .expect(201);
    assert_eq!(again.body["contact_id"], signed_in.body["contact_id"]);
    let mine = app
        .get(
            "/api/v1/widget/conversations",
            again.body["visitor_token"].as_str(),
        )
        .await
        .expect(200);
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    // An anonymous visitor still resumes with their visitor_id alone.
    let anon = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key}),
        )
        .await
        .expect(201);
    let back = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key, "visitor_id": anon.body["visitor_id"]}),
        )
        .await
        .expect(201);
    assert_eq!(back.body["contact_id"], anon.body["contact_id"]);
    app.stop().await;
}

async fn contacts_are_edited_by_agents(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let (_, a) = app.member(&d.owner, "a@example.com", "agent").await;
    let (v, _) = visitor_says(&app, &d, "你好").await;
    let mine = app
        .get("/api/v1/widget/conversations", Some(&v))
        .await
        .expect(200);
    let conv = mine.body["items"][0]["id"].as_str().unwrap().to_string();
    let contact_id = conversation(&app, &d, &conv).await["contact_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("{}/contacts/{contact_id}", d.base);
    let edited = app
        .patch(
            &path,
            Some(&a),
            json!({"name": "王小明", "email": "xm@example.cn", "phone": "+86 138-0013-8000",
            "attributes": {"plan": "企业版", "seats": 20, "vip": true}}),
        )
        .await
        .expect(200);
    assert_eq!(edited.body["name"], "王小明");
    assert_eq!(edited.body["attributes"]["plan"], "企业版");
    let cleared = app
        .patch(
            &path,
            Some(&a),
            json!({"phone": null, "attributes": {"vip": null}}),
        )
        .await
        .expect(200);
    assert_eq!(cleared.body["phone"], Value::Null);
    assert_eq!(
        cleared.body["attributes"],
        json!({"plan": "企业版", "seats": 20})
    );
    for bad in [
        json!({"email": "not-an-email"}),
        json!({"phone": "call me"}),
        json!({"attributes": {"nested": {"x": 1}}}),
        json!({"attributes": {"bad key!": 1}}),
    ] {
        app.patch(&path, Some(&a), bad)
            .await
            .expect_error(422, "validation_failed");
    }
    // The attribute limit holds for the merged result; a refused patch
    // stores nothing.
    let many: serde_json::Map<String, Value> =
        (0..48).map(|i| (format!("k{i}"), json!(i))).collect();
    app.patch(&path, Some(&a), json!({"attributes": many}))
        .await
        .expect(200);
    let full = app
        .patch(
            &path,
            Some(&a),
            json!({"attributes": {"one_more": 1}, "name": "x"}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(full.body["details"]["fields"]["attributes"], "too_many");
    let kept = app.get(&path, Some(&a)).await.expect(200);
    assert_eq!(kept.body["name"], "王小明");
    assert_eq!(kept.body["attributes"].as_object().unwrap().len(), 50);
    let history = app
        .get(&format!("{path}/conversations"), Some(&a))
        .await
        .expect(200);
    assert_eq!(history.body[0]["id"], conv.as_str());
    // Another workspace cannot reach it.
    let other = app.owner("x@example.com").await;
    app.patch(
        &format!(
            "/api/v1/workspaces/{}/contacts/{contact_id}",
            other.workspace_id
        ),
        Some(&other.access_token),
        json!({"name": "x"}),
    )
    .await
    .expect_error(404, "contact_not_found");
    app.stop().await;
}

async fn read_positions_unread_counts_and_typing_reach_the_other_side(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let owner = &d.owner.access_token;
    let (v, c) = visitor_says(&app, &d, "在吗？").await;
    let mut agent = app.ws(owner).await;
    let mut visitor = app.ws(&v).await;
    let list = app
        .get(&format!("{}/conversations", d.base), Some(owner))
        .await
        .expect(200);
    assert_eq!(list.body["items"][0]["unread_count"], 1);

    agent
        .send(json!({"type": "typing", "conversation_id": c, "on": true}))
        .await;
    let t = visitor.recv_type("typing").await;
    assert_eq!(
        (t["on"].as_bool(), t["who"]["type"].as_str()),
        (Some(true), Some("agent"))
    );
    // A private note being typed is not shown to the visitor.
    agent
        .send(json!({"type": "typing", "conversation_id": c, "on": true, "private": true}))
        .await;
    assert!(visitor.silent_for(300).await, "private typing stays inside");
    visitor
        .send(json!({"type": "typing", "conversation_id": c, "on": true}))
        .await;
    let t = agent.recv_type("typing").await;
    assert_eq!(t["who"]["type"], "visitor");

    agent
        .send(json!({"type": "read", "conversation_id": c, "seq": 1}))
        .await;
    let r = visitor.recv_type("read").await;
    assert_eq!(
        (r["seq"].as_i64(), r["who"]["type"].as_str()),
        (Some(1), Some("agent"))
    );
    let list = app
        .get(&format!("{}/conversations", d.base), Some(owner))
        .await
        .expect(200);
    assert_eq!(list.body["items"][0]["unread_count"], 0);

    app.post(
        &format!("{}/conversations/{c}/messages", d.base),
        Some(owner),
        json!({"body": "您好，在的", "client_msg_id": "r-1"}),
    )
    .await
    .expect(201);
    let mine = app
        .get("/api/v1/widget/conversations", Some(&v))
        .await
        .expect(200);
    assert_eq!(mine.body["items"][0]["unread_count"], 1);
    let pos = app
        .post(
            &format!("/api/v1/widget/conversations/{c}/read"),
            Some(&v),
            json!({"seq": 99}),
        )
        .await
        .expect(200);
    assert_eq!(pos.body["seq"], 2, "never past the last message");
    let r = agent.recv_type("read").await;
    assert_eq!(
        (r["seq"].as_i64(), r["who"]["type"].as_str()),
        (Some(2), Some("visitor"))
    );
    let mine = app
        .get("/api/v1/widget/conversations", Some(&v))
        .await
        .expect(200);
    assert_eq!(mine.body["items"][0]["unread_count"], 0);
    assert!(
        mine.body["items"][0].get("labels").is_none(),
        "visitors get the public view"
    );
    app.stop().await;
}

async fn labels_priority_and_search(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let owner = &d.owner.access_token;
    let (_, c1) = visitor_says(&app, &d, "我的订单还没发货").await;
    let (_, c2) = visitor_says(&app, &d, "How do I reset my password?").await;
    let patched = app
        .patch(
            &format!("{}/conversations/{c1}", d.base),
            Some(owner),
            json!({"labels": [" 物流 ", "vip", "vip"], "priority": 3}),
        )
        .await
        .expect(200);
    assert_eq!(patched.body["labels"], json!(["物流", "vip"]));
    assert_eq!(patched.body["priority"], 3);
    for bad in [
        json!({"priority": 1000}),
        json!({"labels": [""]}),
        json!({"labels": ["x".repeat(51)]}),
    ] {
        app.patch(&format!("{}/conversations/{c1}", d.base), Some(owner), bad)
            .await
            .expect_error(422, "validation_failed");
    }
    let ids = |r: kefu_testkit::Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let client = &app;
    let q = |query: &str| {
        let path = format!("{}/conversations?{query}", d.base);
        async move { client.get(&path, Some(owner)).await }
    };
    assert_eq!(
        ids(q("label=%E7%89%A9%E6%B5%81").await.expect(200)),
        vec![c1.clone()]
    );
    assert_eq!(
        ids(q("q=%E5%8F%91%E8%B4%A7").await.expect(200)),
        vec![c1.clone()]
    );
    assert_eq!(
        ids(q("q=PASSWORD").await.expect(200)),
        vec![c2.clone()],
        "case-insensitive"
    );
    assert!(
        ids(q("q=%25").await.expect(200)).is_empty(),
        "a % is literal"
    );
    app.stop().await;
}

async fn inbox_settings_are_validated_and_editable(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let owner = &d.owner.access_token;
    let list = app
        .get(&format!("{}/inboxes", d.base), Some(owner))
        .await
        .expect(200);
    let id = list.body[0]["id"].as_str().unwrap().to_string();
    let path = format!("{}/inboxes/{id}", d.base);
    for bad in [
        json!({"business_hours": {"time_zone": "Mars/Olympus", "intervals": []}}),
        json!({"business_hours": {"time_zone": "Asia/Shanghai", "intervals": [{"days": [8], "open": "09:00", "close": "18:00"}]}}),
        json!({"business_hours": {"time_zone": "Asia/Shanghai", "intervals": [{"days": [1], "open": "18:00", "close": "09:00"}]}}),
        json!({"business_hours": {"time_zone": "Asia/Shanghai", "intervals": [{"days": [1], "open": "9am", "close": "18:00"}]}}),
        json!({"allowed_origins": ["not a url"]}),
        json!({"name": ""}),
    ] {
        app.patch(&path, Some(owner), bad)
            .await
            .expect_error(422, "validation_failed");
    }
    // Closed every day: the widget learns nobody is there, and what to offer.
    let closed = app
        .patch(
            &path,
            Some(owner),
            json!({"business_hours": {"time_zone": "Asia/Shanghai",
            "intervals": [{"days": [1,2,3,4,5,6,7], "open": "00:00", "close": "00:01"}]},
            "offline_mode": "form", "greeting": "您好"}),
        )
        .await
        .expect(200);
    assert_eq!(closed.body["offline_mode"], "form");
    status(&app, &d, owner, "online", 5).await;
    let s = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key}),
        )
        .await
        .expect(201);
    assert_eq!(s.body["inbox"]["offline_mode"], "form");
    assert_eq!(s.body["inbox"]["greeting"], "您好");
    let open_now = s.body["inbox"]["agents_available"].clone();
    // Always open (null hours) with an agent online: available.
    app.patch(&path, Some(owner), json!({"business_hours": null}))
        .await
        .expect(200);
    let s = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key}),
        )
        .await
        .expect(201);
    assert_eq!(s.body["inbox"]["agents_available"], true);
    // 00:00–00:01 in Shanghai is closed except for one minute a day.
    let shanghai_minute = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%H:%M")
        .to_string();
    if shanghai_minute != "00:00" {
        assert_eq!(open_now, false);
    }
    // Deleting: refused while conversations exist; an empty inbox goes.
    visitor_says(&app, &d, "hi").await;
    app.delete(&path, Some(owner))
        .await
        .expect_error(409, "inbox_has_conversations");
    let empty = app
        .post(
            &format!("{}/inboxes", d.base),
            Some(owner),
            json!({"name": "Spare", "channel": "web"}),
        )
        .await
        .expect(201);
    app.delete(
        &format!("{}/inboxes/{}", d.base, empty.body["id"].as_str().unwrap()),
        Some(owner),
    )
    .await
    .expect(204);
    let (_, agent) = app.member(&d.owner, "a@example.com", "agent").await;
    app.patch(&path, Some(&agent), json!({"name": "x"}))
        .await
        .expect_error(403, "forbidden");
    app.stop().await;
}

async fn waiting_visitors_hear_their_place_in_the_queue(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let (_, first) = visitor_says(&app, &d, "第一位").await;
    let (v, c) = visitor_says(&app, &d, "第二位").await;
    let mut ws = app.ws(&v).await;
    ws.send(json!({"type": "sync", "conversation_id": c, "after_seq": 0}))
        .await;
    assert_eq!(ws.recv_type("message.created").await["seq"], 1);
    let q = ws.recv_type("queue").await;
    assert_eq!(
        (q["conversation_id"].as_str(), q["position"].as_i64()),
        (Some(c.as_str()), Some(2))
    );
    assert_eq!(
        q["estimated_wait_secs"],
        Value::Null,
        "no history to estimate from yet"
    );
    // The one ahead is taken: the visitor's next update shows them first.
    let (_, a) = app.member(&d.owner, "a@example.com", "agent").await;
    app.post(
        &format!("{}/conversations/{first}/assign", d.base),
        Some(&d.owner.access_token),
        json!({"assignee_id": app.get("/api/v1/me", Some(&a)).await.expect(200).body["user"]["id"]}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("{}/conversations/{c}", d.base),
        Some(&d.owner.access_token),
        json!({"priority": 1}),
    )
    .await
    .expect(200);
    let updated = ws.recv_type("conversation.updated").await;
    assert!(
        updated["conversation"].get("labels").is_none(),
        "the public view"
    );
    let q = ws.recv_type("queue").await;
    assert_eq!(q["position"], 1);
    assert!(q["estimated_wait_secs"].as_i64().is_some(), "{q}");
    app.stop().await;
}

/// The console's collision cues: `viewing` and private-note typing reach
/// the colleagues who may see the conversation, never the visitor.
async fn colleagues_hear_who_is_viewing_and_writing_a_note(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let owner = &d.owner.access_token;
    let (v, c) = visitor_says(&app, &d, "在吗？").await;
    let me = app.get("/api/v1/me", Some(owner)).await.expect(200);
    let owner_id = me.body["user"]["id"].clone();
    let (_, sup) = app.member(&d.owner, "sup@example.com", "supervisor").await;
    let mut mine = app.ws(owner).await;
    let mut colleague = app.ws(&sup).await;
    let mut visitor = app.ws(&v).await;

    mine.send(json!({"type": "viewing", "conversation_id": c, "on": true}))
        .await;
    let seen = colleague.recv_type("viewing").await;
    assert_eq!(
        seen,
        json!({"type": "viewing", "conversation_id": c, "who": {"type": "agent", "id": owner_id}, "on": true})
    );
    mine.send(json!({"type": "typing", "conversation_id": c, "on": true, "private": true}))
        .await;
    let t = colleague.recv_type("typing").await;
    assert_eq!(
        (t["private"].as_bool(), &t["who"]["id"]),
        (Some(true), &owner_id)
    );
    mine.send(json!({"type": "viewing", "conversation_id": c, "on": false}))
        .await;
    assert_eq!(colleague.recv_type("viewing").await["on"], false);
    assert!(
        visitor.silent_for(300).await,
        "the visitor hears none of it"
    );
    assert!(mine.silent_for(100).await, "nor is it echoed");

    // A visitor has nothing to say about viewing; nobody views what they
    // may not see.
    visitor
        .send(json!({"type": "viewing", "conversation_id": c, "on": true}))
        .await;
    let e = visitor.recv_type("error").await;
    assert_eq!(e["code"], "forbidden");
    mine.send(json!({"type": "viewing", "conversation_id": uuid::Uuid::now_v7(), "on": true}))
        .await;
    assert_eq!(
        mine.recv_type("error").await["code"],
        "conversation_not_found"
    );
    app.stop().await;
}
