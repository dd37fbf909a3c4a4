//! Sockets and the shared bookkeeping: which message was acked or delivered
//! when, and what went wrong.
//!
//! Every measured message carries `client_msg_id = <run>.<phase>.<index>`:
//! the ack (on the visitor's socket) and the `message.created` (on each agent
//! socket, whose `message.client_msg_id` echoes it) are matched by parsing
//! it back, and the index gives the scheduled send time. Priming messages,
//! which open each visitor's conversation, use `<run>.p.<visitor>`.

use crate::schedule::Schedule;
use crate::stats::Samples;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const ACKED: u8 = 1;
const FAILED: u8 = 2;

/// Errors by kind.
#[derive(Debug, Default)]
pub struct Errors(Mutex<BTreeMap<String, u64>>);

impl Errors {
    pub fn add(&self, kind: impl Into<String>) {
        *self
            .0
            .lock()
            .expect("errors lock")
            .entry(kind.into())
            .or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().expect("errors lock").clone()
    }
}

/// One measured stretch at one rate.
#[derive(Debug)]
pub struct Phase {
    pub schedule: Schedule,
    /// Handed to a visitor's socket writer.
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub delivered: AtomicU64,
    state: Vec<AtomicU8>,
    /// When each message was dispatched, in nanoseconds after the start.
    dispatched: Vec<AtomicU64>,
    pub ack_latency: Mutex<Samples>,
    pub delivery_latency: Mutex<Samples>,
    /// Due → dispatched: how well the load generator kept its schedule
    /// (timer granularity, or its own CPU starvation).
    pub dispatch_lag: Mutex<Samples>,
    /// Dispatched → written to the socket: grows when the server stops
    /// reading (TCP back-pressure), and is part of the latencies.
    pub send_lag: Mutex<Samples>,
    pub last_ack: Mutex<Option<Instant>>,
    pub errors: Errors,
}

impl Phase {
    pub fn new(schedule: Schedule) -> Self {
        Self {
            state: (0..schedule.total).map(|_| AtomicU8::new(0)).collect(),
            dispatched: (0..schedule.total).map(|_| AtomicU64::new(0)).collect(),
            schedule,
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            ack_latency: Mutex::default(),
            delivery_latency: Mutex::default(),
            dispatch_lag: Mutex::default(),
            send_lag: Mutex::default(),
            last_ack: Mutex::default(),
            errors: Errors::default(),
        }
    }

    /// Message `idx` is handed to its visitor's socket writer now. Latency
    /// counts from here: a server that stops reading still shows (the write
    /// waits, the clock runs), while the timer's millisecond granularity does
    /// not inflate the figures.
    pub fn dispatch(&self, idx: u64, now: Instant) {
        let Some(d) = self.dispatched.get(idx as usize) else {
            return;
        };
        let since = now.saturating_duration_since(self.schedule.start);
        d.store(
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.dispatch_lag
            .lock()
            .expect("lock")
            .record(now.saturating_duration_since(self.schedule.due(idx)));
    }

    /// When message `idx` was dispatched (its due time if it never was).
    pub fn sent_at(&self, idx: u64) -> Instant {
        match self
            .dispatched
            .get(idx as usize)
            .map(|d| d.load(Ordering::Relaxed))
        {
            Some(ns) if ns > 0 => self.schedule.start + Duration::from_nanos(ns),
            _ => self.schedule.due(idx),
        }
    }

    /// Counts the first ack of message `idx`; returns its latency then.
    fn on_ack(&self, idx: u64, now: Instant) -> Option<Duration> {
        let s = self.state.get(idx as usize)?;
        if s.fetch_or(ACKED, Ordering::Relaxed) & (ACKED | FAILED) != 0 {
            return None;
        }
        self.acked.fetch_add(1, Ordering::Relaxed);
        let latency = now.saturating_duration_since(self.sent_at(idx));
        self.ack_latency.lock().expect("lock").record(latency);
        let mut last = self.last_ack.lock().expect("lock");
        if last.is_none_or(|l| l < now) {
            *last = Some(now);
        }
        Some(latency)
    }

    fn on_refused(&self, idx: u64, code: &str) {
        let Some(s) = self.state.get(idx as usize) else {
            return;
        };
        if s.fetch_or(FAILED, Ordering::Relaxed) & (ACKED | FAILED) != 0 {
            return;
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.errors.add(format!("refused:{code}"));
    }

    fn on_delivery(&self, idx: u64, now: Instant) {
        if idx >= self.schedule.total {
            return;
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.delivery_latency
            .lock()
            .expect("lock")
            .record(now.saturating_duration_since(self.sent_at(idx)));
    }

    /// Every sent message is acked or refused.
    pub fn settled(&self) -> bool {
        self.acked.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed)
            >= self.sent.load(Ordering::Relaxed)
    }
}

/// What the sockets share.
#[derive(Debug)]
pub struct Shared {
    pub run: String,
    pub phases: RwLock<Vec<Arc<Phase>>>,
    /// Socket-level trouble (closes, read errors), whatever the phase.
    pub errors: Errors,
    pub primed: AtomicUsize,
    pub pongs: AtomicU64,
    pub echoes: AtomicU64,
    /// The keep-alive interval in use, in milliseconds.
    pub ping_ms: AtomicU64,
    /// `--ack-log`: one line per counted ack.
    pub ack_log: Option<Mutex<std::io::LineWriter<std::fs::File>>>,
}

impl Shared {
    pub fn new(run: String) -> Self {
        Self {
            run,
            phases: RwLock::default(),
            errors: Errors::default(),
            primed: AtomicUsize::new(0),
            pongs: AtomicU64::new(0),
            echoes: AtomicU64::new(0),
            ping_ms: AtomicU64::new(0),
            ack_log: None,
        }
    }

    pub fn add_phase(&self, p: Arc<Phase>) -> usize {
        let mut v = self.phases.write().expect("phases lock");
        v.push(p);
        v.len() - 1
    }

    fn phase(&self, n: usize) -> Option<Arc<Phase>> {
        self.phases.read().expect("phases lock").get(n).cloned()
    }

    /// `<dispatch time, Unix ms> <latency, µs>`; a failed write is counted.
    fn log_ack(&self, latency: Duration, log: &Mutex<std::io::LineWriter<std::fs::File>>) {
        use std::io::Write;
        let sent = std::time::SystemTime::now()
            .checked_sub(latency)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut w = log.lock().expect("ack log lock");
        if writeln!(w, "{sent} {}", latency.as_micros()).is_err() {
            self.errors.add("ack_log_write");
        }
    }

    pub fn msg_id(&self, phase: usize, idx: u64) -> String {
        format!("{}.{phase}.{idx}", self.run)
    }

    pub fn prime_id(&self, visitor: usize) -> String {
        format!("{}.p.{visitor}", self.run)
    }
}

/// A `client_msg_id` of this run, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum MsgId {
    Prime(usize),
    Measured { phase: usize, idx: u64 },
}

pub fn parse_msg_id(run: &str, id: &str) -> Option<MsgId> {
    let rest = id.strip_prefix(run)?.strip_prefix('.')?;
    let (a, b) = rest.split_once('.')?;
    if a == "p" {
        return b.parse().ok().map(MsgId::Prime);
    }
    Some(MsgId::Measured {
        phase: a.parse().ok()?,
        idx: b.parse().ok()?,
    })
}

/// The fields of server frames that matter here.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    client_msg_id: Option<String>,
    conversation_id: Option<Uuid>,
    code: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
    idle_timeout_secs: Option<u64>,
    message: Option<MessageField>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MessageField {
    Created { client_msg_id: Option<String> },
    Text(#[allow(dead_code)] String),
}

pub enum Cmd {
    Send {
        phase_no: usize,
        phase: Arc<Phase>,
        idx: u64,
    },
    Prime,
}

/// A connected visitor.
#[derive(Debug)]
pub struct Visitor {
    pub idx: usize,
    pub tx: mpsc::UnboundedSender<Cmd>,
    pub conversation: OnceLock<Uuid>,
    pub alive: AtomicBool,
}

/// A connected agent (only reads).
#[derive(Debug)]
pub struct Agent {
    pub alive: AtomicBool,
}

/// Connects and waits for `hello`; its `idle_timeout_secs`.
async fn connect(url: &str, token: &str) -> Result<(Ws, u64), String> {
    let full = format!("{url}?token={token}");
    // tungstenite's default read buffer (128 KiB, zero-filled on the first
    // read) would make 10,000 sockets cost the load generator 1.3 GB; frames
    // here are small.
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(full, Some(config), true),
    )
    .await
    .map_err(|_| "connect_timeout".to_string())?
    .map_err(|e| match e {
        tokio_tungstenite::tungstenite::Error::Http(r) => {
            format!("connect_http_{}", r.status().as_u16())
        }
        tokio_tungstenite::tungstenite::Error::Io(e) => format!("connect_io_{:?}", e.kind()),
        _ => "connect_failed".to_string(),
    })?;
    let first = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .map_err(|_| "hello_timeout".to_string())?;
    match first {
        Some(Ok(Message::Text(t))) => {
            let f: Frame = serde_json::from_str(&t).map_err(|_| "hello_invalid".to_string())?;
            if f.kind != "hello" {
                return Err(format!("hello_missing_got_{}", f.kind));
            }
            Ok((ws, f.idle_timeout_secs.unwrap_or(75)))
        }
        _ => Err("hello_missing".into()),
    }
}

/// Interval of keep-alive pings: a third of the server's idle timeout,
/// unless given.
fn ping_every(idle_timeout_secs: u64, given: Option<Duration>) -> Duration {
    given.unwrap_or(Duration::from_secs((idle_timeout_secs / 3).max(1)))
}

pub async fn open_visitor(
    shared: Arc<Shared>,
    url: &str,
    token: &str,
    idx: usize,
    ping: Option<Duration>,
    body_bytes: usize,
) -> Result<Arc<Visitor>, String> {
    let (ws, idle) = connect(url, token).await?;
    let (sink, stream) = ws.split();
    let (tx, rx) = mpsc::unbounded_channel();
    let v = Arc::new(Visitor {
        idx,
        tx,
        conversation: OnceLock::new(),
        alive: AtomicBool::new(true),
    });
    let every = ping_every(idle, ping);
    shared.ping_ms.store(
        u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    tokio::spawn(visitor_writer(
        shared.clone(),
        v.clone(),
        sink,
        rx,
        every,
        body_bytes,
    ));
    tokio::spawn(visitor_reader(shared, v.clone(), stream));
    Ok(v)
}

pub async fn open_agent(
    shared: Arc<Shared>,
    url: &str,
    token: &str,
    ping: Option<Duration>,
) -> Result<Arc<Agent>, String> {
    let (ws, idle) = connect(url, token).await?;
    let (sink, stream) = ws.split();
    let a = Arc::new(Agent {
        alive: AtomicBool::new(true),
    });
    let every = ping_every(idle, ping);
    tokio::spawn(agent_pinger(sink, every));
    tokio::spawn(agent_reader(shared, a.clone(), stream));
    Ok(a)
}

/// A body of about `n` bytes, mostly Chinese like real traffic.
pub fn body(id: &str, n: usize) -> String {
    let mut b = format!("{id} 你好，我的订单还没发货，请帮忙查一下");
    while b.len() < n {
        b.push('x');
    }
    b
}

fn send_frame(conversation: Option<&Uuid>, id: &str, body: &str) -> String {
    let mut f = serde_json::json!({ "type": "message.send", "client_msg_id": id, "body": body });
    if let Some(c) = conversation {
        f["conversation_id"] = serde_json::Value::String(c.to_string());
    }
    f.to_string()
}

async fn visitor_writer(
    shared: Arc<Shared>,
    v: Arc<Visitor>,
    mut sink: SplitSink<Ws, Message>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    every: Duration,
    body_bytes: usize,
) {
    // Spread the keep-alives of many sockets over the interval.
    let offset = every.mul_f64((v.idx % 1000) as f64 / 1000.0);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_write = Instant::now();
    loop {
        let text = tokio::select! {
            cmd = rx.recv() => match cmd {
                None => break,
                Some(Cmd::Prime) => {
                    let id = shared.prime_id(v.idx);
                    send_frame(None, &id, &body(&id, body_bytes))
                }
                Some(Cmd::Send { phase_no, phase, idx }) => {
                    let now = Instant::now();
                    phase.send_lag.lock().expect("lock").record(now.saturating_duration_since(phase.sent_at(idx)));
                    let id = shared.msg_id(phase_no, idx);
                    send_frame(v.conversation.get(), &id, &body(&id, body_bytes))
                }
            },
            _ = ticker.tick() => {
                if last_write.elapsed() < every {
                    continue;
                }
                r#"{"type":"ping"}"#.to_string()
            }
        };
        if sink.send(Message::text(text)).await.is_err() {
            shared.errors.add("socket_write_failed");
            break;
        }
        last_write = Instant::now();
    }
    v.alive.store(false, Ordering::Relaxed);
}

fn close_kind(m: &Message) -> Option<String> {
    match m {
        Message::Close(Some(cf)) => Some(format!("closed_by_server:{}", u16::from(cf.code))),
        Message::Close(None) => Some("closed_by_server".into()),
        _ => None,
    }
}

async fn visitor_reader(shared: Arc<Shared>, v: Arc<Visitor>, mut stream: SplitStream<Ws>) {
    while let Some(msg) = stream.next().await {
        let now = Instant::now();
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(m) => {
                if let Some(kind) = close_kind(&m) {
                    shared.errors.add(kind);
                    break;
                }
                continue;
            }
            Err(_) => {
                shared.errors.add("socket_read_error");
                break;
            }
        };
        let Ok(f) = serde_json::from_str::<Frame>(&text) else {
            shared.errors.add("unparsable_frame");
            continue;
        };
        match f.kind.as_str() {
            "message.ack" => match f
                .client_msg_id
                .as_deref()
                .and_then(|id| parse_msg_id(&shared.run, id))
            {
                Some(MsgId::Prime(_)) => {
                    if let Some(c) = f.conversation_id {
                        if v.conversation.set(c).is_ok() {
                            shared.primed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Some(MsgId::Measured { phase, idx }) => {
                    if let Some(p) = shared.phase(phase) {
                        if let (Some(latency), Some(log)) = (p.on_ack(idx, now), &shared.ack_log) {
                            shared.log_ack(latency, log);
                        }
                    }
                }
                None => shared.errors.add("ack_unknown_id"),
            },
            "error" => {
                let code = f.code.unwrap_or_default();
                match f
                    .reference
                    .as_deref()
                    .and_then(|id| parse_msg_id(&shared.run, id))
                {
                    Some(MsgId::Measured { phase, idx }) => {
                        if let Some(p) = shared.phase(phase) {
                            p.on_refused(idx, &code);
                        }
                    }
                    _ => shared.errors.add(format!("error_frame:{code}")),
                }
            }
            "pong" => {
                shared.pongs.fetch_add(1, Ordering::Relaxed);
            }
            "message.created" => {
                shared.echoes.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    v.alive.store(false, Ordering::Relaxed);
}

async fn agent_pinger(mut sink: SplitSink<Ws, Message>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if sink
            .send(Message::text(r#"{"type":"ping"}"#))
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn agent_reader(shared: Arc<Shared>, a: Arc<Agent>, mut stream: SplitStream<Ws>) {
    while let Some(msg) = stream.next().await {
        let now = Instant::now();
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(m) => {
                if let Some(kind) = close_kind(&m) {
                    shared.errors.add(format!("agent_{kind}"));
                    break;
                }
                continue;
            }
            Err(_) => {
                shared.errors.add("agent_socket_read_error");
                break;
            }
        };
        let Ok(f) = serde_json::from_str::<Frame>(&text) else {
            shared.errors.add("agent_unparsable_frame");
            continue;
        };
        match (f.kind.as_str(), f.message) {
            ("message.created", Some(MessageField::Created { client_msg_id })) => {
                if let Some(MsgId::Measured { phase, idx }) = client_msg_id
                    .as_deref()
                    .and_then(|id| parse_msg_id(&shared.run, id))
                {
                    if let Some(p) = shared.phase(phase) {
                        p.on_delivery(idx, now);
                    }
                }
            }
            ("error", _) => shared
                .errors
                .add(format!("agent_error_frame:{}", f.code.unwrap_or_default())),
            _ => {}
        }
    }
    a.alive.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip() {
        let s = Shared::new("kl1f2e".into());
        assert_eq!(
            parse_msg_id("kl1f2e", &s.msg_id(3, 1234)),
            Some(MsgId::Measured {
                phase: 3,
                idx: 1234
            })
        );
        assert_eq!(
            parse_msg_id("kl1f2e", &s.prime_id(7)),
            Some(MsgId::Prime(7))
        );
        assert_eq!(parse_msg_id("kl1f2e", "kl1f2f.0.1"), None, "another run");
        assert_eq!(parse_msg_id("kl1f2e", "kl1f2e.x.1"), None);
        assert_eq!(parse_msg_id("kl1f2e", "c-1"), None);
        assert!(s.msg_id(99, 10_000_000).len() <= 64);
    }

    #[test]
    fn each_message_counts_once() {
        let t0 = Instant::now();
        let p = Phase::new(Schedule::new(t0, 10.0, Duration::from_secs(1)));
        p.sent.store(3, Ordering::Relaxed);
        assert_eq!(
            p.on_ack(0, t0 + Duration::from_millis(5)),
            Some(Duration::from_millis(5))
        );
        assert_eq!(p.on_ack(0, t0 + Duration::from_millis(9)), None);
        p.on_refused(0, "x");
        p.on_refused(1, "validation_failed");
        p.on_ack(99, t0);
        assert!(!p.settled());
        // Dispatched 1 ms late: latency counts from the dispatch.
        p.dispatch(2, t0 + Duration::from_millis(201));
        p.on_ack(2, t0 + Duration::from_millis(211));
        assert!(p.settled());
        let lag = p.dispatch_lag.lock().unwrap().summary();
        assert_eq!(lag.max_ms, 1.0);
        assert_eq!(p.acked.load(Ordering::Relaxed), 2);
        assert_eq!(p.failed.load(Ordering::Relaxed), 1);
        let s = p.ack_latency.lock().unwrap().summary();
        // Message 0 counted from its due time (never dispatched), 2 from its dispatch.
        assert_eq!((s.count, s.p50_ms, s.max_ms), (2, 5.0, 10.0));
        assert_eq!(
            p.errors.snapshot().get("refused:validation_failed"),
            Some(&1)
        );
    }

    #[test]
    fn frames_parse() {
        let f: Frame = serde_json::from_str(
            r#"{"type":"message.created","conversation_id":"0193a0a0-0000-7000-8000-000000000000","seq":1,
               "message":{"id":"x","body":"b","client_msg_id":"r.0.1","sender":{"type":"visitor"}}}"#,
        )
        .unwrap();
        assert!(
            matches!(f.message, Some(MessageField::Created { client_msg_id: Some(ref c) }) if c == "r.0.1")
        );
        let e: Frame = serde_json::from_str(
            r#"{"type":"error","code":"validation_failed","message":"Bad.","ref":"r.0.2"}"#,
        )
        .unwrap();
        assert_eq!(e.reference.as_deref(), Some("r.0.2"));
        assert!(matches!(e.message, Some(MessageField::Text(_))));
        let body = body("r.0.1", 64);
        assert!(body.len() >= 64 && body.starts_with("r.0.1 "));
    }
}
