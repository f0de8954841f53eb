//! What the benchmarks share: the model, the scripted loopback server (on
//! the client's runtime, or on a thread of its own), the client's runtime,
//! and the peers written with reqwest and serde_json alone.

#![allow(dead_code, reason = "each benchmark uses a part of this module")]

use backrest::Model;
use backrest_testkit::{Reply, Server};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::runtime::{Builder, Runtime};

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
