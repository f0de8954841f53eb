//! Cache policy (ARCHITECTURE.md, P1–P3) against a real loopback server:
//! freshness and stale-while-revalidate on tokio's clock, the bounded
//! store and its eviction, invalidation and priming.
//!
//! Time: requests run on the real clock (tokio's paused clock would jump
//! to the client's timeout while a request waits on the socket); between
//! requests a test pauses the clock, advances it past an age, and resumes
//! it, so that ages are exact to the millisecond the test runs in, far from
//! every boundary it checks. Clients make one attempt per request.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backrest_runtime::{Client, Error, Fetch, Model, Retry};
use backrest_testkit::{Gate, Reply, Server};
use common::{Admin, News, Quote, User, user_json};
use futures_util::future::join_all;

/// Bounds every wait that a broken cache could turn into a hang.
const LIMIT: Duration = Duration::from_secs(10);

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("the call ends within its bound")
}

/// Moves tokio's clock forward by `by`, at once.
async fn age(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

/// A fetch of the member `id` of `M` on a task of its own.
fn spawn_fetch<M: Model<Params = (), Id = u64>>(
    client: &Client,
    id: u64,
) -> tokio::task::JoinHandle<Result<Arc<M>, Error>> {
    let client = client.clone();
    tokio::spawn(async move { M::fetch(&client, (), id).await })
}

/// A client whose cache holds at most `bytes`.
fn with_room(server: &Server, bytes: usize) -> Client {
    Client::builder(&server.url())
        .retry(Retry::none())
        .max_cache_bytes(bytes)
        .build()
        .expect("valid base")
}

fn client(server: &Server) -> Client {
    Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .expect("valid base")
}

// P1 Freshness -----------------------------------------------------------------

#[tokio::test]
async fn p1_a_value_within_its_max_age_is_served_from_the_cache() {
    let server = Server::start().await;
    server.on("GET", "/quotes/7", Reply::json(200, user_json(7, "Ada")));
    let client = client(&server);

    let first = bounded(Quote::fetch(&client, (), 7)).await.unwrap();
    age(Duration::from_secs(29)).await;
    let second = bounded(Quote::fetch(&client, (), 7)).await.unwrap();

    assert!(Arc::ptr_eq(&first, &second), "served from the cache");
    assert_eq!(server.count("GET", "/quotes/7"), 1);
}

#[tokio::test]
async fn p1_past_its_max_age_a_value_is_a_miss_that_revalidates_and_a_304_restarts_its_age() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/quotes/7",
        Reply::json(200, user_json(7, "Ada")).header("etag", "\"v1\""),
    );
    server.on("GET", "/quotes/7", Reply::empty(304));
    let client = client(&server);

    let first = bounded(Quote::fetch(&client, (), 7)).await.unwrap();
    age(Duration::from_secs(31)).await;
    let second = bounded(Quote::fetch(&client, (), 7)).await.unwrap();

    assert_eq!(server.count("GET", "/quotes/7"), 2, "stale: a request");
    let sent = server.requests();
    assert_eq!(
        sent[1].header("if-none-match"),
        Some("\"v1\""),
        "revalidated"
    );
    assert!(Arc::ptr_eq(&first, &second), "a 304 keeps the same Arc");

    // The 304 restarted the age: 29 s later it is still fresh.
    age(Duration::from_secs(29)).await;
    let third = bounded(Quote::fetch(&client, (), 7)).await.unwrap();
    assert!(Arc::ptr_eq(&first, &third));
    assert_eq!(server.count("GET", "/quotes/7"), 2, "fresh again");
}

#[tokio::test]
async fn p1_the_call_s_max_age_overrides_the_model_s_and_a_model_without_one_keeps_values() {
    let server = Server::start().await;
    server.on("GET", "/quotes/7", Reply::json(200, user_json(7, "Ada")));
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    let client = client(&server);

    bounded(Quote::fetch(&client, (), 7)).await.unwrap();
    bounded(User::fetch(&client, (), 7)).await.unwrap();
    age(Duration::from_secs(10)).await;

    let short = Fetch::new().max_age(Duration::from_secs(5));
    bounded(Quote::fetch_with(&client, (), 7, short.clone()))
        .await
        .unwrap();
    assert_eq!(server.count("GET", "/quotes/7"), 2, "5 s is less than 10 s");

    age(Duration::from_secs(3600)).await;
    bounded(User::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(server.count("GET", "/users/7"), 1, "no max age: kept");
    let long = Fetch::new().max_age(Duration::from_secs(7200));
    bounded(Quote::fetch_with(&client, (), 7, long))
        .await
        .unwrap();
    assert_eq!(server.count("GET", "/quotes/7"), 2, "within the call's");
    bounded(User::fetch_with(&client, (), 7, short))
        .await
        .unwrap();
    assert_eq!(server.count("GET", "/users/7"), 2, "the call's max age");
}

#[tokio::test]
async fn p1_within_stale_while_revalidate_the_stale_arc_returns_at_once_and_one_refresh_runs() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on("GET", "/news/7", Reply::json(200, user_json(7, "old")));
    server.on(
        "GET",
        "/news/7",
        Reply::json(200, user_json(7, "new")).after(&gate),
    );
    let client = client(&server);

    let old = bounded(News::fetch(&client, (), 7)).await.unwrap();
    age(Duration::from_secs(40)).await;

    // Every fetch returns while the refresh is held by the server.
    let stale = bounded(join_all((0..10).map(|_| News::fetch(&client, (), 7)))).await;
    for value in stale {
        assert!(Arc::ptr_eq(&value.unwrap(), &old), "the stale Arc, at once");
    }
    bounded(server.wait_for(2)).await;
    assert_eq!(server.count("GET", "/news/7"), 2, "one refresh for all");
    let stats = client.stats();
    assert_eq!((stats.hits, stats.misses), (10, 1), "{stats:?}");

    gate.open();
    // The refresh is stored when its answer arrives; until then the stale
    // value is served, and no second refresh starts.
    let new = bounded(async {
        loop {
            let value = News::fetch(&client, (), 7).await.unwrap();
            if !Arc::ptr_eq(&value, &old) {
                return value;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(new.name, "new");
    assert_eq!(server.count("GET", "/news/7"), 2, "still one refresh");
    let again = bounded(News::fetch(&client, (), 7)).await.unwrap();
    assert!(Arc::ptr_eq(&new, &again), "the refresh is cached and fresh");
}

#[tokio::test]
async fn p1_past_stale_while_revalidate_a_value_is_a_miss_that_waits() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on("GET", "/news/7", Reply::json(200, user_json(7, "old")));
    server.on(
        "GET",
        "/news/7",
        Reply::json(200, user_json(7, "new")).after(&gate),
    );
    let client = client(&server);
    bounded(News::fetch(&client, (), 7)).await.unwrap();
    age(Duration::from_secs(91)).await;

    let waiting = spawn_fetch::<News>(&client, 7);
    bounded(server.wait_for(2)).await;
    assert!(!waiting.is_finished(), "waits for the server's answer");
    gate.open();
    let new = bounded(waiting).await.unwrap().unwrap();
    assert_eq!(new.name, "new");
}

// P2 Bounded -------------------------------------------------------------------

/// Answers `/users/{id}` with a user whose name is `pad` bytes long.
fn padded_users(server: &Server, pad: usize) {
    server.handle(move |request| {
        let id: u64 = request.path["/users/".len()..].parse().unwrap_or(0);
        Reply::json(200, user_json(id, &"x".repeat(pad)))
    });
}

#[tokio::test]
async fn p2_the_cache_never_holds_more_than_max_cache_bytes() {
    let server = Server::start().await;
    padded_users(&server, 1000);
    let max = 32 * 1024;
    let client = with_room(&server, max);

    for id in 0..200 {
        bounded(User::fetch(&client, (), id)).await.unwrap();
        let stats = client.stats();
        assert!(stats.bytes <= max as u64, "{stats:?}");
    }
    let stats = client.stats();
    assert!(stats.entries >= 20 && stats.entries < 32, "{stats:?}");
    assert_eq!(stats.evictions, 200 - stats.entries, "{stats:?}");
}

#[tokio::test]
async fn p2_an_entry_weighs_its_body_and_at_most_a_kibibyte_more() {
    let server = Server::start().await;
    padded_users(&server, 5000);
    let client = client(&server);
    bounded(User::fetch(&client, (), 7)).await.unwrap();
    let body = serde_json::to_vec(&user_json(7, &"x".repeat(5000)))
        .unwrap()
        .len() as u64;
    let stats = client.stats();
    assert_eq!(stats.entries, 1);
    assert!(
        stats.bytes > body && stats.bytes <= body + 1024,
        "{} for a body of {body}",
        stats.bytes
    );
}

#[tokio::test]
async fn p2_eviction_resists_a_scan_a_key_used_every_other_fetch_stays() {
    let server = Server::start().await;
    padded_users(&server, 400);
    // Room for a few dozen entries of about 500 bytes.
    let client = with_room(&server, 24 * 1024);

    for cold in 1000..1500 {
        bounded(User::fetch(&client, (), 7)).await.unwrap();
        bounded(User::fetch(&client, (), cold)).await.unwrap();
    }
    assert_eq!(server.count("GET", "/users/7"), 1, "the hot key stayed");
    assert!(client.stats().evictions >= 400, "{:?}", client.stats());
}

/// Fetches other users, each twice in a row (so that each is used again,
/// and displaces what was not), until what was cached before is evicted.
async fn churn(client: &Client) {
    let evictions = client.stats().evictions;
    for other in 1000..1200 {
        bounded(User::fetch(client, (), other)).await.unwrap();
        bounded(User::fetch(client, (), other)).await.unwrap();
    }
    assert!(
        client.stats().evictions > evictions + 50,
        "{:?}",
        client.stats()
    );
}

#[tokio::test]
async fn p2_after_eviction_churn_a_response_from_before_a_write_is_never_cached() {
    let server = Server::start().await;
    padded_users(&server, 400);
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "before")).after(&gate),
    );
    server.on("PUT", "/users/7", Reply::json(200, user_json(7, "saved")));
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "server")));
    let client = with_room(&server, 16 * 1024);

    let old = spawn_fetch::<User>(&client, 7);
    bounded(server.wait_for(1)).await;
    bounded(User::new(7, "saved").save(&client)).await.unwrap();
    churn(&client).await;
    gate.open();
    bounded(old).await.unwrap().unwrap();

    let next = bounded(User::fetch(&client, (), 7)).await.unwrap();
    assert_ne!(next.name, "before", "the response from before the save");
    assert_eq!(next.name, "server", "a request of its own");
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn p2_after_eviction_churn_a_response_from_before_an_invalidation_is_never_cached() {
    let server = Server::start().await;
    padded_users(&server, 400);
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "before")).after(&gate),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "after")));
    let client = with_room(&server, 16 * 1024);

    let old = spawn_fetch::<User>(&client, 7);
    bounded(server.wait_for(1)).await;
    User::invalidate(&client, (), 7);
    churn(&client).await;
    gate.open();
    assert_eq!(bounded(old).await.unwrap().unwrap().name, "before");

    let next = bounded(User::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(next.name, "after", "never the response from before");
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn p2_with_no_room_nothing_is_cached_but_requests_are_still_shared() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).after(&gate),
    );
    let client = with_room(&server, 0);

    let together = tokio::spawn({
        let client = client.clone();
        async move { join_all((0..5).map(|_| User::fetch(&client, (), 7))).await }
    });
    bounded(server.wait_for(1)).await;
    gate.open();
    for value in bounded(together).await.unwrap() {
        assert_eq!(value.unwrap().name, "Ada");
    }
    assert_eq!(server.count("GET", "/users/7"), 1, "shared");
    bounded(User::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(server.count("GET", "/users/7"), 2, "not cached");
    assert_eq!(client.stats().entries, 0);
}

// P3 Invalidation and priming --------------------------------------------------

/// Scripts users 7 and 8, the list of users and the list of admins.
fn users_and_admins(server: &Server) {
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    server.on("GET", "/users/8", Reply::json(200, user_json(8, "Bob")));
    server.on(
        "GET",
        "/users",
        Reply::json(200, serde_json::json!([user_json(7, "Ada")])),
    );
}

async fn fetch_everything(client: &Client) {
    bounded(User::fetch(client, (), 7)).await.unwrap();
    bounded(User::fetch(client, (), 8)).await.unwrap();
    bounded(User::fetch_all(client, ())).await.unwrap();
    bounded(Admin::fetch(client, (), 7)).await.unwrap();
}

#[tokio::test]
async fn p3_invalidate_drops_one_member_and_leaves_the_rest() {
    let server = Server::start().await;
    users_and_admins(&server);
    let client = client(&server);
    fetch_everything(&client).await;

    User::invalidate(&client, (), 7);
    fetch_everything(&client).await;

    assert_eq!(
        server.count("GET", "/users/7"),
        3,
        "User 7 and Admin 7, then User 7"
    );
    assert_eq!(server.count("GET", "/users/8"), 1);
    assert_eq!(server.count("GET", "/users"), 1, "collections stay");
}

#[tokio::test]
async fn p3_invalidate_all_drops_every_member_and_collection_of_the_type_only() {
    let server = Server::start().await;
    users_and_admins(&server);
    let client = client(&server);
    fetch_everything(&client).await;

    User::invalidate_all(&client);
    fetch_everything(&client).await;

    // Admin shares the paths but not the cache entries.
    assert_eq!(
        server.count("GET", "/users/7"),
        3,
        "User 7 twice, Admin 7 once"
    );
    assert_eq!(server.count("GET", "/users/8"), 2);
    assert_eq!(server.count("GET", "/users"), 2);
}

#[tokio::test]
async fn p3_clear_drops_everything_and_keeps_the_counters() {
    let server = Server::start().await;
    users_and_admins(&server);
    let client = client(&server);
    fetch_everything(&client).await;
    let before = client.stats();
    assert_eq!(before.entries, 4);

    client.clone().clear();
    let after = client.stats();
    assert_eq!((after.entries, after.bytes), (0, 0), "{after:?}");
    assert_eq!(after.misses, before.misses, "counters stay");

    fetch_everything(&client).await;
    assert_eq!(server.total(), 8, "every resource requested again");
}

/// Holds the first GET of user 7 at the server; the next answers "after".
async fn with_a_request_in_flight(
    server: &Server,
    client: &Client,
) -> (Gate, tokio::task::JoinHandle<()>) {
    let gate = Gate::new();
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "before")).after(&gate),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "after")));
    let old = tokio::spawn({
        let client = client.clone();
        async move {
            User::fetch(&client, (), 7).await.unwrap();
        }
    });
    bounded(server.wait_for(1)).await;
    (gate, old)
}

#[tokio::test]
async fn p3_a_fetch_after_an_invalidation_never_joins_a_request_from_before_it() {
    type Forget = fn(&Client);
    let ways: [(&str, Forget); 3] = [
        ("invalidate", |c| User::invalidate(c, (), 7)),
        ("invalidate_all", |c| User::invalidate_all(c)),
        ("clear", |c| c.clear()),
    ];
    for (name, forget) in ways {
        let server = Server::start().await;
        let client = client(&server);
        let (gate, old) = with_a_request_in_flight(&server, &client).await;

        forget(&client);
        let fresh = spawn_fetch::<User>(&client, 7);
        bounded(server.wait_for(2)).await;
        assert_eq!(
            server.count("GET", "/users/7"),
            2,
            "{name}: a request of its own"
        );
        assert_eq!(
            bounded(fresh).await.unwrap().unwrap().name,
            "after",
            "{name}"
        );

        gate.open();
        bounded(old).await.unwrap();
        let cached = bounded(User::fetch(&client, (), 7)).await.unwrap();
        assert_eq!(cached.name, "after", "{name}: the old answer is not cached");
        assert_eq!(server.count("GET", "/users/7"), 2, "{name}");
    }
}

#[tokio::test]
async fn p3_prime_caches_a_value_without_a_request_over_any_request_in_flight() {
    let server = Server::start().await;
    let client = client(&server);
    let (gate, old) = with_a_request_in_flight(&server, &client).await;

    let primed = client.prime(User::new(7, "primed")).expect("it has an id");
    gate.open();
    bounded(old).await.unwrap();

    let fetched = bounded(User::fetch(&client, (), 7)).await.unwrap();
    assert!(Arc::ptr_eq(&primed, &fetched), "the primed Arc");
    assert_eq!(server.count("GET", "/users/7"), 1, "no request for it");
    assert_eq!(client.prime(User::unsaved("new")), None, "no id, no member");
}

#[tokio::test]
async fn p3_prime_leaves_the_type_s_collections_alone() {
    let server = Server::start().await;
    users_and_admins(&server);
    let client = client(&server);
    bounded(User::fetch_all(&client, ())).await.unwrap();
    client.prime(User::new(9, "Cy"));
    bounded(User::fetch_all(&client, ())).await.unwrap();
    assert_eq!(server.count("GET", "/users"), 1);
    bounded(User::fetch(&client, (), 9)).await.unwrap();
    assert_eq!(server.total(), 1, "the primed member is a hit");
}

#[tokio::test]
async fn p3_a_collection_replaced_by_a_reload_is_still_invalidated_by_a_write() {
    let server = Server::start().await;
    users_and_admins(&server);
    server.on("PUT", "/users/8", Reply::json(200, user_json(8, "Bo")));
    let client = client(&server);

    bounded(User::fetch_all(&client, ())).await.unwrap();
    bounded(User::fetch_all_with(&client, (), Fetch::reload()))
        .await
        .unwrap();
    bounded(User::new(8, "Bo").save(&client)).await.unwrap();
    bounded(User::fetch_all(&client, ())).await.unwrap();

    assert_eq!(
        server.count("GET", "/users"),
        3,
        "the write dropped the list"
    );
    assert_eq!(
        client.stats().evictions,
        0,
        "a replaced value is not evicted"
    );
}
// with the saved value that its own max age had just refused (P1).
#[tokio::test]
async fn p1_a_fetch_past_the_max_age_of_a_saved_value_never_joins_a_request_from_before_the_save() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on(
        "GET",
        "/quotes/7",
        Reply::json(200, user_json(7, "before")).after(&gate),
    );
    server.on("PUT", "/quotes/7", Reply::json(200, user_json(7, "saved")));
    server.on("GET", "/quotes/7", Reply::json(200, user_json(7, "after")));
    // A long per-attempt timeout, so that moving the clock 31 s does not
    // time the held request out.
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();

    let old = spawn_fetch::<Quote>(&client, 7);
    bounded(server.wait_for(1)).await;
    let saved = Quote {
        id: Some(7),
        name: "saved".into(),
    };
    bounded(saved.save(&client)).await.unwrap();
    age(Duration::from_secs(31)).await; // the saved value is past its max age

    let fresh = spawn_fetch::<Quote>(&client, 7);
    let sent = tokio::time::timeout(Duration::from_secs(2), server.wait_for(3)).await;
    let gets = server.count("GET", "/quotes/7");
    gate.open();
    let fresh = bounded(fresh).await.unwrap().unwrap();
    bounded(old).await.unwrap().unwrap();
    assert!(
        sent.is_ok() && gets == 2,
        "a request of its own, not a join of the one from before the save ({gets} GETs)"
    );
    assert_eq!(fresh.name, "after", "not the saved value past its max age");
}
