//! The tight targets, measured paired: backrest and its peer take turns in
//! short blocks (ABBA order), and the ratio is taken block by block.
//!
//! criterion measures each function in a window of its own, seconds apart;
//! on a small shared virtual machine the speed drifts by 5-10% from window
//! to window, as much as the 1.05x miss target itself. Paired blocks see the
//! same machine, so their median ratio is what the targets ask about; the
//! criterion groups `cache_hit`, `miss`, `coalesce` and `save_all_10000`
//! give the absolute times.
//!
//! Every pair runs in two regimes:
//!
//! - **out-of-runtime**, the regime users run: the client on Tokio's default
//!   multi-thread runtime, driven by `block_on` as `#[tokio::main]` drives
//!   `main`, and the server in a child process (a thread per connection, no
//!   async runtime; see `backrest_testkit::bench_server`). Every response
//!   reaches the client through a wake-up of one of its threads.
//! - **in-runtime**: the client on a current-thread runtime that also runs
//!   the scripted axum server (`Loopback::start_on`): no request waits on
//!   another thread's wake-up, so a round trip costs CPU time only. It
//!   isolates the library's own cost.
//!
//! The child server is this very executable, run again with
//! `BACKREST_BENCH_CHILD=1`: its `main` then serves instead of
//! benchmarking. It needs no other build step and cannot be stale, since it
//! is the binary cargo just built. `BACKREST_BENCH_SERVER` changes that:
//! `threads` runs the same server on OS threads of this process instead,
//! and a URL (`http://127.0.0.1:PORT`, e.g. of `cargo run --release -p
//! backrest-testkit --bin bench_server`) uses a server started by hand.
//!
//! Not a criterion benchmark (`harness = false`). Same setups as
//! `cache_hit.rs`, `miss.rs`, `coalesce.rs` and `save_all.rs` (the inputs of
//! `save_all` are cloned as they are taken, the same on both sides).
//!
//! `cargo bench --bench paired [-- WORD...]`: the pairs whose names contain
//! one of the WORDs (all without), in the regimes named among them
//! (`out-of-runtime`, `in-runtime`; both without). With
//! `BACKREST_PAIRED_RUNS=N` the whole set runs N times over and the table
//! gives the median of the runs' medians, with the lowest and highest run.
//!
//! Blocks are short (5-50 ms, save_all's excepted) and rounds many, so that
//! the two sides of a round see the same machine, and the median over
//! rounds shrugs off the rounds in which other processes took the CPU.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the ratios printed are this benchmark's report"
)]

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

use backrest::{DEFAULT_SAVE_ALL_CONCURRENCY, Fetch};
use futures_util::FutureExt;
use futures_util::future::join_all;

use common::pairing::{Ratio, format_time, paired};
use common::{
    ID, Regime, User, buffer_unordered, clients, hit_peers, plain_get, serve_if_child, users,
};

const CALLERS: usize = 1_000;

/// Which pairs and regimes to run.
struct Filter {
    pairs: Vec<String>,
    regimes: Vec<String>,
}

impl Filter {
    fn from_args() -> Filter {
        // `cargo bench` passes `--bench`; names are the other arguments.
        let (regimes, pairs) = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-') || a.ends_with("-runtime"))
            .partition(|a| a.ends_with("-runtime"));
        Filter { pairs, regimes }
    }

    fn runs(&self, name: &str) -> bool {
        self.pairs.is_empty()
            || self
                .pairs
                .iter()
                .any(|wanted| name.contains(wanted.as_str()))
    }

    fn runs_regime(&self, regime: &str) -> bool {
        self.regimes.is_empty() || self.regimes.iter().any(|wanted| wanted == regime)
    }
}

/// Counts the calls of a closure, to check the server's count against.
fn counted<F: FnMut() -> R, R>(calls: &Cell<u64>, mut f: F) -> impl FnMut() -> R {
    move || {
        calls.set(calls.get() + 1);
        f()
    }
}

fn format_ratio(ratio: &Ratio) -> String {
    format!(
        "{:.3}x ({:.3}-{:.3}, {}) {} / {}",
        ratio.median,
        ratio.low,
        ratio.high,
        ratio.rounds,
        format_time(ratio.ours),
        format_time(ratio.peer)
    )
}

/// One pair's measurements: for each regime, one per run.
struct Row {
    name: &'static str,
    ratios: Vec<(&'static str, Vec<Ratio>)>,
}

fn main() {
    serve_if_child();
    let filter = Filter::from_args();
    let mut regimes = Vec::new();
    if filter.runs_regime("out-of-runtime") {
        regimes.push(Regime::out_of_runtime());
    }
    if filter.runs_regime("in-runtime") {
        regimes.push(Regime::in_runtime());
    }
    let inputs = users(1, 10_000);
    // Ids never fetched before, shared by every pair and regime.
    let next_id = AtomicU64::new(1_000_000);
    let fresh_id = || next_id.fetch_add(1, Ordering::Relaxed);

    let pairs: [(&'static str, PairFn<'_>); 8] = [
        ("cache hit: fetch / RwLock<HashMap> [<= 1.5]", &|r, _| {
            cache_hit(r, false)
        }),
        ("cache hit: fetch / moka get [< 1.0]", &|r, _| {
            cache_hit(r, true)
        }),
        (
            "miss: cold fetch / reqwest GET + decode [<= 1.05]",
            &|r, fresh| {
                let (client, http) = clients(r, &r.base);
                let before = r.count();
                let calls = Cell::new(0);
                let ratio = paired(
                    &r.runtime,
                    (100, 200),
                    counted(&calls, || User::fetch(&client, black_box(fresh()))),
                    counted(&calls, || plain_get(&http, &r.base, black_box(fresh()))),
                );
                assert_eq!(r.count() - before, calls.get(), "one request per call");
                ratio
            },
        ),
        ("miss: reload / reqwest GET + decode [<= 1.05]", &|r, _| {
            let (client, http) = clients(r, &r.base);
            paired(
                &r.runtime,
                (100, 200),
                || User::fetch_with(&client, black_box(ID), Fetch::reload()),
                || plain_get(&http, &r.base, black_box(ID)),
            )
        }),
        (
            "save_all 10,000: save_all / buffer_unordered(16) [<= 1.1]",
            &|r, _| {
                let (client, http) = clients(r, &r.base);
                paired(
                    &r.runtime,
                    (1, 16),
                    || async {
                        User::save_all(&client, inputs.iter().cloned())
                            .await
                            .expect("save_all")
                    },
                    || async {
                        buffer_unordered(
                            &http,
                            &r.base,
                            inputs.iter().cloned(),
                            DEFAULT_SAVE_ALL_CONCURRENCY,
                        )
                        .await
                        .expect("buffer_unordered")
                    },
                )
            },
        ),
        (
            "coalesce 1,000 at 0 ms: fetch / Shared over reqwest [<= 1.0]",
            &|r, fresh| {
                let (client, http) = clients(r, &r.base);
                let before = r.count();
                let calls = Cell::new(0);
                let ratio = paired(
                    &r.runtime,
                    (10, 100),
                    counted(&calls, || {
                        let id = fresh();
                        join_all((0..CALLERS).map(|_| User::fetch(&client, black_box(id))))
                    }),
                    counted(&calls, || {
                        let shared = plain_get(&http, &r.base, fresh())
                            .map(|user| user.map(Arc::new).map_err(|e| e.to_string()))
                            .shared();
                        join_all((0..CALLERS).map(|_| shared.clone()))
                    }),
                );
                assert_eq!(
                    r.count() - before,
                    calls.get(),
                    "one request per 1,000 callers"
                );
                ratio
            },
        ),
        (
            "coalesce 1,000 at 2 ms: 1,000 fetches / one fetch [<= 1.2]",
            &|r, fresh| {
                let (client, _) = clients(r, &r.base_2ms);
                let before = r.count();
                let calls = Cell::new(0);
                let ratio = paired(
                    &r.runtime,
                    (10, 30),
                    counted(&calls, || {
                        let id = fresh();
                        join_all((0..CALLERS).map(|_| User::fetch(&client, black_box(id))))
                    }),
                    counted(&calls, || User::fetch(&client, black_box(fresh()))),
                );
                assert_eq!(
                    r.count() - before,
                    calls.get(),
                    "one request per 1,000 callers"
                );
                ratio
            },
        ),
        (
            "coalesce 1,000 at 2 ms, for reference: Shared / one reqwest GET",
            &|r, fresh| {
                let (_, http) = clients(r, &r.base_2ms);
                paired(
                    &r.runtime,
                    (10, 30),
                    || {
                        let shared = plain_get(&http, &r.base_2ms, fresh())
                            .map(|user| user.map(Arc::new).map_err(|e| e.to_string()))
                            .shared();
                        join_all((0..CALLERS).map(|_| shared.clone()))
                    },
                    || plain_get(&http, &r.base_2ms, black_box(fresh())),
                )
            },
        ),
    ];

    println!(
        "paired ratios, median over rounds (ABBA blocks), quartiles and rounds in brackets, \
         then the mean time of each side; ARCHITECTURE.md's target in square brackets"
    );
    let runs = std::env::var("BACKREST_PAIRED_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(1_usize)
        .max(1);
    let mut rows: Vec<Row> = pairs
        .iter()
        .filter(|(name, _)| filter.runs(name))
        .map(|&(name, _)| Row {
            name,
            ratios: regimes
                .iter()
                .map(|regime| (regime.name, Vec::new()))
                .collect(),
        })
        .collect();
    for run in 1..=runs {
        if runs > 1 {
            println!("run {run} of {runs}");
        }
        let selected = pairs.iter().filter(|(name, _)| filter.runs(name));
        for ((name, pair), row) in selected.zip(&mut rows) {
            for (regime, (_, ratios)) in regimes.iter().zip(&mut row.ratios) {
                let ratio = pair(regime, &fresh_id);
                println!("{name:<62} {:<15} {}", regime.name, format_ratio(&ratio));
                ratios.push(ratio);
            }
        }
    }

    println!();
    if runs > 1 {
        println!(
            "median over the {runs} runs of each run's median ratio, [lowest-highest run], \
             and the mean times of the (lower) median run"
        );
    }
    print!("{:<62}", "pair");
    for regime in &regimes {
        print!(" | {:<48}", regime.name);
    }
    println!();
    for row in &mut rows {
        print!("{:<62}", row.name);
        for (_, ratios) in &mut row.ratios {
            ratios.sort_by(|a, b| a.median.total_cmp(&b.median));
            let middle = &ratios[(ratios.len() - 1) / 2];
            // The median of an even number of runs: the mean of the middle two.
            let median = (middle.median + ratios[ratios.len() / 2].median) / 2.0;
            let cell = if ratios.len() == 1 {
                format_ratio(middle)
            } else {
                format!(
                    "{median:.3}x [{:.3}-{:.3}] {} / {}",
                    ratios[0].median,
                    ratios[ratios.len() - 1].median,
                    format_time(middle.ours),
                    format_time(middle.peer)
                )
            };
            print!(" | {cell:<48}");
        }
        println!();
    }
    let workers = regimes
        .iter()
        .find(|regime| regime.name == "out-of-runtime")
        .map(|regime| regime.runtime.metrics().num_workers());
    if let Some(workers) = workers {
        println!(
            "out-of-runtime: client on the multi-thread runtime ({workers} workers, block_on), \
             server in a child process; in-runtime: client and axum server on one \
             current-thread runtime"
        );
    }
}

type PairFn<'a> = &'a dyn Fn(&Regime, &dyn Fn() -> u64) -> Ratio;

/// A cached fetch against a `RwLock<HashMap>` read, or a moka hit.
fn cache_hit(regime: &Regime, moka: bool) -> Ratio {
    let (client, _) = clients(regime, &regime.base);
    let runtime = &regime.runtime;
    let cached = runtime
        .block_on(User::fetch(&client, ID))
        .expect("cached by the reload");
    let (rwlock, moka_cache) = hit_peers(runtime, ID, &cached);
    let before = regime.count();
    let ratio = if moka {
        paired(
            runtime,
            (20_000, 100),
            || User::fetch(&client, black_box(ID)),
            || async {
                let path = format!("/users/{}", black_box(ID));
                moka_cache.get(&path).await
            },
        )
    } else {
        paired(
            runtime,
            (20_000, 100),
            || User::fetch(&client, black_box(ID)),
            || async {
                let path = format!("/users/{}", black_box(ID));
                let map = rwlock.read().unwrap_or_else(PoisonError::into_inner);
                map.get(&path).cloned()
            },
        )
    };
    assert_eq!(regime.count(), before, "every fetch was a hit");
    ratio
}
