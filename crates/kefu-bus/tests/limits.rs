//! `RedisLimits` against a real Redis (`KEFU_TEST_REDIS_URL`): two buses in
//! one process play two replicas sharing the counters. Keys are random, so
//! these tests run in parallel with each other and with anything else using
//! the same Redis; outages are played through a private proxy.

use kefu_bus::testing::{redis_url, RedisProxy};
use kefu_bus::{RedisBus, RedisLimits};
use kefu_domain::bus::Bus;
use kefu_domain::limits::{BucketRule, Limits, LockoutRule, WindowRule};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &[u8] = b"limits-test-signing-key-0123456789abcdef";
const SCOPE: &str = "test";

/// A bus on `url`, connected, and its limits.
async fn replica(url: &str) -> (RedisBus, Arc<RedisLimits>) {
    let bus = RedisBus::connect(url, 64).expect("a valid URL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !bus.healthy() {
        assert!(
            Instant::now() < deadline,
            "Redis at KEFU_TEST_REDIS_URL did not answer within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let limits = Arc::new(bus.limits(SECRET));
    (bus, limits)
}

/// A key nobody else uses.
fn fresh_key() -> String {
    format!("user-{:016x}@example.com", rand::random::<u64>())
}

async fn admin() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("KEFU_TEST_REDIS_URL answers")
}

/// Waits for every task, in order.
async fn all<T: Send + 'static>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let tasks: Vec<_> = tasks.collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("the task completes"));
    }
    out
}

async fn pttl(key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut admin().await)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_is_counted_once_over_replicas_and_concurrent_callers() {
    let url = redis_url();
    let (_a, la) = replica(&url).await;
    let (_b, lb) = replica(&url).await;
    let key = fresh_key();
    let rule = WindowRule {
        limit: 20,
        window: Duration::from_secs(60),
        max_tracked: 10,
    };
    let calls = (0..60).map(|i| {
        let l = if i % 2 == 0 { la.clone() } else { lb.clone() };
        let key = key.clone();
        tokio::spawn(async move { l.hit(SCOPE, &key, &rule).await })
    });
    let results = all(calls).await;
    let allowed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(allowed, 20, "exactly the limit, over both replicas");
    let refused = results.into_iter().find_map(Result::err).unwrap();
    assert!(
        refused > Duration::from_secs(58) && refused <= Duration::from_secs(60),
        "{refused:?}"
    );
    assert_eq!(la.backend_errors() + lb.backend_errors(), 0);
    let ttl = pttl(&la.redis_key(SCOPE, &key)).await;
    assert!(
        (58_000..=60_000).contains(&ttl),
        "the counter expires: {ttl}"
    );
}

#[tokio::test]
async fn a_window_ends_with_its_ttl() {
    let (_a, l) = replica(&redis_url()).await;
    let key = fresh_key();
    let rule = WindowRule {
        limit: 2,
        window: Duration::from_secs(1),
        max_tracked: 10,
    };
    l.hit(SCOPE, &key, &rule).await.unwrap();
    l.hit(SCOPE, &key, &rule).await.unwrap();
    let retry = l.hit(SCOPE, &key, &rule).await.unwrap_err();
    assert!(
        retry <= Duration::from_secs(1) && !retry.is_zero(),
        "{retry:?}"
    );
    tokio::time::sleep(retry + Duration::from_millis(50)).await;
    assert!(l.hit(SCOPE, &key, &rule).await.is_ok(), "a new window");
    assert_eq!(l.backend_errors(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_over_replicas_lock_the_account_and_a_success_clears() {
    let url = redis_url();
    let (_a, la) = replica(&url).await;
    let (_b, lb) = replica(&url).await;
    let rule = LockoutRule {
        failures: 3,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(2),
        max_tracked: 10,
    };
    // A success clears the failures before it: two failures, a success on
    // the other replica, two failures, and a third attempt still goes in.
    let key = fresh_key();
    for l in [&la, &lb] {
        l.reserve(SCOPE, &key, &rule).await.unwrap();
        assert!(!l.failed(SCOPE, &key, &rule).await);
    }
    la.reserve(SCOPE, &key, &rule).await.unwrap();
    lb.clear(SCOPE, &key).await;
    for l in [&lb, &la] {
        l.reserve(SCOPE, &key, &rule).await.unwrap();
        assert!(!l.failed(SCOPE, &key, &rule).await);
    }
    lb.reserve(SCOPE, &key, &rule)
        .await
        .expect("the success cleared the first two failures");
    // Three failures, alternating replicas, lock it for everyone.
    let key = fresh_key();
    let mut locked_by = Vec::new();
    for l in [&la, &lb, &la] {
        l.reserve(SCOPE, &key, &rule).await.unwrap();
        locked_by.push(l.failed(SCOPE, &key, &rule).await);
    }
    assert_eq!(locked_by, [false, false, true], "the third failure locks");
    for l in [&la, &lb] {
        let left = l.reserve(SCOPE, &key, &rule).await.unwrap_err();
        assert!(
            left > Duration::from_millis(1500) && left <= Duration::from_secs(2),
            "{left:?}"
        );
    }
    let lock = format!("{}:lock", la.redis_key(SCOPE, &key));
    assert!((1..=2000).contains(&pttl(&lock).await), "the lock expires");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    lb.reserve(SCOPE, &key, &rule)
        .await
        .expect("unlocked after the lockout, with a fresh count");
    lb.clear(SCOPE, &key).await;
    assert_eq!(pttl(&lock).await, -2, "gone");
    assert_eq!(la.backend_errors() + lb.backend_errors(), 0);
}

/// Reservations happen before the outcome is known: of many parallel
/// attempts on both replicas, only `failures` get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_attempts_over_replicas_cannot_exceed_the_limit() {
    let url = redis_url();
    let (_a, la) = replica(&url).await;
    let (_b, lb) = replica(&url).await;
    let key = fresh_key();
    let rule = LockoutRule {
        failures: 5,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(60),
        max_tracked: 10,
    };
    let calls = (0..40).map(|i| {
        let l = if i % 2 == 0 { la.clone() } else { lb.clone() };
        let key = key.clone();
        tokio::spawn(async move { l.reserve(SCOPE, &key, &rule).await })
    });
    let results = all(calls).await;
    let allowed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(allowed, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_is_shared_refills_on_server_time_and_expires() {
    let url = redis_url();
    let (_a, la) = replica(&url).await;
    let (_b, lb) = replica(&url).await;
    let key = format!("203.0.113.{}", rand::random::<u64>());
    let scope = "test_bucket";
    let rule = BucketRule {
        per_second: 2.0,
        burst: 10,
        max_tracked: 10,
    };
    let calls = (0..40).map(|i| {
        let l = if i % 2 == 0 { la.clone() } else { lb.clone() };
        let key = key.clone();
        tokio::spawn(async move { l.take(scope, &key, &rule).await })
    });
    let results = all(calls).await;
    let allowed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(allowed, 10, "the burst, over both replicas");
    assert_eq!(lb.take(scope, &key, &rule).await, Err(1), "retry_after");
    let ttl = pttl(&la.redis_key(scope, &key)).await;
    assert!(
        (1..=6_000).contains(&ttl),
        "expires once it would be full again: {ttl}"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(la.take(scope, &key, &rule).await.is_ok(), "refilled at 2/s");
    assert!(lb.take(scope, &key, &rule).await.is_err());
    assert_eq!(la.backend_errors() + lb.backend_errors(), 0);
}

#[tokio::test]
async fn keys_are_bounded_digests_named_by_the_secret() {
    let (bus, l) = replica(&redis_url()).await;
    let k = l.redis_key("login_account", "alice@example.com");
    assert!(k.starts_with("kefu:rl:login_account:{"), "{k}");
    assert!(!k.contains("alice") && !k.contains("example"), "{k}");
    let long = l.redis_key("login_account", &"x".repeat(100_000));
    assert_eq!(long.len(), k.len(), "bounded whatever the input");
    assert_eq!(
        k,
        bus.limits(SECRET)
            .redis_key("login_account", "alice@example.com"),
        "replicas with one secret agree"
    );
    assert_ne!(
        k,
        bus.limits(b"another-deployment-key-0123456789")
            .redis_key("login_account", "alice@example.com")
    );
    assert_ne!(k, l.redis_key("login_ip", "alice@example.com"), "per scope");
}

/// Redis gone or silent: the replica's own counters answer — still
/// limited, never unlimited — within the call budget, and it is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_local_counters_answer_quickly() {
    let proxy = RedisProxy::start(&redis_url()).await;
    let (_bus, l) = replica(proxy.url()).await;
    let rule = WindowRule {
        limit: 2,
        window: Duration::from_secs(60),
        max_tracked: 10,
    };
    let bucket = BucketRule {
        per_second: 0.01,
        burst: 1,
        max_tracked: 10,
    };
    let lockout = LockoutRule {
        failures: 1,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(60),
        max_tracked: 10,
    };

    // Silent (a partition): each call waits no longer than the budget.
    proxy.stall();
    let key = fresh_key();
    let started = Instant::now();
    assert!(l.hit(SCOPE, &key, &rule).await.is_ok());
    let waited = started.elapsed();
    assert!(
        waited >= kefu_bus::LIMITS_CALL_TIMEOUT && waited < Duration::from_secs(1),
        "{waited:?}"
    );
    assert_eq!(l.backend_errors(), 1);

    // Down: no waiting at all once the link is known lost.
    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let started = Instant::now();
        let _ = l.take(SCOPE, &fresh_key(), &bucket).await;
        if started.elapsed() < Duration::from_millis(50) {
            break;
        }
        assert!(Instant::now() < deadline, "the lost link was not noticed");
    }
    let key = fresh_key();
    assert!(l.hit(SCOPE, &key, &rule).await.is_ok());
    assert!(l.hit(SCOPE, &key, &rule).await.is_ok());
    assert!(
        l.hit(SCOPE, &key, &rule).await.is_err(),
        "still limited (locally)"
    );
    let key = fresh_key();
    assert!(l.take(SCOPE, &key, &bucket).await.is_ok());
    assert_eq!(l.take(SCOPE, &key, &bucket).await, Err(100));
    let key = fresh_key();
    l.reserve(SCOPE, &key, &lockout).await.unwrap();
    assert!(l.failed(SCOPE, &key, &lockout).await, "locks locally");
    assert!(l.reserve(SCOPE, &key, &lockout).await.is_err());
    l.clear(SCOPE, &key).await;
    assert!(
        l.reserve(SCOPE, &key, &lockout).await.is_ok(),
        "a success clears the local lock"
    );
    let errors = l.backend_errors();
    assert!(errors >= 9, "every fallback is counted: {errors}");

    // Back: Redis decides again.
    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    let key = fresh_key();
    loop {
        let before = l.backend_errors();
        let _ = l.hit(SCOPE, &key, &rule).await;
        if l.backend_errors() == before {
            break;
        }
        assert!(Instant::now() < deadline, "Redis did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        pttl(&l.redis_key(SCOPE, &key)).await > 0,
        "counted in Redis"
    );
}
