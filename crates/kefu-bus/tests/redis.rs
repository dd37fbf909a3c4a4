//! `RedisBus` against a real Redis (`KEFU_TEST_REDIS_URL`): two buses in one
//! process play two replicas. Topics are random, connections are found by
//! their unique names, and outages are played through a private proxy, so
//! these tests run in parallel with each other and with anything else using
//! the same Redis.

use kefu_bus::testing::{event, redis_url, RedisProxy};
use kefu_bus::RedisBus;
use kefu_domain::bus::{Bus, Event, Topic};
use kefu_domain::WorkspaceId;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::{self, error::TryRecvError};

fn topic() -> (WorkspaceId, Topic) {
    let ws = WorkspaceId::new();
    (ws, Topic::Workspace(ws))
}

async fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn healthy(bus: &RedisBus) {
    wait_until("bus healthy", Duration::from_secs(10), || bus.healthy()).await;
}

async fn recv(rx: &mut broadcast::Receiver<Arc<Event>>) -> Arc<Event> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event within 5 s")
        .expect("no lag")
}

/// Nothing more arrives for a while.
async fn quiet(rx: &mut broadcast::Receiver<Arc<Event>>) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
}

/// Sends on `from` and expects exactly one copy on each of `to` (a
/// subscriber on `from` itself included).
async fn exchange(from: &RedisBus, topic: &Topic, ws: WorkspaceId, to: &[&RedisBus]) {
    let mut rxs: Vec<_> = to.iter().map(|b| b.subscribe(topic)).collect();
    let e = event(ws);
    from.publish(topic, e.clone());
    for (i, rx) in rxs.iter_mut().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} → {}: nothing within 5 s",
                    from.client_name(),
                    to[i].client_name()
                )
            })
            .expect("no lag");
        assert_eq!(got, e);
    }
    for rx in &mut rxs {
        quiet(rx).await;
    }
}

async fn admin() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("KEFU_TEST_REDIS_URL answers")
}

/// `(id, name)` of every client whose name starts with `prefix`.
async fn clients(prefix: &str) -> Vec<(String, String)> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin().await)
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

/// Kills the connections whose name starts with `prefix`; returns how many.
async fn kill(prefix: &str) -> usize {
    let victims = clients(prefix).await;
    let mut con = admin().await;
    for (id, _) in &victims {
        let _: () = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    victims.len()
}

#[tokio::test]
async fn two_replicas_exchange_events_on_their_topics_only() {
    let url = redis_url();
    let (a, b) = (
        RedisBus::connect(&url, 64).unwrap(),
        RedisBus::connect(&url, 64).unwrap(),
    );
    assert_ne!(a.node_id(), b.node_id());
    healthy(&a).await;
    healthy(&b).await;
    let (ws, t) = topic();
    let (other_ws, other) = topic();
    let mut b_other = b.subscribe(&other);
    let mut a_other = a.subscribe(&other);

    // Own subscriber once (locally, not again via Redis); the other replica once.
    exchange(&a, &t, ws, &[&a, &b]).await;
    exchange(&b, &t, ws, &[&a, &b]).await;
    // A replica with no subscriber on the topic is not bothered.
    exchange(&a, &t, ws, &[&a]).await;
    quiet(&mut b_other).await;
    quiet(&mut a_other).await;
    // Events keep their order between replicas.
    let mut on_b = b.subscribe(&t);
    let sent: Vec<_> = (0..20).map(|_| event(ws)).collect();
    for e in &sent {
        a.publish(&t, e.clone());
    }
    for e in &sent {
        assert_eq!(&recv(&mut on_b).await, e);
    }
    exchange(&b, &other, other_ws, &[&a, &b]).await;
    assert_eq!(a.publish_failures() + b.publish_failures(), 0);
    // The metrics' view: everything published reached Redis; b received
    // (and timed) at least the 20 in order.
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.publish_failures + sb.publish_failures, 0);
    assert!(sa.published >= 22, "{sa:?}");
    assert!(sb.received >= 21 && sb.lag_count == sb.received, "{sb:?}");
    assert!(
        (0.0..5.0).contains(&(sb.lag_seconds_sum / sb.lag_count as f64)),
        "{sb:?}"
    );
}

#[tokio::test]
async fn killed_connections_are_noticed_and_restored() {
    let url = redis_url();
    let (a, b) = (
        RedisBus::connect(&url, 64).unwrap(),
        RedisBus::connect(&url, 64).unwrap(),
    );
    healthy(&a).await;
    healthy(&b).await;
    let named = clients(a.client_name()).await;
    let mut names: Vec<_> = named.into_iter().map(|(_, n)| n).collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{}-pub", a.client_name()),
            format!("{}-sub", a.client_name())
        ]
    );
    let (ws, t) = topic();

    // Both connections at once (as a Redis restart would).
    assert_eq!(kill(a.client_name()).await, 2);
    wait_until(
        "unhealthy after CLIENT KILL",
        Duration::from_secs(3),
        || !a.healthy(),
    )
    .await;
    healthy(&a).await;
    exchange(&a, &t, ws, &[&a, &b]).await;
    exchange(&b, &t, ws, &[&a, &b]).await;

    // The publishing connection alone: noticed by its heartbeat.
    assert_eq!(kill(&format!("{}-pub", a.client_name())).await, 1);
    wait_until(
        "unhealthy after killing the publisher",
        Duration::from_secs(3),
        || !a.healthy(),
    )
    .await;
    healthy(&a).await;
    exchange(&a, &t, ws, &[&a, &b]).await;

    // The subscription alone.
    assert_eq!(kill(&format!("{}-sub", a.client_name())).await, 1);
    wait_until(
        "unhealthy after killing the subscriber",
        Duration::from_secs(3),
        || !a.healthy(),
    )
    .await;
    healthy(&a).await;
    exchange(&b, &t, ws, &[&a, &b]).await;
    assert!(b.healthy());
}

#[tokio::test]
async fn an_outage_keeps_local_delivery_and_heals() {
    let proxy = RedisProxy::start(&redis_url()).await;
    let a = RedisBus::connect(proxy.url(), 64).unwrap();
    let b = RedisBus::connect(&redis_url(), 64).unwrap();
    healthy(&a).await;
    healthy(&b).await;
    let (ws, t) = topic();
    exchange(&a, &t, ws, &[&a, &b]).await;
    let (resync_a, resync_b) = (a.resyncs(), b.resyncs());
    assert_eq!(*resync_a.borrow(), 0, "no resync for the first connection");

    proxy.cut();
    wait_until(
        "unhealthy once Redis is gone",
        Duration::from_secs(3),
        || !a.healthy(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!a.healthy(), "stays unhealthy while Redis is away");
    // This replica's own clients still hear each other; the others cannot.
    let before = a.publish_failures();
    exchange(&a, &t, ws, &[&a]).await;
    assert!(a.publish_failures() > before, "the lost event is counted");

    proxy.restore();
    healthy(&a).await;
    exchange(&a, &t, ws, &[&a, &b]).await;
    // b's events of the outage never reached a: its followers are told to
    // catch up (once), b's (which never lost Redis) are not.
    assert_eq!(*resync_a.borrow(), 1, "a resync after the outage");
    assert!(resync_a.has_changed().unwrap());
    assert_eq!(*resync_b.borrow(), 0);
    exchange(&b, &t, ws, &[&a, &b]).await;
}

#[tokio::test]
async fn a_silent_partition_is_noticed_by_the_heartbeat() {
    let proxy = RedisProxy::start(&redis_url()).await;
    let a = RedisBus::connect(proxy.url(), 64).unwrap();
    let b = RedisBus::connect(&redis_url(), 64).unwrap();
    healthy(&a).await;
    healthy(&b).await;
    let started = Instant::now();
    proxy.stall();
    wait_until("unhealthy in a partition", Duration::from_secs(5), || {
        !a.healthy()
    })
    .await;
    eprintln!("partition noticed after {:?}", started.elapsed());
    proxy.restore();
    healthy(&a).await;
    let (ws, t) = topic();
    exchange(&a, &t, ws, &[&a, &b]).await;
    exchange(&b, &t, ws, &[&a, &b]).await;
}

#[tokio::test]
async fn unreachable_at_start_up_it_starts_unhealthy_and_keeps_trying() {
    let proxy = RedisProxy::start(&redis_url()).await;
    proxy.cut();
    let a = RedisBus::connect(proxy.url(), 64).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!a.healthy());
    // Local delivery works from the first moment.
    let (ws, t) = topic();
    exchange(&a, &t, ws, &[&a]).await;
    proxy.restore();
    healthy(&a).await;
    let b = RedisBus::connect(&redis_url(), 64).unwrap();
    healthy(&b).await;
    exchange(&b, &t, ws, &[&a, &b]).await;
}

#[tokio::test]
async fn publishing_never_waits_for_redis() {
    let proxy = RedisProxy::start(&redis_url()).await;
    let a = RedisBus::connect(proxy.url(), 4).unwrap();
    healthy(&a).await;
    // Redis stops answering while the bus still believes it is up: the
    // publisher hangs on its first batch, the small queue fills, and every
    // further event is dropped and counted — at once.
    proxy.stall();
    let (ws, t) = topic();
    let mut local = a.subscribe(&t);
    let started = Instant::now();
    for _ in 0..100 {
        a.publish(&t, event(ws));
    }
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert!(a.publish_failures() >= 90, "{}", a.publish_failures());
    // Local subscribers got what their capacity allows, without waiting.
    assert!(matches!(local.try_recv(), Err(TryRecvError::Lagged(_))));
    proxy.restore();
    healthy(&a).await;
}

#[tokio::test]
async fn dropping_the_bus_closes_its_connections() {
    let a = RedisBus::connect(&redis_url(), 8).unwrap();
    healthy(&a).await;
    let name = a.client_name().to_string();
    assert_eq!(clients(&name).await.len(), 2);
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !clients(&name).await.is_empty() {
        assert!(Instant::now() < deadline, "connections still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_password_is_never_logged() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || sink.clone())
        .finish();
    // A current-thread runtime: the bus's tasks log on this thread too.
    let _guard = tracing::subscriber::set_default(subscriber);
    let proxy = RedisProxy::start(&redis_url()).await;
    proxy.cut();
    let url = proxy
        .url()
        .replacen("redis://", "redis://kefu:pw-s3cr3t-9@", 1);
    let a = RedisBus::connect(&url, 8).unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Now Redis answers, and refuses the credentials (no such user).
    proxy.restore();
    // The next attempt comes after the bus's back-off, which a loaded
    // machine stretches: wait for the refusal rather than a fixed time.
    let logged = || String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !logged().contains("WRONGPASS") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!a.healthy());
    drop(a);
    let text = logged();
    assert!(text.contains("cannot reach Redis at start-up"), "{text}");
    assert!(!text.contains("pw-s3cr3t-9"), "{text}");
    assert!(
        text.contains("WRONGPASS"),
        "the refusal is logged (at debug): {text}"
    );
    // One warning for the outage, however many attempts failed.
    assert_eq!(text.matches("WARN").count(), 1, "{text}");
}

/// A Redis that speaks TLS only, with a certificate from a throwaway CA
/// (made with the `openssl` command); killed when dropped.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    ca: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_redis() -> TlsRedis {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-days",
                "1",
                "-subj",
                "/CN=Kefu test CA",
                "-keyout",
                &p("ca.key"),
                "-out",
                &p("ca.pem"),
            ][..],
            &ec,
        ]
        .concat(),
    );
    openssl(
        &[
            &[
                "req",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &p("server.key"),
                "-out",
                &p("server.csr"),
            ][..],
            &ec,
        ]
        .concat(),
    );
    std::fs::write(p("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-days",
        "1",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-extfile",
        &p("san.ext"),
        "-out",
        &p("server.pem"),
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            &p("server.pem"),
            "--tls-key-file",
            &p("server.key"),
        ])
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server runs (the PostgreSQL/Redis machine has it)");
    let ca = std::fs::read(p("ca.pem")).unwrap();
    TlsRedis {
        child,
        port,
        ca,
        _dir: dir,
    }
}

/// `rediss://`: replicas exchange events over TLS, trusting the CA they are
/// given; one that does not trust it never connects (the certificate is
/// checked, not merely accepted).
#[tokio::test]
async fn rediss_speaks_tls_and_checks_the_certificate() {
    let server = tls_redis();
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let a = RedisBus::connect_with_ca(&url, 64, Some(&server.ca)).unwrap();
    let b = RedisBus::connect_with_ca(&url, 64, Some(&server.ca)).unwrap();
    healthy(&a).await;
    healthy(&b).await;
    let (ws, t) = topic();
    exchange(&a, &t, ws, &[&a, &b]).await;
    exchange(&b, &t, ws, &[&a, &b]).await;

    let untrusting = RedisBus::connect(&url, 64).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !untrusting.healthy(),
        "connected to a server it should not trust"
    );
    assert!(matches!(
        RedisBus::connect_with_ca(&url, 64, Some(b"not a certificate")),
        Err(kefu_bus::BusError::InvalidCa(_))
    ));
}
