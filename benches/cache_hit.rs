//! Cache hit: a cached `User::fetch` against the two caches a user would
//! write instead, each building the same path string per lookup:
//! `RwLock<HashMap<String, Arc<User>>>` plus an `Arc` clone, and a
//! `moka::future::Cache::get` hit. All three run on the same current-thread
//! tokio runtime through criterion's `to_async`.
//!
//! Target (ARCHITECTURE.md): at most 1.5x the `RwLock<HashMap>`, and faster than
//! moka. `cargo bench --bench cache_hit`

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use backrest::Client;
use criterion::{Criterion, criterion_group, criterion_main};

use common::{Loopback, User, client_runtime, hit_peers};

const ID: u64 = 7;

fn cache_hit(c: &mut Criterion) {
    let runtime = client_runtime();
    let loopback = Loopback::start_on(&runtime, 0);
    let client = Client::new(&loopback.url()).expect("client");
    let cached = runtime
        .block_on(User::fetch(&client, ID))
        .expect("warm the cache");
    let requests = loopback.server.total();

    let (rwlock, moka) = hit_peers(&runtime, ID, &cached);

    let mut group = c.benchmark_group("cache_hit");
    group.bench_function("backrest_fetch", |b| {
        b.to_async(&runtime)
            .iter(|| User::fetch(&client, black_box(ID)));
    });
    group.bench_function("rwlock_hashmap", |b| {
        b.to_async(&runtime).iter(|| async {
            let path = format!("/users/{}", black_box(ID));
            let map = rwlock
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.get(&path).cloned()
        });
    });
    group.bench_function("moka_get", |b| {
        b.to_async(&runtime).iter(|| async {
            let path = format!("/users/{}", black_box(ID));
            moka.get(&path).await
        });
    });
    group.finish();

    // Outside the timing: every backrest fetch above was a hit on the same Arc.
    let again = runtime.block_on(User::fetch(&client, ID)).expect("hit");
    assert!(Arc::ptr_eq(&again, &cached), "the cached Arc is served");
    assert_eq!(loopback.server.total(), requests, "no fetch sent a request");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = cache_hit
}
criterion_main!(benches);
