//! R12: every fault reply of testkit, against the client. Each test ends
//! within its bound with the right predicate, caches nothing (a plain fetch
//! afterwards sends a new request) and panics nowhere (ARCHITECTURE.md, R1,
//! R2, R3, R5, R6, R12).

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use backrest_runtime::{Client, Error, Fetch, Model, Retry, StatusCode};
use backrest_testkit::{Fault, RawServer, Reply, Server};
use common::{User, user_json};
use futures_util::future::join_all;

const BOUND: Duration = Duration::from_secs(20);

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("the call ends within its bound")
}

fn quick(attempts: u32) -> Retry {
    Retry::attempts(attempts).backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// A client whose attempts time out after 300 ms.
fn impatient(base: &str, retry: Retry) -> Client {
    Client::builder(base)
        .timeout(Duration::from_millis(300))
        .retry(retry)
        .build()
        .expect("valid base")
}

/// Fetches user 7 twice: both fail as `check` says, and the second sent a
/// request of its own (nothing of the fault was cached).
async fn fails_twice_uncached(server: &Server, client: &Client, check: impl Fn(&Error) -> bool) {
    for round in 1..=2 {
        let err = bounded(User::fetch(client, (), 7)).await.unwrap_err();
        assert!(check(&err), "round {round}: {err:?}");
        assert_eq!(server.count("GET", "/users/7"), round, "nothing cached");
    }
}

fn user_7() -> Reply {
    Reply::json(200, user_json(7, "Ada"))
}

// R1: no server behaviour keeps a call beyond attempts x (timeout + backoff).

#[tokio::test]
async fn r1_a_server_that_sends_no_headers_times_out() {
    let server = Server::start().await;
    server.on("GET", "/users/7", user_7().fault(Fault::NoHeaders));
    let client = impatient(&server.url(), Retry::none());
    fails_twice_uncached(&server, &client, Error::is_timeout).await;
}

#[tokio::test]
async fn r1_a_body_trickling_a_byte_at_a_time_times_out() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        user_7().fault(Fault::Trickle(Duration::from_millis(100))),
    );
    let client = impatient(&server.url(), Retry::none());
    let started = Instant::now();
    fails_twice_uncached(&server, &client, Error::is_timeout).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// An error answer whose body stalls past the timeout is still that error:
/// its status is kept (a 404 is not retried as a timeout would be, and a
/// write answered 409 is rejected, not uncertain), with what arrived of its
/// body.
#[tokio::test]
async fn r1_an_error_whose_body_stalls_past_the_timeout_keeps_its_status() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::text(404, "no such user").fault(Fault::Trickle(Duration::from_millis(100))),
    );
    server.on(
        "PUT",
        "/users/7",
        Reply::text(409, "edited meanwhile").fault(Fault::Trickle(Duration::from_millis(100))),
    );
    let client = impatient(&server.url(), quick(3));

    let err = bounded(User::fetch(&client, (), 7)).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
    assert_eq!(server.count("GET", "/users/7"), 1, "a 404 is not retried");

    let err = bounded(User::new(7, "Ada").save(&client))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
    assert_eq!(server.count("PUT", "/users/7"), 1, "a 409 is not retried");
}

#[tokio::test]
async fn r1_an_endless_chunked_body_times_out_when_the_limit_is_high() {
    let server = Server::start().await;
    server.on("GET", "/users/7", user_7().fault(Fault::EndlessChunked));
    let client = Client::builder(&server.url())
        .timeout(Duration::from_millis(300))
        .max_response_bytes(usize::MAX)
        .retry(Retry::none())
        .build()
        .unwrap();
    fails_twice_uncached(&server, &client, Error::is_timeout).await;
}

#[tokio::test]
async fn r1_endless_100_continue_times_out() {
    let raw = RawServer::endless_continue().await;
    let client = impatient(&raw.url(), quick(2));
    let err = bounded(User::fetch(&client, (), 7)).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.attempts(), 2);
    assert_eq!(raw.total(), 2, "each attempt sent once");
}

#[tokio::test]
async fn r1_a_silent_server_times_out_every_attempt_and_releases_every_caller() {
    let raw = RawServer::silent().await;
    let client = impatient(&raw.url(), quick(2));
    let calls = (0..20).map(|_| User::fetch(&client, (), 7));
    let results = bounded(join_all(calls)).await;
    for result in results {
        let err = result.unwrap_err();
        assert!(err.is_timeout() && err.attempts() == 2, "{err:?}");
    }
    assert_eq!(raw.total(), 2, "20 callers, one sequence of 2 attempts");
}

// R2: bounded memory.

#[tokio::test]
async fn r2_a_huge_content_length_fails_before_the_body_is_read() {
    let server = Server::start().await;
    server.on("GET", "/users/7", user_7().fault(Fault::HugeContentLength));
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .unwrap();
    let started = Instant::now();
    fails_twice_uncached(&server, &client, |err| {
        err.is_too_large() && err.to_string().contains("10000000000")
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "not read to the end"
    );
}

#[tokio::test]
async fn r2_an_endless_chunked_body_is_cut_at_the_limit() {
    let server = Server::start().await;
    server.on("GET", "/users/7", user_7().fault(Fault::EndlessChunked));
    let client = Client::builder(&server.url())
        .max_response_bytes(1024)
        .retry(Retry::none())
        .build()
        .unwrap();
    fails_twice_uncached(&server, &client, Error::is_too_large).await;
    bounded(server.wait_streams_closed()).await;
}

#[tokio::test]
async fn r2_a_chunked_body_without_a_length_is_cut_while_streaming() {
    let server = Server::start().await;
    let pad = "x".repeat(2000);
    let body = serde_json::to_vec(&serde_json::json!({ "id": 7, "name": pad })).unwrap();
    server.on("GET", "/users/7", Reply::chunked(200, body.clone(), 100));
    server.on("GET", "/users/8", Reply::chunked(200, body.clone(), 100));
    let cut = Client::builder(&server.url())
        .max_response_bytes(1000)
        .retry(Retry::none())
        .build()
        .unwrap();
    fails_twice_uncached(&server, &cut, Error::is_too_large).await;

    let exact = Client::builder(&server.url())
        .max_response_bytes(body.len())
        .retry(Retry::none())
        .build()
        .unwrap();
    let user = bounded(User::fetch(&exact, (), 8)).await.unwrap();
    assert_eq!(
        user.name.len(),
        2000,
        "a streamed body of exactly the limit is read"
    );
}

// R3: connections closed before a complete answer are transport errors,
// and retried.

#[tokio::test]
async fn r3_a_body_reset_midway_is_a_request_error_and_is_retried() {
    let server = Server::start().await;
    server.on("GET", "/users/7", user_7().fault(Fault::ResetMidBody));
    server.on("GET", "/users/8", user_7().fault(Fault::ResetMidBody));
    server.on("GET", "/users/8", Reply::json(200, user_json(8, "Grace")));
    let once = Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .unwrap();
    fails_twice_uncached(&server, &once, |err| err.is_request() && !err.is_decode()).await;

    let retrying = Client::builder(&server.url())
        .retry(quick(3))
        .build()
        .unwrap();
    let user = bounded(User::fetch(&retrying, (), 8)).await.unwrap();
    assert_eq!(user.name, "Grace");
    assert_eq!(server.count("GET", "/users/8"), 2);
}

#[tokio::test]
async fn r3_a_short_body_is_a_request_error_and_is_retried() {
    let server = Server::start().await;
    server.on("GET", "/users/7", user_7().fault(Fault::ShortBody));
    let client = Client::builder(&server.url())
        .retry(quick(3))
        .build()
        .unwrap();
    let err = bounded(User::fetch(&client, (), 7)).await.unwrap_err();
    assert!(err.is_request() && !err.is_decode(), "{err:?}");
    assert_eq!(err.attempts(), 3);
    assert_eq!(server.count("GET", "/users/7"), 3);
}

#[tokio::test]
async fn r3_a_stale_keep_alive_connection_does_not_fail_a_get() {
    let raw = RawServer::stale_keep_alive(user_json(7, "Ada")).await;
    let client = Client::builder(&raw.url()).retry(quick(3)).build().unwrap();
    bounded(User::fetch(&client, (), 7)).await.unwrap();
    // The pooled connection is closed by the server as the reload arrives.
    let user = bounded(User::fetch_with(&client, (), 7, Fetch::reload()))
        .await
        .unwrap();
    assert_eq!(user.name, "Ada");
    assert_eq!(
        raw.total(),
        3,
        "first, the one lost on the stale connection, the retry"
    );
    assert_eq!(raw.connections(), 2);

    let once = Client::builder(&raw.url())
        .retry(Retry::none())
        .build()
        .unwrap();
    bounded(User::fetch(&once, (), 7)).await.unwrap();
    let err = bounded(User::fetch_with(&once, (), 7, Fetch::reload()))
        .await
        .unwrap_err();
    assert!(err.is_request(), "{err:?}");
}

#[tokio::test]
async fn r3_an_html_500_is_a_status_error_with_its_page_and_is_retried() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::html_error(500));
    let client = Client::builder(&server.url())
        .retry(quick(2))
        .build()
        .unwrap();
    let err = bounded(User::fetch(&client, (), 7)).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(!err.is_decode());
    assert!(
        err.body().is_some_and(|page| page.contains("<title>")),
        "{err:?}"
    );
    assert_eq!(err.attempts(), 2);
    let again = bounded(User::fetch(&client, (), 7)).await.unwrap_err();
    assert_eq!(again.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(server.count("GET", "/users/7"), 4, "nothing cached");
}

// R5: a create whose connection dies after the server stored it.

#[tokio::test]
async fn r5_a_reset_after_a_create_was_stored_is_unknown_and_retried_with_its_key() {
    let server = Server::start().await;
    server.on(
        "POST",
        "/users",
        Reply::json(201, user_json(1, "Ada")).fault(Fault::ResetAfterStored),
    );
    server.on("POST", "/users", Reply::json(201, user_json(1, "Ada")));
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .unwrap();

    let err = bounded(User::save_all(&client, vec![User::unsaved("Ada")]))
        .await
        .unwrap_err();
    assert!(err.error.is_request(), "{:?}", err.error);
    assert_eq!(err.unknown(), &[0], "it may have been written");
    let saved = bounded(err.retry(&client)).await.unwrap();
    assert_eq!(saved[0].id, Some(1));
    let keys: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].is_some() && keys[0] == keys[1], "{keys:?}");
}

// R6: a redirect loop ends.

#[tokio::test]
async fn r6_a_redirect_loop_ends_after_ten_redirects() {
    let server = Server::start().await;
    server.redirect_loop("GET", "/users/7");
    let client = Client::builder(&server.url())
        .retry(quick(3))
        .build()
        .unwrap();
    let err = bounded(User::fetch(&client, (), 7)).await.unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(err.attempts(), 1, "a redirect is not retried");
    assert_eq!(
        server.count("GET", "/users/7"),
        11,
        "the request and ten redirects"
    );
}
