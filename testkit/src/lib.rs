//! A scripted HTTP server on 127.0.0.1 for backrest's tests, examples and
//! benchmarks.
//!
//! Each test starts its own [`Server`], scripts its replies (status, body,
//! delay, or a [`Gate`] that holds a reply until the test opens it), and then
//! asserts on what the server received: method, path, headers, body, count.
//! Nothing in the HTTP stack is mocked: the client under test talks TCP to a
//! real server.
//!
//! Broken servers are scripted too: a [`Fault`] delivers a reply wrongly
//! (reset mid-body, short body, endless or trickling body, no answer at
//! all), and a [`RawServer`] speaks the bits of HTTP an HTTP library will not
//! send (endless `100 Continue`, silence, a stale keep-alive connection).
//! Every fault is bounded: it ends when the client goes away, when its
//! server is dropped, or after [`FAULT_LIMIT`] at the latest.

mod fault;
mod raw;

pub use fault::{ENDLESS_CAP, FAULT_LIMIT, Fault, HUGE_CONTENT_LENGTH};
pub use raw::RawServer;

pub mod bench_server;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request as HttpRequest, Response, header};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// How long [`Server::wait_for`] waits before failing the test, so that a
/// broken test fails instead of hanging.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, such as `GET`.
    pub method: String,
    /// The path exactly as sent, percent-encoding included.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A reply the server sends, possibly after a delay or a [`Gate`].
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(HeaderName, HeaderValue)>,
    delay: Duration,
    gate: Option<Gate>,
    delivery: fault::Delivery,
}

impl Reply {
    /// A reply with this status, body and `Content-Type` (none if `None`):
    /// what every other constructor is made of.
    pub fn new(status: u16, body: impl Into<Vec<u8>>, content_type: Option<&'static str>) -> Reply {
        let headers = content_type
            .map(|value| (header::CONTENT_TYPE, HeaderValue::from_static(value)))
            .into_iter()
            .collect();
        Reply {
            status,
            body: body.into(),
            headers,
            delay: Duration::ZERO,
            gate: None,
            delivery: fault::Delivery::Whole,
        }
    }

    /// A JSON reply.
    #[allow(clippy::needless_pass_by_value, reason = "takes `json!(..)` inline")]
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::new(status, body.to_string(), Some("application/json"))
    }

    /// A reply with a body sent as is, labelled JSON (for malformed bodies).
    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(status, body, Some("application/json"))
    }

    /// A plain-text reply.
    pub fn text(status: u16, body: &str) -> Reply {
        Reply::new(status, body, Some("text/plain"))
    }

    /// A reply with no body.
    pub fn empty(status: u16) -> Reply {
        Reply::new(status, Vec::new(), None)
    }

    /// Adds a response header (`ETag`, `Retry-After`, `Location`, ...); a
    /// header added twice is sent twice, except `Content-Type`, which
    /// replaces the constructor's.
    ///
    /// # Panics
    ///
    /// If `name` or `value` is not a valid header: a mistake in the test.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        let name = HeaderName::try_from(name).expect("a valid header name");
        let value = HeaderValue::try_from(value).expect("a valid header value");
        // A `Content-Type` replaces the constructor's own.
        if name == header::CONTENT_TYPE {
            self.headers.retain(|(n, _)| n != header::CONTENT_TYPE);
        }
        self.headers.push((name, value));
        self
    }

    /// Sends the reply `millis` milliseconds after the request arrived.
    #[must_use]
    pub fn delay_ms(mut self, millis: u64) -> Reply {
        self.delay = Duration::from_millis(millis);
        self
    }

    /// Holds the reply until `gate` is opened (then applies any delay). If
    /// the [`Server`] is dropped first, the connection is closed unanswered.
    #[must_use]
    pub fn after(mut self, gate: &Gate) -> Reply {
        self.gate = Some(gate.clone());
        self
    }
}

/// Holds replies until the test opens it: orders events on the server side.
#[derive(Debug, Clone)]
pub struct Gate {
    open: watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate {
            open: watch::Sender::new(false),
        }
    }

    /// Opens the gate: every reply held by it, and every later one, is sent.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    async fn wait(&self) {
        let mut open = self.open.subscribe();
        // The sender lives in `self`, so this only ends when the gate opens.
        let _ = open.wait_for(|open| *open).await;
    }
}

type Handler = Box<dyn Fn(&Request) -> Reply + Send + Sync>;

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<(String, String), VecDeque<Reply>>>,
    handler: Mutex<Option<Handler>>,
    log: Mutex<Vec<Request>>,
    /// Arrivals per (method, path), kept whether or not the log is.
    counts: Mutex<HashMap<(String, String), usize>>,
    arrived: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    arrival: Notify,
    not_recording: AtomicBool,
    /// Opened when the [`Server`] is dropped: releases held replies.
    stopped: Gate,
    /// Fault bodies being sent now, and a wake-up when one ends.
    open_streams: AtomicUsize,
    stream_closed: Notify,
}

/// A scripted HTTP server on 127.0.0.1, stopped when dropped: then
/// replies still held (by a [`Gate`], a delay or [`Fault::NoHeaders`]) are
/// closed unanswered, and fault bodies still streaming are cut.
///
/// Replies come from, in order: the queue of [`Server::on`] for the
/// request's method and path (the last reply of a queue repeats), then the
/// [`Server::handle`] handler, then a 404.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    ///
    /// # Panics
    ///
    /// If no port can be bound: a test set-up failure.
    pub async fn start() -> Server {
        let (listener, addr) = bind().await;
        let shared = Arc::new(Shared::default());
        let state = Arc::clone(&shared);
        let app = Router::new().fallback(move |request: HttpRequest<Body>| {
            let state = Arc::clone(&state);
            async move { serve(state, request).await }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { addr, shared, task }
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues `reply` for the next request with this method and path (the
    /// path as sent, encoded). The last reply queued for a route repeats.
    pub fn on(&self, method: &str, path: &str, reply: Reply) {
        lock(&self.shared.routes)
            .entry((method.to_owned(), path.to_owned()))
            .or_default()
            .push_back(reply);
    }

    /// Answers every request that no queued reply matches.
    pub fn handle(&self, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) {
        *lock(&self.shared.handler) = Some(Box::new(handler));
    }

    /// Stops keeping a log of requests (counts are still kept), for
    /// benchmarks that send very many.
    pub fn stop_recording(&self) {
        self.shared.not_recording.store(true, Ordering::Relaxed);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.log).clone()
    }

    /// The method and path of every request received so far, in arrival
    /// order: what a test compares with the calls it expects.
    pub fn calls(&self) -> Vec<(String, String)> {
        lock(&self.shared.log)
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect()
    }

    /// How many requests with this method and path have arrived, whether
    /// or not requests are recorded.
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.shared.counts)
            .get(&(method.to_owned(), path.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// How many requests have arrived in all.
    pub fn total(&self) -> usize {
        self.shared.arrived.load(Ordering::SeqCst)
    }

    /// The most requests that were ever being answered at once (arrived,
    /// reply not yet sent): what a concurrency limit is measured by.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests have arrived (before their replies
    /// are sent): how a test knows a request is in flight.
    ///
    /// # Panics
    ///
    /// After [`WAIT_LIMIT`], so that a broken test fails instead of hanging.
    pub async fn wait_for(&self, n: usize) {
        if !wait_until(&self.shared.arrival, || self.total() >= n).await {
            panic!(
                "waited {WAIT_LIMIT:?} for {n} requests, {} arrived",
                self.total()
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Connections outlive the accept loop: release what they hold.
        self.shared.stopped.open();
        self.task.abort();
    }
}

/// A base URL on 127.0.0.1 where nothing listens: connecting is refused.
pub async fn refused_url() -> String {
    let (listener, addr) = bind().await;
    drop(listener);
    format!("http://{addr}")
}

async fn serve(shared: Arc<Shared>, request: HttpRequest<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default()
        .to_vec();
    let request = Request {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    let reply = {
        let mut routes = lock(&shared.routes);
        let queued = routes
            .get_mut(&(request.method.clone(), request.path.clone()))
            .and_then(|queue| {
                if queue.len() > 1 {
                    queue.pop_front()
                } else {
                    queue.front().cloned()
                }
            });
        drop(routes);
        match queued {
            Some(reply) => reply,
            None => match &*lock(&shared.handler) {
                Some(handler) => handler(&request),
                None => Reply::text(404, "no route scripted"),
            },
        }
    };
    *lock(&shared.counts)
        .entry((request.method.clone(), request.path.clone()))
        .or_default() += 1;
    if !shared.not_recording.load(Ordering::Relaxed) {
        lock(&shared.log).push(request);
    }
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    shared.arrived.fetch_add(1, Ordering::SeqCst);
    shared.arrival.notify_waiters();
    // Counted out even if the client hangs up while the reply is held.
    let _in_flight = InFlight(&shared.in_flight);

    let held = async {
        if let Some(gate) = &reply.gate {
            gate.wait().await;
        }
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
    };
    tokio::select! {
        biased;
        () = held => reply.respond(&shared).await,
        () = shared.stopped.wait() => fault::aborted(),
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A base URL on 127.0.0.1 whose server accepts each connection and closes
/// it at once, without answering.
pub async fn hang_up_url() -> String {
    let (listener, addr) = bind().await;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    format!("http://{addr}")
}

/// Waits until `done()` holds, re-checking it whenever `wake` is notified;
/// false if it still does not after [`WAIT_LIMIT`].
async fn wait_until(wake: &Notify, mut done: impl FnMut() -> bool) -> bool {
    let waited = async {
        loop {
            let notified = wake.notified();
            if done() {
                return;
            }
            notified.await;
        }
    };
    tokio::time::timeout(WAIT_LIMIT, waited).await.is_ok()
}

/// A listener on an ephemeral port of 127.0.0.1, and its address.
///
/// # Panics
///
/// If no port can be bound: a test set-up failure.
async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    (listener, addr)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
