//! The publisher task: owns the publishing connection and drains the queue
//! that `RedisBus::publish` fills without waiting.

use super::health::{Backoff, Link};
use super::{connection_config, pause, set_name, Outgoing, Shared, HEARTBEAT};
use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Events sent to Redis in one pipeline at most.
const MAX_BATCH: usize = 64;

pub(super) async fn run(
    shared: Arc<Shared>,
    client: redis::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    stop: CancellationToken,
) {
    let name = format!("{}-pub", shared.client_name);
    let mut backoff = Backoff::new();
    loop {
        let lost = Arc::new(Notify::new());
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            res = connect(&client, &name, lost.clone()) => res,
        };
        let failure = match connected {
            Ok(mut con) => {
                // Whatever slipped into the queue while the link was down
                // is stale: the outage already cost those events.
                discard_queued(&shared, &mut queue);
                backoff.reset();
                shared.health.up(Link::Publisher, &shared.endpoint);
                shared.commands.send_replace(Some(con.clone()));
                let served = serve(&shared, &mut con, &mut queue, &lost).await;
                // Limit checks stop using it at once (and answer locally)
                // rather than wait on a dead link.
                shared.commands.send_replace(None);
                match served {
                    // The bus was dropped and the queue is flushed.
                    None => return,
                    Some(why) => why,
                }
            }
            Err(e) => e.to_string(),
        };
        shared
            .health
            .down(Link::Publisher, &shared.endpoint, &failure);
        discard_queued(&shared, &mut queue);
        if !pause(&stop, backoff.next_delay()).await {
            return;
        }
    }
}

async fn connect(
    client: &redis::Client,
    name: &str,
    lost: Arc<Notify>,
) -> redis::RedisResult<MultiplexedConnection> {
    // Nothing is pushed to this connection but the library's own notice
    // that it closed: a connection Redis dropped is noticed at once, not at
    // the next command.
    let on_push = move |push: PushInfo| -> Result<(), Infallible> {
        if push.kind == PushKind::Disconnection {
            lost.notify_one();
        }
        Ok(())
    };
    let mut con = client
        .get_multiplexed_async_connection_with_config(&connection_config().set_push_sender(on_push))
        .await?;
    set_name(&mut con, name).await?;
    Ok(con)
}

/// Publishes until the connection fails (`Some(why)`) or the queue is
/// closed and empty (`None`). An idle connection is also pinged, so one
/// that went silent (no close, as in a partition) is noticed without
/// waiting for the next event.
async fn serve(
    shared: &Shared,
    con: &mut MultiplexedConnection,
    queue: &mut mpsc::Receiver<Outgoing>,
    lost: &Notify,
) -> Option<String> {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    heartbeat.reset();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // Both branches are cancel-safe: losing the race loses nothing.
        tokio::select! {
            n = queue.recv_many(&mut batch, MAX_BATCH) => {
                if n == 0 {
                    return None;
                }
                let sent = publish(shared, con, &batch).await;
                let count = batch.len() as u64;
                batch.clear();
                if let Err(e) = sent {
                    shared.dropped(count);
                    return Some(e.to_string());
                }
                shared.published.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
                heartbeat.reset();
            }
            _ = lost.notified() => return Some("connection closed".into()),
            _ = heartbeat.tick() => {
                if let Err(e) = redis::cmd("PING").exec_async(con).await {
                    return Some(e.to_string());
                }
            }
        }
    }
}

async fn publish(
    shared: &Shared,
    con: &mut MultiplexedConnection,
    batch: &[Outgoing],
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    for out in batch {
        match shared.encode(&out.event) {
            Ok(payload) => {
                pipe.cmd("PUBLISH").arg(&out.channel).arg(payload).ignore();
            }
            // Cannot happen for our own types; never worth a dead link.
            Err(e) => {
                tracing::error!(error = %e, "event bus: cannot encode an event");
                shared.dropped(1);
            }
        }
    }
    pipe.exec_async(con).await
}

fn discard_queued(shared: &Shared, queue: &mut mpsc::Receiver<Outgoing>) {
    let mut n = 0;
    while queue.try_recv().is_ok() {
        n += 1;
    }
    if n > 0 {
        shared.dropped(n);
    }
}
