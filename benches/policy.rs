//! Cache policy under load (ARCHITECTURE.md, P1, P2, P5), side by side with
//! the peers DESIGN.md names, as ratios in one run:
//!
//! - **hit with freshness and weighing**: a fetch of a model with
//!   `max_age` (so every hit reads the clock) from a bounded, weighed cache,
//!   against a `RwLock<HashMap>` read (target at most 1.5x) and against
//!   moka's `get` (target below 1.0x), on one thread, paired in ABBA blocks;
//! - **two threads, different keys**: the throughput of two threads hitting
//!   one key each, over one thread's (target at least 1.7x);
//! - **two threads, one key**: two threads hitting the same key, against
//!   two threads calling moka's `get` on one key (target below 1.0x);
//! - **Zipf(1.0) hit ratio**: 200,000 fetches drawn from 100,000 keys with
//!   room for 1% of them, through a real client and loopback server, against
//!   moka with the same weigher and capacity replaying the same trace (target
//!   at least moka's).
//!
//! Run: `cargo bench --bench policy`. Hits are polled once without a
//! runtime (a hit never needs one), so that threads measure the cache, not
//! an executor.

#![allow(
    clippy::print_stdout,
    reason = "the ratios printed are this benchmark's report"
)]

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier, PoisonError, RwLock};
use std::time::Instant;

use backrest::Client;
use futures_util::FutureExt;

use common::pairing::{Ratio, format_time, paired};
use common::{Fresh, Loopback, client_runtime, fresh, user};

/// A hit, polled once: it is ready at once, without a runtime.
#[inline]
fn hit(client: &Client, id: u64) -> Arc<Fresh> {
    Fresh::fetch(client, id)
        .now_or_never()
        .expect("a hit is ready at once")
        .expect("a hit succeeds")
}

type SyncMoka = moka::sync::Cache<String, Arc<Fresh>>;

fn moka_with(ids: &[u64]) -> SyncMoka {
    let moka = SyncMoka::new(10_000);
    for &id in ids {
        moka.insert(format!("/users/{id}"), Arc::new(fresh(id)));
    }
    moka
}

/// A client whose cache holds users 1 and 2, primed (no request).
fn primed_client() -> Client {
    let client = Client::new("http://127.0.0.1:9").expect("valid base");
    client.prime(fresh(1));
    client.prime(fresh(2));
    client
}

fn hit_vs_rwlock() -> Ratio {
    let client = primed_client();
    let map = RwLock::new(HashMap::from([("/users/1".to_owned(), Arc::new(fresh(1)))]));
    let runtime = client_runtime();
    let ratio = paired(
        &runtime,
        (20_000, 100),
        || async { hit(&client, black_box(1)) },
        || async {
            let path = format!("/users/{}", black_box(1));
            let map = map.read().unwrap_or_else(PoisonError::into_inner);
            map.get(&path).cloned()
        },
    );
    assert_eq!(client.stats().misses, 0, "every fetch was a hit");
    ratio
}

fn hit_vs_moka() -> Ratio {
    let client = primed_client();
    let moka = moka_with(&[1]);
    let runtime = client_runtime();
    paired(
        &runtime,
        (20_000, 100),
        || async { hit(&client, black_box(1)) },
        || async { moka.get(&format!("/users/{}", black_box(1))) },
    )
}

/// Seconds for `threads` threads to make `calls` calls each of `call(thread)`,
/// started together.
fn timed<F>(threads: usize, calls: usize, call: F) -> f64
where
    F: Fn(usize) + Sync,
{
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (barrier, call) = (&barrier, &call);
            scope.spawn(move || {
                barrier.wait();
                for _ in 0..calls {
                    call(thread);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed().as_secs_f64()
    })
}

const CALLS: usize = 200_000;
const ROUNDS: usize = 15;

/// `ROUNDS` timings of `a` and `b`, each round timing them in turn, first
/// one then the other (ABBA), so that a noisy moment of the machine falls
/// on both.
fn in_turn(a: impl Fn() -> f64, b: impl Fn() -> f64) -> Vec<(f64, f64)> {
    (0..ROUNDS)
        .map(|round| {
            if round % 2 == 0 {
                let a = a();
                (a, b())
            } else {
                let b = b();
                (a(), b)
            }
        })
        .collect()
}

/// The median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Two threads on different keys: throughput over one thread's, the
/// median of rounds that time each in turn.
fn scaling() -> (f64, f64, f64) {
    let client = primed_client();
    let rounds = in_turn(
        || timed(1, CALLS, |_| drop(hit(&client, 1))),
        || timed(2, CALLS, |thread| drop(hit(&client, 1 + thread as u64))),
    );
    // Two threads make twice the calls in `two` seconds.
    let ratios = rounds.iter().map(|(one, two)| 2.0 * one / two).collect();
    let calls = CALLS as f64;
    (
        median(ratios),
        median(rounds.iter().map(|(one, _)| *one).collect()) / calls,
        median(rounds.iter().map(|(_, two)| *two).collect()) / calls,
    )
}

/// Two threads on one key, backrest over moka: time per call.
fn one_key() -> (f64, f64, f64) {
    let client = primed_client();
    let moka = moka_with(&[1]);
    let rounds = in_turn(
        || timed(2, CALLS, |_| drop(hit(&client, black_box(1)))),
        || {
            timed(2, CALLS, |_| {
                drop(moka.get(&format!("/users/{}", black_box(1))));
            })
        },
    );
    let ratios = rounds.iter().map(|(ours, peer)| ours / peer).collect();
    let per = |sum: f64| sum / (ROUNDS * CALLS) as f64;
    (
        median(ratios),
        per(rounds.iter().map(|(ours, _)| ours).sum()),
        per(rounds.iter().map(|(_, peer)| peer).sum()),
    )
}

/// Keys 0..n drawn with probability proportional to 1 / (rank + 1).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for rank in 0..n {
            sum += 1.0 / (rank + 1) as f64;
            cdf.push(sum);
        }
        for p in &mut cdf {
            *p /= sum;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut fastrand::Rng) -> u64 {
        let u = rng.f64();
        self.cdf.partition_point(|p| *p < u) as u64
    }
}

const KEYS: usize = 100_000;
const TRACE: usize = 200_000;

/// What an entry of user `id` weighs in backrest's cache, and so in moka's.
fn weight(id: u64) -> u32 {
    let body = serde_json::to_vec(&user(id)).expect("encode").len();
    let key = format!("/users/{id}").len() + 96;
    (body + key) as u32
}

/// Hit ratios of backrest and moka on one Zipf(1.0) trace, with room for
/// 1% of the keys.
fn zipf_hit_ratio() -> (f64, f64) {
    let zipf = Zipf::new(KEYS);
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    // Keys are shuffled ids, so that popularity is not the id's order.
    let ids: Vec<u64> = {
        let mut ids: Vec<u64> = (1..=KEYS as u64).collect();
        rng.shuffle(&mut ids);
        ids
    };
    let trace: Vec<u64> = (0..TRACE)
        .map(|_| ids[zipf.sample(&mut rng) as usize])
        .collect();
    let room = u64::from(weight(KEYS as u64)) * (KEYS as u64 / 100);

    let loopback = Loopback::start(0);
    let client = Client::builder(&loopback.url())
        .max_cache_bytes(room as usize)
        .build()
        .expect("valid base");
    let runtime = client_runtime();
    runtime.block_on(async {
        for &id in &trace {
            Fresh::fetch(&client, id).await.expect("the server answers");
        }
    });
    let stats = client.stats();
    let ours = stats.hits as f64 / TRACE as f64;
    assert!(stats.bytes <= room, "the cache stayed in its room");

    let moka: moka::sync::Cache<u64, ()> = moka::sync::Cache::builder()
        .weigher(|id: &u64, (): &()| weight(*id))
        .max_capacity(room)
        .build();
    let mut hits = 0;
    for &id in &trace {
        if moka.get(&id).is_some() {
            hits += 1;
        } else {
            moka.insert(id, ());
        }
        // moka applies its policy in batches; keep it current, as a busy
        // cache would be.
        moka.run_pending_tasks();
    }
    (ours, hits as f64 / TRACE as f64)
}

fn show(name: &str, ratio: &Ratio) {
    println!(
        "{name:<52} {:>6.3}x  (quartiles {:.3}-{:.3}, {} rounds; {} vs {})",
        ratio.median,
        ratio.low,
        ratio.high,
        ratio.rounds,
        format_time(ratio.ours),
        format_time(ratio.peer)
    );
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    println!("cache policy (ARCHITECTURE.md, P1, P2, P5), ratios in one run:");
    show(
        "hit (max_age, weighed): fetch / RwLock [<= 1.5]",
        &hit_vs_rwlock(),
    );
    show(
        "hit (max_age, weighed): fetch / moka get [< 1.0]",
        &hit_vs_moka(),
    );
    let (speedup, one, two) = scaling();
    println!(
        "{:<52} {speedup:>6.3}x  ({} per call on one thread, {} on each of two)",
        "two threads, different keys / one thread [>= 1.7]",
        format_time(one),
        format_time(two)
    );
    let (ratio, ours, peer) = one_key();
    println!(
        "{:<52} {ratio:>6.3}x  ({} vs {} per call)",
        "two threads, one key: fetch / moka get [< 1.0]",
        format_time(ours),
        format_time(peer)
    );
    let (ours, moka) = zipf_hit_ratio();
    println!(
        "{:<52} {:>6.3}x  (hit ratio {:.2}% vs moka {:.2}%; {TRACE} fetches, {KEYS} keys, room for 1%)",
        "Zipf(1.0) hit ratio: backrest / moka [>= 1.0]",
        ours / moka,
        100.0 * ours,
        100.0 * moka
    );
}
