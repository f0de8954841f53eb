//! What a cache tells its operator (ARCHITECTURE.md, P4), in numbers:
//! `stats()` counts each fetch once. Against a real loopback server. The
//! spans are in spans.rs.

mod common;

use std::future::Future;
use std::time::Duration;

use backrest_runtime::{CacheStats, Client, Fetch, Model, Retry};
use backrest_testkit::{Gate, Reply, Server};
use common::{User, user_json};
use futures_util::future::join_all;

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
