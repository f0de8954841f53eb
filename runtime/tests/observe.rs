//! What a cache tells its operator (ARCHITECTURE.md, P4): `stats()` counts
//! each fetch once, and every fetch, save and destroy is a `tracing` span
//! with the model, path, outcome, status and attempts, and never a body or
//! a secret. Against a real loopback server.

mod common;

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backrest_runtime::{CacheStats, Client, Fetch, Model, Retry};
use backrest_testkit::{Gate, Reply, Server};
use common::{User, user_json};
use futures_util::future::join_all;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

const LIMIT: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("the call ends within its bound")
}

fn client(server: &Server, retry: Retry) -> Client {
    Client::builder(&server.url())
        .retry(retry)
        .bearer_auth("s3cr3t-token")
        .build()
        .expect("valid base")
}

// stats() -----------------------------------------------------------------------

#[tokio::test]
async fn p4_each_fetch_counts_once_as_a_hit_a_join_or_a_miss() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada"))
            .header("etag", "\"v1\"")
            .after(&gate),
    );
    server.on("GET", "/users/7", Reply::empty(304));
    let client = client(&server, Retry::none());

    let five = tokio::spawn({
        let client = client.clone();
        async move { join_all((0..5).map(|_| User::fetch(&client, (), 7))).await }
    });
    bounded(server.wait_for(1)).await;
    gate.open();
    bounded(five).await.unwrap();
    bounded(User::fetch(&client, (), 7)).await.unwrap();
    bounded(User::fetch(&client.clone(), (), 7)).await.unwrap();
    bounded(User::fetch_with(&client, (), 7, Fetch::reload()))
        .await
        .unwrap();

    let stats = client.stats();
    assert_eq!(
        (stats.misses, stats.joins, stats.hits),
        (2, 4, 2),
        "5 together (1 miss, 4 joins), 2 hits, 1 reload (a miss): {stats:?}"
    );
    assert_eq!((stats.requests, stats.not_modified), (2, 1), "{stats:?}");
    assert_eq!((stats.errors, stats.evictions), (0, 0), "{stats:?}");
    assert_eq!(stats.entries, 1);
    assert!(stats.bytes > 0);
    assert_eq!(client.clone().stats(), stats, "clones share the counters");
    assert_eq!((stats.shared_hits, stats.shared_errors), (0, 0));
}

#[tokio::test]
async fn p4_a_failed_load_is_one_error_however_many_share_it_and_retries_are_requests() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on("GET", "/users/7", Reply::empty(503).after(&gate));
    server.on("GET", "/users/7", Reply::empty(503));
    server.on("PUT", "/users/8", Reply::json(200, user_json(8, "Bob")));
    let retry = Retry::attempts(3).backoff(Duration::from_millis(1), Duration::from_millis(2));
    let client = client(&server, retry);

    let together = tokio::spawn({
        let client = client.clone();
        async move { join_all((0..4).map(|_| User::fetch(&client, (), 7))).await }
    });
    bounded(server.wait_for(1)).await;
    gate.open();
    for result in bounded(together).await.unwrap() {
        assert_eq!(result.unwrap_err().status().map(|s| s.as_u16()), Some(503));
    }
    bounded(User::new(8, "Bob").save(&client)).await.unwrap();

    let stats = client.stats();
    assert_eq!(stats.errors, 1, "one failed load: {stats:?}");
    assert_eq!(server.count("GET", "/users/7"), 3);
    assert_eq!(stats.requests, 4, "3 attempts and a save: {stats:?}");
    assert_eq!((stats.misses, stats.joins), (1, 3), "{stats:?}");
}

#[test]
fn p4_stats_start_at_zero() {
    let client = Client::new("http://127.0.0.1:9").unwrap();
    assert_eq!(client.stats(), CacheStats::default());
}

// tracing -----------------------------------------------------------------------

/// A span as the subscriber saw it: its name and every field recorded.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: &'static str,
    fields: HashMap<&'static str, String>,
}

/// Keeps every span and event, with their fields as text; clones share
/// what they keep.
#[derive(Clone, Default)]
struct Recorder {
    next: Arc<AtomicU64>,
    spans: Arc<Mutex<HashMap<u64, Seen>>>,
    /// backrest's own events (the HTTP stack's say which host they talk
    /// to, which is theirs to say).
    events: Arc<Mutex<Vec<HashMap<&'static str, String>>>>,
}

struct Fields<'a>(&'a mut HashMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut seen = Seen {
            name: span.metadata().name(),
            ..Seen::default()
        };
        span.record(&mut Fields(&mut seen.fields));
        self.spans.lock().unwrap().insert(id, seen);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if !event.metadata().target().starts_with("backrest") {
            return;
        }
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(fields);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

thread_local! {
    /// The recorder of the test running on this thread, if it records.
    static RECORDING: std::cell::RefCell<Option<Recorder>> =
        const { std::cell::RefCell::new(None) };
}

/// The one global subscriber, installed once: it hands every span and event
/// to the recorder of the thread it happens on. (With a thread-local default
/// per test, a test thread that records nothing could register a callsite
/// while another test set its default, and leave that callsite's interest
/// cached as "never": the recording test then saw no span at all.)
struct Router;

fn recording<T>(f: impl FnOnce(&Recorder) -> T) -> Option<T> {
    RECORDING.with(|current| current.borrow().as_ref().map(f))
}

impl Subscriber for Router {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Decided per call, by the thread: never cached.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        recording(|recorder| recorder.enabled(metadata)).unwrap_or(false)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        recording(|recorder| recorder.new_span(span)).unwrap_or_else(|| Id::from_u64(u64::MAX))
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        recording(|recorder| recorder.record(span, values));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        recording(|recorder| recorder.event(event));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Records what this thread's calls trace, until the guard is dropped.
fn record(recorder: &Recorder) -> Recording {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Router).expect("the only global subscriber");
    });
    RECORDING.with(|current| *current.borrow_mut() = Some(recorder.clone()));
    Recording
}

/// Stops this thread's recording when dropped.
struct Recording;

impl Drop for Recording {
    fn drop(&mut self) {
        RECORDING.with(|current| current.borrow_mut().take());
    }
}

impl Recorder {
    fn spans(&self) -> Vec<Seen> {
        let spans = self.spans.lock().unwrap();
        let mut ids: Vec<&u64> = spans.keys().collect();
        ids.sort();
        ids.into_iter().map(|id| spans[id].clone()).collect()
    }
}

/// A span's name, path, outcome, status and attempts.
type Summary<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

fn field<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.fields.get(name).map(String::as_str)
}

#[tokio::test]
async fn p4_every_operation_is_a_span_with_its_outcome_status_and_attempts_and_no_body() {
    let recorder = Recorder::default();
    let _guard = record(&recorder);

    let server = Server::start().await;
    let secret_name = "Ada-private-body-text";
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, secret_name)).header("etag", "\"v1\""),
    );
    server.on("GET", "/users/7", Reply::empty(304));
    server.on(
        "PUT",
        "/users/7",
        Reply::json(200, user_json(7, secret_name)),
    );
    server.on(
        "POST",
        "/users",
        Reply::json(201, user_json(9, secret_name)),
    );
    server.on("DELETE", "/users/9", Reply::empty(204));
    server.on(
        "GET",
        "/users/404",
        Reply::json(404, serde_json::json!({"e": secret_name})),
    );
    let client = client(&server, Retry::none());

    bounded(User::fetch(&client, (), 7)).await.unwrap();
    bounded(User::fetch(&client, (), 7)).await.unwrap();
    bounded(User::fetch_with(&client, (), 7, Fetch::reload()))
        .await
        .unwrap();
    bounded(User::new(7, secret_name).save(&client))
        .await
        .unwrap();
    let created = bounded(User::unsaved(secret_name).save(&client))
        .await
        .unwrap();
    bounded(created.destroy(&client)).await.unwrap();
    bounded(User::fetch(&client, (), 404)).await.unwrap_err();

    let spans: Vec<Seen> = recorder
        .spans()
        .into_iter()
        .filter(|seen| seen.name.starts_with("backrest."))
        .collect();
    let summary: Vec<Summary<'_>> = spans
        .iter()
        .map(|seen| {
            (
                seen.name,
                field(seen, "path"),
                field(seen, "outcome"),
                field(seen, "status"),
                field(seen, "attempts"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "backrest.fetch",
                Some("/users/7"),
                Some("miss"),
                Some("200"),
                Some("1")
            ),
            ("backrest.fetch", Some("/users/7"), Some("hit"), None, None),
            (
                "backrest.fetch",
                Some("/users/7"),
                Some("not_modified"),
                Some("304"),
                Some("1")
            ),
            (
                "backrest.save",
                Some("/users/7"),
                Some("updated"),
                Some("200"),
                Some("1")
            ),
            (
                "backrest.save",
                Some("/users"),
                Some("created"),
                Some("201"),
                Some("1")
            ),
            (
                "backrest.destroy",
                Some("/users/9"),
                Some("destroyed"),
                Some("204"),
                Some("1")
            ),
            (
                "backrest.fetch",
                Some("/users/404"),
                Some("error"),
                Some("404"),
                Some("1")
            ),
        ]
    );
    for seen in &spans {
        assert!(
            field(seen, "model").is_some_and(|model| model.ends_with("User")),
            "{seen:?}"
        );
    }
    let everything = format!(
        "{:?} {:?}",
        recorder.spans(),
        recorder.events.lock().unwrap()
    );
    assert!(!everything.contains(secret_name), "no body: {everything}");
    assert!(!everything.contains("s3cr3t"), "no secret: {everything}");
    assert!(
        !everything.contains("127.0.0.1"),
        "no base URL: {everything}"
    );
}

#[tokio::test]
async fn p4_a_join_has_an_outcome_of_its_own() {
    let recorder = Recorder::default();
    let _guard = record(&recorder);
    let server = Server::start().await;
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).after(&gate),
    );
    let client = client(&server, Retry::none());

    let both = tokio::spawn({
        let client = client.clone();
        async move { join_all((0..2).map(|_| User::fetch(&client, (), 7))).await }
    });
    bounded(server.wait_for(1)).await;
    gate.open();
    bounded(both).await.unwrap();

    let outcomes: Vec<String> = recorder
        .spans()
        .iter()
        .filter(|seen| seen.name == "backrest.fetch")
        .filter_map(|seen| field(seen, "outcome").map(str::to_owned))
        .collect();
    assert_eq!(outcomes, ["miss", "join"]);
}
