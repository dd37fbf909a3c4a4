//! Attachments in S3-compatible object storage, as a cluster keeps them
//! (`[attachments] store = "s3://…"`), over the real S3 protocol against
//! moto's server (PyPI, installed into target/backup-tools by
//! scripts/backup-tools, which scripts/test runs; or `KEFU_TEST_MOTO_SERVER`):
//! an upload lands in the bucket and not on the replica's disk, downloads
//! stream from the bucket, and erasing the visitor deletes the object.

use kefu_testkit::{Backend, TestApp};
use object_store::ObjectStore;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "kefu-files";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xaeB`\x82";

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto() -> Moto {
    let bin = std::env::var("KEFU_TEST_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/backup-tools/bin/moto_server")
        });
    assert!(
        bin.exists(),
        "moto_server is not installed: run scripts/backup-tools (scripts/test does), or set KEFU_TEST_MOTO_SERVER"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = c.put(format!("{}/{BUCKET}", moto.endpoint)).send().await {
            assert!(
                r.status().is_success(),
                "creating the bucket: {}",
                r.status()
            );
            return moto;
        }
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn attachments_live_in_the_object_store() {
    let moto = start_moto().await;
    let endpoint = moto.endpoint.clone();
    let s3 = kefu_backup::config::S3Config {
        endpoint: Some(endpoint),
        allow_http: true,
        region: Some("us-east-1".into()),
        access_key_id: Some("kefu-test".into()),
        secret_access_key: Some(secrecy::SecretString::from("kefu-test-secret".to_string())),
        max_retries: 1,
        retry_timeout_secs: 5,
        ..Default::default()
    };
    let bucket = kefu_backup::dest::s3_store(&s3, BUCKET).unwrap();
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.attachments.store = Some(format!("s3://{BUCKET}/files"));
        s.backup.s3 = s3.clone();
    })
    .await;
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
    let s = app
        .post(
            "/api/v1/widget/sessions",
            None,
            json!({"widget_key": inbox.body["widget_key"]}),
        )
        .await
        .expect(201);
    let visitor = s.body["visitor_token"].as_str().unwrap().to_string();
    let contact = s.body["contact_id"].as_str().unwrap().to_string();
    // Larger than one 5 MiB part: a multipart upload to the store.
    let mut big = PNG.to_vec();
    big.resize(6 * 1024 * 1024 + 17, 0x5a);
    for (name, bytes) in [("截图.png", PNG.to_vec()), ("big.png", big)] {
        let up = app
            .upload("/api/v1/widget/attachments", Some(&visitor), name, &bytes)
            .await
            .expect(201);
        let id = up.body["id"].as_str().unwrap().to_string();
        let key = object_store::path::Path::from(format!("files/{}/{id}", owner.workspace_id));
        let stored = bucket.get(&key).await.expect("the object is in the bucket");
        assert_eq!(stored.bytes().await.unwrap().len(), bytes.len());
        // Nothing is left on the replica's disk (not even the staged copy).
        let local = app
            .settings
            .data_dir
            .join("attachments")
            .join(&owner.workspace_id);
        let left: Vec<_> = std::fs::read_dir(&local)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");

        let sent = app
            .post(
                "/api/v1/widget/messages",
                Some(&visitor),
                json!({"client_msg_id": format!("m-{name}"), "body": "", "attachment_ids": [id]}),
            )
            .await
            .expect(201);
        let url = sent.body["attachments"][0]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let got = app.fetch_bytes(&url).await;
        assert_eq!(got.0, 200);
        assert!(
            got.2 == bytes,
            "the same bytes back, streamed from the store"
        );
    }

    // Erasing the visitor deletes their objects.
    app.post(
        &format!("{base}/contacts/{contact}/erase"),
        Some(&owner.access_token),
        json!({}),
    )
    .await
    .expect(204);
    use futures_util::TryStreamExt;
    let left: Vec<_> = bucket
        .list(Some(&object_store::path::Path::from("files")))
        .try_collect()
        .await
        .unwrap();
    assert!(left.is_empty(), "no objects left: {left:?}");
}
