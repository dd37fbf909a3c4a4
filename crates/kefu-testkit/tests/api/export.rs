//! The owner's workspace export (`GET …/export`): JSON Lines holding every
//! record of the workspace in the API's own shapes and nothing of another
//! workspace, the CSV table with its quoting, who may export (and the
//! audit entry each export leaves), and a large export streamed in chunks.

use crate::kb::{kb, seed};
use kefu_domain::chat::{ContactPatch, NewMessage, SenderKind};
use kefu_domain::{ConversationId, MessageId, WorkspaceId};
use kefu_testkit::{on_both_backends, Backend, Owner, Reply, TestApp};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(
    jsonl_holds_every_record_of_the_workspace_and_nothing_else,
    csv_is_one_quoted_row_per_conversation,
    only_owners_export_and_each_export_is_audited,
    a_large_export_streams_in_chunks,
);

/// An inbox without the bot (so no reply arrives on its own); its widget key.
async fn inbox(app: &TestApp, owner: &Owner) -> String {
    let r = app
        .post(
            &kb(owner, "inboxes"),
            Some(&owner.access_token),
            json!({"name": "官网, \"主站\"", "channel": "web", "bot_enabled": false}),
        )
        .await
        .expect(201);
    r.body["widget_key"].as_str().unwrap().to_string()
}

/// A visitor session: (visitor token, contact id).
async fn visitor(app: &TestApp, key: &str) -> (String, String) {
    let s = app
        .post("/api/v1/widget/sessions", None, json!({"widget_key": key}))
        .await
        .expect(201);
    (
        s.body["visitor_token"].as_str().unwrap().to_string(),
        s.body["contact_id"].as_str().unwrap().to_string(),
    )
}

/// The visitor says `body`; the conversation id.
async fn say(app: &TestApp, token: &str, body: &str) -> String {
    let m = app
        .post(
            "/api/v1/widget/messages",
            Some(token),
            json!({"client_msg_id": format!("m-{}", uuid::Uuid::now_v7()), "body": body}),
        )
        .await
        .expect(201);
    m.body["conversation_id"].as_str().unwrap().to_string()
}

fn conv(owner: &Owner, id: &str, rest: &str) -> String {
    kb(owner, &format!("conversations/{id}{rest}"))
}

async fn export(app: &TestApp, token: &str, owner: &Owner, query: &str) -> Reply {
    app.get(&kb(owner, &format!("export{query}")), Some(token))
        .await
}

/// The JSON Lines as values, each checked to be one line of JSON.
fn lines(text: &str) -> Vec<Value> {
    assert!(text.ends_with('\n'), "every line ends with a newline");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `v` without the `type` tag (what the resource's own route answers).
fn untagged(v: &Value, kind: &str) -> Value {
    let mut v = v.clone();
    assert_eq!(v["type"], kind);
    v.as_object_mut().unwrap().remove("type");
    v
}

async fn jsonl_holds_every_record_of_the_workspace_and_nothing_else(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("a@example.com").await;
    let t = Some(owner.access_token.as_str());
    let key = inbox(&app, &owner).await;

    // A visitor who left their details, was answered (with a private note
    // beside), resolved and rated; another still waiting; a third who
    // never wrote.
    let (v1, c1) = visitor(&app, &key).await;
    app.call(
        reqwest::Method::PUT,
        "/api/v1/widget/contact",
        Some(&v1),
        Some(json!({"name": "王小明", "email": "xm@example.cn"})),
    )
    .await
    .expect(200);
    let first = say(&app, &v1, "你好，订单 123 还没到").await;
    app.post(
        &conv(&owner, &first, "/messages"),
        t,
        json!({"body": "马上为您查询", "client_msg_id": "a-1"}),
    )
    .await
    .expect(201);
    app.post(
        &conv(&owner, &first, "/messages"),
        t,
        json!({"body": "内部备注：物流延误", "private": true, "client_msg_id": "a-2"}),
    )
    .await
    .expect(201);
    app.post(&conv(&owner, &first, "/resolve"), t, json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/api/v1/widget/conversations/{first}/rating"),
        Some(&v1),
        json!({"score": 4, "comment": "还行, \"挺快\""}),
    )
    .await
    .expect(200);
    let (v2, c2) = visitor(&app, &key).await;
    let second = say(&app, &v2, "hello").await;
    say(&app, &v2, "anyone there?").await;
    let (_, c3) = visitor(&app, &key).await;
    // Articles: live ones (a draft included), not a deleted one.
    let articles = seed(&app, &owner).await;
    app.post(
        &kb(&owner, "kb/articles"),
        t,
        json!({"title": "草稿", "body": "未发布", "status": "draft"}),
    )
    .await
    .expect(201);
    app.delete(
        &kb(
            &owner,
            &format!("kb/articles/{}", articles[2]["id"].as_str().unwrap()),
        ),
        t,
    )
    .await
    .expect(204);

    // Another workspace, whose records must not leak.
    let other = app.owner("b@example.com").await;
    let other_key = inbox(&app, &other).await;
    let (ov, other_contact) = visitor(&app, &other_key).await;
    let other_conv = say(&app, &ov, "B 的秘密消息").await;
    app.post(
        &kb(&other, "kb/articles"),
        Some(&other.access_token),
        json!({"title": "B secret article", "body": "B only"}),
    )
    .await
    .expect(201);

    let r = export(&app, &owner.access_token, &owner, "?format=jsonl")
        .await
        .expect(200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/x-ndjson"));
    let disposition = r.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with(&format!(
            "attachment; filename=\"kefu-export-{}-",
            owner.workspace_id
        )) && disposition.ends_with(".jsonl\""),
        "{disposition}"
    );
    assert_eq!(r.headers["cache-control"], "no-store");
    for leak in [
        other.workspace_id.as_str(),
        other_contact.as_str(),
        other_conv.as_str(),
        "B 的秘密消息",
        "B secret article",
    ] {
        assert!(!r.text.contains(leak), "{leak} leaked into the export");
    }
    // The default format is JSON Lines too.
    let default = export(&app, &owner.access_token, &owner, "")
        .await
        .expect(200);
    assert_eq!(lines(&default.text).len(), lines(&r.text).len());

    let records = lines(&r.text);
    let kinds: Vec<&str> = records
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    // Contacts, then each conversation followed by its messages (as the
    // conversation's own route lists them), then articles.
    let mut conversations = vec![first.clone(), second.clone()];
    conversations.sort();
    let mut expected_kinds = vec!["contact"; 3];
    let mut listed = Vec::new();
    for id in &conversations {
        let messages = app
            .get(&conv(&owner, id, "/messages?limit=200"), t)
            .await
            .expect(200)
            .body["items"]
            .as_array()
            .unwrap()
            .clone();
        expected_kinds.push("conversation");
        expected_kinds.extend(std::iter::repeat_n("message", messages.len()));
        listed.push((id, messages));
    }
    expected_kinds.extend(["article"; 3]);
    assert_eq!(kinds, expected_kinds);

    // Every record as the resource's own route answers it.
    let mut contact_ids = vec![c1, c2, c3];
    contact_ids.sort();
    for (record, id) in records[..3].iter().zip(&contact_ids) {
        let api = app
            .get(&kb(&owner, &format!("contacts/{id}")), t)
            .await
            .expect(200);
        assert_eq!(untagged(record, "contact"), api.body);
    }
    assert!(records[..3].iter().any(|c| c["name"] == "王小明"));
    let mut at = 3;
    for (id, messages) in &listed {
        let mut api = app.get(&conv(&owner, id, ""), t).await.expect(200).body;
        // The caller's unread count belongs to a reader, not to the record.
        api.as_object_mut().unwrap().remove("unread_count");
        assert_eq!(untagged(&records[at], "conversation"), api);
        let exported: Vec<Value> = records[at + 1..at + 1 + messages.len()]
            .iter()
            .map(|m| untagged(m, "message"))
            .collect();
        assert_eq!(&exported, messages);
        at += 1 + messages.len();
    }
    let first_record = records.iter().find(|v| v["id"] == first.as_str()).unwrap();
    assert_eq!(first_record["status"], "resolved");
    assert_eq!(first_record["rating"]["comment"], "还行, \"挺快\"");
    let note = records
        .iter()
        .find(|v| v["body"] == "内部备注：物流延误")
        .expect("private notes are exported");
    assert_eq!(note["private"], true);
    let listed = app
        .get(&kb(&owner, "kb/articles?limit=100"), t)
        .await
        .expect(200);
    let exported: Vec<Value> = records[at..]
        .iter()
        .map(|a| untagged(a, "article"))
        .collect();
    assert_eq!(&exported, listed.body["items"].as_array().unwrap());
    assert!(exported.iter().any(|a| a["status"] == "draft"));
    app.stop().await;
}

/// A strict RFC 4180 reader: CRLF rows, quoted cells with `""` for a quote.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => {
                assert!(cell.is_empty(), "a quote inside an unquoted cell: {cell}");
                quoted = true;
            }
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "rows end with CRLF");
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => {
                assert_ne!(c, '\n', "a bare LF outside quotes");
                cell.push(c);
            }
        }
    }
    assert!(
        !quoted && row.is_empty() && cell.is_empty(),
        "ends after a row"
    );
    rows
}

async fn csv_is_one_quoted_row_per_conversation(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("a@example.com").await;
    let t = Some(owner.access_token.as_str());
    let ws: WorkspaceId = owner.workspace_id.parse().unwrap();
    let (agent_id, agent) = app.member(&owner, "li@example.com", "supervisor").await;
    let key = inbox(&app, &owner).await;

    let (v1, c1) = visitor(&app, &key).await;
    let first = say(&app, &v1, "发票开错了").await;
    // A name as an import or an old record may hold it (the API refuses
    // control characters): a comma, quotes, a line break, Chinese.
    let tricky = "张三, \"老王\"\n第二行";
    app.store
        .update_contact(
            ws,
            c1.parse().unwrap(),
            &ContactPatch {
                name: Some(Some(tricky.into())),
                email: Some(Some("zhang@example.cn".into())),
                ..ContactPatch::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    app.patch(
        &conv(&owner, &first, ""),
        t,
        json!({"labels": ["VIP, 北京", "售后"], "priority": -5}),
    )
    .await
    .expect(200);
    app.post(
        &conv(&owner, &first, "/assign"),
        t,
        json!({"assignee_id": agent_id}),
    )
    .await
    .expect(200);
    app.post(
        &conv(&owner, &first, "/messages"),
        Some(&agent),
        json!({"body": "已重开", "client_msg_id": "a-1"}),
    )
    .await
    .expect(201);
    app.post(&conv(&owner, &first, "/resolve"), Some(&agent), json!({}))
        .await
        .expect(200);
    app.post(
        &format!("/api/v1/widget/conversations/{first}/rating"),
        Some(&v1),
        json!({"score": 5, "comment": "很好，\"满意\", thanks"}),
    )
    .await
    .expect(200);
    // A visitor's name that a spreadsheet would run as a formula.
    let (v2, c2) = visitor(&app, &key).await;
    let second = say(&app, &v2, "hi").await;
    app.patch(
        &kb(&owner, &format!("contacts/{c2}")),
        t,
        json!({"name": "=HYPERLINK(\"http://evil.example\")"}),
    )
    .await
    .expect(200);

    let r = export(&app, &owner.access_token, &owner, "?format=csv")
        .await
        .expect(200);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers["content-disposition"]
        .to_str()
        .unwrap()
        .ends_with(".csv\""));
    let body = r
        .text
        .strip_prefix('\u{feff}')
        .expect("a UTF-8 byte-order mark");
    let rows = parse_csv(body);
    assert_eq!(
        rows[0],
        [
            "id",
            "status",
            "inbox_id",
            "inbox",
            "contact_id",
            "contact_name",
            "contact_email",
            "contact_phone",
            "assignee",
            "team",
            "priority",
            "labels",
            "messages",
            "rating",
            "rating_comment",
            "created_at",
            "first_response_at",
            "resolved_at",
            "updated_at",
        ]
    );
    assert_eq!(rows.len(), 3, "a header and one row per conversation");
    let by_id: BTreeMap<&str, BTreeMap<&str, &str>> = rows[1..]
        .iter()
        .map(|row| {
            assert_eq!(row.len(), rows[0].len());
            let cells: BTreeMap<&str, &str> = rows[0]
                .iter()
                .map(String::as_str)
                .zip(row.iter().map(String::as_str))
                .collect();
            (cells["id"], cells)
        })
        .collect();
    let detail = app.get(&conv(&owner, &first, ""), t).await.expect(200).body;
    let row = &by_id[first.as_str()];
    assert_eq!(row["status"], "resolved");
    assert_eq!(row["inbox"], "官网, \"主站\"");
    assert_eq!(row["inbox_id"], detail["inbox_id"]);
    assert_eq!(row["contact_id"], c1);
    assert_eq!(row["contact_name"], tricky);
    assert_eq!(row["contact_email"], "zhang@example.cn");
    assert_eq!(row["contact_phone"], "");
    assert_eq!(row["assignee"], "Member li@example.com");
    assert_eq!(row["team"], "");
    assert_eq!(row["priority"], "-5");
    assert_eq!(row["labels"], "VIP, 北京; 售后");
    assert_eq!(row["messages"], detail["last_seq"].to_string());
    assert_eq!(row["rating"], "5");
    assert_eq!(row["rating_comment"], "很好，\"满意\", thanks");
    for time in [
        "created_at",
        "first_response_at",
        "resolved_at",
        "updated_at",
    ] {
        let at = chrono::DateTime::parse_from_rfc3339(row[time])
            .unwrap_or_else(|e| panic!("{time} = {:?}: {e}", row[time]));
        assert!(row[time].ends_with('Z'), "UTC: {}", row[time]);
        assert!(at.timestamp() > 0);
    }
    let row = &by_id[second.as_str()];
    assert_eq!(row["status"], "queued");
    assert_eq!(row["contact_name"], "'=HYPERLINK(\"http://evil.example\")");
    assert_eq!(
        (row["rating"], row["resolved_at"], row["assignee"]),
        ("", "", "")
    );
    app.stop().await;
}

async fn only_owners_export_and_each_export_is_audited(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let base = kb(&owner, "");
    let (_, admin) = app.member(&owner, "admin@example.com", "admin").await;
    export(&app, &admin, &owner, "")
        .await
        .expect_error(403, "forbidden");
    export(&app, &owner.access_token, &owner, "?format=xml")
        .await
        .expect_error(422, "validation_failed");
    // Another workspace's owner: as if it did not exist.
    let stranger = app.owner("s@example.com").await;
    export(&app, &stranger.access_token, &owner, "")
        .await
        .expect_error(404, "workspace_not_found");

    export(&app, &owner.access_token, &owner, "?format=jsonl")
        .await
        .expect(200);
    export(&app, &owner.access_token, &owner, "?format=csv")
        .await
        .expect(200);
    // API tokens: the scope, and an owner behind it.
    let token = |who: String, scopes: Value| {
        let app = &app;
        let base = base.clone();
        async move {
            let r = app
                .post(
                    &format!("{base}api-tokens"),
                    Some(&who),
                    json!({"name": "export", "scopes": scopes}),
                )
                .await
                .expect(201);
            r.body["token"].as_str().unwrap().to_string()
        }
    };
    let scoped = token(owner.access_token.clone(), json!(["export:read"])).await;
    let unscoped = token(owner.access_token.clone(), json!(["conversations:read"])).await;
    let admins = token(admin.clone(), json!(["export:read"])).await;
    export(&app, &scoped, &owner, "").await.expect(200);
    export(&app, &unscoped, &owner, "")
        .await
        .expect_error(403, "forbidden");
    export(&app, &admins, &owner, "")
        .await
        .expect_error(403, "forbidden");

    let log = app
        .get(&format!("{base}audit-log"), Some(&owner.access_token))
        .await
        .expect(200);
    let exports: Vec<(&str, &Value)> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "workspace.exported")
        .map(|e| (e["actor_kind"].as_str().unwrap(), &e["details"]))
        .collect();
    assert_eq!(
        exports,
        [
            ("api_token", &json!({"format": "jsonl"})),
            ("user", &json!({"format": "csv"})),
            ("user", &json!({"format": "jsonl"})),
        ],
        "each export, newest first; refusals leave none"
    );
    let entry = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "workspace.exported")
        .unwrap();
    assert_eq!(entry["target_type"], "workspace");
    assert_eq!(entry["target_id"], owner.workspace_id.as_str());
    assert_eq!(entry["ip"], "127.0.0.1");

    // Described in the OpenAPI document: the format and both media types.
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200).body;
    let op = &doc["paths"]["/api/v1/workspaces/{workspace_id}/export"]["get"];
    assert!(op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "format" && p["in"] == "query"));
    let content = op["responses"]["200"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/x-ndjson") && content.contains_key("text/csv"));
    app.stop().await;
}

/// The chunks of a raw `GET` answered with `Transfer-Encoding: chunked`
/// (read from the socket, so what the server wrote is what is counted).
async fn raw_chunks(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        app.addr
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    let mut rest = &raw[split + 4..];
    let mut chunks = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
        rest = &rest[eol + 2..];
        if size == 0 {
            break;
        }
        chunks.push(String::from_utf8(rest[..size].to_vec()).unwrap());
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
    chunks
}

async fn a_large_export_streams_in_chunks(b: Backend) {
    let app = TestApp::spawn(b).await;
    let owner = app.owner("o@example.com").await;
    let ws: WorkspaceId = owner.workspace_id.parse().unwrap();
    let key = inbox(&app, &owner).await;
    const PER_CONVERSATION: i64 = 400;
    let mut conversations = BTreeSet::new();
    for _ in 0..3 {
        let (v, _) = visitor(&app, &key).await;
        let id = say(&app, &v, "第一条消息").await;
        let conversation: ConversationId = id.parse().unwrap();
        for i in 2..=PER_CONVERSATION {
            let m = NewMessage {
                id: MessageId::new(),
                sender_kind: SenderKind::System,
                sender_id: None,
                sender_name: None,
                body: format!("消息 {i}：{}", "内容".repeat(40)),
                private: i % 7 == 0,
                client_msg_id: None,
                created_at: chrono::Utc::now(),
                meta: None,
            };
            app.store
                .append_message(ws, conversation, &m)
                .await
                .unwrap();
        }
        conversations.insert(id);
    }
    let chunks = raw_chunks(
        &app,
        &kb(&owner, "export?format=jsonl"),
        &owner.access_token,
    )
    .await;
    let sizes: Vec<usize> = chunks.iter().map(String::len).collect();
    assert!(
        chunks.len() >= 5,
        "written page by page, not in one piece: chunks of {sizes:?}"
    );
    assert!(
        chunks.iter().all(|c| c.ends_with('\n')),
        "each chunk is whole lines (a page): {sizes:?}"
    );
    let records = lines(&chunks.concat());
    assert_eq!(records.len(), 3 + 3 + 3 * PER_CONVERSATION as usize);
    // In order: each conversation, then its messages by seq.
    let mut current: Option<String> = None;
    let mut last_seq = 0;
    let mut seen = BTreeSet::new();
    for r in &records[3..] {
        match r["type"].as_str().unwrap() {
            "conversation" => {
                let id = r["id"].as_str().unwrap().to_string();
                assert_eq!(r["last_seq"], PER_CONVERSATION);
                seen.insert(id.clone());
                current = Some(id);
                last_seq = 0;
            }
            "message" => {
                assert_eq!(r["conversation_id"].as_str(), current.as_deref());
                assert_eq!(r["seq"], last_seq + 1);
                last_seq += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(seen, conversations);
    app.stop().await;
}
