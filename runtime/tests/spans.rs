//! What a cache tells its operator (ARCHITECTURE.md, P4), as spans: every
//! fetch, save and destroy is a `tracing` span with the model, path,
//! outcome, status and attempts, and never a body or a secret. Against a
//! real loopback server.
//!
//! One test in a binary of its own: tracing caches, per callsite, whether
//! anyone listens, across threads, so a per-thread subscriber in a test
//! that runs beside others can miss spans.

mod common;

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backrest_runtime::{Client, Fetch, Model, Retry};
use backrest_testkit::{Gate, Reply, Server};
use common::{News, User, user_json};
use futures_util::future::join_all;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const LIMIT: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("the call ends within its bound")
}

fn client(server: &Server) -> Client {
    Client::builder(&server.url())
        .retry(Retry::none())
        .bearer_auth("s3cr3t-token")
        .build()
        .expect("valid base")
}

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

#[test]
fn p4_spans() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).expect("the only subscriber");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(
        every_operation_is_a_span_with_its_outcome_status_and_attempts_and_no_body(&recorder),
    );
    let recorder = Recorder::default();
    let guard = tracing::subscriber::set_default(recorder.clone());
    runtime.block_on(a_join_has_an_outcome_of_its_own(&recorder));
    drop(guard);
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    runtime
        .block_on(a_stale_hit_keeps_its_outcome_and_its_refresh_has_a_span_of_its_own(&recorder));
}

/// The refresh a stale hit starts records on a `backrest.refresh` span, so
/// the stale fetch stays `stale` (found in review).
async fn a_stale_hit_keeps_its_outcome_and_its_refresh_has_a_span_of_its_own(recorder: &Recorder) {
    let server = Server::start().await;
    server.on("GET", "/news/7", Reply::json(200, user_json(7, "old")));
    server.on("GET", "/news/7", Reply::json(200, user_json(7, "new")));
    let client = client(&server);
    bounded(News::fetch(&client, (), 7)).await.unwrap();
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(40)).await;
    tokio::time::resume();
    let stale = bounded(News::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(stale.name, "old");
    // The refresh is stored when its answer arrives.
    bounded(async {
        while News::fetch(&client, (), 7).await.unwrap().name != "new" {
            tokio::task::yield_now().await;
        }
    })
    .await;

    let spans = recorder.spans();
    let outcome = |name: &str| -> Vec<Option<String>> {
        spans
            .iter()
            .filter(|seen| seen.name == name)
            .map(|seen| field(seen, "outcome").map(str::to_owned))
            .collect()
    };
    let fetches = outcome("backrest.fetch");
    assert_eq!(fetches[0].as_deref(), Some("miss"), "{fetches:?}");
    assert_eq!(fetches[1].as_deref(), Some("stale"), "{fetches:?}");
    assert_eq!(outcome("backrest.refresh"), [Some("miss".to_owned())]);
    let refresh = spans
        .iter()
        .find(|seen| seen.name == "backrest.refresh")
        .unwrap();
    assert_eq!(field(refresh, "status"), Some("200"));
    assert_eq!(field(refresh, "path"), Some("/news/7"));
}

async fn every_operation_is_a_span_with_its_outcome_status_and_attempts_and_no_body(
    recorder: &Recorder,
) {
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
    let client = client(&server);

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

async fn a_join_has_an_outcome_of_its_own(recorder: &Recorder) {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).after(&gate),
    );
    let client = client(&server);

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
