//! The subscriber task: one RESP3 connection with `PSUBSCRIBE kefu:*`,
//! handing other replicas' events to the local topics that want them.

use super::health::{Backoff, Link};
use super::{connection_config, pause, set_name, Shared, HEARTBEAT, PATTERN};
use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

pub(super) async fn run(shared: Arc<Shared>, client: redis::Client, stop: CancellationToken) {
    let name = format!("{}-sub", shared.client_name);
    let mut backoff = Backoff::new();
    // A subscription that comes back after a loss, or after failed first
    // attempts (sockets may have been served meanwhile), may have missed
    // events; the very first, at once, has not.
    let mut lost_once = false;
    loop {
        // A fresh signal per connection: a stale notification from the last
        // one must not cut the next one short.
        let lost = Arc::new(Notify::new());
        let subscribed = tokio::select! {
            _ = stop.cancelled() => return,
            res = subscribe(&shared, &client, &name, lost.clone()) => res,
        };
        let failure = match subscribed {
            Ok(mut con) => {
                backoff.reset();
                shared.health.up(Link::Subscriber, &shared.endpoint);
                if lost_once {
                    // Other replicas' events of the outage are gone: tell
                    // the followers to catch up from the database.
                    shared.resync.send_modify(|n| *n += 1);
                }
                match watch(&mut con, &lost, &stop).await {
                    None => return,
                    Some(reason) => reason,
                }
            }
            Err(e) => e.to_string(),
        };
        lost_once = true;
        shared
            .health
            .down(Link::Subscriber, &shared.endpoint, &failure);
        if !pause(&stop, backoff.next_delay()).await {
            return;
        }
    }
}

async fn subscribe(
    shared: &Arc<Shared>,
    client: &redis::Client,
    name: &str,
    lost: Arc<Notify>,
) -> redis::RedisResult<MultiplexedConnection> {
    // Runs on the connection's reader: it must not block. Decoding and a
    // broadcast send are quick, and events for topics nobody here listens
    // to are dropped before they are decoded.
    let handler = {
        let shared = shared.clone();
        move |push: PushInfo| -> Result<(), Infallible> {
            match push.kind {
                PushKind::PMessage => shared.deliver(&push.data),
                PushKind::Disconnection => lost.notify_one(),
                _ => {}
            }
            Ok(())
        }
    };
    let config = connection_config().set_push_sender(handler);
    let mut con = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    set_name(&mut con, name).await?;
    con.psubscribe(PATTERN).await?;
    Ok(con)
}

/// Keeps the subscription until the connection is lost (`Some(why)`) or the
/// bus is dropped (`None`).
async fn watch(
    con: &mut MultiplexedConnection,
    lost: &Notify,
    stop: &CancellationToken,
) -> Option<String> {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    heartbeat.reset();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = lost.notified() => return Some("connection closed".into()),
            _ = heartbeat.tick() => {
                if let Err(e) = redis::cmd("PING").exec_async(con).await {
                    return Some(e.to_string());
                }
            }
        }
    }
}
