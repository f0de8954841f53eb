//! What the benchmarks share: the model, the scripted loopback server (on
//! the client's runtime, or on a thread of its own), the client's runtime,
//! the two regimes of the paired benchmarks (server outside the client's
//! runtime, or on it), and the peers written with reqwest and serde_json
//! alone.

#![allow(dead_code, reason = "each benchmark uses a part of this module")]

use std::process::Command;
use std::time::Duration;

use backrest::{Client, Fetch, Model};
use backrest_testkit::bench_server::{self, ChildServer, ThreadServer};
use backrest_testkit::{Reply, Server};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::runtime::{Builder, Runtime};

pub(crate) mod pairing;

/// The resource every benchmark fetches or saves: `/users/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/users")]
pub(crate) struct User {
    #[model(id)]
    pub(crate) id: Option<u64>,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) active: bool,
}

/// `User` fresh for an hour: every hit checks its age (the policy
/// benchmark's and the profiler's `fresh` hit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/users", max_age = "1h")]
pub(crate) struct Fresh {
    #[model(id)]
    pub(crate) id: Option<u64>,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) active: bool,
}

/// The user with this id as a `Fresh`.
pub(crate) fn fresh(id: u64) -> Fresh {
    let user = user(id);
    Fresh {
        id: user.id,
        name: user.name,
        email: user.email,
        active: user.active,
    }
}

/// The user with this id, as the server knows it.
pub(crate) fn user(id: u64) -> User {
    User {
        id: Some(id),
        name: format!("User number {id}"),
        email: format!("user{id}@example.com"),
        active: id % 2 == 0,
    }
}

/// `count` users with ids from `first` on, as `save_all` takes them.
pub(crate) fn users(first: u64, count: usize) -> Vec<User> {
    (first..).take(count).map(user).collect()
}

/// A scripted server on 127.0.0.1.
///
/// `GET /users/{id}` answers that user's JSON; `PUT` echoes the body it got.
/// Replies wait `delay_ms` milliseconds (none when 0). The server keeps no
/// log, only its request count ([`Server::total`]).
pub(crate) struct Loopback {
    // Declared first, so dropped (aborted) before its runtime.
    pub(crate) server: Server,
    _runtime: Option<Runtime>,
}

impl Loopback {
    /// A server run by a runtime of its own on its own thread, as a server
    /// in another process would be: client and server run in parallel, and
    /// every request crosses threads.
    pub(crate) fn start(delay_ms: u64) -> Loopback {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("loopback-server")
            .enable_all()
            .build()
            .expect("build the server's runtime");
        let server = runtime.block_on(Server::start());
        script(&server, delay_ms);
        Loopback {
            server,
            _runtime: Some(runtime),
        }
    }

    /// A server on the client's own current-thread runtime: no request
    /// waits for another thread to wake up, so a round trip costs CPU time
    /// only, the same for every side, and timings vary far less than across
    /// threads on a small virtual machine.
    pub(crate) fn start_on(runtime: &Runtime, delay_ms: u64) -> Loopback {
        let server = runtime.block_on(Server::start());
        script(&server, delay_ms);
        Loopback {
            server,
            _runtime: None,
        }
    }

    pub(crate) fn url(&self) -> String {
        self.server.url()
    }
}

fn script(server: &Server, delay_ms: u64) {
    server.stop_recording();
    server.handle(move |request| {
        let reply = if request.method == "GET" {
            let id = request
                .path
                .strip_prefix("/users/")
                .and_then(|id| id.parse().ok());
            match id {
                Some(id) => Reply::raw(200, serde_json::to_vec(&user(id)).expect("encode")),
                None => Reply::text(404, "no such user"),
            }
        } else {
            Reply::raw(200, request.body.clone())
        };
        reply.delay_ms(delay_ms)
    });
}

/// The client's executor: one thread, driven only by criterion's
/// `block_on`, the same for backrest and for its peers.
pub(crate) fn client_runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the client's runtime")
}

/// `application/json`, for `Accept` and `Content-Type`.
pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a user writes with reqwest and serde_json alone: one GET of the user
/// with this id, with the header backrest sends, decoding the answer.
pub(crate) async fn plain_get(
    http: &reqwest::Client,
    base: &str,
    id: u64,
) -> Result<User, BoxError> {
    let response = http
        .get(format!("{base}/users/{id}"))
        .header(ACCEPT, JSON)
        .send()
        .await?
        .error_for_status()?;
    let body = response.bytes().await?;
    Ok(serde_json::from_slice(&body)?)
}

/// What a user writes with reqwest and serde_json alone: one PUT of `user`,
/// with the headers backrest sends, decoding the answer. with reqwest and serde_json alone.
pub(crate) async fn plain_put(
    http: &reqwest::Client,
    base: &str,
    user: User,
) -> Result<User, BoxError> {
    let id = user.id.ok_or("a saved user has an id")?;
    let body = serde_json::to_vec(&user)?;
    let response = http
        .put(format!("{base}/users/{id}"))
        .header(ACCEPT, JSON)
        .header(CONTENT_TYPE, JSON)
        .body(body)
        .send()
        .await?
        .error_for_status()?;
    let body = response.bytes().await?;
    Ok(serde_json::from_slice(&body)?)
}

/// The peer of `save_all`: the same PUTs, `limit` at a time.
pub(crate) async fn buffer_unordered(
    http: &reqwest::Client,
    base: &str,
    users: impl IntoIterator<Item = User>,
    limit: usize,
) -> Result<Vec<User>, BoxError> {
    stream::iter(users)
        .map(|user| plain_put(http, base, user))
        .buffer_unordered(limit)
        .try_collect()
        .await
}

/// The cache-hit peer (a): a map of paths behind a read-write lock.
pub(crate) type PathMap =
    std::sync::RwLock<std::collections::HashMap<String, std::sync::Arc<User>>>;

/// The cache-hit peer (b): a moka cache of paths.
pub(crate) type Moka = moka::future::Cache<String, std::sync::Arc<User>>;

/// The cache-hit peers, each holding `cached` under the path of user `id`:
/// a `RwLock<HashMap>` and a moka cache.
pub(crate) fn hit_peers(
    runtime: &Runtime,
    id: u64,
    cached: &std::sync::Arc<User>,
) -> (PathMap, Moka) {
    let path = format!("/users/{id}");
    let rwlock = std::sync::RwLock::new(std::collections::HashMap::from([(
        path.clone(),
        std::sync::Arc::clone(cached),
    )]));
    let moka = runtime.block_on(async {
        let moka = moka::future::Cache::new(10_000);
        moka.insert(path, std::sync::Arc::clone(cached)).await;
        moka
    });
    (rwlock, moka)
}

/// Set in the environment of a benchmark executable run again as the
/// server of the out-of-runtime regime.
const CHILD: &str = "BACKREST_BENCH_CHILD";

/// The user that [`clients`] fetches to warm up.
pub(crate) const ID: u64 = 7;

/// In a benchmark executable run again as the out-of-runtime regime's
/// server ([`Regime::out_of_runtime`]), serves and exits: call it first
/// thing in `main`.
pub(crate) fn serve_if_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    match bench_server::main_with_args(std::env::args().skip(1)) {
        Ok(()) => std::process::exit(0),
        Err(error) => {
            #[allow(clippy::print_stderr, reason = "the child's one report")]
            {
                eprintln!("bench server: {error}");
            }
            std::process::exit(1)
        }
    }
}

/// Where requests go, and the runtime the client runs on.
pub(crate) struct Regime {
    pub(crate) name: &'static str,
    pub(crate) runtime: Runtime,
    /// The zero-delay server.
    pub(crate) base: String,
    /// A server that answers after 2 ms.
    pub(crate) base_2ms: String,
    servers: Servers,
}

enum Servers {
    Child(#[allow(dead_code, reason = "held to keep it up")] Box<ChildServer>),
    Threads(
        #[allow(dead_code, reason = "held to keep it up")] ThreadServer,
        #[allow(dead_code, reason = "held to keep it up")] ThreadServer,
    ),
    External,
    Loopback(Loopback, Loopback),
}

impl Regime {
    /// The client on the default multi-thread runtime, the server outside
    /// it: a child process, unless `BACKREST_BENCH_SERVER` says otherwise.
    pub(crate) fn out_of_runtime() -> Regime {
        let runtime = Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("build the client's runtime");
        let choice = std::env::var("BACKREST_BENCH_SERVER").unwrap_or_default();
        let (servers, base, base_2ms) = if choice.starts_with("http://") {
            let base = choice.trim_end_matches('/').to_owned();
            let base_2ms = format!("{base}/delay/2");
            (Servers::External, base, base_2ms)
        } else if choice == "threads" {
            let zero = ThreadServer::start(Duration::ZERO).expect("start the server threads");
            let slow = ThreadServer::start(Duration::from_millis(2)).expect("start the server");
            let (base, base_2ms) = (zero.url(), slow.url());
            (Servers::Threads(zero, slow), base, base_2ms)
        } else {
            let exe = std::env::current_exe().expect("the benchmark's own path");
            let mut command = Command::new(exe);
            command.env(CHILD, "1");
            let child = ChildServer::spawn(command).expect("start the child server");
            let base = child.url().to_owned();
            let base_2ms = format!("{base}/delay/2");
            (Servers::Child(Box::new(child)), base, base_2ms)
        };
        Regime {
            name: "out-of-runtime",
            runtime,
            base,
            base_2ms,
            servers,
        }
    }

    /// How many requests the servers have answered so far.
    pub(crate) fn count(&self) -> u64 {
        let answered = |base: &str| bench_server::answered(base).expect("the server's count");
        match &self.servers {
            Servers::Child(_) | Servers::External => answered(&self.base),
            Servers::Threads(..) => answered(&self.base) + answered(&self.base_2ms),
            Servers::Loopback(zero, slow) => (zero.server.total() + slow.server.total()) as u64,
        }
    }

    /// The client and the server on one current-thread runtime.
    pub(crate) fn in_runtime() -> Regime {
        let runtime = client_runtime();
        let zero = Loopback::start_on(&runtime, 0);
        let slow = Loopback::start_on(&runtime, 2);
        let (base, base_2ms) = (zero.url(), slow.url());
        Regime {
            name: "in-runtime",
            runtime,
            base,
            base_2ms,
            servers: Servers::Loopback(zero, slow),
        }
    }
}

/// A backrest client and a plain reqwest client for `base`, with warm
/// connections, after checking that both decode the same user.
///
/// Both share one reqwest client, so one connection pool: the two sides of
/// a pair send over the same keep-alive connections, answered by the same
/// server threads. With a pool each, each side had a server thread of its
/// own, and the scheduler could favour one of them for a whole run: on a
/// loaded 2-core machine, out-of-runtime miss ratios of runs of the same
/// build ranged from 0.5x to 2.2x; sharing the pool, from 1.04x to 1.07x.
pub(crate) fn clients(regime: &Regime, base: &str) -> (Client, reqwest::Client) {
    let http = reqwest::Client::new();
    let client = Client::builder(base)
        .http_client(http.clone())
        .build()
        .expect("client");
    regime.runtime.block_on(async {
        let ours = User::fetch_with(&client, ID, Fetch::reload())
            .await
            .expect("fetch");
        let theirs = plain_get(&http, base, ID).await.expect("get");
        assert_eq!(*ours, theirs);
        assert_eq!(theirs, user(ID));
    });
    (client, http)
}
