//! Test support (feature `testing`): a TCP proxy in front of Redis that a
//! test can cut or stall, to play an outage or a silent network partition
//! to the buses behind it without touching the shared Redis server or the
//! other tests using it.

use kefu_domain::bus::Event;
use kefu_domain::WorkspaceId;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The env var that points the Redis suites at a server.
pub const REDIS_ENV: &str = "KEFU_TEST_REDIS_URL";

/// `KEFU_TEST_REDIS_URL`; panics when unset — a Redis test that quietly
/// passes without Redis would prove nothing.
pub fn redis_url() -> String {
    std::env::var(REDIS_ENV).unwrap_or_else(|_| {
        panic!(
            "{REDIS_ENV} is not set. The Redis bus tests need a server, e.g. \
             {REDIS_ENV}=redis://127.0.0.1:6379 (scripts/test sets this default)"
        )
    })
}

/// A `conversation.updated` event in workspace `ws`, fresh ids each time.
/// Built from JSON, naming every field a conversation has had, so it keeps
/// compiling as the record grows (unknown fields are ignored, and new
/// optional ones default to none).
pub fn event(ws: WorkspaceId) -> Arc<Event> {
    let now = kefu_domain::truncate_to_micros_now();
    let value = serde_json::json!({
        "kind": "conversation_updated",
        "conversation": {
            "id": kefu_domain::ConversationId::new(),
            "workspace_id": ws,
            "inbox_id": kefu_domain::InboxId::new(),
            "contact_id": kefu_domain::ContactId::new(),
            "status": "queued",
            "priority": 0,
            "assignee_id": null,
            "team_id": null,
            "assignment_reason": null,
            "queued_at": now,
            "labels": [],
            "last_seq": 0,
            "created_at": now,
            "updated_at": now,
        }
    });
    Arc::new(serde_json::from_value(value).expect("a conversation.updated event"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forward bytes both ways.
    Pass,
    /// Close every connection and refuse new ones (Redis down).
    Cut,
    /// Keep connections open but forward nothing, and leave new ones
    /// hanging (a partition: no FIN, no RST, just silence).
    Stall,
}

/// A proxy to the Redis of a `redis://` URL; see [`RedisProxy::url`].
#[derive(Debug)]
pub struct RedisProxy {
    url: String,
    mode: Arc<watch::Sender<Mode>>,
    task: tokio::task::JoinHandle<()>,
}

impl RedisProxy {
    /// Listens on 127.0.0.1 (any free port) and forwards to `redis_url`'s
    /// host and port. Must run inside a Tokio runtime.
    pub async fn start(redis_url: &str) -> Self {
        let upstream = authority(redis_url)
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(Mode::Pass);
        let mode = Arc::new(mode);
        let task = tokio::spawn(accept(listener, upstream, mode.clone()));
        Self {
            url: with_address(redis_url, addr),
            mode,
            task,
        }
    }

    /// The URL to give the bus: the original one, aimed at the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Redis goes away: connections close, new ones are refused.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// The network goes silent: nothing is closed, nothing gets through.
    pub fn stall(&self) {
        self.mode.send_replace(Mode::Stall);
    }

    /// Back to normal (connections cut or stalled before stay gone).
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Pass);
    }
}

impl Drop for RedisProxy {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Cut);
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: String, mode: Arc<watch::Sender<Mode>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let mode = mode.subscribe();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let current = *mode.borrow();
            match current {
                Mode::Pass => pipe(client, &upstream, mode).await,
                Mode::Cut => drop(client),
                Mode::Stall => hold(client, mode).await,
            }
        });
    }
}

/// Forwards until either side closes or the mode changes.
async fn pipe(mut client: TcpStream, upstream: &str, mut mode: watch::Receiver<Mode>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let stalled = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        changed = mode.wait_for(|m| *m != Mode::Pass) => {
            matches!(changed.as_deref(), Ok(Mode::Stall))
        }
    };
    if stalled {
        // Silence: keep both sockets, read and write nothing.
        let _ = mode.wait_for(|m| *m != Mode::Stall).await;
    }
    let _ = client.shutdown().await;
}

/// A connection made during a stall: accepted, never answered.
async fn hold(client: TcpStream, mut mode: watch::Receiver<Mode>) {
    let _ = mode.wait_for(|m| *m != Mode::Stall).await;
    drop(client);
}

/// `redis://user:pw@host:port/0?x` → `user:pw@host:port`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
}

/// The URL with its host and port replaced (credentials, db kept).
fn with_address(url: &str, addr: SocketAddr) -> String {
    let auth = authority(url);
    let start = url.find(auth).unwrap_or(0);
    let host_start = start + auth.rfind('@').map_or(0, |i| i + 1);
    format!("{}{addr}{}", &url[..host_start], &url[start + auth.len()..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn rewrites_the_address_only() {
        let addr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(
            super::with_address("redis://127.0.0.1:6379", addr),
            "redis://127.0.0.1:4000"
        );
        assert_eq!(
            super::with_address("redis://u:p@redis.internal:6380/2?protocol=resp3", addr),
            "redis://u:p@127.0.0.1:4000/2?protocol=resp3"
        );
        assert_eq!(super::authority("redis://u:p@h:1/2"), "u:p@h:1");
    }
}
