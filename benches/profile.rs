//! One side of a paired benchmark in a loop made for profilers: instruction
//! counts under callgrind, samples under perf.
//!
//! `cargo bench --bench profile -- SIDE [CALLS] [in-runtime]` runs CALLS
//! calls of one side after a warm-up, and prints the time per call. The
//! sides, with their default CALLS:
//!
//! - `hit` (100,000): `User::fetch` of a cached id;
//! - `fresh` (100,000): the same hit of a model with a `max_age`, so that
//!   every hit reads the clock (the policy benchmark's hit);
//! - `floor` (100,000): the hits' floor, building the path and reading an
//!   `RwLock<HashMap<String, Arc<_>>>` plus an `Arc` clone;
//! - `cold` (5,000): `User::fetch` of an id never fetched before (a cold key);
//! - `reload` (5,000): `User::fetch_with(.., Fetch::reload())` of one id;
//! - `peer` (5,000): a plain reqwest GET + `serde_json::from_slice` of a new id;
//! - `coalesce` (200): 1,000 concurrent `User::fetch` of one new id;
//! - `shared` (200): 1,000 clones of a `futures::future::Shared` plain GET;
//! - `save_all` (2): `User::save_all` of 10,000 users;
//! - `buffer_unordered` (2): the same PUTs, `buffer_unordered(16)`.
//!
//! In the out-of-runtime regime (the default: the client on the
//! multi-thread runtime, the server in a child process, see
//! `common::Regime`) callgrind traces the client alone, since it does not
//! follow children. The measured loop runs between calls of
//! `profile_mark_start` and `profile_mark_end`, so:
//!
//! ```text
//! valgrind --tool=callgrind --zero-before='*profile_mark_start*' \
//!     --dump-before='*profile_mark_end*' target/release/deps/profile-HASH cold 2000
//! callgrind_annotate --inclusive=yes callgrind.out.PID.1
//! ```
//!
//! dumps the loop's instructions, every thread's, and nothing of the setup.

#![allow(
    clippy::print_stdout,
    reason = "the time per call printed is this benchmark's report"
)]

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use backrest::{DEFAULT_SAVE_ALL_CONCURRENCY, Fetch};
use futures_util::FutureExt;
use futures_util::future::join_all;

use common::{
    Fresh, ID, Regime, User, buffer_unordered, clients, fresh, plain_get, serve_if_child, users,
};

const CALLERS: usize = 1_000;

#[inline(never)]
fn profile_mark_start() {
    // Not the body of `profile_mark_end`, or the two would be merged.
    black_box(1_u8);
}

#[inline(never)]
fn profile_mark_end() {
    black_box(2_u8);
}

fn main() {
    serve_if_child();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let side = args.first().map_or("cold", String::as_str);
    let (default_calls, requests_per_call) = match side {
        "hit" | "fresh" | "floor" => (100_000, 0),
        "cold" | "reload" | "peer" => (5_000, 1),
        "coalesce" | "shared" => (200, 1),
        "save_all" | "buffer_unordered" => (2, 10_000),
        other => panic!(
            "unknown side `{other}`: hit, fresh, floor, cold, reload, peer, coalesce, shared, save_all or \
             buffer_unordered"
        ),
    };
    let calls: u64 = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_calls);
    let regime = if args.iter().any(|a| a == "in-runtime") {
        Regime::in_runtime()
    } else {
        Regime::out_of_runtime()
    };
    let (client, http) = clients(&regime, &regime.base);
    client.prime(fresh(ID));
    let floor = RwLock::new(HashMap::from([(
        format!("/users/{ID}"),
        Arc::new(fresh(ID)),
    )]));
    let inputs = users(1, 10_000);
    let next_id = AtomicU64::new(1_000_000);
    let fresh = || next_id.fetch_add(1, Ordering::Relaxed);
    let base = regime.base.as_str();
    let run = |n: u64| {
        regime.runtime.block_on(async {
            for _ in 0..n {
                match side {
                    "hit" => drop(black_box(User::fetch(&client, black_box(ID)).await)),
                    "fresh" => drop(black_box(Fresh::fetch(&client, black_box(ID)).await)),
                    "floor" => {
                        let path = format!("/users/{}", black_box(ID));
                        let map = floor.read().unwrap_or_else(PoisonError::into_inner);
                        drop(black_box(map.get(&path).cloned()));
                    }
                    "cold" => drop(black_box(User::fetch(&client, fresh()).await)),
                    "reload" => drop(black_box(
                        User::fetch_with(&client, ID, Fetch::reload()).await,
                    )),
                    "peer" => drop(black_box(plain_get(&http, base, fresh()).await)),
                    "coalesce" => {
                        let id = fresh();
                        let all = join_all((0..CALLERS).map(|_| User::fetch(&client, id))).await;
                        drop(black_box(all));
                    }
                    "shared" => {
                        let shared = plain_get(&http, base, fresh())
                            .map(|user| user.map(Arc::new).map_err(|e| e.to_string()))
                            .shared();
                        drop(black_box(
                            join_all((0..CALLERS).map(|_| shared.clone())).await,
                        ));
                    }
                    "save_all" => drop(black_box(
                        User::save_all(&client, inputs.iter().cloned())
                            .await
                            .expect("save_all"),
                    )),
                    _ => drop(black_box(
                        buffer_unordered(
                            &http,
                            base,
                            inputs.iter().cloned(),
                            DEFAULT_SAVE_ALL_CONCURRENCY,
                        )
                        .await
                        .expect("buffer_unordered"),
                    )),
                }
            }
        });
    };
    run(default_calls.div_ceil(20).max(1));
    let before = regime.count();
    profile_mark_start();
    let start = Instant::now();
    run(calls);
    let elapsed = start.elapsed();
    profile_mark_end();
    assert_eq!(
        regime.count() - before,
        calls * requests_per_call,
        "requests sent"
    );
    println!(
        "{side} ({}): {:.3} µs per call over {calls} calls",
        regime.name,
        elapsed.as_secs_f64() * 1e6 / calls as f64
    );
}
