//! F1–F4 with real processes: each worker is this executable run again,
//! with a `Client` of its own on a real Redis (`BACKREST_REDIS_URL`, which
//! `.ci/run` starts) and one origin that counts what it receives.

mod common;

use std::time::{Duration, Instant};

use backrest_testkit::{Gate, Reply};
use common::{PrivateRedis, Setup, Worker, namespace, origin, redis_url};

const WORKER_ARGS: &[&str] = &["worker", "--exact", "--ignored", "--nocapture"];

/// A worker process of the tests below, which start it with
/// `BACKREST_FLEET_WORKER` set.
#[tokio::test]
#[ignore = "a worker process that the fleet tests start themselves"]
async fn worker() {
    assert!(
        std::env::var(common::WORKER).is_ok(),
        "run by the fleet tests only"
    );
    common::serve().await;
}

async fn spawn(setup: &Setup) -> Worker {
    Worker::spawn(WORKER_ARGS, setup).await
}

#[tokio::test]
async fn redis_is_there() {
    // Fails, not skips, without Redis: every other test needs it.
    let cache = backrest_redis::RedisCache::connect(&redis_url()).await;
    assert!(cache.is_ok(), "Redis at BACKREST_REDIS_URL answers");
}

#[tokio::test]
async fn f1_a_second_process_gets_a_redis_hit_and_the_origin_one_request() {
    let (server, _) = origin(0).await;
    let setup = Setup::new(&server, &redis_url(), &namespace("f1"));
    let mut a = spawn(&setup).await;
    let mut b = spawn(&setup).await;

    assert_eq!(a.ask("fetch 1").await, "ok item-1 \"v1\"");
    assert_eq!(server.count("GET", "/items/1"), 1);
    // B's own cache is empty: it reads Redis, with the validators.
    assert_eq!(b.ask("fetch 1").await, "ok item-1 \"v1\"");
    assert_eq!(server.count("GET", "/items/1"), 1);
    let [_, _, requests, shared_hits, shared_errors] = b.stats().await;
    assert_eq!((requests, shared_hits, shared_errors), (0, 1, 0));
    // And then its own cache.
    assert_eq!(b.ask("fetch 1").await, "ok item-1 \"v1\"");
    let [hits, _, _, shared_hits, _] = b.stats().await;
    assert_eq!((hits, shared_hits), (1, 1));
    assert_eq!(server.total(), 1);
}

#[tokio::test]
async fn f1_without_a_shared_cache_each_process_asks_the_origin() {
    let (server, _) = origin(0).await;
    let mut setup = Setup::new(&server, &redis_url(), &namespace("f1-none"));
    setup.shared = false;
    let mut a = spawn(&setup).await;
    let mut b = spawn(&setup).await;
    assert_eq!(a.ask("fetch 1").await, "ok item-1 \"v1\"");
    assert_eq!(b.ask("fetch 1").await, "ok item-1 \"v1\"");
    assert_eq!(server.count("GET", "/items/1"), 2);
    let [_, _, _, shared_hits, shared_errors] = b.stats().await;
    assert_eq!((shared_hits, shared_errors), (0, 0));
}

#[tokio::test]
async fn f2_a_save_in_one_process_reaches_the_others_cache() {
    let (server, _) = origin(0).await;
    let setup = Setup::new(&server, &redis_url(), &namespace("f2"));
    let mut a = spawn(&setup).await;
    let mut b = spawn(&setup).await;
    let mut c = spawn(&setup).await;
    assert_eq!(a.ask("fetch 1").await, "ok item-1 \"v1\"");
    assert_eq!(b.ask("fetch 1").await, "ok item-1 \"v1\"");
    assert_eq!(c.ask("fetch 1").await, "ok item-1 \"v1\"");

    assert!(a.ask("save 1 renamed").await.starts_with("ok "));
    // B and C served item-1 from their own caches until the invalidation.
    assert!(b.ask("await_change 1 item-1 5000").await.starts_with("ok "));
    assert!(c.ask("await_change 1 item-1 5000").await.starts_with("ok "));
    assert_eq!(b.ask("fetch 1").await, "ok renamed \"v2\"");
    assert_eq!(c.ask("fetch 1").await, "ok renamed \"v2\"");
    // The save put its answer in Redis: nobody asked the origin again.
    assert_eq!(server.count("GET", "/items/1"), 1);
    assert_eq!(server.count("PUT", "/items/1"), 1);
    // The writer's own cache holds its save (C9), not an invalidation.
    assert_eq!(a.ask("fetch 1").await, "ok renamed \"v2\"");
    let [hits, ..] = a.stats().await;
    assert_eq!(hits, 1);
}

#[tokio::test]
async fn f2_a_destroy_in_one_process_evicts_the_others_copy() {
    let (server, _) = origin(0).await;
    let setup = Setup::new(&server, &redis_url(), &namespace("f2-destroy"));
    let mut a = spawn(&setup).await;
    let mut b = spawn(&setup).await;
    assert_eq!(a.ask("fetch 4").await, "ok item-4 \"v1\"");
    assert_eq!(b.ask("fetch 4").await, "ok item-4 \"v1\"");
    assert!(a.ask("destroy 4").await.starts_with("ok "));
    // The origin recreates it as new (version 1 of `item-4`): B must ask
    // the origin, since Redis lost the entry too.
    server.on(
        "GET",
        "/items/4",
        Reply::json(200, serde_json::json!({ "id": 4, "name": "reborn" })),
    );
    assert!(b.ask("await_change 4 item-4 5000").await.starts_with("ok "));
    assert_eq!(b.ask("fetch 4").await, "ok reborn -");
    assert_eq!(server.count("GET", "/items/4"), 2);
}

#[tokio::test]
async fn f3_processes_missing_one_key_at_once_make_one_origin_request() {
    const KEYS: u64 = 40;
    let (server, _) = origin(20).await;
    let setup = Setup::new(&server, &redis_url(), &namespace("f3"));
    let mut workers = Vec::new();
    for _ in 0..4 {
        workers.push(spawn(&setup).await);
    }
    for worker in &mut workers {
        worker.send(&format!("fetch_range 0 {KEYS}")).await;
    }
    for worker in &mut workers {
        assert_eq!(worker.answer().await, "ok 0");
    }
    let mut errors = 0;
    let mut shared_hits = 0;
    for worker in &mut workers {
        let [_, _, _, hits, failed] = worker.stats().await;
        shared_hits += hits;
        errors += failed;
    }
    assert_eq!(errors, 0, "Redis answered every command in time");
    assert_eq!(server.total() as u64, KEYS, "one origin request per key");
    assert_eq!(shared_hits, 3 * KEYS);
}

#[tokio::test]
async fn f3_a_lease_holder_that_dies_stalls_the_others_no_longer_than_the_lease() {
    let (server, _) = origin(0).await;
    let mut setup = Setup::new(&server, &redis_url(), &namespace("f3-dead"));
    setup.lease_ms = 500;
    // The first request is held until the test ends; the next is answered.
    let held = Gate::new();
    server.on(
        "GET",
        "/items/9",
        Reply::json(200, serde_json::json!({ "id": 9, "name": "held" })).after(&held),
    );
    server.on(
        "GET",
        "/items/9",
        Reply::json(200, serde_json::json!({ "id": 9, "name": "second" })),
    );
    let mut a = spawn(&setup).await;
    let mut b = spawn(&setup).await;
    a.send("fetch 9").await;
    // A holds the lease and its request is at the origin: it dies there.
    server.wait_for(1).await;
    a.kill().await;

    let start = Instant::now();
    assert_eq!(b.ask("fetch 9").await, "ok second -");
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_millis(500) + Duration::from_secs(2),
        "B waited {waited:?}, past the lease of 500 ms"
    );
    assert_eq!(server.count("GET", "/items/9"), 2);
    held.open();
}

#[tokio::test]
async fn f4_redis_stopped_mid_run_fails_no_call_and_the_fleet_recovers() {
    let mut redis = PrivateRedis::start().await;
    let (server, _) = origin(0).await;
    let mut setup = Setup::new(&server, &redis.url(), &namespace("f4"));
    setup.command_timeout_ms = 50;
    let mut a = spawn(&setup).await;
    let mut b = spawn(&setup).await;
    assert_eq!(a.ask("fetch 1").await, "ok item-1 \"v1\"");
    assert_eq!(b.ask("fetch 1").await, "ok item-1 \"v1\"");
    let [.., shared_hits, _] = b.stats().await;
    assert_eq!(shared_hits, 1);

    redis.stop();
    // Every call still succeeds, from the origin.
    for id in 2..6 {
        assert_eq!(
            a.ask(&format!("fetch {id}")).await,
            format!("ok item-{id} \"v1\"")
        );
        assert_eq!(
            b.ask(&format!("fetch {id}")).await,
            format!("ok item-{id} \"v1\"")
        );
    }
    assert!(a.ask("save 1 offline").await.starts_with("ok "));
    let [.., errors_a] = a.stats().await;
    let [.., errors_b] = b.stats().await;
    assert!(errors_a > 0 && errors_b > 0, "failed commands are counted");
    for id in 2..6 {
        assert_eq!(server.count("GET", &format!("/items/{id}")), 2);
    }

    redis.restart().await;
    // The connections come back by themselves: A's answers are shared
    // again, and B reads them from Redis.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut id = 100;
    loop {
        assert_eq!(
            a.ask(&format!("fetch {id}")).await,
            format!("ok item-{id} \"v1\"")
        );
        let [.., hits_before, _] = b.stats().await;
        assert_eq!(
            b.ask(&format!("fetch {id}")).await,
            format!("ok item-{id} \"v1\"")
        );
        let [.., hits_after, _] = b.stats().await;
        if hits_after > hits_before {
            break;
        }
        assert!(Instant::now() < deadline, "shared hits never resumed");
        id += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // B's subscription is back too: a save in A reaches it again.
    assert!(a.ask(&format!("save {id} online")).await.starts_with("ok "));
    assert!(
        b.ask(&format!("await_change {id} item-{id} 5000"))
            .await
            .starts_with("ok ")
    );
}

#[tokio::test]
async fn f2_redis_drops_an_answer_read_before_a_write_and_keeps_the_write() {
    use backrest::shared::{Entry, SharedCache};

    let cache = backrest_redis::RedisCache::connect(&redis_url())
        .await
        .expect("Redis")
        .namespace(namespace("f2-version"));
    let entry = |name: &str| Entry {
        body: format!("{{\"id\":1,\"name\":\"{name}\"}}")
            .into_bytes()
            .into(),
        etag: None,
        last_modified: None,
        age: Duration::ZERO,
    };
    let key = "fleet.Item:/items/1";
    let lease = cache.lease(key).await.unwrap();
    assert!(lease.held);
    assert!(
        !cache.lease(key).await.unwrap().held,
        "one holder at a time"
    );
    // A write lands while the holder's request is out.
    cache.write(key, Some(entry("new")), None).await.unwrap();
    let stored = cache
        .put(key, entry("old"), None, lease.version)
        .await
        .unwrap();
    assert!(!stored, "an answer from before the write is dropped");
    let kept = cache.get(key).await.unwrap().expect("the write's entry");
    assert_eq!(kept.body, entry("new").body);
    cache.release(key).await.unwrap();
    // A lease taken after the write may store its answer.
    let lease = cache.lease(key).await.unwrap();
    assert!(lease.held);
    assert!(
        cache
            .put(key, entry("newer"), None, lease.version)
            .await
            .unwrap()
    );
    cache.write(key, None, None).await.unwrap();
    assert_eq!(cache.get(key).await.unwrap(), None, "a destroy deletes it");
}
