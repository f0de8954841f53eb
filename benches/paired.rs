//! The tight targets, measured paired: backrest and its peer take turns in
//! short blocks (ABBA order), and the ratio is taken block by block.
//!
//! criterion measures each function in a window of its own, seconds apart;
//! on a small shared virtual machine the speed drifts by 5-10% from window
//! to window, as much as the 1.05x miss target itself. Paired blocks see the
//! same machine, so their median ratio is what the targets ask about; the
//! criterion groups `cache_hit`, `miss` and `save_all_10000` give the
//! absolute times.
//!
//! Not a criterion benchmark (`harness = false`). Same setups as
//! `cache_hit.rs`, `miss.rs` and `save_all.rs` (the inputs of `save_all` are
//! cloned as they are taken, the same on both sides).
//! `cargo bench --bench paired [-- NAME...]` runs the pairs whose names
//! contain one of the NAMEs (all without).

#![allow(
    clippy::print_stdout,
    reason = "the ratios printed are this benchmark's report"
)]

mod common;

use std::future::Future;
use std::hint::black_box;
use std::sync::PoisonError;
use std::time::Instant;

use backrest::{Client, DEFAULT_SAVE_ALL_CONCURRENCY, Fetch};
use tokio::runtime::Runtime;

use common::{Loopback, User, buffer_unordered, client_runtime, hit_peers, plain_get, users};

const ID: u64 = 7;

/// Which pairs to run: those whose names contain one of these (all if none).
struct Filter(Vec<String>);

impl Filter {
    fn from_args() -> Filter {
        // `cargo bench` passes `--bench`; names are the other arguments.
        Filter(
            std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect(),
        )
    }

    fn runs(&self, name: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|wanted| name.contains(wanted.as_str()))
    }
}

/// Seconds per call of `f`, over `calls` calls.
async fn block<F, Fut>(calls: usize, f: &mut F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    let start = Instant::now();
    for _ in 0..calls {
        black_box(f().await);
    }
    start.elapsed().as_secs_f64() / calls as f64
}

/// Times `ours` and `peer` in `rounds` pairs of blocks of `calls` calls,
/// and prints the median and quartiles of the per-round ratio `ours / peer`.
fn paired<A, AF, B, BF>(
    runtime: &Runtime,
    name: &str,
    (calls, rounds): (usize, usize),
    mut ours: A,
    mut peer: B,
) where
    A: FnMut() -> AF,
    AF: Future,
    B: FnMut() -> BF,
    BF: Future,
{
    let (ratios, ours_mean, peer_mean) = runtime.block_on(async {
        block(calls, &mut ours).await;
        block(calls, &mut peer).await;
        let mut ratios = Vec::with_capacity(rounds);
        let (mut ours_sum, mut peer_sum) = (0.0, 0.0);
        for round in 0..rounds {
            let (a, b) = if round % 2 == 0 {
                let a = block(calls, &mut ours).await;
                (a, block(calls, &mut peer).await)
            } else {
                let b = block(calls, &mut peer).await;
                (block(calls, &mut ours).await, b)
            };
            ratios.push(a / b);
            ours_sum += a;
            peer_sum += b;
        }
        ratios.sort_by(f64::total_cmp);
        (ratios, ours_sum / rounds as f64, peer_sum / rounds as f64)
    });
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<58} {:>6.3}x  (quartiles {:.3}-{:.3}, {rounds} rounds)  ours {:>10} peer {:>10}",
        at(0.5),
        at(0.25),
        at(0.75),
        format_time(ours_mean),
        format_time(peer_mean),
    );
}

fn format_time(seconds: f64) -> String {
    if seconds < 1e-6 {
        format!("{:.1} ns", seconds * 1e9)
    } else if seconds < 1e-3 {
        format!("{:.2} µs", seconds * 1e6)
    } else {
        format!("{:.1} ms", seconds * 1e3)
    }
}

fn main() {
    let runtime = client_runtime();
    let loopback = Loopback::start_on(&runtime, 0);
    let base = loopback.url();
    let client = Client::new(&base).expect("client");
    let http = reqwest::Client::new();
    let cached = runtime
        .block_on(User::fetch(&client, ID))
        .expect("warm the cache");
    let (rwlock, moka) = hit_peers(&runtime, ID, &cached);

    let filter = Filter::from_args();
    let inputs = users(1, 10_000);

    println!(
        "paired ratios, median over rounds (ABBA blocks); ARCHITECTURE.md's target in brackets"
    );
    let name = "cache hit: fetch / RwLock<HashMap> [<= 1.5]";
    if filter.runs(name) {
        paired(
            &runtime,
            name,
            (20_000, 100),
            || User::fetch(&client, black_box(ID)),
            || async {
                let path = format!("/users/{}", black_box(ID));
                let map = rwlock.read().unwrap_or_else(PoisonError::into_inner);
                map.get(&path).cloned()
            },
        );
    }
    let name = "cache hit: fetch / moka get [< 1.0]";
    if filter.runs(name) {
        paired(
            &runtime,
            name,
            (20_000, 100),
            || User::fetch(&client, black_box(ID)),
            || async {
                let path = format!("/users/{}", black_box(ID));
                moka.get(&path).await
            },
        );
    }
    let name = "miss: reload / reqwest GET + decode [<= 1.05]";
    if filter.runs(name) {
        paired(
            &runtime,
            name,
            (200, 100),
            || User::fetch_with(&client, black_box(ID), Fetch::reload()),
            || plain_get(&http, &base, black_box(ID)),
        );
    }
    let name = "save_all 10,000: save_all / buffer_unordered(16) [<= 1.1]";
    if filter.runs(name) {
        paired(
            &runtime,
            name,
            (1, 20),
            || async {
                User::save_all(&client, inputs.iter().cloned())
                    .await
                    .expect("save_all")
            },
            || async {
                buffer_unordered(
                    &http,
                    &base,
                    inputs.iter().cloned(),
                    DEFAULT_SAVE_ALL_CONCURRENCY,
                )
                .await
                .expect("buffer_unordered")
            },
        );
    }
}
