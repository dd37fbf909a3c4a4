//! `GET /ws`: the real-time gateway. One task per socket runs a `select!`
//! over four things — shutdown, the client's frames (with an idle timeout),
//! and bus events for this peer — so nothing is shared between sockets but
//! the bus and the socket counter.
//!
//! Back-pressure: every send has a deadline (`chat.socket_send_timeout_secs`).
//! A client that cannot take a frame in time is disconnected with a reason
//! rather than buffered without bound; events it missed are in the database
//! and come back with `sync`. Likewise a socket that falls further behind
//! the bus than `chat.bus_capacity` events is told to sync (`events_missed`).
//!
//! Rights are not fixed at the upgrade. A member's socket follows its user's
//! topic: a session that ends (logout, revocation, refresh-token reuse)
//! closes it with 4001, and a change of memberships, roles, teams or a
//! workspace's 2FA rule makes it recompute what it may see, on every replica
//! within the bus's delay. Every frame a member sends is checked against the
//! live session too, so nothing slips in between a revocation and its
//! event. Every socket closes with 4002 when its token expires, unless an
//! `auth` frame brought a fresh one. Close codes are in docs/protocol.md.

pub mod protocol;

#[cfg(test)]
mod decode_props;
mod visibility;

use crate::error::ApiError;
use crate::extract::client_ip;
use crate::metrics::KindLabels;
use crate::ratelimit::Bucket;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use kefu_domain::bus::{Event, Topic};
use kefu_domain::chat::ConversationStatus;
use kefu_domain::{ConversationId, Role, TeamId, WorkspaceId};
use kefu_service::chat::Window;
use kefu_service::chat::{Visitor, MAX_PAGE};
use kefu_service::Services;
use kefu_service::{Access, Ctx, Principal, ServiceError};
use protocol::{ClientFrame, ServerFrame, PROTOCOL};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::{AbortHandle, JoinSet};
use visibility::created;

/// Close codes (docs/protocol.md).
mod close_code {
    /// The session ended (signed out, revoked, or the account may no longer
    /// sign in): sign in again.
    pub const SESSION_ENDED: u16 = 4001;
    /// The token expired: refresh it (a visitor: a new widget session) and
    /// reconnect, or send `auth` with a fresh token before it expires.
    pub const TOKEN_EXPIRED: u16 = 4002;
    /// The server could not re-check the socket's rights (the database was
    /// unreachable): reconnect.
    pub const RECHECK_FAILED: u16 = 1011;
    /// A frame over the size limit (RFC 6455).
    pub const TOO_BIG: u16 = 1009;
    /// The visitor (their contact, or their address) was blocked.
    pub const VISITOR_BLOCKED: u16 = 4003;
}

/// Whether a read failed because the frame exceeded `max_message_size`
/// (tungstenite's capacity error, which axum passes on boxed).
fn frame_too_big(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("Message too long")
}

/// Bytes read from a socket at a time.
const SOCKET_READ_BUFFER: usize = 4096;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

/// Who is on the other end.
#[derive(Debug, Clone)]
enum Peer {
    Visitor(Visitor),
    Member {
        principal: Principal,
        roles: HashMap<WorkspaceId, Role>,
        /// The member's teams per workspace (whose queues agents see).
        teams: HashMap<WorkspaceId, Vec<TeamId>>,
    },
}

/// Open sockets per visitor (`contact:<id>`) and per client address
/// (`ip:<addr>`), to cap them.
#[derive(Debug, Default)]
pub struct SocketCounter(Mutex<HashMap<String, usize>>);

/// Decrements its key's count when the socket ends.
struct SocketSlot {
    counter: Arc<SocketCounter>,
    key: String,
}

impl SocketCounter {
    fn acquire(self: &Arc<Self>, key: String, max: usize) -> Option<SocketSlot> {
        let mut m = self.0.lock().expect("socket counter lock");
        let n = m.entry(key.clone()).or_insert(0);
        if *n >= max {
            if *n == 0 {
                m.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(SocketSlot {
            counter: self.clone(),
            key,
        })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut m = self.counter.0.lock().expect("socket counter lock");
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// Whether the upgrade's `Origin` is this server (`Host`).
fn same_origin(parts: &Parts) -> bool {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    match (header(header::ORIGIN), header(header::HOST)) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host)
        }),
        _ => false,
    }
}

#[derive(Debug, Deserialize)]
struct WsQuery {
    token: Option<String>,
}

/// Authenticates before upgrading, so a bad token is a plain HTTP 401.
async fn upgrade(
    State(state): State<AppState>,
    Query(q): Query<WsQuery>,
    parts: Parts,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let header_token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let token = match q.token.or(header_token) {
        Some(t) => t,
        // The console's session cookie, from its own origin only: a page
        // elsewhere can make the browser send the cookie on a socket
        // (cross-site WebSocket hijacking) but cannot fake `Origin`.
        None => match crate::extract::cookie(&parts, crate::extract::ACCESS_COOKIE) {
            Some(t) if same_origin(&parts) => t.to_string(),
            Some(_) => {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    "A session cookie opens a socket only from the console's own origin.",
                ))
            }
            None => return Err(ApiError::unauthorized()),
        },
    };
    let ip = client_ip(&parts, state.http.trust_proxy_headers);
    let services = &state.services;
    let ip_slot = match &ip {
        Some(addr) => Some(
            state
                .sockets
                .acquire(format!("ip:{addr}"), services.chat.max_sockets_per_ip)
                .ok_or_else(|| ApiError::rate_limited(5, "too_many_sockets"))?,
        ),
        None => None,
    };
    let (peer, slot, expires_at) = if token.starts_with("vt1.") {
        let (v, expires_at) = services.authenticate_visitor_until(&token)?;
        let inbox = services
            .store
            .get_inbox(v.workspace_id, v.inbox_id)
            .await
            .map_err(ServiceError::from)?;
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok());
        kefu_service::chat::check_origin(&inbox, origin)?;
        services
            .check_visitor_ip(v.workspace_id, ip.as_deref())
            .await?;
        services.visitor_not_blocked(&v).await?;
        let slot = state
            .sockets
            .acquire(
                format!("contact:{}", v.contact_id),
                services.chat.max_sockets_per_visitor,
            )
            .ok_or_else(|| ApiError::rate_limited(5, "too_many_sockets"))?;
        (Peer::Visitor(v), Some(slot), expires_at)
    } else {
        let (principal, expires_at) = services.authenticate_access_token_until(&token).await?;
        let (roles, teams) = member_rights(services, &principal, &ip).await?;
        (
            Peer::Member {
                principal,
                roles,
                teams,
            },
            None,
            expires_at,
        )
    };
    // Frames above this are refused by the protocol layer (the connection
    // closes); bodies over the message limit but under it get a clean
    // `validation_failed` error frame.
    let max_frame = services.chat.max_message_chars * 4 + 4096;
    Ok(ws
        // The default 128 KiB read buffer is zero-filled on the first read,
        // so it would stay resident per idle socket; frames are small, and a
        // larger one still arrives, only in more reads (docs/benchmarks.md).
        .read_buffer_size(SOCKET_READ_BUFFER)
        .max_message_size(max_frame)
        .on_upgrade(move |socket| async move {
            let _slots = (slot, ip_slot);
            let now = std::time::Instant::now();
            let chat = &state.services.chat;
            let (frames, messages) = (
                Bucket::full(chat.socket_frame_burst, now),
                Bucket::full(chat.socket_message_burst, now),
            );
            Connection {
                state,
                peer,
                ip,
                token,
                expires_at,
                frames,
                messages,
                rights_changed: false,
                in_inbox: Mutex::default(),
            }
            .run(socket)
            .await;
        }))
}

/// The workspaces whose events a member may receive, with their role there
/// and (agents) their teams: what the REST API would allow them now, the
/// workspace's "admins must use 2FA" rule included.
async fn member_rights(
    services: &Services,
    principal: &Principal,
    ip: &Option<String>,
) -> Result<
    (
        HashMap<WorkspaceId, Role>,
        HashMap<WorkspaceId, Vec<TeamId>>,
    ),
    ServiceError,
> {
    let user = principal.user_id();
    let (mut roles, mut teams) = (HashMap::new(), HashMap::new());
    for m in services.store.user_workspaces(user).await? {
        let ws = m.workspace.id;
        let ctx = Ctx {
            principal: principal.clone(),
            ip: ip.clone(),
        };
        let access = match services.access(ctx, ws).await {
            Ok(a) => a,
            // Removed meanwhile, or an admin without the second factor the
            // workspace requires: nothing of it.
            Err(ServiceError::NotFound(_) | ServiceError::Forbidden(_)) => continue,
            Err(e) => return Err(e),
        };
        if access.role == Role::Agent {
            teams.insert(ws, services.store.member_teams(ws, user).await?);
        }
        roles.insert(ws, access.role);
    }
    Ok((roles, teams))
}

enum Feed {
    Event(Arc<Event>),
    Missed,
}

/// What a client frame leads to.
enum Step {
    Reply(Vec<ServerFrame>),
    Close(u16, &'static str),
}

/// The socket's subscriptions: one forwarding task per topic feeding a
/// single queue; aborted when the topic is dropped or the socket ends.
struct Follows {
    tx: mpsc::Sender<Feed>,
    tasks: JoinSet<()>,
    topics: HashMap<Topic, AbortHandle>,
}

impl Follows {
    /// Follows exactly `wanted`: new topics get a forwarder, dropped ones lose theirs.
    fn set(&mut self, bus: &Arc<dyn kefu_domain::bus::Bus>, wanted: Vec<Topic>) {
        self.topics.retain(|t, task| {
            let keep = wanted.contains(t);
            if !keep {
                task.abort();
            }
            keep
        });
        for topic in wanted {
            if self.topics.contains_key(&topic) {
                continue;
            }
            let mut rx = bus.subscribe(&topic);
            let tx = self.tx.clone();
            let task = self.tasks.spawn(async move {
                loop {
                    let item = match rx.recv().await {
                        Ok(ev) => Feed::Event(ev),
                        Err(broadcast::error::RecvError::Lagged(_)) => Feed::Missed,
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
            });
            self.topics.insert(topic, task);
        }
    }
}

struct Connection {
    state: AppState,
    peer: Peer,
    ip: Option<String>,
    /// The token the socket authenticated with (or the latest `auth`):
    /// a member's session is re-checked with it.
    token: String,
    /// When that token expires (Unix seconds).
    expires_at: i64,
    /// This socket's frames and messages (`chat.socket_*_per_sec`).
    frames: Bucket,
    messages: Bucket,
    /// Set when an `auth` frame or a re-check changed the token's expiry or
    /// the rights: the run loop then moves its expiry timer and its
    /// subscriptions (not on every frame).
    rights_changed: bool,
    /// Visitors: whether each conversation of their contact that an event
    /// was about belongs to this socket's inbox (a contact may have
    /// conversations in several inboxes; REST shows one inbox's).
    in_inbox: Mutex<HashMap<ConversationId, bool>>,
}

impl Connection {
    fn topics(&self) -> Vec<Topic> {
        match &self.peer {
            Peer::Visitor(v) => vec![Topic::Contact(v.contact_id)],
            Peer::Member {
                principal, roles, ..
            } => roles
                .keys()
                .map(|w| Topic::Workspace(*w))
                .chain([Topic::User(principal.user_id())])
                .collect(),
        }
    }

    /// Seconds until the token expires (0 when it has).
    fn expires_in(&self) -> i64 {
        (self.expires_at - self.state.services.clock.now().timestamp()).max(0)
    }

    fn expiry_deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(self.expires_in() as u64)
    }

    /// Re-checks a member's session and recomputes their rights (after an
    /// access event, a lost event, or an `auth`): `Err` closes the socket.
    async fn recheck(&mut self) -> Result<(), (u16, &'static str)> {
        if let Peer::Visitor(v) = &self.peer {
            return match self.state.services.visitor_still_valid(v).await {
                Ok(()) => Ok(()),
                Err(ServiceError::Forbidden(_)) => {
                    Err((close_code::VISITOR_BLOCKED, "chat is not available"))
                }
                Err(ServiceError::Unauthorized(_)) => {
                    Err((close_code::SESSION_ENDED, "start a new session"))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot re-check a visitor socket; closing it");
                    Err((close_code::RECHECK_FAILED, "reconnect"))
                }
            };
        }
        let services = self.state.services.clone();
        let principal = self.live_session().await?;
        match member_rights(&services, &principal, &self.ip).await {
            Ok((roles, teams)) => {
                self.peer = Peer::Member {
                    principal,
                    roles,
                    teams,
                };
                self.rights_changed = true;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot recompute a socket's rights; closing it");
                Err((close_code::RECHECK_FAILED, "reconnect"))
            }
        }
    }

    /// The member's session, still live: the close code and reason when it
    /// is not (its token expired, or the session ended), or when it cannot
    /// be checked (the database is unreachable).
    async fn live_session(&self) -> Result<Principal, (u16, &'static str)> {
        match self
            .state
            .services
            .authenticate_access_token(&self.token)
            .await
        {
            Ok(p) => Ok(p),
            Err(ServiceError::Unauthorized(_)) if self.expires_in() == 0 => Err((
                close_code::TOKEN_EXPIRED,
                "token expired: refresh and reconnect",
            )),
            Err(ServiceError::Unauthorized(_)) => {
                Err((close_code::SESSION_ENDED, "session ended: sign in again"))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-check a socket's session; closing it");
                Err((close_code::RECHECK_FAILED, "reconnect"))
            }
        }
    }

    /// A fresh token for the same member or visitor.
    async fn reauthenticate(&mut self, token: String) -> Step {
        let services = self.state.services.clone();
        let refused = || {
            Step::Reply(vec![ServerFrame::error(
                "unauthorized",
                "That token is not valid for this socket.",
                None,
            )])
        };
        match &self.peer {
            Peer::Visitor(v) => match services.authenticate_visitor_until(&token) {
                Ok((fresh, exp)) if fresh.contact_id == v.contact_id => {
                    self.peer = Peer::Visitor(fresh);
                    self.expires_at = exp;
                }
                _ => return refused(),
            },
            Peer::Member { principal, .. } => {
                match services.authenticate_access_token_until(&token).await {
                    Ok((fresh, exp)) if fresh.user_id() == principal.user_id() => {
                        self.token = token;
                        self.expires_at = exp;
                        if let Err((code, reason)) = self.recheck().await {
                            return Step::Close(code, reason);
                        }
                    }
                    _ => return refused(),
                }
            }
        }
        self.rights_changed = true;
        Step::Reply(vec![ServerFrame::AuthOk {
            token_expires_in_secs: self.expires_in(),
        }])
    }

    /// The rate limits on what the client sends: every frame, and
    /// messages per socket (this socket's own buckets) and per visitor
    /// (shared by the visitor's sockets on every replica: Redis in a
    /// cluster). `Some` is the refusal.
    async fn limit(&mut self, frame: &ClientFrame) -> Option<ServerFrame> {
        let chat = self.state.services.chat.clone();
        let now = std::time::Instant::now();
        let reference = match frame {
            ClientFrame::MessageSend { client_msg_id, .. } => Some(client_msg_id.clone()),
            _ => None,
        };
        let metrics = self.state.metrics.clone();
        let refused = |reason: &str, retry_after| {
            metrics
                .rate_limited
                .get_or_create(&crate::metrics::ReasonLabels {
                    reason: reason.to_string(),
                })
                .inc();
            Some(ServerFrame::rate_limited(retry_after, reference.clone()))
        };
        if let Err(after) =
            self.frames
                .take(chat.socket_frames_per_sec, chat.socket_frame_burst, now)
        {
            return refused("socket_frames", after);
        }
        // The message limits concern `message.send` frames only.
        reference.as_ref()?;
        if let Err(after) =
            self.messages
                .take(chat.socket_messages_per_sec, chat.socket_message_burst, now)
        {
            return refused("socket_messages", after);
        }
        if let Peer::Visitor(v) = &self.peer {
            let key = format!("contact:{}", v.contact_id);
            if let Err(after) = self.state.visitor_messages.take(&key).await {
                return refused("visitor_messages", after);
            }
        }
        None
    }

    /// One text frame from the client.
    async fn on_text(&mut self, text: &str) -> Step {
        let frame = match protocol::decode(text) {
            Ok(f) => f,
            Err(refusal) => return Step::Reply(vec![*refusal]),
        };
        if let Some(refusal) = self.limit(&frame).await {
            return Step::Reply(vec![refusal]);
        }
        match frame {
            ClientFrame::Ping => Step::Reply(vec![ServerFrame::Pong]),
            ClientFrame::Auth { token } => self.reauthenticate(token).await,
            frame => {
                // A member acts only while their session lives: nothing
                // slips in between a sign-out and its event.
                if let Peer::Member { .. } = self.peer {
                    match self.live_session().await {
                        Ok(_) => {}
                        // Unreachable database: this frame fails, the socket stays.
                        Err((close_code::RECHECK_FAILED, _)) => {
                            return Step::Reply(vec![error_frame(
                                ServiceError::Internal("session check failed".into()),
                                None,
                            )])
                        }
                        Err((code, reason)) => return Step::Close(code, reason),
                    }
                }
                Step::Reply(self.handle(frame).await)
            }
        }
    }

    fn kind(&self) -> KindLabels {
        KindLabels {
            kind: match self.peer {
                Peer::Visitor(_) => "visitor",
                Peer::Member { .. } => "agent",
            }
            .to_string(),
        }
    }

    /// Sends one frame within the deadline; `false` means the socket is done.
    async fn send(&self, socket: &mut WebSocket, frame: &ServerFrame, deadline: Duration) -> bool {
        let text = serde_json::to_string(frame).expect("frames serialise");
        let metrics = &self.state.metrics;
        match tokio::time::timeout(deadline, socket.send(Message::Text(text.into()))).await {
            Ok(Ok(())) => {
                metrics.ws_frames_out.get_or_create(&self.kind()).inc();
                true
            }
            Ok(Err(_)) => false,
            Err(_) => {
                metrics.ws_slow_closed.get_or_create(&self.kind()).inc();
                tracing::info!(
                    reason = "slow_consumer",
                    "closing a socket that stopped reading"
                );
                // Best effort: a client this slow may not take the close either.
                let _ = tokio::time::timeout(
                    Duration::from_millis(100),
                    close(socket, 1008, "too slow: reconnect and sync"),
                )
                .await;
                false
            }
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let sessions = self
            .state
            .metrics
            .ws_sessions
            .get_or_create(&self.kind())
            .clone();
        sessions.inc();
        let _open = scopeguard(move || {
            sessions.dec();
        });
        // A person's socket keeps them present (the presence timeout).
        let _live = match &self.peer {
            Peer::Member {
                principal: kefu_service::Principal::User { user_id, .. },
                ..
            } => Some(self.state.services.agent_connected(*user_id).await),
            _ => None,
        };
        let chat = self.state.services.chat.clone();
        let idle = Duration::from_secs(chat.socket_idle_timeout_secs.max(1));
        let send_deadline = Duration::from_secs(chat.socket_send_timeout_secs.max(1));
        // One forwarding task per subscription feeds a single queue; their
        // JoinSet aborts them when this socket ends.
        let (feed_tx, mut feed) = mpsc::channel::<Feed>(chat.bus_capacity.max(1));
        let mut follows = Follows {
            tx: feed_tx.clone(),
            tasks: JoinSet::new(),
            topics: HashMap::new(),
        };
        let bus = self.state.services.bus.clone();
        follows.set(&bus, self.topics());
        // A shared bus that lost events (an outage) says so: the client
        // catches up with `sync`, as after a lag.
        let mut resyncs = bus.resyncs();
        follows.tasks.spawn(async move {
            while resyncs.changed().await.is_ok() {
                if feed_tx.send(Feed::Missed).await.is_err() {
                    return;
                }
            }
        });

        let hello = ServerFrame::Hello {
            protocol: PROTOCOL,
            role: match self.peer {
                Peer::Visitor(_) => "visitor",
                Peer::Member { .. } => "agent",
            },
            idle_timeout_secs: idle.as_secs(),
            token_expires_in_secs: self.expires_in(),
        };
        if !self.send(&mut socket, &hello, send_deadline).await {
            return;
        }
        let shutdown = self.state.shutdown.clone();
        let expiry = tokio::time::sleep_until(self.expiry_deadline());
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    close(&mut socket, 1012, "server restarting; reconnect and sync").await;
                    return;
                }
                _ = &mut expiry => {
                    close(&mut socket, close_code::TOKEN_EXPIRED, "token expired: refresh and reconnect").await;
                    return;
                }
                incoming = tokio::time::timeout(idle, socket.recv()) => {
                    let msg = match incoming {
                        Err(_) => {
                            close(&mut socket, 4000, "idle timeout").await;
                            return;
                        }
                        Ok(None) => return,
                        Ok(Some(Err(e))) => {
                            // A frame over the limit is refused by the protocol
                            // layer mid-read; say why before dropping the
                            // connection (RFC 6455 §7.4.1: 1009).
                            if frame_too_big(&e) {
                                let _ = tokio::time::timeout(
                                    Duration::from_secs(1),
                                    close(&mut socket, close_code::TOO_BIG, "frame too big"),
                                )
                                .await;
                            }
                            return;
                        }
                        Ok(Some(Ok(msg))) => msg,
                    };
                    let replies = match msg {
                        Message::Text(text) => {
                            self.state.metrics.ws_frames_in.get_or_create(&self.kind()).inc();
                            let span = tracing::info_span!("ws.frame", kind = self.kind().kind.as_str());
                            let step = tracing::Instrument::instrument(self.on_text(text.as_str()), span).await;
                            // An `auth` may have moved the expiry and the rights.
                            if std::mem::take(&mut self.rights_changed) {
                                expiry.as_mut().reset(self.expiry_deadline());
                                follows.set(&bus, self.topics());
                            }
                            match step {
                                Step::Reply(frames) => frames,
                                Step::Close(code, reason) => {
                                    close(&mut socket, code, reason).await;
                                    return;
                                }
                            }
                        }
                        Message::Binary(_) => vec![ServerFrame::error("invalid_frame", "Send JSON text frames.", None)],
                        Message::Close(_) => return,
                        // Pings are answered by the protocol layer.
                        Message::Ping(_) | Message::Pong(_) => Vec::new(),
                    };
                    for frame in replies {
                        if !self.send(&mut socket, &frame, send_deadline).await {
                            return;
                        }
                    }
                }
                item = feed.recv() => {
                    let frames = match item {
                        Some(Feed::Event(ev)) if matches!(*ev, Event::AccessChanged { .. }) => {
                            if let Err((code, reason)) = self.recheck().await {
                                close(&mut socket, code, reason).await;
                                return;
                            }
                            if std::mem::take(&mut self.rights_changed) {
                                follows.set(&bus, self.topics());
                            }
                            Vec::new()
                        }
                        Some(Feed::Event(ev)) => {
                            let frames = self.visible(&ev).await;
                            if let (Event::MessageCreated { message, .. }, false) = (&*ev, frames.is_empty()) {
                                // The message's age as its frame goes out:
                                // store → bus (→ Redis → replica) → here.
                                let age = (chrono::Utc::now() - message.created_at).num_microseconds().unwrap_or(0);
                                self.state
                                    .metrics
                                    .ws_delivery
                                    .get_or_create(&self.kind())
                                    .observe(age.max(0) as f64 / 1e6);
                            }
                            frames
                        }
                        Some(Feed::Missed) => {
                            // What was missed may have been a change of rights.
                            if let Err((code, reason)) = self.recheck().await {
                                close(&mut socket, code, reason).await;
                                return;
                            }
                            if std::mem::take(&mut self.rights_changed) {
                                follows.set(&bus, self.topics());
                            }
                            vec![ServerFrame::error(
                                "events_missed",
                                "Some events were missed; send sync for your open conversations.",
                                None,
                            )]
                        }
                        None => Vec::new(),
                    };
                    for frame in frames {
                        if !self.send(&mut socket, &frame, send_deadline).await {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The frames this peer should get for an event (often none): the
    /// pure rule in [`visibility`], given the inbox lookup, plus a queued
    /// visitor's place in the queue.
    async fn visible(&self, ev: &Event) -> Vec<ServerFrame> {
        let viewer = match &self.peer {
            Peer::Visitor(v) => {
                // Looked up only for the visitor's own events; the rule
                // checks the contact itself.
                let in_inbox = match ev.conversation() {
                    Some(id) if ev.contact() == Some(v.contact_id) => {
                        self.in_my_inbox(v, id, ev).await
                    }
                    _ => true,
                };
                visibility::Viewer::Visitor {
                    contact: v.contact_id,
                    in_inbox,
                }
            }
            Peer::Member {
                principal,
                roles,
                teams,
            } => visibility::Viewer::Member {
                me: principal.user_id(),
                roles,
                teams,
            },
        };
        let mut frames = visibility::frames(&viewer, ev);
        if let (Peer::Visitor(_), Event::ConversationUpdated { conversation: c }) = (&self.peer, ev)
        {
            if !frames.is_empty() && c.status == ConversationStatus::Queued {
                if let Ok(Some(q)) = self.state.services.queue_info(c.workspace_id, c.id).await {
                    frames.push(ServerFrame::Queue {
                        conversation_id: c.id.0,
                        queue: q.into(),
                    });
                }
            }
        }
        frames
    }

    /// Whether the visitor's conversation `id` is in the socket's inbox
    /// (remembered per conversation: its inbox never changes).
    async fn in_my_inbox(&self, v: &Visitor, id: ConversationId, ev: &Event) -> bool {
        if let Event::ConversationUpdated { conversation } = ev {
            return conversation.inbox_id == v.inbox_id;
        }
        if let Some(known) = self.in_inbox.lock().expect("inbox cache").get(&id) {
            return *known;
        }
        let mine = match self.state.services.visitor_conversation(v, id).await {
            Ok(_) => true,
            Err(ServiceError::NotFound(_)) => false,
            // Unknown for now: withhold this event (the client syncs later),
            // and ask again next time.
            Err(_) => return false,
        };
        self.in_inbox.lock().expect("inbox cache").insert(id, mine);
        mine
    }

    /// One client frame → the frames to answer with. Bad input gets an
    /// `error` frame; the socket stays open.
    async fn handle(&self, frame: ClientFrame) -> Vec<ServerFrame> {
        match frame {
            ClientFrame::Ping => vec![ServerFrame::Pong],
            ClientFrame::Auth { .. } => Vec::new(),
            ClientFrame::Typing {
                conversation_id,
                on,
                private,
            } => match self
                .typing(ConversationId(conversation_id), on, private)
                .await
            {
                Ok(()) => Vec::new(),
                Err(e) => vec![error_frame(e, None)],
            },
            ClientFrame::Viewing {
                conversation_id,
                on,
            } => match self.viewing(ConversationId(conversation_id), on).await {
                Ok(()) => Vec::new(),
                Err(e) => vec![error_frame(e, None)],
            },
            ClientFrame::Read {
                conversation_id,
                seq,
            } => match self.read(ConversationId(conversation_id), seq).await {
                Ok(()) => Vec::new(),
                Err(e) => vec![error_frame(e, None)],
            },
            ClientFrame::MessageSend {
                conversation_id,
                client_msg_id,
                body,
                private,
                attachment_ids,
            } => {
                let files = crate::routes::widget::ids(&attachment_ids);
                let sent = self
                    .send_message(conversation_id, &client_msg_id, &body, private, &files)
                    .await;
                match sent {
                    Ok(s) => vec![ServerFrame::MessageAck {
                        client_msg_id,
                        conversation_id: s.message.conversation_id.0,
                        seq: s.message.seq,
                        message_id: s.message.id.0,
                    }],
                    Err(e) => vec![error_frame(e, Some(client_msg_id))],
                }
            }
            ClientFrame::Sync {
                conversation_id,
                after_seq,
            } => match self
                .replay(ConversationId(conversation_id), after_seq)
                .await
            {
                Ok(mut frames) => {
                    // A waiting visitor also learns their place in the queue.
                    if let Peer::Visitor(v) = &self.peer {
                        let id = ConversationId(conversation_id);
                        if let Ok(Some(q)) = self.state.services.visitor_queue(v, id).await {
                            frames.push(ServerFrame::Queue {
                                conversation_id,
                                queue: q.into(),
                            });
                        }
                    }
                    frames
                }
                Err(e) => vec![error_frame(e, None)],
            },
        }
    }

    async fn send_message(
        &self,
        conversation_id: Option<uuid::Uuid>,
        client_msg_id: &str,
        body: &str,
        private: bool,
        files: &[kefu_domain::AttachmentId],
    ) -> Result<kefu_service::chat::Sent, ServiceError> {
        let services = &self.state.services;
        match &self.peer {
            Peer::Visitor(v) => {
                if private {
                    return Err(ServiceError::invalid("private", "agents_only"));
                }
                services
                    .visitor_send_with(
                        v,
                        conversation_id.map(ConversationId),
                        client_msg_id,
                        body,
                        files,
                    )
                    .await
            }
            Peer::Member { .. } => {
                let id = ConversationId(
                    conversation_id
                        .ok_or_else(|| ServiceError::invalid("conversation_id", "required"))?,
                );
                let access = self.member_access(id).await?;
                services
                    .agent_send_with(&access, id, body, private, client_msg_id, files)
                    .await
            }
        }
    }

    /// Relayed to the others in the conversation; never stored.
    async fn typing(
        &self,
        id: ConversationId,
        on: bool,
        private: bool,
    ) -> Result<(), ServiceError> {
        let services = &self.state.services;
        match &self.peer {
            Peer::Visitor(v) => services.visitor_typing(v, id, on).await,
            Peer::Member { .. } => {
                let access = self.member_access(id).await?;
                services.member_typing(&access, id, on, private).await
            }
        }
    }

    /// Members' "also viewing" cue; a visitor has no such thing to say.
    async fn viewing(&self, id: ConversationId, on: bool) -> Result<(), ServiceError> {
        match &self.peer {
            Peer::Visitor(_) => Err(ServiceError::Forbidden("forbidden")),
            Peer::Member { .. } => {
                let access = self.member_access(id).await?;
                self.state.services.member_viewing(&access, id, on).await
            }
        }
    }

    async fn read(&self, id: ConversationId, seq: i64) -> Result<(), ServiceError> {
        let services = &self.state.services;
        match &self.peer {
            Peer::Visitor(v) => services.visitor_read(v, id, seq).await.map(drop),
            Peer::Member { .. } => {
                let access = self.member_access(id).await?;
                services.member_read(&access, id, seq).await.map(drop)
            }
        }
    }

    /// The member's access to the workspace holding this conversation.
    async fn member_access(&self, id: ConversationId) -> Result<Access, ServiceError> {
        let Peer::Member {
            principal, roles, ..
        } = &self.peer
        else {
            return Err(ServiceError::Forbidden("forbidden"));
        };
        for ws in roles.keys() {
            if self
                .state
                .services
                .store
                .get_conversation(*ws, id)
                .await
                .is_ok()
            {
                let ctx = Ctx {
                    principal: principal.clone(),
                    ip: self.ip.clone(),
                };
                return self.state.services.access(ctx, *ws).await;
            }
        }
        Err(ServiceError::NotFound("conversation"))
    }

    /// Every message after `after_seq` the peer may see, oldest first.
    async fn replay(
        &self,
        id: ConversationId,
        after_seq: i64,
    ) -> Result<Vec<ServerFrame>, ServiceError> {
        let services = &self.state.services;
        let access = match &self.peer {
            Peer::Visitor(_) => None,
            Peer::Member { .. } => Some(self.member_access(id).await?),
        };
        let mut frames = Vec::new();
        let mut after = after_seq;
        loop {
            let page = match (&self.peer, &access) {
                (Peer::Visitor(v), _) => {
                    services
                        .visitor_messages(v, id, Window::After(after), MAX_PAGE)
                        .await?
                }
                (_, Some(a)) => {
                    services
                        .conversation_messages(a, id, Window::After(after), MAX_PAGE)
                        .await?
                }
                _ => Vec::new(),
            };
            let Some(last) = page.last().map(|m| m.seq) else {
                break;
            };
            after = last;
            frames.extend(page.iter().map(created));
            if (page.len() as i64) < MAX_PAGE {
                break;
            }
        }
        Ok(frames)
    }
}

/// The same code and words the REST API would answer with.
fn error_frame(e: ServiceError, reference: Option<String>) -> ServerFrame {
    let api = ApiError::from(e);
    let mut message = api.message;
    if let Some(fields) = api.details.as_ref().and_then(|d| d.get("fields")) {
        message = format!("{message} {fields}");
    }
    ServerFrame::error(api.code, message, reference)
}

/// Runs `f` when dropped (however the socket's task ends).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}
