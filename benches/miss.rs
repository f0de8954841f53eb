//! Miss overhead: a fetch that sends a request, against a plain reqwest GET
//! plus `serde_json::from_slice` of the same body, on the same zero-delay
//! loopback server and the same current-thread runtime.
//!
//! backrest's side is `Fetch::reload()` of one resource on one client: a
//! reload always sends a request, so every iteration pays what a cold fetch
//! pays (key, in-flight entry, request, decode, storing the value) on a warm
//! connection pool, as the peer's reqwest client reuses its connection. A
//! fresh `Client` per iteration would time a client build and a TCP connect
//! instead of the fetch. `backrest_cold_key` is the other way to miss: a
//! plain fetch of an id never fetched before, on the same warm client.
//!
//! The server runs on the client's runtime (see `Loopback::start_on`).
//! Target (ARCHITECTURE.md): at most 1.05x the plain GET. `cargo bench --bench miss`

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backrest::{Client, Fetch};
use criterion::{Criterion, criterion_group, criterion_main};

use common::{Loopback, User, client_runtime, plain_get, user};

const ID: u64 = 7;

fn miss(c: &mut Criterion) {
    let runtime = client_runtime();
    let loopback = Loopback::start_on(&runtime, 0);
    let base = loopback.url();
    let client = Client::new(&base).expect("client");
    let http = reqwest::Client::new();
    let next_id = AtomicU64::new(1_000);

    // Outside the timing: both sides get the same value, and warm their pools.
    runtime.block_on(async {
        let ours = User::fetch_with(&client, ID, Fetch::reload())
            .await
            .expect("fetch");
        let theirs = plain_get(&http, &base, ID).await.expect("get");
        assert_eq!(*ours, theirs);
        assert_eq!(theirs, user(ID));
    });
    let before = loopback.server.total();
    let mut iterations = 0_u64;

    let mut group = c.benchmark_group("miss");
    group.bench_function("backrest_reload", |b| {
        b.to_async(&runtime).iter(|| {
            iterations += 1;
            User::fetch_with(&client, black_box(ID), Fetch::reload())
        });
    });
    group.bench_function("backrest_cold_key", |b| {
        b.to_async(&runtime).iter(|| {
            iterations += 1;
            User::fetch(&client, black_box(next_id.fetch_add(1, Ordering::Relaxed)))
        });
    });
    group.bench_function("reqwest_get_serde_json", |b| {
        b.to_async(&runtime).iter(|| {
            iterations += 1;
            plain_get(&http, &base, black_box(ID))
        });
    });
    group.finish();

    // Outside the timing: every iteration of every side sent one request.
    assert_eq!(
        u64::try_from(loopback.server.total() - before).expect("count"),
        iterations,
        "one request per iteration"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = miss
}
criterion_main!(benches);
