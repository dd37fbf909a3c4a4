//! `TestApp::spawn` starts a real Kefu server — the same `App` the binary
//! runs — on 127.0.0.1:0 with a fresh database (SQLite file or a new
//! PostgreSQL database) and a fresh data dir, and offers one helper per
//! endpoint the suites need. Nothing is mocked.
#![forbid(unsafe_code)]

use kefu::Settings;
use kefu_domain::store::Store;
use kefu_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each listed async case `fn(Backend)` once per backend:
/// `sqlite::case` and `postgres::case`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $case() { super::$case($crate::Backend::Sqlite).await; } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $case() { super::$case($crate::Backend::Postgres).await; } )*
        }
    };
}

pub const PASSWORD: &str = "correct horse battery staple";

/// The key-encryption key of cluster test replicas (a test value).
pub const TEST_SECRETS_KEY: &str =
    "6b65667520746573742073656372657473206b6579202d206e6f742061206b65";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub settings: Settings,
    db: Option<TestDb>,
    _data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

/// One HTTP answer, body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The error envelope's code.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(self.code(), code, "unexpected code; body: {}", self.text);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "envelope has a message: {}",
            self.text
        );
        self
    }
}

/// A workspace with a signed-in owner.
#[derive(Debug, Clone)]
pub struct Owner {
    pub workspace_id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with settings adjusted by `tune` (after the test defaults).
    pub async fn spawn_with(backend: Backend, tune: impl FnOnce(&mut Settings)) -> Self {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => TestDb::postgres().await,
        };
        let data = tempfile::tempdir().expect("temp data dir");
        // SQLite runs with the in-process bus, PostgreSQL with the cluster's
        // Redis bus (DESIGN.md §11): the same suite covers both set-ups.
        let redis_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(std::env::var("KEFU_TEST_REDIS_URL").unwrap_or_else(|_| {
                panic!(
                    "KEFU_TEST_REDIS_URL is not set. PostgreSQL tests run on the Redis bus, e.g. \
                     KEFU_TEST_REDIS_URL=redis://127.0.0.1:6379 (scripts/test sets it; or skip them \
                     with `cargo test -- --skip postgres`)"
                )
            })),
        };
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            data_dir: data.path().to_path_buf(),
            database_url: Some(db.url.clone()),
            redis_url,
            ..Settings::default()
        };
        // Cheaper hashing keeps the suites fast; the production cost is a
        // setting like any other and is exercised by the benchmarks.
        settings.auth.service.argon2_memory_kib = 4096;
        settings.auth.service.argon2_iterations = 1;
        settings.database.max_connections = 4;
        if settings.redis_url.is_some() {
            // A cluster replica must be given its signing key. One per app:
            // the limit counters in the shared Redis are named after it, so
            // parallel tests (all from 127.0.0.1) do not count together.
            settings.auth.signing_key =
                Some(format!("kefu-test-signing-key-{}", uuid::Uuid::now_v7().simple()).into());
            // … and its key-encryption key.
            settings.secrets.key = Some(TEST_SECRETS_KEY.to_string().into());
        }
        tune(&mut settings);
        let app = kefu::App::build(settings.clone()).await.expect("build app");
        let addr = app.local_addr();
        let store = app.store();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run(async move {
                let _ = rx.await;
            })
            .await
            .map_err(|e| format!("{e:#}"))
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        let app = Self {
            addr,
            client,
            store,
            settings,
            db: Some(db),
            _data: data,
            stop: Some(tx),
            server: Some(server),
        };
        // The Redis bus connects in the background (a replica starts
        // unready until it has): wait for it as a load balancer would.
        if app.settings.redis_url.is_some() {
            let mut ready = false;
            for _ in 0..100 {
                if app.get("/readyz", None).await.body["checks"]["bus"] == "ok" {
                    ready = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert!(ready, "the Redis bus did not connect within 5 s");
        }
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request; `body` as JSON when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::reply(req.send().await.expect("request sent")).await
    }

    pub async fn reply(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// Uploads `bytes` as `multipart/form-data` with one part `file` named
    /// `filename` (the body written out by hand: what any client sends).
    pub async fn upload(
        &self,
        path: &str,
        token: Option<&str>,
        filename: &str,
        bytes: &[u8],
    ) -> Reply {
        let boundary = format!("kefu-test-{}", uuid::Uuid::now_v7().simple());
        let mut body = Vec::with_capacity(bytes.len() + 256);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut req = self
            .client
            .post(self.url(path))
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::reply(req.send().await.expect("request sent")).await
    }

    /// GET without credentials, the body as bytes: (status, headers, body).
    pub async fn fetch_bytes(
        &self,
        path: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let res = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent");
        let (status, headers) = (res.status(), res.headers().clone());
        (
            status,
            headers,
            res.bytes().await.unwrap_or_default().to_vec(),
        )
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::DELETE, path, token, None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Creates a workspace and owner the way the CLI does, then signs in.
    pub async fn owner(&self, email: &str) -> Owner {
        let services = kefu::app::services(&self.settings, self.store.clone()).expect("services");
        let (ws, _) = services
            .create_owner(email, "Owner", &format!("WS of {email}"), PASSWORD)
            .await
            .expect("create owner");
        let login = self.login(email, PASSWORD).await.expect(200);
        Owner {
            workspace_id: ws.to_string(),
            email: email.to_string(),
            access_token: login.body["access_token"].as_str().unwrap().to_string(),
            refresh_token: login.body["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    /// Invites `email` with `role` into the owner's workspace, accepts, signs
    /// in; returns (user id, access token).
    pub async fn member(&self, owner: &Owner, email: &str, role: &str) -> (String, String) {
        let inv = self
            .post(
                &format!("/api/v1/workspaces/{}/invitations", owner.workspace_id),
                Some(&owner.access_token),
                json!({ "email": email, "role": role }),
            )
            .await
            .expect(201);
        let user = self
            .post(
                "/api/v1/invitations/accept",
                None,
                json!({ "token": inv.body["token"], "name": format!("Member {email}"), "password": PASSWORD }),
            )
            .await
            .expect(201);
        let login = self.login(email, PASSWORD).await.expect(200);
        (
            user.body["id"].as_str().unwrap().to_string(),
            login.body["access_token"].as_str().unwrap().to_string(),
        )
    }

    /// A new widget session's visitor token for the inbox with this key.
    pub async fn visitor_token(&self, widget_key: &Value) -> String {
        self.post(
            "/api/v1/widget/sessions",
            None,
            json!({ "widget_key": widget_key }),
        )
        .await
        .expect(201)
        .body["visitor_token"]
            .as_str()
            .expect("a visitor token")
            .to_string()
    }

    /// Sends the shutdown signal (like SIGTERM) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Sends the shutdown signal and waits for the server to return (its
    /// drain included), keeping the database for inspection through
    /// `store`; [`TestApp::stop`] still drops it.
    pub async fn shut_down(&mut self) {
        self.begin_shutdown();
        if let Some(h) = self.server.take() {
            let res = h.await.expect("server task");
            assert!(res.is_ok(), "server ended with an error: {res:?}");
        }
    }

    /// Stops the server (draining) and drops the test database.
    pub async fn stop(mut self) {
        self.shut_down().await;
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }
}

/// A real WebSocket client for `/ws`.
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl std::fmt::Debug for WsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsClient")
    }
}

impl TestApp {
    /// Opens `/ws?token=…` and returns the client after the `hello` frame.
    pub async fn ws(&self, token: &str) -> WsClient {
        let url = format!("ws://{}/ws?token={}", self.addr, token);
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("socket opens");
        let mut c = WsClient { stream };
        let hello = c.recv().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        assert_eq!(hello["protocol"], 1);
        c
    }

    /// Tries to open a socket: the client, or the HTTP status of the refusal.
    pub async fn ws_try(&self, token: &str) -> Result<WsClient, u16> {
        self.ws_try_from(token, None).await
    }

    /// Like [`TestApp::ws_try`], as a page on `origin` would connect.
    pub async fn ws_try_from(&self, token: &str, origin: Option<&str>) -> Result<WsClient, u16> {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
        self.ws_try_with(Some(token), &headers).await
    }

    /// Opens `/ws` (with `?token=` when given) sending these headers (a
    /// browser's `cookie` and `origin`, say).
    pub async fn ws_try_with(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = match token {
            Some(t) => format!("ws://{}/ws?token={t}", self.addr),
            None => format!("ws://{}/ws", self.addr),
        };
        let mut req = url.into_client_request().expect("socket request");
        for (name, value) in headers {
            req.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                    .expect("header name"),
                value.parse().expect("header value"),
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((stream, _)) => {
                let mut c = WsClient { stream };
                assert_eq!(c.recv().await["type"], "hello");
                Ok(c)
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// The HTTP status with which a socket is refused.
    pub async fn ws_refused(&self, token: &str) -> u16 {
        match self.ws_try(token).await {
            Ok(_) => panic!("the socket was accepted"),
            Err(status) => status,
        }
    }
}

impl WsClient {
    pub async fn send(&mut self, frame: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(
                frame.to_string().into(),
            ))
            .await
            .expect("frame sent");
    }

    pub async fn send_raw(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(
                text.to_string().into(),
            ))
            .await
            .expect("frame sent");
    }

    /// The next JSON frame (5 s at most).
    pub async fn recv(&mut self) -> Value {
        use futures_util::StreamExt;
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(5), self.stream.next())
                .await
                .expect("a frame within 5 s")
                .expect("socket open")
                .expect("frame read");
            match msg {
                tokio_tungstenite::tungstenite::Message::Text(t) => {
                    return serde_json::from_str(t.as_str()).expect("JSON frame")
                }
                tokio_tungstenite::tungstenite::Message::Close(c) => {
                    return json!({"type": "closed", "code": c.map(|c| u16::from(c.code))})
                }
                _ => continue,
            }
        }
    }

    /// Reads until the server ends the socket (a close frame, end of stream
    /// or a reset), for at most `secs`; returns the text frames read, or
    /// `None` if the socket was still open when time ran out.
    pub async fn drain_until_closed(&mut self, secs: u64) -> Option<Vec<Value>> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        let mut frames = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) | Ok(Some(Err(_))) => return Some(frames),
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))) => {
                    return Some(frames)
                }
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                    frames.push(serde_json::from_str(t.as_str()).expect("JSON frame"))
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Reads until the server closes the socket, for at most `secs`; returns
    /// the close code. Panics if the socket stays open or ends without a
    /// close frame.
    pub async fn close_code(&mut self, secs: u64) -> u16 {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the socket was still open after {secs} s"),
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(c))))) => {
                    return u16::from(c.code)
                }
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(None)))) => {
                    panic!("closed without a code")
                }
                Ok(None) | Ok(Some(Err(_))) => panic!("the socket ended without a close frame"),
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// The next frame of this `type`, skipping others (5 s at most each).
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let f = self.recv().await;
            if f["type"] == kind {
                return f;
            }
        }
    }

    /// Whether no frame arrives within `ms` milliseconds.
    pub async fn silent_for(&mut self, ms: u64) -> bool {
        use futures_util::StreamExt;
        tokio::time::timeout(std::time::Duration::from_millis(ms), self.stream.next())
            .await
            .is_err()
    }
}
