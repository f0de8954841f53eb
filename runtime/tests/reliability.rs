//! Reliability on the wire, R1–R11 of ARCHITECTURE.md, against a real
//! loopback server: bounded time and memory, retries inside the flight,
//! idempotency keys, redirects, writes the server accepted, empty path
//! values and secrets. Fault replies (resets, trickles, endless bodies) are
//! in `faults.rs`.
//!
//! Every test that could hang is bounded by [`bounded`]; events are ordered
//! by the server (gates, queued replies), never by a sleep in the client.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backrest_runtime::{Client, Fetch, Model, Retry, StatusCode};
use backrest_testkit::{Gate, Reply, Server, refused_url};
use common::{Repo, User, user_json};
use futures_util::future::join_all;

/// Fails the test instead of hanging it.
async fn bounded<F: Future>(limit: Duration, future: F) -> F::Output {
    tokio::time::timeout(limit, future)
        .await
        .expect("the call ends within its bound")
}

const BOUND: Duration = Duration::from_secs(20);

/// Retries with a backoff short enough that tests take no time.
fn quick(attempts: u32) -> Retry {
    Retry::attempts(attempts).backoff(Duration::from_millis(1), Duration::from_millis(5))
}

fn client_with(server: &Server, retry: Retry) -> Client {
    Client::builder(&server.url())
        .retry(retry)
        .build()
        .expect("valid base")
}

/// Scripts `method path` to be received and never answered (until the
/// server is dropped).
fn hold(server: &Server, method: &str, path: &str, reply: Reply) {
    server.on(method, path, reply.after(&Gate::new()));
}

/// A client on `server` whose attempts time out after `millis`.
fn timing_out(server: &Server, millis: u64, retry: Retry) -> Client {
    Client::builder(&server.url())
        .timeout(Duration::from_millis(millis))
        .retry(retry)
        .build()
        .expect("valid base")
}

// R1 Bounded time ------------------------------------------------------------

#[tokio::test]
async fn r1_a_server_that_never_answers_fails_each_attempt_at_the_timeout() {
    let server = Server::start().await;
    hold(
        &server,
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")),
    );
    let client = timing_out(&server, 200, quick(2));

    let started = Instant::now();
    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.attempts(), 2, "a timed-out GET is retried");
    assert_eq!(server.count("GET", "/users/7"), 2);
    // attempts x (timeout + backoff), with room for a slow machine.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn r1_coalesced_callers_of_a_silent_server_are_released_together() {
    let server = Server::start().await;
    hold(
        &server,
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")),
    );
    let client = timing_out(&server, 200, Retry::none());

    let calls = (0..50).map(|_| User::fetch(&client, (), 7));
    let results = bounded(BOUND, join_all(calls)).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_err_and(|e| e.is_timeout()))
    );
    assert_eq!(server.count("GET", "/users/7"), 1, "one request for all");
}

#[tokio::test(start_paused = true)]
async fn r1_the_default_timeout_is_30_seconds_per_attempt() {
    let server = Server::start().await;
    hold(
        &server,
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")),
    );
    let client = client_with(&server, Retry::none());

    let started = tokio::time::Instant::now();
    let err = User::fetch(&client, (), 7).await.unwrap_err();
    let waited = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
}

// R2 Bounded memory ----------------------------------------------------------

fn limited(server: &Server, limit: usize) -> Client {
    Client::builder(&server.url())
        .max_response_bytes(limit)
        .retry(Retry::none())
        .build()
        .unwrap()
}

/// A JSON user padded to exactly `len` bytes.
fn padded_user(len: usize) -> Vec<u8> {
    let head = r#"{"id":7,"name":"Ada","pad":""#;
    let tail = r#""}"#;
    let mut body = head.as_bytes().to_vec();
    body.resize(len - tail.len(), b'x');
    body.extend_from_slice(tail.as_bytes());
    body
}

#[tokio::test]
async fn r2_a_body_over_the_limit_is_too_large_and_not_cached() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::raw(200, padded_user(1001)));
    let client = limited(&server, 1000);

    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert!(err.is_too_large(), "{err}");
    assert!(!err.is_decode() && !err.is_status());
    assert!(err.to_string().contains("1001"), "{err}");
    let again = bounded(BOUND, User::fetch(&client, (), 7)).await;
    assert!(again.unwrap_err().is_too_large());
    assert_eq!(server.count("GET", "/users/7"), 2, "nothing was cached");
}

#[tokio::test]
async fn r2_a_body_of_exactly_the_limit_is_accepted() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::raw(200, padded_user(1000)));
    let client = limited(&server, 1000);

    let user = bounded(BOUND, User::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(user.name, "Ada");
}

#[tokio::test]
async fn r2_the_default_limit_is_16_mib() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::raw(200, padded_user(16 * 1024 * 1024)),
    );
    server.on(
        "GET",
        "/users/8",
        Reply::raw(200, padded_user(16 * 1024 * 1024 + 1)),
    );
    let client = client_with(&server, Retry::none());

    assert!(bounded(BOUND, User::fetch(&client, (), 7)).await.is_ok());
    let err = bounded(BOUND, User::fetch(&client, (), 8))
        .await
        .unwrap_err();
    assert!(err.is_too_large(), "{err}");
}

#[tokio::test]
async fn r2_error_bodies_stay_bounded_whatever_the_limit() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::text(404, &"x".repeat(100_000)));
    let client = limited(&server, 10);

    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(
        err.body().map(str::len),
        Some(backrest_runtime::MAX_ERROR_BODY)
    );
}

// R3 Retries -----------------------------------------------------------------

#[tokio::test]
async fn r3_transient_statuses_are_retried_until_success() {
    for status in [408, 429, 500, 502, 503, 504] {
        let server = Server::start().await;
        server.on("GET", "/users/7", Reply::text(status, "busy"));
        server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
        let client = client_with(&server, quick(3));

        let user = bounded(BOUND, User::fetch(&client, (), 7)).await;
        assert_eq!(user.unwrap().name, "Ada", "{status}");
        assert_eq!(server.count("GET", "/users/7"), 2, "{status}");
    }
}

#[tokio::test]
async fn r3_the_last_attempt_s_error_is_returned_with_the_count() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::text(500, "first"));
    server.on("GET", "/users/7", Reply::text(502, "second"));
    server.on("GET", "/users/7", Reply::text(503, "third"));
    let client = client_with(&server, quick(3));

    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.body(), Some("third"));
    assert_eq!(err.attempts(), 3);
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(server.count("GET", "/users/7"), 3);
}

#[tokio::test]
async fn r3_other_statuses_and_decode_errors_are_never_retried() {
    let server = Server::start().await;
    for (id, reply) in [
        (1, Reply::text(400, "bad")),
        (2, Reply::text(404, "gone")),
        (3, Reply::text(409, "conflict")),
        (4, Reply::text(501, "no")),
        (5, Reply::raw(200, "not json")),
    ] {
        server.on("GET", &format!("/users/{id}"), reply);
    }
    let client = client_with(&server, quick(3));

    for id in 1..=5 {
        let err = bounded(BOUND, User::fetch(&client, (), id))
            .await
            .unwrap_err();
        assert_eq!(err.attempts(), 1, "{err}");
        assert_eq!(server.count("GET", &format!("/users/{id}")), 1);
    }
}

#[tokio::test]
async fn r3_connect_errors_are_retried() {
    let client = Client::builder(&refused_url().await)
        .retry(quick(3))
        .build()
        .unwrap();
    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert_eq!(err.attempts(), 3);
}

#[tokio::test]
async fn r3_retry_after_in_seconds_is_waited_for() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::text(503, "later").header("retry-after", "1"),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    // A backoff that would never wait a second: only Retry-After can.
    let client = client_with(&server, quick(2));

    let started = Instant::now();
    let user = bounded(BOUND, User::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(user.name, "Ada");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn r3_retry_after_as_an_http_date_is_waited_for() {
    let server = Server::start().await;
    let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    server.on(
        "GET",
        "/users/7",
        Reply::text(429, "slow down").header("retry-after", &soon),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    let client = client_with(&server, quick(2));

    let started = Instant::now();
    let user = bounded(BOUND, User::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(user.name, "Ada");
    // HTTP dates have whole seconds: at least one of the two is waited.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn r3_a_retry_after_longer_than_the_maximum_fails_at_once() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::text(503, "down for maintenance").header("retry-after", "3600"),
    );
    let client = client_with(&server, quick(3).max_retry_after(Duration::from_secs(10)));

    let started = Instant::now();
    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.attempts(), 1);
    assert_eq!(
        err.headers().and_then(|h| h.get("retry-after")).unwrap(),
        "3600"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.count("GET", "/users/7"), 1);
}

#[tokio::test]
async fn r3_puts_and_deletes_are_retried() {
    let server = Server::start().await;
    server.on("PUT", "/users/7", Reply::text(502, "bad gateway"));
    server.on("PUT", "/users/7", Reply::json(200, user_json(7, "Ada")));
    server.on("DELETE", "/users/7", Reply::text(504, "timeout"));
    server.on("DELETE", "/users/7", Reply::empty(204));
    let client = client_with(&server, quick(3));

    let saved = bounded(BOUND, User::new(7, "Ada").save(&client))
        .await
        .unwrap();
    assert_eq!(saved.name, "Ada");
    bounded(BOUND, saved.destroy(&client)).await.unwrap();
    assert_eq!(server.count("PUT", "/users/7"), 2);
    assert_eq!(server.count("DELETE", "/users/7"), 2);
}

#[tokio::test]
async fn r3_retry_none_makes_one_attempt() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::text(503, "busy"));
    let client = client_with(&server, Retry::none());

    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.count("GET", "/users/7"), 1);
}

#[tokio::test]
async fn r3_the_default_is_three_attempts() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::text(503, "busy"));
    let client = Client::new(&server.url()).unwrap();

    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 3);
    assert_eq!(server.count("GET", "/users/7"), 3);
}

// R4 Retries inside the flight -----------------------------------------------

#[tokio::test]
async fn r4_coalesced_callers_share_one_sequence_of_attempts() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on("GET", "/users/7", Reply::text(503, "busy").after(&gate));
    server.on("GET", "/users/7", Reply::text(503, "busy"));
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    let client = client_with(&server, quick(3));

    let calls: Vec<_> = (0..100)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { User::fetch(&client, (), 7).await })
        })
        .collect();
    server.wait_for(1).await;
    gate.open();
    let results = bounded(BOUND, join_all(calls)).await;
    let first = results[0].as_ref().unwrap().as_ref().unwrap();
    for result in &results {
        assert!(Arc::ptr_eq(
            first,
            result.as_ref().unwrap().as_ref().unwrap()
        ));
    }
    assert_eq!(
        server.count("GET", "/users/7"),
        3,
        "one sequence of attempts"
    );
}

#[tokio::test]
async fn r4_a_reload_during_retries_still_wins() {
    let server = Server::start().await;
    let gate = Gate::new();
    // The old request fails once, then answers with an old name, late.
    server.on("GET", "/users/7", Reply::text(503, "busy"));
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "old")).after(&gate),
    );
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "new")));
    let client = client_with(&server, quick(3));

    let old = {
        let client = client.clone();
        tokio::spawn(async move { User::fetch(&client, (), 7).await })
    };
    server.wait_for(2).await; // the retry is in flight, held
    let fresh = bounded(BOUND, User::fetch_with(&client, (), 7, Fetch::reload()))
        .await
        .unwrap();
    assert_eq!(fresh.name, "new");
    gate.open();
    let old = bounded(BOUND, old).await.unwrap().unwrap();
    assert_eq!(
        old.name, "new",
        "C5: the newer value wins over the old retry"
    );
    let cached = User::fetch(&client, (), 7).await.unwrap();
    assert_eq!(cached.name, "new");
}

// R5 Idempotency keys --------------------------------------------------------

fn key_of(request: &backrest_testkit::Request) -> uuid::Uuid {
    let key = request
        .header("idempotency-key")
        .expect("an Idempotency-Key");
    let key = uuid::Uuid::parse_str(key).expect("a UUID");
    assert_eq!(key.get_version_num(), 4, "a random UUID");
    key
}

#[tokio::test]
async fn r5_every_post_carries_its_own_idempotency_key() {
    let server = Server::start().await;
    server.on("POST", "/users", Reply::json(201, user_json(1, "Ada")));
    server.on("PUT", "/users/1", Reply::json(200, user_json(1, "Ada")));
    let client = client_with(&server, Retry::none());

    bounded(BOUND, User::unsaved("Ada").save(&client))
        .await
        .unwrap();
    bounded(BOUND, User::unsaved("Ada").save(&client))
        .await
        .unwrap();
    bounded(BOUND, User::new(1, "Ada").save(&client))
        .await
        .unwrap();
    let requests = server.requests();
    assert_ne!(key_of(&requests[0]), key_of(&requests[1]));
    assert_eq!(requests[2].header("idempotency-key"), None, "only POSTs");
}

#[tokio::test]
async fn r5_a_retried_post_sends_the_same_key() {
    let server = Server::start().await;
    server.on("POST", "/users", Reply::text(503, "busy"));
    server.on("POST", "/users", Reply::text(500, "oops"));
    server.on("POST", "/users", Reply::json(201, user_json(1, "Ada")));
    let client = client_with(&server, quick(3));

    let saved = bounded(BOUND, User::unsaved("Ada").save(&client))
        .await
        .unwrap();
    assert_eq!(saved.id, Some(1));
    let keys: Vec<_> = server.requests().iter().map(key_of).collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
}

#[tokio::test]
async fn r5_without_idempotency_keys_a_post_is_never_retried() {
    let server = Server::start().await;
    server.on("POST", "/users", Reply::text(503, "busy"));
    let client = Client::builder(&server.url())
        .retry(quick(3))
        .idempotency_keys(false)
        .build()
        .unwrap();

    let err = bounded(BOUND, User::unsaved("Ada").save(&client))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("idempotency-key"), None);
}

#[tokio::test]
async fn r5_save_all_gives_each_item_its_own_key() {
    let server = Server::start().await;
    server.handle(|request| {
        let name = request.json()["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Reply::json(201, serde_json::json!({ "id": name.len(), "name": name }))
    });
    let client = client_with(&server, Retry::none());
    let users = (0..20).map(|i| User::unsaved(&"u".repeat(i + 1)));

    bounded(BOUND, User::save_all(&client, users))
        .await
        .unwrap();
    let keys: std::collections::HashSet<_> = server.requests().iter().map(key_of).collect();
    assert_eq!(keys.len(), 20);
}

/// Five creates: 0 saved, 1 rejected (422), 2 times out (the server got
/// it: unknown), then nothing more is started (3 and 4: not sent).
async fn five_creates_with_three_outcomes(server: &Server) -> Client {
    let never = Gate::new();
    server.handle(move |request| match request.json()["name"].as_str() {
        Some("saved") => Reply::json(201, user_json(100, "saved")),
        Some("rejected") => Reply::text(422, "invalid"),
        Some("unknown") => Reply::json(201, user_json(102, "unknown")).after(&never),
        _ => Reply::json(201, user_json(103, "later")),
    });
    Client::builder(&server.url())
        .retry(Retry::none())
        .timeout(Duration::from_millis(300))
        .save_all_concurrency(1)
        .build()
        .unwrap()
}

fn five() -> Vec<User> {
    ["saved", "rejected", "unknown", "later", "later"]
        .into_iter()
        .map(User::unsaved)
        .collect()
}

#[tokio::test]
async fn r5_save_all_error_tells_not_sent_rejected_and_unknown_apart() {
    let server = Server::start().await;
    let client = five_creates_with_three_outcomes(&server).await;
    // Concurrency 1 stops at the first failure: 1 is rejected, 2..4 never
    // sent. A second batch shows the unknown class.
    let err = bounded(BOUND, User::save_all(&client, five()))
        .await
        .unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(err.rejected(), &[1]);
    assert_eq!(err.not_sent(), &[2, 3, 4]);
    assert!(err.unknown().is_empty());

    let unknown = vec![
        User::unsaved("saved"),
        User::unsaved("unknown"),
        User::unsaved("later"),
    ];
    let err = bounded(BOUND, User::save_all(&client, unknown))
        .await
        .unwrap_err();
    assert!(err.error.is_timeout(), "{}", err.error);
    assert_eq!(err.unknown(), &[1]);
    assert_eq!(err.not_sent(), &[2]);
    assert!(err.rejected().is_empty());
    let indices: Vec<usize> = err.unsaved.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indices,
        vec![1, 2],
        "the classes are the indices of unsaved"
    );
}

#[tokio::test]
async fn r5_retry_resumes_the_batch_reusing_the_key_of_each_unknown_create() {
    let server = Server::start().await;
    let never = Gate::new();
    // "flaky" times out on its first attempt (the server got it), then
    // answers; every other create succeeds.
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    server.handle(move |request| {
        let name = request.json()["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = name.len() as u64;
        if name == "flaky" && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return Reply::json(201, user_json(id, &name)).after(&never);
        }
        Reply::json(201, user_json(id, &name))
    });
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .timeout(Duration::from_millis(300))
        .save_all_concurrency(1)
        .build()
        .unwrap();
    let users = vec![
        User::unsaved("a"),
        User::unsaved("flaky"),
        User::unsaved("abc"),
    ];

    let err = bounded(BOUND, User::save_all(&client, users))
        .await
        .unwrap_err();
    assert_eq!(err.unknown(), &[1]);
    assert_eq!(err.not_sent(), &[2]);
    let saved = bounded(BOUND, err.retry(&client)).await.unwrap();
    let names: Vec<&str> = saved.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["a", "flaky", "abc"], "every input, in input order");
    assert!(saved.iter().all(|u| u.id.is_some()));

    let flaky: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.json()["name"] == "flaky")
        .collect();
    assert_eq!(flaky.len(), 2);
    assert_eq!(
        key_of(&flaky[0]),
        key_of(&flaky[1]),
        "the unknown create's key is reused"
    );
}

#[tokio::test]
async fn r5_a_failed_retry_reports_the_original_indices() {
    let server = Server::start().await;
    let client = five_creates_with_three_outcomes(&server).await;
    let err = bounded(BOUND, User::save_all(&client, five()))
        .await
        .unwrap_err();
    let rejected_key_requests = server.total();

    // Retried: 1 is rejected again (first, concurrency 1), so 2..4 are not sent.
    let err = bounded(BOUND, err.retry(&client)).await.unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(
        err.saved.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![0]
    );
    assert_eq!(err.rejected(), &[1]);
    assert_eq!(err.not_sent(), &[2, 3, 4]);
    assert_eq!(server.total(), rejected_key_requests + 1);
}

// R6 Redirects ---------------------------------------------------------------

#[tokio::test]
async fn r6_a_post_answered_301_is_a_redirect_error_and_nothing_is_sent_again() {
    let server = Server::start().await;
    server.on(
        "POST",
        "/users",
        Reply::empty(301).header("location", "/people"),
    );
    server.on("GET", "/people", Reply::json(200, serde_json::json!([])));
    let client = client_with(&server, quick(3));

    let err = bounded(BOUND, User::unsaved("Ada").save(&client))
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err}");
    assert_eq!(err.status(), Some(StatusCode::MOVED_PERMANENTLY));
    assert_eq!(server.count("POST", "/users"), 1, "not retried");
    assert_eq!(server.count("GET", "/people"), 0, "not followed as a GET");
}

#[tokio::test]
async fn r6_puts_and_deletes_do_not_follow_redirects() {
    let server = Server::start().await;
    server.on(
        "PUT",
        "/users/7",
        Reply::empty(307).header("location", "/users/8"),
    );
    server.on(
        "DELETE",
        "/users/7",
        Reply::empty(308).header("location", "/users/8"),
    );
    let client = client_with(&server, quick(3));

    let err = bounded(BOUND, User::new(7, "Ada").save(&client))
        .await
        .unwrap_err();
    assert!(err.is_redirect() && err.status() == Some(StatusCode::TEMPORARY_REDIRECT));
    let err = bounded(BOUND, User::new(7, "Ada").destroy(&client))
        .await
        .unwrap_err();
    assert!(err.is_redirect() && err.status() == Some(StatusCode::PERMANENT_REDIRECT));
    assert_eq!(server.total(), 2);
}

#[tokio::test]
async fn r6_a_get_follows_ten_redirects_but_not_an_eleventh() {
    let server = Server::start().await;
    for hop in 1..10 {
        let next = format!("/hop/{}", hop + 1);
        server.on(
            "GET",
            &format!("/hop/{hop}"),
            Reply::empty(302).header("location", &next),
        );
    }
    server.on("GET", "/hop/10", Reply::json(200, user_json(7, "Ada")));
    // /users/7 -> /hop/1 -> ... -> /hop/10: ten redirects.
    server.on(
        "GET",
        "/users/7",
        Reply::empty(302).header("location", "/hop/1"),
    );
    server.on(
        "GET",
        "/users/8",
        Reply::empty(302).header("location", "/users/7"),
    );
    let client = client_with(&server, Retry::none());

    let user = bounded(BOUND, User::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(user.name, "Ada");
    let err = bounded(BOUND, User::fetch(&client, (), 8))
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err}");
    assert_eq!(err.status(), Some(StatusCode::FOUND));
}

#[tokio::test]
async fn r6_credentials_are_not_sent_to_another_origin() {
    let server = Server::start().await;
    let other = Server::start().await;
    let elsewhere = format!("{}/users/7", other.url());
    server.on(
        "GET",
        "/users/7",
        Reply::empty(302).header("location", "/moved/7"),
    );
    server.on(
        "GET",
        "/moved/7",
        Reply::empty(302).header("location", &elsewhere),
    );
    other.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    let client = Client::builder(&server.url())
        .bearer_auth("s3cr3t")
        .header("x-api-key", "k3y")
        .retry(Retry::none())
        .build()
        .unwrap();

    let user = bounded(BOUND, User::fetch(&client, (), 7)).await.unwrap();
    assert_eq!(user.name, "Ada");
    let same = &server.requests()[1];
    assert_eq!(same.path, "/moved/7");
    assert_eq!(
        same.header("authorization"),
        Some("Bearer s3cr3t"),
        "same origin"
    );
    let away = &other.requests()[0];
    assert_eq!(away.header("authorization"), None);
    assert_eq!(away.header("x-api-key"), None);
    assert_eq!(away.header("accept"), Some("application/json"));
}

// R9 A write the server accepted is never reported as nothing ---------------

#[tokio::test]
async fn r9_an_accepted_put_whose_body_does_not_decode_keeps_it_and_invalidates() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "old")));
    server.on(
        "GET",
        "/users",
        Reply::json(200, serde_json::json!([user_json(7, "old")])),
    );
    server.on("PUT", "/users/7", Reply::raw(200, "<saved>"));
    let client = client_with(&server, quick(3));
    User::fetch(&client, (), 7).await.unwrap();
    User::fetch_all(&client, ()).await.unwrap();

    let err = bounded(BOUND, User::new(7, "new").save(&client))
        .await
        .unwrap_err();
    assert!(err.is_decode(), "{err}");
    assert_eq!(err.body(), Some("<saved>"));
    assert_eq!(
        server.count("PUT", "/users/7"),
        1,
        "decode errors are not retried"
    );
    User::fetch(&client, (), 7).await.unwrap();
    User::fetch_all(&client, ()).await.unwrap();
    assert_eq!(
        server.count("GET", "/users/7"),
        2,
        "the member was invalidated"
    );
    assert_eq!(server.count("GET", "/users"), 2, "and the collections");
}

#[tokio::test]
async fn r9_an_accepted_create_that_cannot_be_read_is_unknown_in_save_all() {
    let server = Server::start().await;
    server.on("POST", "/users", Reply::raw(201, "created!"));
    let client = client_with(&server, Retry::none());

    let err = bounded(BOUND, User::save_all(&client, vec![User::unsaved("Ada")]))
        .await
        .unwrap_err();
    assert!(err.error.is_decode());
    assert_eq!(err.unknown(), &[0], "it may well have been written");
}

#[tokio::test]
async fn r9_a_bodiless_create_with_a_location_is_read_from_there() {
    let server = Server::start().await;
    server.on(
        "POST",
        "/users",
        Reply::empty(201).header("location", "/users/42"),
    );
    server.on("GET", "/users/42", Reply::json(200, user_json(42, "Ada")));
    let client = client_with(&server, Retry::none());

    let created = bounded(BOUND, User::unsaved("Ada").save(&client))
        .await
        .unwrap();
    assert_eq!(created.id, Some(42));
    let cached = User::fetch(&client, (), 42).await.unwrap();
    assert_eq!(cached.name, "Ada");
    assert_eq!(
        server.count("GET", "/users/42"),
        1,
        "the created value is cached"
    );
}

#[tokio::test]
async fn r9_a_location_outside_the_collection_is_not_followed() {
    let server = Server::start().await;
    server.on(
        "POST",
        "/users",
        Reply::empty(201).header("location", "/admin/42"),
    );
    let client = client_with(&server, Retry::none());

    let created = bounded(BOUND, User::unsaved("Ada").save(&client))
        .await
        .unwrap();
    assert_eq!(created.id, None, "S2: the value sent");
    assert_eq!(server.total(), 1);
}

// R10 Path values are never empty --------------------------------------------

#[tokio::test]
async fn r10_an_empty_id_or_parent_is_refused_before_anything_is_sent() {
    let server = Server::start().await;
    server.handle(|_| Reply::json(200, serde_json::json!([])));
    let client = client_with(&server, Retry::none());
    let repo = |org: &str, id: &str| Repo {
        id: Some(id.to_owned()),
        org: org.to_owned(),
        name: "r".to_owned(),
    };

    let errors = [
        Repo::fetch(&client, ("acme".to_owned(),), String::new())
            .await
            .unwrap_err(),
        Repo::fetch_all(&client, (String::new(),))
            .await
            .unwrap_err(),
        Repo::fetch(&client, (String::new(),), "x".to_owned())
            .await
            .unwrap_err(),
        repo("acme", "").destroy(&client).await.unwrap_err(),
        repo("", "x").save(&client).await.unwrap_err(),
        Repo {
            id: None,
            ..repo("", "")
        }
        .save(&client)
        .await
        .unwrap_err(),
    ];
    for err in &errors {
        assert!(err.is_builder(), "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
        assert_eq!(err.attempts(), 0);
    }
    assert_eq!(server.total(), 0, "nothing was sent");
}

// R11 No secrets in messages -------------------------------------------------

#[tokio::test]
async fn r11_passwords_tokens_and_headers_never_appear_in_messages() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::text(500, "oops"));
    let base = server.url().replace("http://", "http://ada:pa55word@");
    let builder = Client::builder(&base)
        .bearer_auth("t0ken")
        .header("x-api-key", "k3y")
        .retry(Retry::none());
    let shown_builder = format!("{builder:?}");
    let client = builder.build().unwrap();

    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    let request = &server.requests()[0];
    assert_eq!(
        request.header("authorization"),
        Some("Bearer t0ken"),
        "sent"
    );
    let refused = Client::builder(
        &refused_url()
            .await
            .replace("http://", "http://ada:pa55word@"),
    )
    .retry(Retry::none())
    .build()
    .unwrap();
    let transport = User::fetch(&refused, (), 7).await.unwrap_err();
    let bad_base = Client::new("http://ada:pa55word@").unwrap_err();

    for shown in [
        shown_builder,
        format!("{client:?}"),
        client.base_url().to_owned(),
        err.to_string(),
        format!("{err:?}"),
        err.url().unwrap_or_default().to_owned(),
        transport.to_string(),
        format!("{transport:?}"),
        bad_base.to_string(),
        format!("{bad_base:?}"),
    ] {
        for secret in ["pa55word", "t0ken", "k3y"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
    assert!(err.to_string().contains("/users/7"), "{err}");
}

#[tokio::test]
async fn r5_an_unknown_create_not_sent_again_stays_unknown_with_its_key() {
    let server = Server::start().await;
    let never = Gate::new();
    let rejections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stored = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    server.handle(move |request| match request.json()["name"].as_str() {
        // Rejected twice, then accepted.
        Some("a") if rejections.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 => {
            Reply::text(422, "invalid")
        }
        // Stored, but the first answer never comes.
        Some("b") if stored.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 => {
            Reply::json(201, user_json(2, "b")).after(&never)
        }
        Some(name) => Reply::json(201, user_json(name.len() as u64 + 10, name)),
        None => Reply::text(400, "no name"),
    });
    let client = |concurrency| {
        Client::builder(&server.url())
            .retry(Retry::none())
            .timeout(Duration::from_millis(300))
            .save_all_concurrency(concurrency)
            .build()
            .unwrap()
    };
    let users = vec![User::unsaved("a"), User::unsaved("b"), User::unsaved("c")];

    let err = bounded(BOUND, User::save_all(&client(2), users))
        .await
        .unwrap_err();
    assert_eq!(err.rejected(), &[0]);
    assert_eq!(err.unknown(), &[1]);
    // One at a time, "a" is rejected again first: "b" is not sent again,
    // and is still unknown, not "not sent".
    let err = bounded(BOUND, err.retry(&client(1))).await.unwrap_err();
    assert_eq!(err.rejected(), &[0]);
    assert_eq!(err.unknown(), &[1]);
    assert_eq!(err.not_sent(), &[2]);
    let saved = bounded(BOUND, err.retry(&client(1))).await.unwrap();
    assert_eq!(saved.len(), 3);

    let b: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.json()["name"] == "b")
        .collect();
    assert_eq!(b.len(), 2, "sent first, then by the second retry");
    assert_eq!(key_of(&b[0]), key_of(&b[1]), "with its original key");
}

#[tokio::test]
async fn r1_redirects_share_their_attempt_s_timeout() {
    let server = Server::start().await;
    for hop in 0..10 {
        let next = format!("/slow/{}", hop + 1);
        server.on(
            "GET",
            &format!("/slow/{hop}"),
            Reply::empty(302).header("location", &next).delay_ms(150),
        );
    }
    server.on(
        "GET",
        "/users/7",
        Reply::empty(302).header("location", "/slow/0"),
    );
    let client = timing_out(&server, 400, Retry::none());

    let started = Instant::now();
    let err = bounded(BOUND, User::fetch(&client, (), 7))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(
        server.total() <= 5,
        "{} requests: the chain was cut",
        server.total()
    );
}

#[tokio::test]
async fn r9_a_write_sent_without_a_complete_answer_invalidates_the_member() {
    let server = Server::start().await;
    let never = Gate::new();
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "old")));
    server.on(
        "PUT",
        "/users/7",
        Reply::json(200, user_json(7, "new")).after(&never),
    );
    server.on("DELETE", "/users/8", Reply::empty(204).after(&never));
    server.on("GET", "/users/8", Reply::json(200, user_json(8, "old")));
    let client = timing_out(&server, 200, Retry::none());
    User::fetch(&client, (), 7).await.unwrap();
    User::fetch(&client, (), 8).await.unwrap();

    let err = bounded(BOUND, User::new(7, "new").save(&client))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    let err = bounded(BOUND, User::new(8, "old").destroy(&client))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    User::fetch(&client, (), 7).await.unwrap();
    User::fetch(&client, (), 8).await.unwrap();
    assert_eq!(
        server.count("GET", "/users/7"),
        2,
        "the save may have happened"
    );
    assert_eq!(
        server.count("GET", "/users/8"),
        2,
        "the destroy may have happened"
    );
}
