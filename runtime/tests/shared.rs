//! The runtime's side of a shared cache (F1–F4), in one process: clients on
//! an in-memory `SharedCache` that counts its commands (the Redis store has
//! its own tests with real processes, in redis/tests/fleet.rs), against a
//! loopback origin that counts what it receives.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backrest_runtime::shared::{
    Entry, Handler, Invalidation, Lease, Notice, SharedCache, SharedError, SharedFuture,
};
use backrest_runtime::{Client, Model};
use backrest_testkit::{Gate, Reply, Server};
use common::User;
use serde_json::json;

/// An in-memory shared cache: entries, leases, and subscribers that get
/// every publication, as Redis's would.
#[derive(Debug, Default)]
struct Memory {
    entries: Mutex<HashMap<String, Entry>>,
    leases: Mutex<HashMap<String, ()>>,
    versions: Mutex<HashMap<String, u64>>,
    handlers: Mutex<Vec<HandlerBox>>,
    commands: AtomicUsize,
    /// Every command fails while set.
    down: AtomicBool,
}

struct HandlerBox(Handler);

impl std::fmt::Debug for HandlerBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handler")
    }
}

#[derive(Debug, Clone, Default)]
struct Shared(Arc<Memory>);

impl Shared {
    fn command(&self) -> Result<(), SharedError> {
        self.0.commands.fetch_add(1, Ordering::SeqCst);
        match self.0.down.load(Ordering::SeqCst) {
            true => Err("down".into()),
            false => Ok(()),
        }
    }

    fn commands(&self) -> usize {
        self.0.commands.load(Ordering::SeqCst)
    }
}

impl SharedCache for Shared {
    fn get<'a>(&'a self, key: &'a str) -> SharedFuture<'a, Option<Entry>> {
        Box::pin(async move {
            self.command()?;
            Ok(self.0.entries.lock().unwrap().get(key).cloned())
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        entry: Entry,
        _: Option<Duration>,
        version: u64,
    ) -> SharedFuture<'a, bool> {
        Box::pin(async move {
            self.command()?;
            let versions = self.0.versions.lock().unwrap();
            if versions.get(key).copied().unwrap_or(0) != version {
                return Ok(false);
            }
            self.0.entries.lock().unwrap().insert(key.to_owned(), entry);
            Ok(true)
        })
    }

    fn write<'a>(
        &'a self,
        key: &'a str,
        entry: Option<Entry>,
        _: Option<Duration>,
    ) -> SharedFuture<'a, ()> {
        Box::pin(async move {
            self.command()?;
            let mut versions = self.0.versions.lock().unwrap();
            *versions.entry(key.to_owned()).or_default() += 1;
            let mut entries = self.0.entries.lock().unwrap();
            match entry {
                Some(entry) => entries.insert(key.to_owned(), entry),
                None => entries.remove(key),
            };
            Ok(())
        })
    }

    fn publish(&self, invalidation: Invalidation) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            self.command()?;
            let notice = Notice::Invalidation(invalidation);
            let mut handlers = self.0.handlers.lock().unwrap();
            handlers.retain(|handler| (handler.0)(notice.clone()));
            Ok(())
        })
    }

    fn subscribe(&self, handler: Handler) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            self.command()?;
            self.0.handlers.lock().unwrap().push(HandlerBox(handler));
            Ok(())
        })
    }

    fn lease<'a>(&'a self, key: &'a str) -> SharedFuture<'a, Lease> {
        Box::pin(async move {
            self.command()?;
            let held = self
                .0
                .leases
                .lock()
                .unwrap()
                .insert(key.to_owned(), ())
                .is_none();
            let version = self.0.versions.lock().unwrap().get(key).copied();
            Ok(Lease {
                held,
                version: version.unwrap_or(0),
            })
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> SharedFuture<'a, ()> {
        Box::pin(async move {
            self.command()?;
            self.0.leases.lock().unwrap().remove(key);
            Ok(())
        })
    }

    fn lease_ttl(&self) -> Duration {
        Duration::from_secs(1)
    }
}

async fn origin() -> Server {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/1",
        Reply::json(200, json!({"id": 1, "name": "Ada"})).header("etag", "\"v1\""),
    );
    server.on(
        "PUT",
        "/users/1",
        Reply::json(200, json!({"id": 1, "name": "Grace"})).header("etag", "\"v2\""),
    );
    server
}

fn client(server: &Server, shared: &Shared) -> Client {
    Client::builder(&server.url())
        .shared_cache(shared.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn f1_a_local_hit_never_asks_the_shared_cache() {
    let server = origin().await;
    let shared = Shared::default();
    let client = client(&server, &shared);
    User::fetch(&client, (), 1).await.unwrap();
    let after_miss = shared.commands();
    assert!(after_miss > 0);
    for _ in 0..10 {
        User::fetch(&client, (), 1).await.unwrap();
    }
    assert_eq!(shared.commands(), after_miss, "hits send no command");
    assert_eq!(server.count("GET", "/users/1"), 1);
}

#[tokio::test]
async fn f1_a_second_client_is_served_from_the_shared_cache_by_type_name() {
    let server = origin().await;
    let shared = Shared::default();
    let first = client(&server, &shared);
    let second = client(&server, &shared);
    User::fetch(&first, (), 1).await.unwrap();
    // A hand-written model without a name is keyed by its type's name.
    let key = format!("{}:/users/1", std::any::type_name::<User>());
    let stored = shared.0.entries.lock().unwrap().get(&key).cloned().unwrap();
    assert_eq!(stored.etag.as_deref(), Some("\"v1\""));

    let user = User::fetch(&second, (), 1).await.unwrap();
    assert_eq!(user.name, "Ada");
    assert_eq!(server.count("GET", "/users/1"), 1);
    let stats = second.stats();
    assert_eq!((stats.shared_hits, stats.requests, stats.misses), (1, 0, 1));
    assert_eq!(first.stats().shared_hits, 0);
}

#[tokio::test]
async fn f1_without_a_shared_cache_the_shared_counters_stay_zero() {
    let server = origin().await;
    let client = Client::new(&server.url()).unwrap();
    User::fetch(&client, (), 1).await.unwrap();
    let stats = client.stats();
    assert_eq!((stats.shared_hits, stats.shared_errors), (0, 0));
}

#[tokio::test]
async fn f2_a_save_invalidates_the_other_clients_but_not_its_own() {
    let server = origin().await;
    let shared = Shared::default();
    let writer = client(&server, &shared);
    let reader = client(&server, &shared);
    User::fetch(&writer, (), 1).await.unwrap();
    User::fetch(&reader, (), 1).await.unwrap();

    User::new(1, "Grace").save(&writer).await.unwrap();
    // The writer's cache holds its save; the reader's was invalidated, and
    // reads the saved value from the shared cache, not the origin.
    let before = writer.stats().hits;
    assert_eq!(User::fetch(&writer, (), 1).await.unwrap().name, "Grace");
    assert_eq!(writer.stats().hits, before + 1);
    assert_eq!(User::fetch(&reader, (), 1).await.unwrap().name, "Grace");
    assert_eq!(reader.stats().shared_hits, 2);
    assert_eq!(server.count("GET", "/users/1"), 1);
}

#[tokio::test]
async fn f4_a_failing_shared_cache_never_fails_a_call_and_counts_its_errors() {
    let server = origin().await;
    let shared = Shared::default();
    shared.0.down.store(true, Ordering::SeqCst);
    let client = client(&server, &shared);
    assert_eq!(User::fetch(&client, (), 1).await.unwrap().name, "Ada");
    User::new(1, "Grace").save(&client).await.unwrap();
    let stats = client.stats();
    assert!(stats.shared_errors >= 1, "{stats:?}");
    // After a failure the shared cache is left alone for a while: one
    // failed command, not one per step of every call.
    assert_eq!(shared.commands(), 1);
    assert_eq!(server.count("GET", "/users/1"), 1);
}

/// `/tickers/{id}`: fresh for 10 s, named for the shared cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Ticker {
    id: Option<u64>,
    name: String,
}

impl Model for Ticker {
    type Id = u64;
    type Params = ();
    const PATH: &'static str = "/tickers";
    const ID_FIELD: &'static str = "id";
    const NAME: &'static str = "ticker";
    const MAX_AGE: Option<Duration> = Some(Duration::from_secs(10));

    fn collection_path((): &()) -> String {
        "/tickers".to_owned()
    }

    fn params(&self) {}

    fn id(&self) -> Option<&u64> {
        self.id.as_ref()
    }
}

#[tokio::test]
async fn f4_a_value_read_from_the_shared_cache_keeps_its_age() {
    let server = origin().await;
    let shared = Shared::default();
    shared.0.entries.lock().unwrap().insert(
        "ticker:/tickers/3".to_owned(),
        Entry {
            body: br#"{"id":3,"name":"old"}"#.to_vec().into(),
            etag: None,
            last_modified: None,
            age: Duration::from_secs(9),
        },
    );
    let client = client(&server, &shared);
    assert_eq!(Ticker::fetch(&client, (), 3).await.unwrap().name, "old");
    // 9 s old when read, 2 s later it is past its max age of 10 s: a miss,
    // although it has been in this process's cache for 2 s only.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(2)).await;
    tokio::time::resume();
    assert_eq!(Ticker::fetch(&client, (), 3).await.unwrap().name, "old");
    let stats = client.stats();
    assert_eq!((stats.hits, stats.misses, stats.shared_hits), (0, 2, 2));
    assert_eq!(server.total(), 0);
}

#[tokio::test]
async fn f2_an_answer_from_before_another_client_s_write_is_not_shared_over_it() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/1",
        Reply::json(200, json!({"id": 1, "name": "Ada"})).after(&gate),
    );
    server.on(
        "PUT",
        "/users/1",
        Reply::json(200, json!({"id": 1, "name": "Grace"})),
    );
    let shared = Shared::default();
    let (reader, writer, late) = (
        client(&server, &shared),
        client(&server, &shared),
        client(&server, &shared),
    );
    // The reader's request reaches the origin before the write, and its
    // answer (the old value) comes back after it.
    let read = tokio::spawn(async move { User::fetch(&reader, (), 1).await });
    tokio::time::timeout(Duration::from_secs(10), server.wait_for(1))
        .await
        .unwrap();
    User::new(1, "Grace").save(&writer).await.unwrap();
    gate.open();
    let old = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(old.name, "Ada");
    // The write's value stays shared: a client that reads later gets it.
    let user = User::fetch(&late, (), 1).await.unwrap();
    assert_eq!(user.name, "Grace");
    assert_eq!(late.stats().shared_hits, 1);
    assert_eq!(server.count("GET", "/users/1"), 1);
}

#[tokio::test]
async fn f2_a_save_elsewhere_drops_this_client_s_collections_too() {
    let server = origin().await;
    server.on(
        "GET",
        "/users",
        Reply::json(200, json!([{"id": 1, "name": "Ada"}])),
    );
    let shared = Shared::default();
    let writer = client(&server, &shared);
    let reader = client(&server, &shared);
    assert_eq!(User::fetch_all(&reader, ()).await.unwrap().len(), 1);
    let list_key = format!("{}:/users", std::any::type_name::<User>());
    assert!(shared.0.entries.lock().unwrap().contains_key(&list_key));

    User::new(1, "Grace").save(&writer).await.unwrap();
    // The shared list is gone with the local one: the next list is the
    // origin's.
    assert!(!shared.0.entries.lock().unwrap().contains_key(&list_key));
    User::fetch_all(&reader, ()).await.unwrap();
    assert_eq!(server.count("GET", "/users"), 2);
}

#[tokio::test]
async fn f4_a_subscription_that_comes_back_after_a_gap_forgets_what_was_cached() {
    let server = origin().await;
    let shared = Shared::default();
    let client = client(&server, &shared);
    User::fetch(&client, (), 1).await.unwrap();
    User::fetch(&client, (), 1).await.unwrap();
    assert_eq!(client.stats().hits, 1);
    // Invalidations may have been missed while the subscription was down.
    shared
        .0
        .handlers
        .lock()
        .unwrap()
        .retain(|handler| (handler.0)(Notice::Gap));
    User::fetch(&client, (), 1).await.unwrap();
    let stats = client.stats();
    assert_eq!((stats.hits, stats.misses, stats.shared_hits), (1, 2, 1));
}
