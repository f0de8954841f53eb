//! The fleet targets (F), side by side in one run, against the Redis at
//! `BACKREST_REDIS_URL` and a loopback origin that counts requests:
//!
//! - 4 processes fetching the same 1,000 keys: origin requests with the
//!   shared cache (target at most 1,050) and without it (4,000);
//! - a Redis hit (a local miss served from Redis, decoded) against a raw
//!   redis-rs GET plus `serde_json` decode of the same body (target at most
//!   1.2x);
//! - a save in one process reaching three others' caches: p50 and p99
//!   (target p99 under 100 ms).
//!
//! `cargo bench -p backrest-redis --bench fleet`. The worker processes are
//! this executable run again.

#![allow(clippy::print_stdout, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{Item, Setup, Worker, namespace, origin, redis_url};
use redis::AsyncCommands;

const WORKERS: usize = 4;
const KEYS: u64 = 1_000;
const SAVES: u64 = 200;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    if std::env::var(common::WORKER).is_ok() {
        runtime.block_on(common::serve());
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is read.
    runtime.block_on(origin_requests());
    runtime.block_on(invalidation_latency());
    runtime.block_on(redis_hit());
}

async fn spawn(setup: &Setup) -> Worker {
    Worker::spawn(&[], setup).await
}

/// 4 processes fetch the same 1,000 keys at once, with and without the
/// shared cache: how many requests reach the origin.
async fn origin_requests() {
    let mut counts = Vec::new();
    for shared in [true, false] {
        let (server, _) = origin(2).await;
        server.stop_recording();
        let mut setup = Setup::new(&server, &redis_url(), &namespace("bench-origin"));
        setup.shared = shared;
        setup.command_timeout_ms = 50;
        let mut workers = Vec::new();
        for _ in 0..WORKERS {
            workers.push(spawn(&setup).await);
        }
        for worker in &mut workers {
            worker.send(&format!("fetch_range 0 {KEYS}")).await;
        }
        for worker in &mut workers {
            assert_eq!(worker.answer().await, "ok 0", "every fetch succeeded");
        }
        let mut errors = 0;
        for worker in &mut workers {
            errors += worker.stats().await[4];
        }
        counts.push((server.total(), errors));
    }
    let (with, errors) = counts[0];
    let (without, _) = counts[1];
    println!(
        "fleet/origin_requests: {WORKERS} processes x {KEYS} keys: {with} with the shared cache \
         ({errors} Redis errors), {without} without; ratio {:.3} (target: at most 1,050)",
        with as f64 / without as f64
    );
}

/// One process saves, three others see the change in their own cache:
/// from the start of the save to each sighting.
async fn invalidation_latency() {
    let (server, _) = origin(0).await;
    server.stop_recording();
    let mut setup = Setup::new(&server, &redis_url(), &namespace("bench-invalidate"));
    setup.command_timeout_ms = 50;
    let mut writer = spawn(&setup).await;
    let mut readers = Vec::new();
    for _ in 1..WORKERS {
        readers.push(spawn(&setup).await);
    }
    let mut latencies = Vec::new();
    for id in 0..SAVES {
        for reader in &mut readers {
            assert!(reader.ask(&format!("fetch {id}")).await.starts_with("ok "));
        }
        for reader in &mut readers {
            reader
                .send(&format!("await_change {id} item-{id} 5000"))
                .await;
        }
        let saved = writer.ask(&format!("save {id} saved-{id}")).await;
        let started: u128 = saved
            .strip_prefix("ok ")
            .and_then(|t| t.parse().ok())
            .expect("the save's start");
        for reader in &mut readers {
            let seen = reader.answer().await;
            let seen: u128 = seen
                .strip_prefix("ok ")
                .and_then(|t| t.parse().ok())
                .expect("the change arrived");
            latencies.push(seen.saturating_sub(started));
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!(
        "fleet/invalidation: {} sightings: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms \
         (target: p99 under 100 ms)",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

/// A Redis hit through backrest (its own cache holds nothing, so each
/// fetch is a miss served from Redis) against a raw GET and decode, in
/// alternating blocks (ABBA) on one runtime: the median of the rounds'
/// ratios, since speed drifts between separate windows on this machine.
async fn redis_hit() {
    const ROUNDS: usize = 21;
    const BLOCK: u32 = 1_000;
    let url = redis_url();
    let (server, _) = origin(0).await;
    let shared = backrest_redis::RedisCache::connect(&url)
        .await
        .expect("Redis")
        .namespace(namespace("bench-hit"));
    let client = backrest::Client::builder(&server.url())
        .shared_cache(shared)
        .max_cache_bytes(0)
        .build()
        .expect("a client");
    // Stored in Redis by this first fetch, from the origin.
    Item::fetch(&client, 1).await.expect("the first fetch");
    let mut raw = redis::Client::open(url.as_str())
        .expect("a Redis URL")
        .get_connection_manager()
        .await
        .expect("Redis");
    let body = serde_json::json!({ "id": 1, "name": "item-1" }).to_string();
    let () = raw.set("bench-hit-raw", &body).await.expect("SET");

    let backrest = async || {
        let start = Instant::now();
        for _ in 0..BLOCK {
            black_box(Item::fetch(&client, 1).await.expect("a hit"));
        }
        start.elapsed() / BLOCK
    };
    let peer = async |raw: &mut redis::aio::ConnectionManager| {
        let start = Instant::now();
        for _ in 0..BLOCK {
            let body: Vec<u8> = raw.get("bench-hit-raw").await.expect("GET");
            black_box(serde_json::from_slice::<Item>(&body).expect("an Item"));
        }
        start.elapsed() / BLOCK
    };
    // Warm up both.
    backrest().await;
    peer(&mut raw).await;
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let a1 = backrest().await;
        let b1 = peer(&mut raw).await;
        let b2 = peer(&mut raw).await;
        let a2 = backrest().await;
        rounds.push(((a1 + a2).as_secs_f64(), (b1 + b2).as_secs_f64()));
    }
    let mut ratios: Vec<f64> = rounds.iter().map(|(a, b)| a / b).collect();
    ratios.sort_by(f64::total_cmp);
    let mut backrest_times: Vec<f64> = rounds.iter().map(|(a, _)| a / 2.0).collect();
    let mut peer_times: Vec<f64> = rounds.iter().map(|(_, b)| b / 2.0).collect();
    backrest_times.sort_by(f64::total_cmp);
    peer_times.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v[v.len() / 2];
    let stats = client.stats();
    println!(
        "fleet/redis_hit: backrest {:.1} µs, raw GET + decode {:.1} µs (medians); ratio median \
         {:.3} [quartiles {:.3}-{:.3}] over {ROUNDS} ABBA rounds of {BLOCK} (target: at most \
         1.2); origin requests {} (the first fetch), shared hits {}, shared errors {}",
        median(&backrest_times) * 1e6,
        median(&peer_times) * 1e6,
        median(&ratios),
        ratios[ROUNDS / 4],
        ratios[3 * ROUNDS / 4],
        server.total(),
        stats.shared_hits,
        stats.shared_errors
    );
}
