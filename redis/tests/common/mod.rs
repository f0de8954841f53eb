//! What the fleet tests and benchmark share: the model, an origin that
//! counts requests, worker processes (this executable run again) that
//! each hold their own `Client` with the shared cache, and a private
//! `redis-server` to stop and start.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use backrest::Model;
use backrest_testkit::{Reply, Server};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long any one answer of a worker may take before the test fails.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(30);

/// The environment variable that makes this executable a worker.
pub const WORKER: &str = "BACKREST_FLEET_WORKER";

/// A resource of the fleet's origin.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/items", name = "fleet.Item")]
pub struct Item {
    #[model(id)]
    pub id: Option<u64>,
    pub name: String,
    #[model(etag)]
    #[serde(skip)]
    pub etag: Option<String>,
}

/// The Redis the tests share: `BACKREST_REDIS_URL`, which `.ci/run` sets.
///
/// # Panics
///
/// When it is unset: the fleet tests need a real Redis, and fail rather
/// than skip without one.
pub fn redis_url() -> String {
    std::env::var("BACKREST_REDIS_URL").expect(
        "BACKREST_REDIS_URL is unset: the fleet tests need a real Redis \
         (run .ci/run, or start redis-server and export BACKREST_REDIS_URL=redis://127.0.0.1:PORT)",
    )
}

/// A namespace no other test uses.
pub fn namespace(test: &str) -> String {
    format!("test-{test}-{:08x}", fastrand_u32())
}

fn fastrand_u32() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

/// Microseconds since the epoch: a clock every process on this machine
/// shares.
pub fn wall_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// An origin serving `/items/{id}`: names held in a map (`item-{id}` until
/// saved), an `ETag` of the name's version, PUT storing the name; every
/// request counted by the server.
pub async fn origin(delay_ms: u64) -> (Server, Arc<Mutex<HashMap<u64, (String, u32)>>>) {
    let server = Server::start().await;
    let names: Arc<Mutex<HashMap<u64, (String, u32)>>> = Arc::default();
    let state = Arc::clone(&names);
    server.handle(move |request| {
        let Some(id) = request
            .path
            .strip_prefix("/items/")
            .and_then(|id| id.parse::<u64>().ok())
        else {
            return Reply::empty(404);
        };
        let mut names = state.lock().unwrap();
        let reply = match request.method.as_str() {
            "GET" => {
                let (name, version) = names
                    .entry(id)
                    .or_insert_with(|| (format!("item-{id}"), 1))
                    .clone();
                Reply::json(200, serde_json::json!({ "id": id, "name": name }))
                    .header("etag", &format!("\"v{version}\""))
            }
            "PUT" => {
                let name = request.json()["name"].as_str().unwrap_or("").to_owned();
                let version = names.get(&id).map_or(1, |(_, v)| v + 1);
                names.insert(id, (name.clone(), version));
                Reply::json(200, serde_json::json!({ "id": id, "name": name }))
                    .header("etag", &format!("\"v{version}\""))
            }
            "DELETE" => {
                names.remove(&id);
                Reply::empty(204)
            }
            _ => Reply::empty(405),
        };
        reply.delay_ms(delay_ms)
    });
    (server, names)
}

/// What a worker is given.
#[derive(Debug, Clone)]
pub struct Setup {
    pub origin: String,
    pub redis: String,
    pub namespace: String,
    pub lease_ms: u64,
    pub command_timeout_ms: u64,
    /// Whether the worker's client has the shared cache at all.
    pub shared: bool,
}

impl Setup {
    pub fn new(origin: &Server, redis: &str, namespace: &str) -> Setup {
        Setup {
            origin: origin.url(),
            redis: redis.to_owned(),
            namespace: namespace.to_owned(),
            lease_ms: 2_000,
            // Generous, so that a loaded CI machine does not turn a slow
            // command into an origin request the counts do not expect.
            command_timeout_ms: 1_000,
            shared: true,
        }
    }
}

/// A worker process: one `Client` with the shared cache, driven by lines
/// on its stdin, answering one line each.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    /// Starts this executable again with `args` as a worker; returns once
    /// it is ready.
    pub async fn spawn(args: &[&str], setup: &Setup) -> Worker {
        let exe = std::env::current_exe().expect("the test executable");
        let mut child = Command::new(exe)
            .args(args)
            .env(WORKER, "1")
            .env("FLEET_ORIGIN", &setup.origin)
            .env("FLEET_REDIS", &setup.redis)
            .env("FLEET_NAMESPACE", &setup.namespace)
            .env("FLEET_LEASE_MS", setup.lease_ms.to_string())
            .env(
                "FLEET_COMMAND_TIMEOUT_MS",
                setup.command_timeout_ms.to_string(),
            )
            .env("FLEET_SHARED", if setup.shared { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("a worker process");
        let stdin = child.stdin.take().expect("piped stdin");
        let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut worker = Worker {
            child,
            stdin,
            lines,
        };
        let ready = worker.answer().await;
        assert_eq!(ready, "ready", "the worker did not start");
        worker
    }

    /// Sends one command and returns its answer (without the `@ ` mark).
    ///
    /// # Panics
    ///
    /// If the worker does not answer within [`ANSWER_LIMIT`].
    pub async fn ask(&mut self, command: &str) -> String {
        self.send(command).await;
        self.answer().await
    }

    /// Sends one command without waiting for its answer.
    pub async fn send(&mut self, command: &str) {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("the worker's stdin");
        self.stdin.flush().await.expect("the worker's stdin");
    }

    /// The next answer.
    pub async fn answer(&mut self) -> String {
        let read = async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .expect("the worker's stdout")
                    .expect("the worker exited");
                // The test harness prints lines of its own.
                if let Some(answer) = line.strip_prefix("@ ") {
                    return answer.to_owned();
                }
            }
        };
        tokio::time::timeout(ANSWER_LIMIT, read)
            .await
            .expect("the worker answered in time")
    }

    /// Its counters: `(hits, misses, requests, shared_hits, shared_errors)`.
    pub async fn stats(&mut self) -> [u64; 5] {
        let answer = self.ask("stats").await;
        let numbers: Vec<u64> = answer
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().expect("a count"))
            .collect();
        numbers.try_into().expect("five counts")
    }

    /// Kills the process at once, as a crash would.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The worker's side: reads commands from stdin and answers each with one
/// line on stdout.
pub async fn serve() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let millis = |name: &str| Duration::from_millis(var(name).parse().expect("milliseconds"));
    let mut builder = backrest::Client::builder(&var("FLEET_ORIGIN"));
    if var("FLEET_SHARED") == "1" {
        let shared = backrest_redis::RedisCache::connect(&var("FLEET_REDIS"))
            .await
            .expect("Redis is reachable")
            .namespace(var("FLEET_NAMESPACE"))
            .lease_ttl(millis("FLEET_LEASE_MS"))
            .command_timeout(millis("FLEET_COMMAND_TIMEOUT_MS"));
        builder = builder.shared_cache(shared);
    }
    let client = builder.build().expect("a client");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    say("ready");
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |i: usize| -> u64 { words[i].parse().expect("a number") };
        let answer = match words.first().copied() {
            Some("fetch") => match Item::fetch(&client, number(1)).await {
                Ok(item) => format!("ok {} {}", item.name, item.etag.as_deref().unwrap_or("-")),
                Err(error) => format!("err {error}"),
            },
            Some("fetch_range") => {
                use futures_util::StreamExt;
                let fetches = (number(1)..number(2)).map(|id| Item::fetch(&client, id));
                let results: Vec<_> = futures_util::stream::iter(fetches)
                    .buffer_unordered(64)
                    .collect()
                    .await;
                let failed = results.iter().filter(|r| r.is_err()).count();
                format!("ok {failed}")
            }
            Some("save") => {
                let item = Item {
                    id: Some(number(1)),
                    name: words[2].to_owned(),
                    etag: None,
                };
                let started = wall_micros();
                match item.save(&client).await {
                    Ok(_) => format!("ok {started}"),
                    Err(error) => format!("err {error}"),
                }
            }
            Some("destroy") => {
                let item = Item {
                    id: Some(number(1)),
                    name: String::new(),
                    etag: None,
                };
                let started = wall_micros();
                match item.destroy(&client).await {
                    Ok(()) => format!("ok {started}"),
                    Err(error) => format!("err {error}"),
                }
            }
            // Fetches until the name is not `old` any more (or the fetch
            // fails), at most `limit` ms: when the change arrived.
            Some("await_change") => {
                let (id, old) = (number(1), words[2].to_owned());
                let limit = Duration::from_millis(number(3));
                let start = Instant::now();
                loop {
                    let changed = match Item::fetch(&client, id).await {
                        Ok(item) => item.name != old,
                        Err(_) => true,
                    };
                    if changed {
                        break format!("ok {}", wall_micros());
                    }
                    if start.elapsed() > limit {
                        break "timeout".to_owned();
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Some("stats") => {
                let s = client.stats();
                format!(
                    "ok {} {} {} {} {}",
                    s.hits, s.misses, s.requests, s.shared_hits, s.shared_errors
                )
            }
            Some("quit") | None => break,
            Some(other) => format!("err unknown command {other}"),
        };
        say(&answer);
    }
}

#[allow(clippy::print_stdout)]
fn say(answer: &str) {
    println!("@ {answer}");
}

/// A `redis-server` of a test's own, on a free loopback port, that the test
/// can stop and start again.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    /// Starts one; returns once it answers.
    pub async fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut redis = PrivateRedis { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on its port, empty; returns once it answers.
    pub async fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
