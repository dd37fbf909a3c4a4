//! A cluster on one machine: two or three real `kefu serve` processes on one fresh
//! PostgreSQL database (`KEFU_TEST_DATABASE_URL`'s server) and one Redis
//! (`KEFU_TEST_REDIS_URL`), each on its own port with its own data dir and
//! the same signing key. Redis is reached through a proxy the test can cut,
//! so an outage is played to these replicas only — other tests sharing the
//! server are not disturbed. Children are killed and the database dropped
//! even when a test fails (see `Cluster`'s `Drop`).

use futures_util::{SinkExt, StreamExt};
use kefu_bus::testing::{redis_url, RedisProxy};
use kefu_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as Frame;

const BIN: &str = env!("CARGO_BIN_EXE_kefu");
const PASSWORD: &str = "a-long-password";
const OWNER: &str = "owner@example.com";

/// One `kefu serve` child; its stderr (JSON logs) is kept for diagnosis.
struct Replica {
    name: &'static str,
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn ws_url(&self, token: &str) -> String {
        format!("{}/ws?token={token}", self.base.replacen("http", "ws", 1))
    }

    /// The prefix of this process's Redis connection names.
    fn redis_client_name(&self) -> String {
        format!("kefu-bus-{}-", self.child.id())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The replicas and what they share. `Drop` kills the children and drops
/// the database, on success and on panic alike.
struct Cluster {
    replicas: Vec<Replica>,
    proxy: RedisProxy,
    db: Option<TestDb>,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            r.kill();
            if std::thread::panicking() {
                let log = r.log.lock().unwrap();
                let tail = &log[log.len().saturating_sub(40)..];
                eprintln!(
                    "--- replica {} (last log lines) ---\n{}",
                    r.name,
                    tail.join("\n")
                );
            }
        }
        if let Some(db) = self.db.take() {
            // Dropping happens outside any runtime's async context.
            let _ = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(db.cleanup())
            })
            .join();
        }
    }
}

impl Cluster {
    /// Replicas A, B and C.
    async fn start() -> Self {
        Self::start_with(&["A", "B", "C"], &[]).await
    }

    /// Replicas named `names`, with `env` over the test defaults.
    async fn start_with(names: &[&'static str], overrides: &[(&str, &str)]) -> Self {
        let db = TestDb::postgres().await;
        let proxy = RedisProxy::start(&redis_url()).await;
        let mut env: Vec<(String, String)> = vec![
            ("KEFU_DATABASE_URL".into(), db.url.clone()),
            ("KEFU_REDIS_URL".into(), proxy.url().to_string()),
            // A key of its own: limit counters in the shared Redis are named
            // after it, so clusters of parallel tests do not count together.
            (
                "KEFU_AUTH__SIGNING_KEY".into(),
                format!("cluster-test-signing-key-{:032x}", rand::random::<u128>()),
            ),
            (
                "KEFU_SECRETS__KEY".into(),
                "636c75737465722074657374206b65792d656e6372797074696f6e2d6b657921".into(),
            ),
            ("KEFU_AUTH__ARGON2_MEMORY_KIB".into(), "4096".into()),
            ("KEFU_AUTH__ARGON2_ITERATIONS".into(), "1".into()),
            ("KEFU_HTTP__RATE_LIMIT__ENABLED".into(), "false".into()),
            // Its sockets send in bursts (50 messages at once) to test
            // failover, not the per-socket limits.
            ("KEFU_CHAT__SOCKET_MESSAGE_BURST".into(), "10000".into()),
            ("KEFU_CHAT__VISITOR_MESSAGE_BURST".into(), "10000".into()),
            ("KEFU_CHAT__SOCKET_FRAME_BURST".into(), "10000".into()),
            ("KEFU_HTTP__SHUTDOWN_GRACE_SECS".into(), "1".into()),
            ("KEFU_LOG_FORMAT".into(), "json".into()),
            ("KEFU_LOG_FILTER".into(), "info".into()),
        ];
        // Later entries win (a `Command`'s environment is a map).
        env.extend(
            overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut cluster = Self {
            replicas: Vec::new(),
            proxy,
            db: Some(db),
            env,
            dir: tempfile::tempdir().unwrap(),
            http: reqwest::Client::new(),
        };
        // The CLI migrates; the replicas then start on a ready schema.
        cluster.create_owner();
        let spawned: Vec<_> = names.iter().map(|name| cluster.spawn(name)).collect();
        for (name, child, addr, log) in spawned {
            let addr = addr
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!("replica {name} did not start: {:?}", log.lock().unwrap())
                });
            cluster.replicas.push(Replica {
                name,
                child,
                base: format!("http://{addr}"),
                log,
            });
        }
        cluster
    }

    fn kefu(&self, data_dir: &Path) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--data-dir").arg(data_dir);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KEFU_")) {
            c.env_remove(k);
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn create_owner(&self) {
        let mut child = self
            .kefu(&self.dir.path().join("cli"))
            .args([
                "admin",
                "create-owner",
                "--email",
                OWNER,
                "--name",
                "Owner",
                "--workspace",
                "客服",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[allow(clippy::type_complexity)]
    fn spawn(
        &self,
        name: &'static str,
    ) -> (
        &'static str,
        Child,
        std::sync::mpsc::Receiver<String>,
        Arc<Mutex<Vec<String>>>,
    ) {
        let mut child = self
            .kefu(&self.dir.path().join(name))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if let Some(addr) = v["addr"].as_str() {
                        let _ = tx.send(addr.to_string());
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        (name, child, rx, log)
    }

    fn replica(&self, i: usize) -> &Replica {
        &self.replicas[i]
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("the replica answers");
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(
        &self,
        r: usize,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::POST,
            self.replica(r).url(path),
            token,
            Some(body),
        )
        .await
    }

    async fn get(&self, r: usize, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, self.replica(r).url(path), token, None)
            .await
    }

    /// Signs in on replica `r`: (access token, user id, workspace id).
    async fn login(&self, r: usize, email: &str) -> (String, String, String) {
        let (status, body) = self
            .post(
                r,
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["user"]["id"].as_str().unwrap().to_string(),
            body["workspaces"][0]["id"].as_str().unwrap().to_string(),
        )
    }

    /// A bot-less web inbox (visitors go straight to the queue): its widget key.
    async fn inbox(&self, ws: &str, token: &str) -> String {
        let (status, body) = self
            .post(
                0,
                &format!("/api/v1/workspaces/{ws}/inboxes"),
                Some(token),
                json!({"name": "Web", "channel": "web", "bot_enabled": false}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["widget_key"].as_str().unwrap().to_string()
    }

    /// A new visitor's token, from replica `r`.
    async fn visitor(&self, r: usize, widget_key: &str) -> String {
        let (status, body) = self
            .post(
                r,
                "/api/v1/widget/sessions",
                None,
                json!({"widget_key": widget_key}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["visitor_token"].as_str().unwrap().to_string()
    }

    /// A conversation's messages as the owner reads them on replica `r`.
    async fn messages(&self, r: usize, ws: &str, conv: &str, owner: &str) -> Vec<Value> {
        let path = format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages?limit=200");
        let (status, page) = self.get(r, &path, Some(owner)).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    async fn readyz(&self, r: usize) -> (StatusCode, Value) {
        self.get(r, "/readyz", None).await
    }

    /// Polls every replica's `/readyz` until each answers `status`.
    async fn wait_ready(&self, status: StatusCode, within: Duration) {
        let deadline = Instant::now() + within;
        for r in 0..self.replicas.len() {
            loop {
                let (got, body) = self.readyz(r).await;
                if got == status {
                    let bus = if status == 200 { "ok" } else { "unavailable" };
                    assert_eq!(body["checks"]["bus"], bus, "{body}");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "replica {} /readyz still {got} {body} after {within:?}",
                    self.replica(r).name
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A WebSocket client speaking protocol 1.
struct Socket {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    async fn open(url: String) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("socket opens");
        let mut s = Self { ws };
        let hello = s.expect("hello", |f| f["type"] == "hello").await;
        assert_eq!(hello["protocol"], 1);
        s
    }

    async fn send(&mut self, frame: Value) {
        self.ws
            .send(Frame::text(frame.to_string()))
            .await
            .expect("frame sent");
    }

    /// The next JSON frame; `None` when the socket ends or nothing comes in time.
    async fn next(&mut self, within: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(within, self.ws.next()).await {
                Ok(Some(Ok(Frame::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).unwrap())
                }
                Ok(Some(Ok(Frame::Close(_)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => {
                    return None
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Skips frames until one matches (5 s at most).
    async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(f) if pred(&f) => return f,
                Some(_) => {}
                None => panic!("no {what} within 5 s"),
            }
        }
    }

    async fn send_message(
        &mut self,
        conversation_id: Option<&str>,
        client_msg_id: &str,
        body: &str,
    ) {
        let mut frame =
            json!({"type": "message.send", "client_msg_id": client_msg_id, "body": body});
        if let Some(c) = conversation_id {
            frame["conversation_id"] = json!(c);
        }
        self.send(frame).await;
    }

    async fn ack(&mut self, client_msg_id: &str) -> Value {
        let ack = self
            .expect(&format!("ack of {client_msg_id}"), |f| {
                f["client_msg_id"] == client_msg_id
                    && (f["type"] == "message.ack" || f["type"] == "error")
            })
            .await;
        assert_eq!(ack["type"], "message.ack", "{ack}");
        ack
    }

    /// `sync` from `after_seq`: the replayed messages (a `ping` marks the end
    /// of the replay, since frames are answered in order).
    async fn sync(&mut self, conversation_id: &str, after_seq: i64) -> Vec<Value> {
        self.send(
            json!({"type": "sync", "conversation_id": conversation_id, "after_seq": after_seq}),
        )
        .await;
        self.send(json!({"type": "ping"})).await;
        let mut out = Vec::new();
        loop {
            let f = self
                .next(Duration::from_secs(5))
                .await
                .expect("sync answered");
            match f["type"].as_str() {
                Some("pong") => return out,
                Some("message.created") if f["conversation_id"] == conversation_id => out.push(f),
                Some("error") => panic!("sync failed: {f}"),
                _ => {}
            }
        }
    }
}

/// Cross-replica delivery both ways: a visitor on replica `v` writes, the
/// agent's socket on replica `a` hears it; the agent answers over REST on
/// replica `rest`, and the visitor hears that.
async fn converse(
    c: &Cluster,
    visitor: &mut Socket,
    agent: &mut Socket,
    (ws, owner): (&str, &str),
    conversation: Option<&str>,
    rest: usize,
    tag: &str,
) -> String {
    let id = format!("v-{tag}");
    visitor
        .send_message(conversation, &id, &format!("你好 {tag}"))
        .await;
    let ack = visitor.ack(&id).await;
    let conv = ack["conversation_id"].as_str().unwrap().to_string();
    let seq = ack["seq"].as_i64().unwrap();
    let heard = agent
        .expect(
            &format!("the visitor's {tag} on the agent's replica"),
            |f| {
                f["type"] == "message.created"
                    && f["conversation_id"] == conv.as_str()
                    && f["seq"] == seq
            },
        )
        .await;
    assert_eq!(heard["message"]["sender"]["type"], "visitor");
    let (status, reply) = c
        .post(
            rest,
            &format!("/api/v1/workspaces/{ws}/conversations/{conv}/messages"),
            Some(owner),
            json!({"body": format!("马上为您查询 {tag}"), "client_msg_id": format!("a-{tag}")}),
        )
        .await;
    assert_eq!(status, 201, "{reply}");
    let reply_seq = reply["seq"].as_i64().unwrap();
    assert_eq!(reply_seq, seq + 1);
    let heard = visitor
        .expect(
            &format!("the agent's {tag} on the visitor's replica"),
            |f| f["type"] == "message.created" && f["seq"] == reply_seq,
        )
        .await;
    assert_eq!(heard["message"]["sender"]["type"], "agent");
    conv
}

/// `(id, name)` of the Redis clients whose name starts with `prefix`.
async fn redis_clients(prefix: &str) -> Vec<(String, String)> {
    let mut con = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("KEFU_TEST_REDIS_URL answers");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut con)
        .await
        .unwrap();
    list.lines()
        .filter_map(|line| {
            let field = |k: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                    .map(str::to_string)
            };
            let name = field("name")?;
            name.starts_with(prefix)
                .then(|| (field("id").unwrap(), name))
        })
        .collect()
}

async fn redis_kill(id: &str) {
    let mut con = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut con)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_chat_crosses_replicas_and_survives_redis_and_replica_failures() {
    let started = Instant::now();
    let mut c = Cluster::start().await;
    c.wait_ready(StatusCode::OK, Duration::from_secs(10)).await;
    let (owner, _, ws) = c.login(0, OWNER).await;
    let key = c.inbox(&ws, &owner).await;
    let visitor_token = c.visitor(2, &key).await;
    let me = (ws.as_str(), owner.as_str());

    // Visitor on A, agent on B, the agent's REST reply through C.
    let mut visitor = Socket::open(c.replica(0).ws_url(&visitor_token)).await;
    let mut agent = Socket::open(c.replica(1).ws_url(&owner)).await;
    let conv = converse(&c, &mut visitor, &mut agent, me, None, 2, "1").await;

    // Redis goes away: every replica says so on /readyz, and heals.
    c.proxy.cut();
    c.wait_ready(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(5))
        .await;
    c.proxy.restore();
    c.wait_ready(StatusCode::OK, Duration::from_secs(15)).await;
    // Sockets that stayed open through the outage may have missed the other
    // replicas' events: each is told to catch up with `sync`.
    for (who, socket) in [("visitor", &mut visitor), ("agent", &mut agent)] {
        socket
            .expect(
                &format!("events_missed for the {who} after the outage"),
                |f| f["type"] == "error" && f["code"] == "events_missed",
            )
            .await;
    }
    converse(&c, &mut visitor, &mut agent, me, Some(&conv), 2, "2").await;

    // Each replica's two connections are named after its process; killed,
    // they come back and the replicas hear each other again.
    for r in &c.replicas {
        let named = redis_clients(&r.redis_client_name()).await;
        assert_eq!(named.len(), 2, "replica {}: {named:?}", r.name);
        for (id, _) in named {
            redis_kill(&id).await;
        }
    }
    for r in &c.replicas {
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis_clients(&r.redis_client_name()).await.len() < 2 {
            assert!(
                Instant::now() < deadline,
                "replica {} did not reconnect",
                r.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    c.wait_ready(StatusCode::OK, Duration::from_secs(10)).await;
    converse(&c, &mut visitor, &mut agent, me, Some(&conv), 2, "3").await;

    // Replica A dies (SIGKILL) in the middle of a stream of visitor sends.
    let total = 50;
    for i in 0..total {
        visitor
            .send_message(Some(&conv), &format!("s-{i}"), &format!("第 {i} 条"))
            .await;
    }
    let mut acked: BTreeMap<String, i64> = BTreeMap::new();
    let mut killed = false;
    while let Some(f) = visitor.next(Duration::from_secs(5)).await {
        if f["type"] == "message.ack" {
            acked.insert(
                f["client_msg_id"].as_str().unwrap().into(),
                f["seq"].as_i64().unwrap(),
            );
        }
        if acked.len() >= 10 && !killed {
            c.replicas[0].kill();
            killed = true;
        }
    }
    assert!(
        killed,
        "A acked only {} before the socket ended",
        acked.len()
    );
    eprintln!("A acked {} of {total} sends before it died", acked.len());
    assert!(
        acked.len() < total,
        "A answered every send before it died; nothing was in flight"
    );

    // The visitor reconnects elsewhere and resends what was never acked.
    let mut visitor = Socket::open(c.replica(1).ws_url(&visitor_token)).await;
    let unacked: Vec<usize> = (0..total)
        .filter(|i| !acked.contains_key(&format!("s-{i}")))
        .collect();
    for i in &unacked {
        let (id, body) = (format!("s-{i}"), format!("第 {i} 条"));
        visitor.send_message(Some(&conv), &id, &body).await;
    }
    for i in &unacked {
        let id = format!("s-{i}");
        let ack = visitor.ack(&id).await;
        acked.insert(id, ack["seq"].as_i64().unwrap());
    }

    // The stored log, as B and C serve it: gap-free, each acked message
    // once, at its acked seq.
    let log = c.messages(1, &ws, &conv, &owner).await;
    let ids = |log: &[Value]| -> Vec<(i64, String)> {
        log.iter()
            .map(|m| {
                (
                    m["seq"].as_i64().unwrap(),
                    m["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(ids(&log), ids(&c.messages(2, &ws, &conv, &owner).await));
    let seqs: Vec<i64> = log.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gap-free, in order"
    );
    let mut by_client: HashMap<&str, Vec<i64>> = HashMap::new();
    for m in &log {
        if let Some(id) = m["client_msg_id"].as_str() {
            by_client
                .entry(id)
                .or_default()
                .push(m["seq"].as_i64().unwrap());
        }
    }
    assert_eq!(acked.len(), total);
    for (id, seq) in &acked {
        assert_eq!(
            by_client.get(id.as_str()),
            Some(&vec![*seq]),
            "{id}: stored once, at its acked seq"
        );
    }

    // `sync` from 0 on C replays that log. (Events of the last resends may
    // still arrive live on the new socket too; a client keeps one message
    // per seq, and a seq never names two messages.)
    let mut fresh = Socket::open(c.replica(2).ws_url(&visitor_token)).await;
    let mut replayed: BTreeMap<i64, String> = BTreeMap::new();
    for f in fresh.sync(&conv, 0).await {
        let (seq, id) = (
            f["seq"].as_i64().unwrap(),
            f["message"]["id"].as_str().unwrap(),
        );
        assert_eq!(
            replayed.entry(seq).or_insert(id.to_string()),
            id,
            "seq {seq}"
        );
    }
    assert_eq!(replayed.into_iter().collect::<Vec<_>>(), ids(&log));

    // The survivors still talk to each other.
    converse(&c, &mut visitor, &mut agent, me, Some(&conv), 2, "4").await;
    eprintln!("cluster test took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_assignments_from_two_replicas_have_one_winner() {
    let c = Cluster::start().await;
    c.wait_ready(StatusCode::OK, Duration::from_secs(10)).await;
    let (owner, _, ws) = c.login(0, OWNER).await;
    let key = c.inbox(&ws, &owner).await;

    // Two agents, each signed in on their own replica.
    let mut agents = Vec::new();
    for (i, email) in ["a1@example.com", "a2@example.com"].into_iter().enumerate() {
        let (status, inv) = c
            .post(
                0,
                &format!("/api/v1/workspaces/{ws}/invitations"),
                Some(&owner),
                json!({"email": email, "role": "agent"}),
            )
            .await;
        assert_eq!(status, 201, "{inv}");
        let (status, user) = c
            .post(
                i,
                "/api/v1/invitations/accept",
                None,
                json!({"token": inv["token"], "name": format!("Agent {i}"), "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 201, "{user}");
        let (token, id, _) = c.login(i, email).await;
        agents.push((token, id));
    }

    // Queued conversations, one per visitor.
    let rounds = 12;
    let mut conversations = Vec::new();
    for i in 0..rounds {
        let token = c.visitor(i % 3, &key).await;
        let (status, m) = c
            .post(
                i % 3,
                "/api/v1/widget/messages",
                Some(&token),
                json!({"client_msg_id": "hi", "body": "有人吗"}),
            )
            .await;
        assert_eq!(status, 201, "{m}");
        conversations.push(m["conversation_id"].as_str().unwrap().to_string());
    }

    // Each conversation is claimed twice at once, from replicas A and B:
    // in even rounds each agent takes it for themselves; in odd rounds the
    // owner assigns it to each agent, expecting it still unassigned.
    for (round, conv) in conversations.iter().enumerate() {
        let path = format!("/api/v1/workspaces/{ws}/conversations/{conv}");
        let (status, before) = c.get(2, &path, Some(&owner)).await;
        assert_eq!(status, 200, "{before}");
        assert_eq!(before["status"], "queued", "{before}");
        let assign = format!("{path}/assign");
        let by_owner = round % 2 == 1;
        let take = |r: usize| {
            let (token, id) = &agents[r];
            if by_owner {
                let body = json!({"assignee_id": id, "expected_assignee_id": null});
                c.post(r, &assign, Some(&owner), body)
            } else {
                c.post(r, &assign, Some(token), json!({"assignee_id": id}))
            }
        };
        let (first, second) = tokio::join!(take(0), take(1));
        let results = [first, second];
        let winners: Vec<usize> = (0..2).filter(|&r| results[r].0 == 200).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one wins: {results:?}"
        );
        let winner = winners[0];
        let (status, loser) = &results[1 - winner];
        // The loser learns it was too late: the conversation is no longer
        // free (409), or no longer visible to them at all (404).
        assert!(
            (*status == 409
                && ["invalid_transition", "assignment_conflict"]
                    .contains(&loser["code"].as_str().unwrap_or_default()))
                || (*status == 404 && loser["code"] == "conversation_not_found"),
            "{status} {loser}"
        );
        assert_eq!(results[winner].1["assignee_id"], agents[winner].1.as_str());
        for r in 0..3 {
            let (status, seen) = c.get(r, &path, Some(&owner)).await;
            assert_eq!(status, 200, "{seen}");
            assert_eq!(
                seen["assignee_id"],
                agents[winner].1.as_str(),
                "replica {}",
                c.replica(r).name
            );
            assert_eq!(seen["status"], "assigned");
        }
    }
}

impl Cluster {
    /// Restarts replica `r` on the same data dir (so on its own on-disk
    /// index, which it must reconcile with the database at start).
    async fn restart(&mut self, r: usize) {
        let name = self.replicas[r].name;
        self.replicas[r].kill();
        let (_, child, addr, log) = self.spawn(name);
        let addr = addr
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!("replica {name} did not restart: {:?}", log.lock().unwrap())
            });
        self.replicas[r] = Replica {
            name,
            child,
            base: format!("http://{addr}"),
            log,
        };
    }

    /// Article ids of replica `r`'s search hits for `q`.
    async fn search(&self, r: usize, ws: &str, token: &str, q: &str) -> Vec<String> {
        let path = format!("/api/v1/workspaces/{ws}/kb/search?q={}", urlencode(q));
        let (status, body) = self.get(r, &path, Some(token)).await;
        assert_eq!(status, 200, "{body}");
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["article_id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Replaces the synonym groups at `path` through replica `r`.
    async fn put_synonyms(&self, r: usize, path: &str, token: &str, groups: Value) {
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                self.replica(r).url(path),
                Some(token),
                Some(json!({ "groups": groups })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Polls replica `r`'s search for `q` until `want(hits)` holds (5 s).
    async fn until_search(
        &self,
        r: usize,
        ws: &str,
        token: &str,
        q: &str,
        what: &str,
        want: impl Fn(&[String]) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let hits = self.search(r, ws, token, q).await;
            if want(&hits) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica {}: {what} for {q:?}, hits {hits:?}",
                self.replica(r).name
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every replica keeps its own search index; a change made through one
/// replica reaches the others' indexes over the bus, and a replica that was
/// down when it happened catches up from the database when it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_changes_reach_every_replicas_index() {
    let mut c = Cluster::start().await;
    c.wait_ready(StatusCode::OK, Duration::from_secs(10)).await;
    let (owner, _, ws) = c.login(0, OWNER).await;
    let articles = format!("/api/v1/workspaces/{ws}/kb/articles");

    // Created on A: B and C find it.
    let (status, article) = c
        .post(
            0,
            &articles,
            Some(&owner),
            json!({
                "title": "如何申请退款",
                "body": "在订单页面点击申请退款，三个工作日内原路退回。",
                "questions": ["退款多久到账"],
                "external_id": "refund"
            }),
        )
        .await;
    assert_eq!(status, 201, "{article}");
    let id = article["id"].as_str().unwrap().to_string();
    for r in [1, 2] {
        c.until_search(r, &ws, &owner, "退款", "the new article is found", |h| {
            h.first() == Some(&id)
        })
        .await;
    }
    let (status, kb) = c
        .get(
            1,
            &format!("/api/v1/workspaces/{ws}/kb/status"),
            Some(&owner),
        )
        .await;
    assert_eq!(status, 200, "{kb}");
    assert_eq!(kb["articles"], 1, "{kb}");
    assert_eq!(kb["indexed"], 1, "{kb}");
    assert_eq!(kb["pending"], 0, "{kb}");

    // Edited on B: A and C search the new text, not the old.
    let (status, edited) = c
        .call(
            reqwest::Method::PUT,
            c.replica(1).url(&format!("{articles}/{id}")),
            Some(&owner),
            Some(json!({
                "title": "Refund policy",
                "body": "Refunds reach your card within three working days.",
                "locale": "en",
                "external_id": "refund",
                "version": article["version"]
            })),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    for r in [0, 2] {
        c.until_search(r, &ws, &owner, "refunds card", "the edit is found", |h| {
            h.first() == Some(&id)
        })
        .await;
        c.until_search(r, &ws, &owner, "退款", "the old text is gone", |h| {
            h.is_empty()
        })
        .await;
    }
    // The bot on C answers from the edited article.
    let (status, asked) = c
        .post(
            2,
            &format!("/api/v1/workspaces/{ws}/bot/ask"),
            Some(&owner),
            json!({"question": "refund policy"}),
        )
        .await;
    assert_eq!(status, 200, "{asked}");
    assert_ne!(asked["decision"], "handoff", "{asked}");
    let cited: Vec<&Value> = asked["citations"]
        .as_array()
        .unwrap()
        .iter()
        .chain(asked["suggestions"].as_array().unwrap())
        .collect();
    assert_eq!(cited[0]["external_id"], "refund", "{asked}");

    // Deleted on C: gone from A's and B's search.
    let (status, _) = c
        .call(
            reqwest::Method::DELETE,
            c.replica(2).url(&format!("{articles}/{id}")),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 204);
    for r in [0, 1] {
        c.until_search(
            r,
            &ws,
            &owner,
            "refund policy",
            "the deleted article is gone",
            |h| h.is_empty(),
        )
        .await;
    }

    // B is down while an article is created and another published on A;
    // restarted on its own (now stale) index, it catches up at start.
    c.replicas[1].kill();
    let (status, shipping) = c
        .post(
            0,
            &articles,
            Some(&owner),
            json!({"title": "发货时间", "body": "下单后四十八小时内发货。"}),
        )
        .await;
    assert_eq!(status, 201, "{shipping}");
    let shipping = shipping["id"].as_str().unwrap().to_string();
    c.restart(1).await;
    c.until_search(
        1,
        &ws,
        &owner,
        "什么时候发货",
        "the restarted replica catches up",
        |h| h.first() == Some(&shipping),
    )
    .await;
    c.until_search(
        1,
        &ws,
        &owner,
        "refund policy",
        "the deleted article stays gone",
        |h| h.is_empty(),
    )
    .await;
}

/// A workspace's synonym groups changed through one replica reach the
/// other's search over the bus; a replica that was down when they changed
/// loads them from the database when it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synonym_changes_reach_every_replicas_search() {
    let mut c = two_replicas(&[]).await;
    let (owner, _, ws) = c.login(0, OWNER).await;
    let synonyms = format!("/api/v1/workspaces/{ws}/kb/synonyms");
    let (status, article) = c
        .post(
            0,
            &format!("/api/v1/workspaces/{ws}/kb/articles"),
            Some(&owner),
            json!({"title": "退货流程", "body": "在订单详情页申请退货，寄回商品后三个工作日内处理。"}),
        )
        .await;
    assert_eq!(status, 201, "{article}");
    let id = article["id"].as_str().unwrap().to_string();
    c.until_search(1, &ws, &owner, "退货", "the article is indexed", |h| {
        h.first() == Some(&id)
    })
    .await;
    assert!(c.search(1, &ws, &owner, "退款").await.is_empty());

    // Saved on A: B's search finds the article by the other word.
    c.put_synonyms(0, &synonyms, &owner, json!([["退货", "退款"]]))
        .await;
    c.until_search(1, &ws, &owner, "退款", "the synonym reaches B", |h| {
        h.first() == Some(&id)
    })
    .await;
    let (status, read) = c.get(1, &synonyms, Some(&owner)).await;
    assert_eq!(
        (status, read),
        (StatusCode::OK, json!({"groups": [["退货", "退款"]]}))
    );

    // B is down while the list is replaced on A; restarted on its own
    // on-disk index, it loads the new list at start.
    c.replicas[1].kill();
    c.put_synonyms(0, &synonyms, &owner, json!([["退货", "退钱"]]))
        .await;
    c.restart(1).await;
    c.until_search(
        1,
        &ws,
        &owner,
        "退钱",
        "the restarted replica loads the list",
        |h| h.first() == Some(&id),
    )
    .await;
    assert!(
        c.search(1, &ws, &owner, "退款").await.is_empty(),
        "the replaced group is gone on the restarted replica"
    );
}

// Two replicas share one budget for each cluster-wide limit. Requests
// alternate between the replicas: with per-replica counters each would have
// seen only half, and every refusal below would come late.

/// Two replicas with `env` (limits) over the test defaults, ready.
async fn two_replicas(env: &[(&str, &str)]) -> Cluster {
    let c = Cluster::start_with(&["A", "B"], env).await;
    c.wait_ready(StatusCode::OK, Duration::from_secs(10)).await;
    c
}

/// A login on replica `r`.
async fn login_as(c: &Cluster, r: usize, email: &str, password: &str) -> (StatusCode, Value) {
    c.post(
        r,
        "/api/v1/auth/login",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

/// Failed logins spread over both replicas lock the account at the
/// configured count, not at twice it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_over_replicas_count_once() {
    let c = two_replicas(&[
        ("KEFU_AUTH__THROTTLE__ACCOUNT_FAILURES", "4"),
        ("KEFU_AUTH__THROTTLE__LOCKOUT_SECS", "600"),
    ])
    .await;
    for r in [0, 1, 0, 1] {
        let (status, body) = login_as(&c, r, OWNER, "wrong-password").await;
        assert_eq!(status, 401, "{body}");
    }
    // Locked on both: even the right password is refused.
    for r in [0, 1] {
        let (status, body) = login_as(&c, r, OWNER, PASSWORD).await;
        assert_eq!(status, 429, "replica {}: {body}", c.replica(r).name);
        assert_eq!(body["details"]["reason"], "account_locked", "{body}");
        let retry = body["details"]["retry_after"].as_u64().unwrap();
        assert!((590..=600).contains(&retry), "{body}");
    }
}

/// Login attempts from one address, whatever the account, are counted once
/// over both replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_per_address_over_replicas_count_once() {
    let c = two_replicas(&[("KEFU_AUTH__THROTTLE__IP_ATTEMPTS", "6")]).await;
    for i in 0..6 {
        let email = format!("ghost{i}@example.com");
        let (status, body) = login_as(&c, i % 2, &email, PASSWORD).await;
        assert_eq!(status, 401, "attempt {}: {body}", i + 1);
    }
    for r in [0, 1] {
        let (status, body) = login_as(&c, r, OWNER, PASSWORD).await;
        assert_eq!(status, 429, "replica {}: {body}", c.replica(r).name);
        assert_eq!(body["details"]["reason"], "too_many_attempts", "{body}");
        let retry = body["details"]["retry_after"].as_u64().unwrap();
        assert!((1..=900).contains(&retry), "{body}");
    }
}

/// The general per-IP budget (`http.rate_limit`) is spent once over both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_address_over_replicas_count_once() {
    let c = two_replicas(&[
        ("KEFU_HTTP__RATE_LIMIT__ENABLED", "true"),
        ("KEFU_HTTP__RATE_LIMIT__BURST", "10"),
        ("KEFU_HTTP__RATE_LIMIT__PER_SECOND", "0.001"),
    ])
    .await;
    // /readyz (above) is exempt: all ten tokens are left.
    for i in 0..10 {
        let (status, body) = c.get(i % 2, "/api/v1/me", None).await;
        assert_eq!(status, 401, "request {}: {body}", i + 1);
    }
    for r in [0, 1] {
        let (status, body) = c.get(r, "/api/v1/me", None).await;
        assert_eq!(status, 429, "replica {}: {body}", c.replica(r).name);
        assert_eq!(body["details"]["reason"], "ip_rate", "{body}");
        let retry = body["details"]["retry_after"].as_u64().unwrap();
        assert!((1..=1000).contains(&retry), "{body}");
    }
}

/// A visitor with a socket on each replica gets one message budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitors_messages_over_replicas_count_once() {
    let c = two_replicas(&[
        ("KEFU_CHAT__VISITOR_MESSAGE_BURST", "4"),
        ("KEFU_CHAT__VISITOR_MESSAGES_PER_SEC", "0.001"),
    ])
    .await;
    let (owner, _, ws) = c.login(0, OWNER).await;
    let key = c.inbox(&ws, &owner).await;
    let visitor = c.visitor(1, &key).await;
    let mut on_a = Socket::open(c.replica(0).ws_url(&visitor)).await;
    let mut on_b = Socket::open(c.replica(1).ws_url(&visitor)).await;
    let mut conv = None;
    for i in 0..4 {
        let socket = if i % 2 == 0 { &mut on_a } else { &mut on_b };
        let id = format!("m{i}");
        socket.send_message(conv.as_deref(), &id, "你好").await;
        let ack = socket.ack(&id).await;
        conv = ack["conversation_id"].as_str().map(str::to_string);
    }
    for (name, socket) in [("A", &mut on_a), ("B", &mut on_b)] {
        socket.send_message(conv.as_deref(), "over", "还在吗").await;
        let answer = socket
            .expect(&format!("the fifth message answered on {name}"), |f| {
                f["client_msg_id"] == "over" || f["ref"] == "over"
            })
            .await;
        assert_eq!(answer["type"], "error", "{name}: {answer}");
        assert_eq!(answer["code"], "rate_limited", "{name}: {answer}");
        let retry = answer["retry_after"].as_u64().unwrap();
        assert!((1..=1000).contains(&retry), "{name}: {answer}");
    }
}
