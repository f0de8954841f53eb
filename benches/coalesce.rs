//! Coalescing: 1,000 concurrent fetches of one resource (`join_all`) against
//! one fetch of it.
//!
//! Each iteration fetches a resource never fetched before (a fresh id) on a
//! client whose connection pool is warm: a plain fetch must miss the cache
//! and send one request (a reload would not do: reloads never coalesce).
//! After the runs, outside the timing, the server's count proves that every
//! iteration, of every side, made exactly one request.
//!
//! For reference, the peer a user would write: `futures::future::Shared`
//! over a plain reqwest GET, 1,000 clones joined the same way. It shows what
//! 1,000 callers cost at the least, whatever shares the request.
//!
//! `coalesce` uses the zero-delay server, run on the client's runtime (see
//! `Loopback::start_on`); `coalesce_at_2ms`, a server that answers after
//! 2 ms, as a remote API would.
//!
//! Target (ARCHITECTURE.md): one request, at most 1.2x the time of one fetch.
//! `cargo bench --bench coalesce`

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backrest::Client;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use futures_util::future::join_all;

use common::{Loopback, User, client_runtime, plain_get};

const CALLERS: usize = 1_000;

fn group(c: &mut Criterion, name: &str, delay_ms: u64) {
    let runtime = client_runtime();
    let loopback = Loopback::start_on(&runtime, delay_ms);
    let base = loopback.url();
    let client = Client::new(&base).expect("client");
    let http = reqwest::Client::new();
    // Ids never fetched before, one per iteration, shared by every side.
    let next_id = AtomicU64::new(1);
    let fresh_id = || next_id.fetch_add(1, Ordering::Relaxed);

    // Outside the timing: 1,000 callers make one request and share one Arc;
    // this also opens both clients' connections.
    runtime.block_on(async {
        let before = loopback.server.total();
        let warm = join_all((0..CALLERS).map(|_| User::fetch(&client, fresh_id()))).await;
        assert!(warm.iter().all(Result::is_ok), "fetched");
        assert_eq!(loopback.server.total() - before, CALLERS, "distinct ids");
        let before = loopback.server.total();
        let id = fresh_id();
        let all = join_all((0..CALLERS).map(|_| User::fetch(&client, id))).await;
        assert_eq!(loopback.server.total() - before, 1, "one request");
        let first = all[0].as_ref().expect("fetched");
        assert!(
            all.iter()
                .all(|user| Arc::ptr_eq(user.as_ref().expect("fetched"), first)),
            "every caller gets the same Arc"
        );
        plain_get(&http, &base, fresh_id()).await.expect("get");
    });
    let requests_before = loopback.server.total();
    let ids_before = next_id.load(Ordering::Relaxed);

    let mut group = c.benchmark_group(name);
    group.bench_function("backrest_one_fetch", |b| {
        b.to_async(&runtime)
            .iter(|| User::fetch(&client, black_box(fresh_id())));
    });
    group.bench_function("backrest_1000_concurrent", |b| {
        b.to_async(&runtime).iter(|| {
            let id = fresh_id();
            join_all((0..CALLERS).map(|_| User::fetch(&client, black_box(id))))
        });
    });
    group.bench_function("shared_reqwest_1000_concurrent", |b| {
        b.to_async(&runtime).iter(|| {
            let shared = plain_get(&http, &base, fresh_id())
                .map(|user| user.map(Arc::new).map_err(|e| e.to_string()))
                .shared();
            join_all((0..CALLERS).map(|_| shared.clone()))
        });
    });
    group.finish();

    // Every id went to one iteration, and each iteration made one request.
    let iterations = next_id.load(Ordering::Relaxed) - ids_before;
    let requests = loopback.server.total() - requests_before;
    assert_eq!(
        u64::try_from(requests).expect("count"),
        iterations,
        "exactly one request per iteration"
    );
}

fn coalesce(c: &mut Criterion) {
    group(c, "coalesce", 0);
    group(c, "coalesce_at_2ms", 2);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = coalesce
}
criterion_main!(benches);
