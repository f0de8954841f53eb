//! The cache contract, C1–C10, against a real loopback server.
//!
//! Events are ordered on the server side: replies held by a `Gate` until the
//! test opens it, and `server.wait_for(n)` to know a request has arrived.
//!
//! Clients here make one attempt per request (`Retry::none()`): these are the
//! contracts of one request; retries are proved in `reliability.rs`.

mod common;

use std::sync::Arc;

use backrest_runtime::{Client, Fetch, Model, Retry};
use backrest_testkit::{Gate, Reply, Server};
use common::{Admin, Clock, Fragile, Repo, User, user_json};
use futures_util::future::join_all;
use futures_util::poll;

async fn setup() -> (Server, Client) {
    let server = Server::start().await;
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .expect("valid base");
    (server, client)
}

/// Scripts the next `GET /users/7` to answer `name`, held until the
/// returned gate opens.
fn gated(server: &Server, name: &str) -> Gate {
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, name)).after(&gate),
    );
    gate
}

/// Fetches user 7 on a task of its own, as another part of a program would.
fn spawn_fetch(
    client: &Client,
    options: Fetch,
) -> tokio::task::JoinHandle<Result<Arc<User>, backrest_runtime::Error>> {
    let client = client.clone();
    tokio::spawn(async move { User::fetch_with(&client, (), 7, options).await })
}

fn name(user: &Result<Arc<User>, backrest_runtime::Error>) -> &str {
    &user.as_ref().expect("fetch succeeded").name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_thousand_concurrent_fetches_make_one_request_and_share_one_arc() {
    let (server, client) = setup().await;
    let gate = gated(&server, "Ada");

    let tasks: Vec<_> = (0..1000)
        .map(|_| spawn_fetch(&client, Fetch::new()))
        .collect();
    server.wait_for(1).await;
    gate.open();
    let users: Vec<Arc<User>> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task ran").expect("fetch succeeded"))
        .collect();

    assert_eq!(server.count("GET", "/users/7"), 1);
    assert_eq!(server.total(), 1);
    assert_eq!(users[0].name, "Ada");
    assert!(users.iter().all(|u| Arc::ptr_eq(u, &users[0])));
}

#[tokio::test]
async fn c1_concurrent_fetches_in_one_task_share_one_request() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).delay_ms(20),
    );

    let users = join_all((0..1000).map(|_| User::fetch(&client, (), 7))).await;

    assert_eq!(server.count("GET", "/users/7"), 1);
    let first = users[0].as_ref().expect("fetch succeeded");
    assert!(
        users
            .iter()
            .all(|u| Arc::ptr_eq(u.as_ref().unwrap(), first))
    );
}

#[tokio::test]
async fn c1_fetch_all_coalesces_too() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/users",
        Reply::json(
            200,
            serde_json::json!([user_json(1, "a"), user_json(2, "b")]),
        )
        .delay_ms(20),
    );

    let lists = join_all((0..50).map(|_| User::fetch_all(&client, ()))).await;

    assert_eq!(server.count("GET", "/users"), 1);
    let first = lists[0].as_ref().expect("fetch_all succeeded");
    assert_eq!(first.len(), 2);
    assert!(
        lists
            .iter()
            .all(|l| Arc::ptr_eq(l.as_ref().unwrap(), first))
    );
}

#[tokio::test]
async fn c2_cached_fetch_makes_no_request_and_returns_the_same_arc() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));

    let first = User::fetch(&client, (), 7).await.unwrap();
    let second = User::fetch(&client, (), 7).await.unwrap();

    assert_eq!(server.count("GET", "/users/7"), 1);
    assert!(Arc::ptr_eq(&first, &second));
}

#[tokio::test]
async fn c2_keys_are_per_type_and_per_path() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    server.on("GET", "/users/8", Reply::json(200, user_json(8, "Bob")));

    let user = User::fetch(&client, (), 7).await.unwrap();
    let admin = Admin::fetch(&client, (), 7).await.unwrap();
    let other = User::fetch(&client, (), 8).await.unwrap();

    // Same path, other type: its own request; other path: its own request.
    assert_eq!(server.count("GET", "/users/7"), 2);
    assert_eq!(server.count("GET", "/users/8"), 1);
    assert_eq!((user.name.as_str(), admin.name.as_str()), ("Ada", "Ada"));
    assert_eq!(other.name, "Bob");
}

#[tokio::test]
async fn c3_reload_always_sends_a_new_request_and_updates_the_cache() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "v1")));
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "v2")));

    let cached = User::fetch(&client, (), 7).await.unwrap();
    let fresh = User::fetch_with(&client, (), 7, Fetch::reload())
        .await
        .unwrap();
    let after = User::fetch(&client, (), 7).await.unwrap();

    assert_eq!(server.count("GET", "/users/7"), 2);
    assert_eq!((cached.name.as_str(), fresh.name.as_str()), ("v1", "v2"));
    assert!(Arc::ptr_eq(&fresh, &after));
}

#[tokio::test]
async fn c3_reload_never_joins_a_request_in_flight() {
    let (server, client) = setup().await;
    let gate = gated(&server, "old");
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "new")));

    let old = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    // The old request is held; the reload is answered at once.
    let fresh = User::fetch_with(&client, (), 7, Fetch::reload()).await;
    assert_eq!(name(&fresh), "new");
    assert_eq!(server.count("GET", "/users/7"), 2);

    gate.open();
    let old = old.await.unwrap();
    // C5: the old request finished after a newer one: its caller gets the newer value.
    assert_eq!(name(&old), "new");
    assert!(Arc::ptr_eq(old.as_ref().unwrap(), fresh.as_ref().unwrap()));
}

#[tokio::test]
async fn c4_slow_old_fetch_with_fast_reload_caches_the_reload() {
    let (server, client) = setup().await;
    let old_gate = gated(&server, "old");
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "new")));

    let old = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    let reload = User::fetch_with(&client, (), 7, Fetch::reload()).await;
    old_gate.open();
    let old = old.await.unwrap();

    assert_eq!(name(&reload), "new");
    assert_eq!(name(&old), "new", "C5: never behind a newer cached value");
    let cached = User::fetch(&client, (), 7).await;
    assert_eq!(name(&cached), "new", "C4: the older response is not cached");
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn c4_fast_fetch_with_slow_reload_ends_with_the_reload_cached() {
    let (server, client) = setup().await;
    let old_gate = gated(&server, "old");
    let new_gate = gated(&server, "new");

    let old = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    let reload = spawn_fetch(&client, Fetch::reload());
    server.wait_for(2).await;

    old_gate.open();
    let old = old.await.unwrap();
    assert_eq!(
        name(&old),
        "old",
        "nothing newer was cached when it resolved"
    );
    let between = User::fetch(&client, (), 7).await;
    assert_eq!(
        name(&between),
        "old",
        "the older response is cached meanwhile"
    );

    new_gate.open();
    let reload = reload.await.unwrap();
    assert_eq!(name(&reload), "new");
    let after = User::fetch(&client, (), 7).await;
    assert_eq!(name(&after), "new", "the newer response replaces it");
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn c4_plain_fetch_joins_the_newest_request_in_flight() {
    let (server, client) = setup().await;
    let old_gate = gated(&server, "old");
    let new_gate = gated(&server, "new");

    let old = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    let reload = spawn_fetch(&client, Fetch::reload());
    server.wait_for(2).await;
    let mut joiner = Box::pin(User::fetch(&client, (), 7));
    assert!(poll!(joiner.as_mut()).is_pending());

    new_gate.open();
    let joined = joiner.await;
    assert_eq!(
        name(&joined),
        "new",
        "joined the reload, not the older request"
    );
    old_gate.open();
    assert_eq!(name(&old.await.unwrap()), "new");
    assert_eq!(name(&reload.await.unwrap()), "new");
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn c5_old_request_failing_while_a_reload_is_in_flight_gets_its_error() {
    let (server, client) = setup().await;
    let old_gate = Gate::new();
    let new_gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::text(500, "old broke").after(&old_gate),
    );
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "new")).after(&new_gate),
    );

    let old = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    let reload = spawn_fetch(&client, Fetch::reload());
    server.wait_for(2).await;

    old_gate.open();
    let old = old.await.unwrap().expect_err("nothing newer is cached yet");
    assert_eq!(old.status().map(|s| s.as_u16()), Some(500));

    new_gate.open();
    assert_eq!(name(&reload.await.unwrap()), "new");
    assert_eq!(name(&User::fetch(&client, (), 7).await), "new");
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn c5_old_request_failing_after_a_newer_success_gets_the_newer_value() {
    let (server, client) = setup().await;
    let old_gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::text(500, "old broke").after(&old_gate),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "new")));

    let old = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    let reload = User::fetch_with(&client, (), 7, Fetch::reload()).await;
    old_gate.open();
    let old = old.await.unwrap();

    assert_eq!(name(&reload), "new");
    assert_eq!(name(&old), "new");
    assert!(Arc::ptr_eq(old.as_ref().unwrap(), reload.as_ref().unwrap()));
}

#[tokio::test]
async fn c6_a_failure_is_shared_by_every_caller_and_not_cached() {
    let (server, client) = setup().await;
    let gate = Gate::new();
    server.on("GET", "/users/7", Reply::text(503, "busy").after(&gate));
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));

    // join_all polls every fetch once, so all 100 have joined the request
    // by the time it arrives at the server.
    let mut callers = Box::pin(join_all((0..100).map(|_| User::fetch(&client, (), 7))));
    tokio::select! {
        _ = &mut callers => unreachable!("the reply is held"),
        () = server.wait_for(1) => {}
    }
    gate.open();
    for result in callers.await {
        let err = result.expect_err("the shared request failed");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
        assert_eq!(err.body(), Some("busy"));
    }
    assert_eq!(server.count("GET", "/users/7"), 1);

    let retried = User::fetch(&client, (), 7).await;
    assert_eq!(name(&retried), "Ada", "the failure was not cached");
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn c6_a_failed_reload_keeps_the_good_value() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "good")));
    server.on("GET", "/users/7", Reply::text(500, "broken"));

    let good = User::fetch(&client, (), 7).await.unwrap();
    let failed = User::fetch_with(&client, (), 7, Fetch::reload()).await;
    let after = User::fetch(&client, (), 7).await.unwrap();

    assert!(failed.unwrap_err().is_status());
    assert!(Arc::ptr_eq(&good, &after));
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn c6_a_panic_in_a_shared_fetch_leaves_no_caller_pending() {
    let (server, client) = setup().await;
    let gate = Gate::new();
    server.on(
        "GET",
        "/fragile/1",
        Reply::json(200, user_json(1, "boom")).after(&gate),
    );
    server.on("GET", "/fragile/1", Reply::json(200, user_json(1, "calm")));

    // Decoding panics in the request's own task; both callers get an error.
    let mut callers = Box::pin(futures_util::future::join(
        Fragile::fetch(&client, (), 1),
        Fragile::fetch(&client, (), 1),
    ));
    tokio::select! {
        _ = &mut callers => unreachable!("the reply is held"),
        () = server.wait_for(1) => {}
    }
    gate.open();
    let (first, second) = callers.await;
    for err in [first.unwrap_err(), second.unwrap_err()] {
        assert!(err.to_string().contains("panicked"), "{err}");
    }
    let next = Fragile::fetch(&client, (), 1)
        .await
        .expect("the key is not stuck");
    assert_eq!(next.name, "calm");
    assert_eq!(server.count("GET", "/fragile/1"), 2);
}

#[tokio::test]
async fn c7_dropping_the_first_caller_neither_cancels_nor_repeats_the_request() {
    let (server, client) = setup().await;
    let gate = gated(&server, "Ada");

    let first = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    let mut second = Box::pin(User::fetch(&client, (), 7));
    let mut third = Box::pin(User::fetch(&client, (), 7));
    assert!(poll!(second.as_mut()).is_pending());
    assert!(poll!(third.as_mut()).is_pending());

    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    gate.open();
    let (second, third) = tokio::join!(second, third);

    assert_eq!(name(&second), "Ada");
    assert!(Arc::ptr_eq(
        second.as_ref().unwrap(),
        third.as_ref().unwrap()
    ));
    assert_eq!(server.count("GET", "/users/7"), 1);
    let cached = User::fetch(&client, (), 7).await;
    assert!(Arc::ptr_eq(
        cached.as_ref().unwrap(),
        second.as_ref().unwrap()
    ));
    assert_eq!(server.count("GET", "/users/7"), 1);
}

#[tokio::test]
async fn c7_a_caller_holding_its_fetch_unpolled_does_not_stall_the_others() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).delay_ms(20),
    );

    let mut idle = Box::pin(User::fetch(&client, (), 7));
    assert!(poll!(idle.as_mut()).is_pending());
    // `idle` started the request but is never polled again.
    let other = User::fetch(&client, (), 7).await;
    assert_eq!(name(&other), "Ada");
    assert_eq!(server.count("GET", "/users/7"), 1);
    let idle = idle.await;
    assert!(Arc::ptr_eq(idle.as_ref().unwrap(), other.as_ref().unwrap()));
}

#[tokio::test]
async fn c7_when_every_caller_is_gone_the_next_fetch_still_completes() {
    let (server, client) = setup().await;
    let gate = gated(&server, "stuck");
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));

    let callers: Vec<_> = (0..3)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { User::fetch(&client, (), 7).await })
        })
        .collect();
    server.wait_for(1).await;
    for caller in callers {
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
    }

    // The abandoned request is cancelled and forgotten: the next fetch does
    // not wait for it (its reply is still held) but sends a new one.
    let next = User::fetch(&client, (), 7).await;
    assert_eq!(name(&next), "Ada");
    assert_eq!(server.count("GET", "/users/7"), 2);
    gate.open();
}

#[tokio::test]
async fn c8_reload_models_never_coalesce_and_always_resolve() {
    let (server, client) = setup().await;
    let gate = Gate::new();
    let clock = |now: u64| Reply::json(200, serde_json::json!({"id": 1, "now": now}));
    server.on("GET", "/clocks/1", clock(1).after(&gate));
    server.on("GET", "/clocks/1", clock(2));
    server.on("GET", "/clocks/1", clock(3));

    let first = tokio::spawn({
        let client = client.clone();
        async move { Clock::fetch(&client, (), 1).await }
    });
    server.wait_for(1).await;
    // A plain fetch of a reload model does not join the one in flight.
    let second = Clock::fetch(&client, (), 1).await.unwrap();
    assert_eq!(second.now, 2);
    assert_eq!(server.count("GET", "/clocks/1"), 2, "no coalescing");
    gate.open();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.now, 2, "C5 still holds: never behind a newer value");

    let third = Clock::fetch(&client, (), 1).await.unwrap();
    assert_eq!(third.now, 3, "no cache read");
    assert_eq!(server.count("GET", "/clocks/1"), 3);
}

#[tokio::test]
async fn c9_a_save_caches_the_saved_value_and_invalidates_collections() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/users",
        Reply::json(200, serde_json::json!([user_json(7, "v1")])),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "v1")));
    server.on("PUT", "/users/7", Reply::json(200, user_json(7, "saved")));

    let list = User::fetch_all(&client, ()).await.unwrap();
    let before = User::fetch(&client, (), 7).await.unwrap();
    let saved = User::new(7, "edited").save(&client).await.unwrap();
    let after = User::fetch(&client, (), 7).await.unwrap();
    let list_after = User::fetch_all(&client, ()).await.unwrap();

    assert_eq!((list.len(), before.name.as_str()), (1, "v1"));
    assert_eq!(saved.name, "saved", "the server's representation");
    assert_eq!(after.name, "saved", "cached by the save");
    assert_eq!(
        server.count("GET", "/users/7"),
        1,
        "no request after the save"
    );
    assert!(!Arc::ptr_eq(&list, &list_after));
    assert_eq!(
        server.count("GET", "/users"),
        2,
        "the collection was invalidated"
    );
}

#[tokio::test]
async fn c9_saving_a_cached_member_again_caches_each_answer() {
    // The second and third saves find the member cached, and their
    // answers weigh the same: the second's value is held by nobody, so it
    // is written into (ARCHITECTURE.md, "A save writes into the value it
    // replaces"); the third's is held, and what a caller holds never
    // changes.
    let (server, client) = setup().await;
    for name in ["one", "two", "six"] {
        server.on("PUT", "/users/7", Reply::json(200, user_json(7, name)));
    }

    User::new(7, "a").save(&client).await.unwrap();
    assert_eq!(User::fetch(&client, (), 7).await.unwrap().name, "one");
    User::new(7, "b").save(&client).await.unwrap();
    let held = User::fetch(&client, (), 7).await.unwrap();
    assert_eq!(held.name, "two");
    User::new(7, "c").save(&client).await.unwrap();
    assert_eq!(held.name, "two", "a value handed out never changes");
    assert_eq!(User::fetch(&client, (), 7).await.unwrap().name, "six");

    assert_eq!(server.count("PUT", "/users/7"), 3);
    assert_eq!(
        server.count("GET", "/users/7"),
        0,
        "every fetch was a save's answer"
    );
    let sent: Vec<String> = server
        .requests()
        .iter()
        .map(|request| request.json()["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(sent, ["a", "b", "c"]);
}

#[tokio::test]
async fn c9_a_response_to_a_request_started_before_a_save_is_never_cached() {
    let (server, client) = setup().await;
    let gate = gated(&server, "stale");
    server.on("PUT", "/users/7", Reply::json(200, user_json(7, "saved")));

    let fetch = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    User::new(7, "saved").save(&client).await.unwrap();
    gate.open();

    assert_eq!(name(&fetch.await.unwrap()), "saved", "C5 after a save");
    assert_eq!(name(&User::fetch(&client, (), 7).await), "saved");
    assert_eq!(server.count("GET", "/users/7"), 1);
}

#[tokio::test]
async fn c9_a_create_caches_the_new_id_and_invalidates_collections() {
    let (server, client) = setup().await;
    server.on("GET", "/users", Reply::json(200, serde_json::json!([])));
    server.on("POST", "/users", Reply::json(201, user_json(9, "Ada")));

    User::fetch_all(&client, ()).await.unwrap();
    let created = User::unsaved("Ada").save(&client).await.unwrap();
    let fetched = User::fetch(&client, (), 9).await.unwrap();
    User::fetch_all(&client, ()).await.unwrap();

    assert_eq!(created.id, Some(9));
    assert_eq!(*fetched, created);
    assert_eq!(server.count("GET", "/users/9"), 0);
    assert_eq!(server.count("GET", "/users"), 2);
}

#[tokio::test]
async fn c9_destroy_evicts_the_member_and_invalidates_collections() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/users",
        Reply::json(200, serde_json::json!([user_json(7, "Ada")])),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    server.on("DELETE", "/users/7", Reply::empty(204));

    let user = User::fetch(&client, (), 7).await.unwrap();
    User::fetch_all(&client, ()).await.unwrap();
    user.destroy(&client).await.unwrap();
    User::fetch(&client, (), 7).await.unwrap();
    User::fetch_all(&client, ()).await.unwrap();

    assert_eq!(server.count("DELETE", "/users/7"), 1);
    assert_eq!(server.count("GET", "/users/7"), 2, "evicted");
    assert_eq!(server.count("GET", "/users"), 2, "invalidated");
}

#[tokio::test]
async fn c9_a_response_to_a_request_started_before_a_destroy_is_never_cached() {
    let (server, client) = setup().await;
    let gate = gated(&server, "ghost");
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "reborn")));
    server.on("DELETE", "/users/7", Reply::empty(204));

    let fetch = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    User::new(7, "ghost").destroy(&client).await.unwrap();
    gate.open();
    assert_eq!(
        name(&fetch.await.unwrap()),
        "ghost",
        "its caller still gets its answer"
    );

    let next = User::fetch(&client, (), 7).await;
    assert_eq!(name(&next), "reborn", "but it was not cached");
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn c9_a_failed_write_changes_nothing_in_the_cache() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/users",
        Reply::json(200, serde_json::json!([user_json(7, "Ada")])),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    server.on("PUT", "/users/7", Reply::text(500, "no"));
    server.on("DELETE", "/users/7", Reply::text(500, "no"));

    let user = User::fetch(&client, (), 7).await.unwrap();
    let list = User::fetch_all(&client, ()).await.unwrap();
    assert!(User::new(7, "edited").save(&client).await.is_err());
    assert!(user.destroy(&client).await.is_err());

    assert!(Arc::ptr_eq(
        &user,
        &User::fetch(&client, (), 7).await.unwrap()
    ));
    assert!(Arc::ptr_eq(
        &list,
        &User::fetch_all(&client, ()).await.unwrap()
    ));
    assert_eq!(server.count("GET", "/users/7"), 1);
    assert_eq!(server.count("GET", "/users"), 1);
}

#[tokio::test]
async fn c9_writes_invalidate_every_collection_of_the_type_only() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/orgs/a/repos",
        Reply::json(200, serde_json::json!([])),
    );
    server.on(
        "GET",
        "/orgs/b/repos",
        Reply::json(200, serde_json::json!([])),
    );
    server.on("GET", "/users", Reply::json(200, serde_json::json!([])));
    server.on(
        "PUT",
        "/orgs/a/repos/r1",
        Reply::json(
            200,
            serde_json::json!({"id": "r1", "org": "a", "name": "x"}),
        ),
    );

    for _ in 0..2 {
        Repo::fetch_all(&client, ("a".into(),)).await.unwrap();
        Repo::fetch_all(&client, ("b".into(),)).await.unwrap();
        User::fetch_all(&client, ()).await.unwrap();
    }
    let repo = Repo {
        id: Some("r1".into()),
        org: "a".into(),
        name: "x".into(),
    };
    repo.save(&client).await.unwrap();
    Repo::fetch_all(&client, ("a".into(),)).await.unwrap();
    Repo::fetch_all(&client, ("b".into(),)).await.unwrap();
    User::fetch_all(&client, ()).await.unwrap();

    assert_eq!(server.count("GET", "/orgs/a/repos"), 2);
    assert_eq!(server.count("GET", "/orgs/b/repos"), 2);
    assert_eq!(
        server.count("GET", "/users"),
        1,
        "another type is untouched"
    );
}

#[tokio::test]
async fn c10_clones_share_one_cache_and_separate_clients_do_not() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));

    let first = User::fetch(&client, (), 7).await.unwrap();
    let clone = client.clone();
    let via_clone = User::fetch(&clone, (), 7).await.unwrap();
    assert!(Arc::ptr_eq(&first, &via_clone));
    assert_eq!(server.count("GET", "/users/7"), 1);

    let separate = Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .unwrap();
    let via_separate = User::fetch(&separate, (), 7).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &via_separate));
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c7_callers_dropped_at_random_under_load_leave_no_caller_pending() {
    let (server, client) = setup().await;
    let gate = gated(&server, "Ada");

    let tasks: Vec<_> = (0..1000)
        .map(|_| spawn_fetch(&client, Fetch::new()))
        .collect();
    server.wait_for(1).await;
    // Drop every third caller, the driver perhaps among them, while the
    // request is held; the others keep it going or start one new request.
    let mut kept = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        if i % 3 == 0 {
            task.abort();
        } else {
            kept.push(task);
        }
    }
    gate.open();
    let users: Vec<Arc<User>> = join_all(kept)
        .await
        .into_iter()
        .map(|joined| {
            joined
                .expect("kept tasks are not aborted")
                .expect("fetch succeeded")
        })
        .collect();

    assert_eq!(users.len(), 666);
    assert!(users.iter().all(|u| u.name == "Ada"));
    let requests = server.count("GET", "/users/7");
    assert!((1..=2).contains(&requests), "{requests} requests");
    let cached = User::fetch(&client, (), 7).await.unwrap();
    assert_eq!(
        server.count("GET", "/users/7"),
        requests,
        "the key is not stuck"
    );
    assert_eq!(cached.name, "Ada");
}

#[tokio::test]
async fn c9_a_fetch_after_a_save_does_not_join_a_request_from_before_it() {
    let (server, client) = setup().await;
    let gate = Gate::new();
    server.on(
        "GET",
        "/users",
        Reply::json(200, serde_json::json!([])).after(&gate),
    );
    server.on(
        "GET",
        "/users",
        Reply::json(200, serde_json::json!([user_json(9, "Ada")])),
    );
    server.on("POST", "/users", Reply::json(201, user_json(9, "Ada")));

    let before = tokio::spawn({
        let client = client.clone();
        async move { User::fetch_all(&client, ()).await }
    });
    server.wait_for(1).await;
    User::unsaved("Ada").save(&client).await.unwrap();
    // Read your writes: this fetch must not join the list from before the save.
    let after = User::fetch_all(&client, ()).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(server.count("GET", "/users"), 2);
    gate.open();
    let before = before.await.unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&before, &after),
        "C5: the newer list, not its own"
    );
    assert!(Arc::ptr_eq(
        &User::fetch_all(&client, ()).await.unwrap(),
        &after
    ));
    assert_eq!(server.count("GET", "/users"), 2);
}

#[tokio::test]
async fn c9_a_fetch_after_a_destroy_does_not_join_a_request_from_before_it() {
    let (server, client) = setup().await;
    let gate = gated(&server, "ghost");
    server.on("GET", "/users/7", Reply::text(404, "gone"));
    server.on("DELETE", "/users/7", Reply::empty(204));

    let before = spawn_fetch(&client, Fetch::new());
    server.wait_for(1).await;
    User::new(7, "ghost").destroy(&client).await.unwrap();
    let after = User::fetch(&client, (), 7).await;
    assert_eq!(after.unwrap_err().status().map(|s| s.as_u16()), Some(404));
    assert_eq!(server.count("GET", "/users/7"), 2);
    gate.open();
    assert_eq!(name(&before.await.unwrap()), "ghost");
}

#[tokio::test]
async fn c9_a_save_answered_204_without_an_id_still_invalidates_collections() {
    let (server, client) = setup().await;
    server.on("GET", "/users", Reply::json(200, serde_json::json!([])));
    server.on("POST", "/users", Reply::empty(204));

    User::fetch_all(&client, ()).await.unwrap();
    let saved = User::unsaved("Ada").save(&client).await.unwrap();
    User::fetch_all(&client, ()).await.unwrap();

    assert_eq!(saved.id, None);
    assert_eq!(server.count("GET", "/users"), 2);
}
