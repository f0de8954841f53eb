//! R12's seeded property test: random interleavings of fetch, reload, save,
//! destroy and dropped callers against a server with random delays and
//! failures. After each run it checks (ARCHITECTURE.md, R12):
//!
//! - every call resolved (each run is bounded);
//! - no caller got a value older than one a call had already returned
//!   before it started (the cache only moves forward: C4, C5, C9), in the
//!   cache's order, where of two saves of one id in flight together the one
//!   answered last is the newer;
//! - a final reload of every key agrees with what the server holds.
//!
//! The server stamps every stored value with a version from one counter,
//! so "older" is a number. `BACKREST_CHAOS_SEED=<n>` replays one seed;
//! a failure names the seed that found it.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backrest_runtime::{Client, Fetch, Model, Retry};
use backrest_testkit::{Reply, Request, Server};
use common::User;

const KEYS: u64 = 2;
const TASKS: usize = 4;
const OPS_PER_TASK: usize = 40;
const RUNS: u64 = 24;
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// What the server holds: each key's version, if it exists.
#[derive(Default)]
struct Origin {
    version: u64,
    values: HashMap<u64, u64>,
}

fn version_of(user: &User) -> u64 {
    user.name
        .trim_start_matches('v')
        .parse()
        .expect("a versioned name")
}

fn id_of(request: &Request) -> Option<u64> {
    request.path.strip_prefix("/users/")?.parse().ok()
}

/// The server: GET reads, PUT stores a new version, DELETE removes; each
/// answer after a random delay, and some fail instead (without a change).
fn serve(server: &Server, seed: u64) -> Arc<Mutex<Origin>> {
    let origin = Arc::new(Mutex::new(Origin::default()));
    let state = Arc::clone(&origin);
    let rng = Mutex::new(fastrand::Rng::with_seed(seed ^ 0x5eed));
    server.handle(move |request| {
        let (delay, fault) = {
            let mut rng = rng.lock().unwrap();
            (rng.u64(0..16), rng.u8(0..100))
        };
        let reply = match (fault, id_of(request)) {
            (_, None) => Reply::text(404, "no such route"),
            (0..=7, _) => Reply::text(503, "busy"),
            (8..=10, _) => Reply::text(500, "oops"),
            (_, Some(id)) => {
                let mut origin = state.lock().unwrap();
                match request.method.as_str() {
                    "GET" => match origin.values.get(&id) {
                        Some(v) => Reply::json(200, common::user_json(id, &format!("v{v}"))),
                        None => Reply::text(404, "gone"),
                    },
                    "PUT" => {
                        origin.version += 1;
                        let v = origin.version;
                        origin.values.insert(id, v);
                        Reply::json(200, common::user_json(id, &format!("v{v}")))
                    }
                    "DELETE" => {
                        origin.values.remove(&id);
                        Reply::empty(204)
                    }
                    _ => Reply::text(405, "no"),
                }
            }
        };
        reply.delay_ms(delay)
    });
    origin
}

/// One finished call: its key, when it started and ended on the test's
/// logical clock, and the version it resolved with (`None`: an error, a
/// destroy, or a caller dropped on purpose).
#[derive(Debug, Clone, Copy)]
struct Outcome {
    key: u64,
    started: u64,
    ended: u64,
    version: Option<u64>,
    #[allow(dead_code, reason = "shown in a failure's history")]
    op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Fetch,
    Reload,
    Save,
    Destroy,
    Dropped,
}

async fn call(client: &Client, clock: &AtomicU64, op: Op, key: u64) -> Outcome {
    let started = clock.fetch_add(1, Ordering::SeqCst);
    let version = match op {
        Op::Fetch => User::fetch(client, (), key)
            .await
            .ok()
            .map(|u| version_of(&u)),
        Op::Reload => User::fetch_with(client, (), key, Fetch::reload())
            .await
            .ok()
            .map(|u| version_of(&u)),
        Op::Save => User::new(key, "v0")
            .save(client)
            .await
            .ok()
            .map(|u| version_of(&u)),
        Op::Destroy => {
            let _ = User::new(key, "v0").destroy(client).await;
            None
        }
        Op::Dropped => {
            let mut fetch = Box::pin(User::fetch(client, (), key));
            let _ = futures_util::poll!(fetch.as_mut());
            drop(fetch);
            None
        }
    };
    let ended = clock.fetch_add(1, Ordering::SeqCst);
    Outcome {
        key,
        started,
        ended,
        version,
        op,
    }
}

async fn run(seed: u64) -> Result<(), String> {
    let server = Server::start().await;
    server.stop_recording();
    let origin = serve(&server, seed);
    let client = Client::builder(&server.url())
        .retry(Retry::attempts(2).backoff(Duration::from_millis(1), Duration::from_millis(3)))
        .build()
        .expect("valid base");
    let clock = Arc::new(AtomicU64::new(0));

    let tasks: Vec<_> = (0..TASKS as u64)
        .map(|task| {
            let client = client.clone();
            let clock = Arc::clone(&clock);
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_mul(31).wrapping_add(task));
            tokio::spawn(async move {
                let mut outcomes = Vec::with_capacity(OPS_PER_TASK);
                for _ in 0..OPS_PER_TASK {
                    let op = match rng.u8(0..100) {
                        0..=44 => Op::Fetch,
                        45..=59 => Op::Reload,
                        60..=79 => Op::Save,
                        80..=87 => Op::Destroy,
                        _ => Op::Dropped,
                    };
                    let key = rng.u64(1..=KEYS);
                    outcomes.push(call(&client, &clock, op, key).await);
                }
                outcomes
            })
        })
        .collect();
    let joined = tokio::time::timeout(RUN_LIMIT, futures_util::future::join_all(tasks))
        .await
        .map_err(|_| "a call did not resolve within the run's bound".to_owned())?;
    let mut outcomes = Vec::new();
    for task in joined {
        outcomes.extend(task.map_err(|e| format!("a task panicked: {e}"))?);
    }

    // No caller got a value older than one returned before it started,
    // in the cache's order. That order is the cache's own, not the
    // server's: a save takes its number when its answer arrives (C9), a load
    // when its first attempt starts (C4, R4), whatever order the server
    // handled the requests in (only validators can tell that, R8). So a
    // value older than one returned before is allowed only when a call that
    // is later in the cache's order returned it.
    let stamp = |o: &Outcome| match o.op {
        Op::Save => o.ended,
        _ => o.started,
    };
    for outcome in &outcomes {
        let Some(version) = outcome.version else {
            continue;
        };
        let same_key = |o: &&Outcome| o.key == outcome.key;
        let reordered = |newer: &Outcome| {
            outcomes
                .iter()
                .filter(same_key)
                .any(|o| o.version == Some(version) && stamp(o) > stamp(newer))
        };
        let behind = outcomes.iter().filter(same_key).find(|o| {
            o.ended < outcome.started && o.version.is_some_and(|v| v > version) && !reordered(o)
        });
        if let Some(newer) = behind {
            let mut history: Vec<_> = outcomes.iter().filter(same_key).collect();
            history.sort_by_key(|o| o.started);
            let history: Vec<String> = history.iter().map(|o| format!("{o:?}")).collect();
            return Err(format!(
                "{outcome:?} resolved with v{version}, older than {newer:?} returned before it \
                 started; the key's calls:\n{}",
                history.join("\n")
            ));
        }
    }

    // A final reload of every key agrees with the server, and leaves the
    // client's cache serving what it read. Injected failures are sent
    // again (a bounded number of times) on the same client.
    for key in 1..=KEYS {
        let expected = origin.lock().unwrap().values.get(&key).copied();
        let mut got = Err("no answer".to_owned());
        for _ in 0..100 {
            match User::fetch_with(&client, (), key, Fetch::reload()).await {
                Ok(user) => got = Ok(Some(version_of(&user))),
                Err(err) if err.status() == Some(backrest_runtime::StatusCode::NOT_FOUND) => {
                    got = Ok(None);
                }
                Err(err) => {
                    got = Err(err.to_string());
                    continue;
                }
            }
            break;
        }
        let got = got.map_err(|e| format!("key {key}: the final reload kept failing: {e}"))?;
        if got != expected {
            return Err(format!(
                "key {key}: final reload read {got:?}, server holds {expected:?}"
            ));
        }
        if let Some(expected) = expected {
            let cached = User::fetch(&client, (), key)
                .await
                .ok()
                .map(|u| version_of(&u));
            if cached != Some(expected) {
                return Err(format!(
                    "key {key}: cached {cached:?} after reloading v{expected}"
                ));
            }
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r12_random_interleavings_keep_every_promise() {
    let seeds: Vec<u64> = match std::env::var("BACKREST_CHAOS_SEED") {
        Ok(seed) => vec![seed.parse().expect("BACKREST_CHAOS_SEED is a number")],
        Err(_) => {
            let base = 0xbac4_0000_u64;
            (0..RUNS).map(|run| base + run).collect()
        }
    };
    for seed in seeds {
        if let Err(failure) = run(seed).await {
            panic!("seed {seed} (replay with BACKREST_CHAOS_SEED={seed}): {failure}");
        }
    }
}
