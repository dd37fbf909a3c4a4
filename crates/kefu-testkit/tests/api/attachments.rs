//! Files and images in conversations over HTTP (API-CONTRACT.md,
//! Conversations): uploads by visitors and agents, sniffed types, limits,
//! messages carrying files, and the signed download links.

use kefu_testkit::{on_both_backends, Backend, Owner, TestApp};
use serde_json::{json, Value};

on_both_backends!(
    a_visitors_image_reaches_the_agent_and_back_through_signed_links,
    uploads_are_sniffed_and_limited,
    nobody_sends_or_fetches_someone_elses_file,
    uploads_never_sent_are_deleted,
);

/// An upload nobody sends is deleted after `attachments.orphan_ttl_secs`
/// (record and file, so it stops counting against the quota); a sent one
/// stays.
async fn uploads_never_sent_are_deleted(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.attachments.orphan_ttl_secs = 1;
        s.chat.sweep_interval_secs = 1;
    })
    .await;
    let d = desk(&app).await;
    let visitor = app.visitor_token(&d.widget_key).await;
    let kept = app
        .upload("/api/v1/widget/attachments", Some(&visitor), "a.png", PNG)
        .await
        .expect(201);
    let sent = app
        .post(
            "/api/v1/widget/messages",
            Some(&visitor),
            json!({"client_msg_id": "m-1", "body": "", "attachment_ids": [kept.body["id"]]}),
        )
        .await
        .expect(201);
    let orphan = app
        .upload("/api/v1/widget/attachments", Some(&visitor), "b.png", PNG)
        .await
        .expect(201);
    let dir = app
        .settings
        .data_dir
        .join("attachments")
        .join(&d.owner.workspace_id);
    let orphan_file = dir.join(orphan.body["id"].as_str().unwrap());
    assert!(orphan_file.exists());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while orphan_file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphan upload was not deleted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.post(
        "/api/v1/widget/messages",
        Some(&visitor),
        json!({"client_msg_id": "m-2", "body": "", "attachment_ids": [orphan.body["id"]],
               "conversation_id": sent.body["conversation_id"]}),
    )
    .await
    .expect_error(404, "attachment_not_found");
    assert!(
        dir.join(kept.body["id"].as_str().unwrap()).exists(),
        "a sent file stays"
    );
    let url = sent.body["attachments"][0]["url"].as_str().unwrap();
    assert_eq!(app.fetch_bytes(url).await.0, 200);
}

/// A 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xaeB`\x82";

struct Desk {
    owner: Owner,
    base: String,
    widget_key: Value,
}

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
        widget_key: inbox.body["widget_key"].clone(),
        owner,
        base,
    }
}

async fn a_visitors_image_reaches_the_agent_and_back_through_signed_links(b: Backend) {
    let app = TestApp::spawn(b).await;
    let d = desk(&app).await;
    let owner = d.owner.access_token.as_str();
    let visitor = app.visitor_token(&d.widget_key).await;
    let up = app
        .upload(
            "/api/v1/widget/attachments",
            Some(&visitor),
            "截图.png",
            PNG,
        )
        .await
        .expect(201);
    assert_eq!(
        (
            &up.body["filename"],
            &up.body["content_type"],
            &up.body["bytes"]
        ),
        (&json!("截图.png"), &json!("image/png"), &json!(PNG.len()))
    );
    let id = up.body["id"].clone();
    // A message of files only: the text may be empty.
    let sent = app
        .post(
            "/api/v1/widget/messages",
            Some(&visitor),
            json!({"client_msg_id": "m-1", "body": "", "attachment_ids": [id]}),
        )
        .await
        .expect(201);
    let conv = sent.body["conversation_id"].as_str().unwrap().to_string();
    let files = &sent.body["attachments"];
    assert_eq!(files[0]["id"], id);
    assert_eq!(files[0]["content_type"], "image/png");
    let url = files[0]["url"]
        .as_str()
        .expect("a download link")
        .to_string();
    assert!(url.starts_with("/api/v1/attachments/"), "{url}");

    // No credentials needed (an <img src>), an inline image, sandboxed.
    let (status, headers, bytes) = app.fetch_bytes(&url).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, PNG);
    assert_eq!(headers["content-type"], "image/png");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("inline;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E6%88%AA%E5%9B%BE.png"),
        "{disposition}"
    );
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // The agent sees it in the history with a link of their own.
    let page = app
        .get(
            &format!("{}/conversations/{conv}/messages", d.base),
            Some(owner),
        )
        .await
        .expect(200);
    let theirs = page.body["items"][0]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.fetch_bytes(&theirs).await.2, PNG);
    // The agent answers with a PDF: a download, not inline.
    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
    let agent_up = app
        .upload(
            &format!("{}/attachments", d.base),
            Some(owner),
            "报价单.pdf",
            pdf,
        )
        .await
        .expect(201);
    assert_eq!(agent_up.body["content_type"], "application/pdf");
    let reply = app
        .post(
            &format!("{}/conversations/{conv}/messages", d.base),
            Some(owner),
            json!({"body": "报价单请查收", "client_msg_id": "a-1", "attachment_ids": [agent_up.body["id"]]}),
        )
        .await
        .expect(201);
    // A resend is the same message, files and all.
    let again = app
        .post(
            &format!("{}/conversations/{conv}/messages", d.base),
            Some(owner),
            json!({"body": "报价单请查收", "client_msg_id": "a-1", "attachment_ids": [agent_up.body["id"]]}),
        )
        .await
        .expect(200);
    assert_eq!(again.body["id"], reply.body["id"]);
    let mine = app
        .get(
            &format!("/api/v1/widget/conversations/{conv}/messages"),
            Some(&visitor),
        )
        .await
        .expect(200);
    let link = mine.body["items"][1]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, headers, bytes) = app.fetch_bytes(&link).await;
    assert_eq!((status.as_u16(), bytes.as_slice()), (200, &pdf[..]));
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));

    // Over the socket too: the agent's socket hears of the file with a link.
    let mut agent = app.ws(owner).await;
    let mut widget = app.ws(&visitor).await;
    let second = app
        .upload("/api/v1/widget/attachments", Some(&visitor), "2.png", PNG)
        .await
        .expect(201);
    widget
        .send(
            json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "m-2",
            "body": "", "attachment_ids": [second.body["id"]]}),
        )
        .await;
    assert_eq!(widget.recv_type("message.ack").await["seq"], 3);
    let seen = agent.recv_type("message.created").await;
    let link = seen["message"]["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.fetch_bytes(&link).await.2, PNG);
    app.stop().await;
}

async fn uploads_are_sniffed_and_limited(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.attachments.max_bytes = 4096;
        s.attachments.workspace_quota_bytes = 6000;
        s.attachments.max_per_message = 2;
    })
    .await;
    let d = desk(&app).await;
    // The widget is told the limits, to refuse a file before sending it.
    let session = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": d.widget_key}),
        )
        .await
        .expect(201);
    assert_eq!(
        session.body["attachments"],
        json!({"max_bytes": 4096, "max_per_message": 2})
    );
    let visitor = app.visitor_token(&d.widget_key).await;
    let up = |name: &'static str, bytes: Vec<u8>| {
        let (app, visitor) = (&app, visitor.clone());
        async move {
            app.upload("/api/v1/widget/attachments", Some(&visitor), name, &bytes)
                .await
        }
    };
    // The bytes decide, not the name: an HTML page named .png is text.
    let html = up(
        "cat.png",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )
    .await
    .expect(201);
    assert_eq!(html.body["content_type"], "text/plain");
    up("setup.png", b"MZ\x90\0\x03\0\0\0\x04\0".to_vec())
        .await
        .expect_error(415, "unsupported_media_type");
    up("big.txt", vec![b'a'; 4097])
        .await
        .expect_error(413, "payload_too_large");
    up("ok.txt", vec![b'a'; 4096]).await.expect(201);
    // 38 + 4096 bytes stored: another 4,000 would pass the 6,000 quota.
    up("more.txt", vec![b'b'; 4000])
        .await
        .expect_error(413, "storage_quota_exceeded");
    let small = up("small.txt", vec![b'c'; 10]).await.expect(201);
    // Not multipart, or without a `file` part.
    app.post(
        "/api/v1/widget/attachments",
        Some(&visitor),
        json!({"file": "x"}),
    )
    .await
    .expect_error(400, "invalid_multipart");
    // Too many files on one message, or the same one twice.
    let ids = [html.body["id"].clone(), small.body["id"].clone()];
    for (files, reason) in [
        (json!([ids[0], ids[1], ids[1]]), "too_many"),
        (json!([ids[0], ids[0]]), "duplicate"),
    ] {
        let r = app
            .post(
                "/api/v1/widget/messages",
                Some(&visitor),
                json!({"client_msg_id": format!("m-{reason}"), "body": "", "attachment_ids": files}),
            )
            .await
            .expect_error(422, "validation_failed");
        assert_eq!(r.body["details"]["fields"]["attachment_ids"], reason);
    }
    // No text and no files is still refused.
    app.post(
        "/api/v1/widget/messages",
        Some(&visitor),
        json!({"client_msg_id": "m-empty", "body": " "}),
    )
    .await
    .expect_error(422, "validation_failed");
    // Nothing half-written is left behind: the refused uploads' files are gone.
    let dir = app
        .settings
        .data_dir
        .join("attachments")
        .join(&d.owner.workspace_id);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| !n.ends_with(".part")), "{names:?}");
    app.stop().await;
}

async fn nobody_sends_or_fetches_someone_elses_file(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.attachments.url_ttl_secs = 1).await;
    let d = desk(&app).await;
    let alice = app.visitor_token(&d.widget_key).await;
    let mallory = app.visitor_token(&d.widget_key).await;
    let up = app
        .upload(
            "/api/v1/widget/attachments",
            Some(&alice),
            "id-card.png",
            PNG,
        )
        .await
        .expect(201);
    let id = up.body["id"].clone();
    // Someone else's upload is refused like a missing one.
    for token in [&mallory, &d.owner.access_token] {
        let path = if token == &mallory {
            "/api/v1/widget/messages".to_string()
        } else {
            // The owner needs a conversation to try it in.
            let conv = app
                .post(
                    "/api/v1/widget/messages",
                    Some(&mallory),
                    json!({"client_msg_id": "x-1", "body": "hi"}),
                )
                .await
                .expect(201)
                .body["conversation_id"]
                .as_str()
                .unwrap()
                .to_string();
            format!("{}/conversations/{conv}/messages", d.base)
        };
        app.post(
            &path,
            Some(token),
            json!({"client_msg_id": "steal", "body": "", "attachment_ids": [id]}),
        )
        .await
        .expect_error(404, "attachment_not_found");
    }
    let sent = app
        .post(
            "/api/v1/widget/messages",
            Some(&alice),
            json!({"client_msg_id": "a-1", "body": "证件", "attachment_ids": [id]}),
        )
        .await
        .expect(201);
    let url = sent.body["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    // A forged or altered link finds nothing.
    let forged = url.replace("sig=", "sig=A");
    let (status, _, _) = app.fetch_bytes(&forged).await;
    assert_eq!(status, 404);
    let other_ws = url.replace(&d.owner.workspace_id, &uuid::Uuid::now_v7().to_string());
    assert_eq!(app.fetch_bytes(&other_ws).await.0, 404);
    let (status, _, _) = app.fetch_bytes(&url).await;
    assert_eq!(status, 200);
    // And a link past its time is gone.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = app.get(&url, None).await;
    r.expect_error(410, "link_expired");
    app.stop().await;
}
