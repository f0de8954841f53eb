//! The save contract, S1–S7 of ARCHITECTURE.md, against a real loopback server:
//! each test asserts on what the server received and on what the caller got.
//!
//! Clients here make one attempt per request (`Retry::none()`): these are the
//! contracts of one request; retries are proved in `reliability.rs`.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use backrest_runtime::{
    Client, DEFAULT_SAVE_ALL_CONCURRENCY, Model, Retry, SaveAllError, StatusCode,
};
use backrest_testkit::{Gate, Reply, Request, Server};
use common::{Repo, User, user_json};
use serde_json::json;

fn client(server: &Server) -> Client {
    Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .expect("the test server's URL is a valid base")
}

fn client_with_concurrency(server: &Server, limit: usize) -> Client {
    Client::builder(&server.url())
        .retry(Retry::none())
        .save_all_concurrency(limit)
        .build()
        .expect("the test server's URL is a valid base")
}

/// `n` new users named `user-0`, `user-1`, ...
fn new_users(n: usize) -> Vec<User> {
    (0..n)
        .map(|i| User::unsaved(&format!("user-{i}")))
        .collect()
}

/// The input index of a request saving `user-{index}`.
fn input_index(request: &Request) -> usize {
    let body = request.json();
    let name = body["name"].as_str().expect("a saved user has a name");
    name.strip_prefix("user-")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("unexpected name {name:?}"))
}

/// The id the server assigns to input `index`.
fn server_id(index: usize) -> u64 {
    1000 + index as u64
}

/// The server's answer to creating `user-{index}`: the user with its id.
fn created(request: &Request) -> Reply {
    let index = input_index(request);
    Reply::json(201, user_json(server_id(index), &format!("user-{index}")))
}

/// Asserts the invariants of S5 on `err`, given the inputs, the indices the
/// server fails, what it received and the concurrency; returns the set of
/// input indices the server received.
fn assert_nothing_lost(
    err: &SaveAllError<User>,
    inputs: &[User],
    fails: &[usize],
    received: &[Request],
    limit: usize,
) -> BTreeSet<usize> {
    // Every input index appears exactly once, and both lists are sorted.
    let saved: Vec<usize> = err.saved.iter().map(|(i, _)| *i).collect();
    let unsaved: Vec<usize> = err.unsaved.iter().map(|(i, _)| *i).collect();
    assert!(saved.is_sorted(), "saved is not sorted: {saved:?}");
    assert!(unsaved.is_sorted(), "unsaved is not sorted: {unsaved:?}");
    let mut all: Vec<usize> = saved.iter().chain(&unsaved).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..inputs.len()).collect::<Vec<_>>());

    // Saved values are the server's (with its ids); unsaved are the originals.
    for (i, user) in &err.saved {
        assert_eq!(*user, User::new(server_id(*i), &format!("user-{i}")));
    }
    for (i, user) in &err.unsaved {
        assert_eq!(*user, inputs[*i], "unsaved input {i} is not the original");
    }

    // Each input was sent at most once, and every request sent is either in
    // `saved` or one the server failed: requests in flight at the failure
    // were let finish, not dropped.
    let sent: Vec<usize> = received.iter().map(input_index).collect();
    let sent_set: BTreeSet<usize> = sent.iter().copied().collect();
    assert_eq!(
        sent.len(),
        sent_set.len(),
        "an input was sent twice: {sent:?}"
    );
    assert!(fails.contains(&err.index), "{} is not a failure", err.index);
    assert!(sent_set.contains(&err.index), "the failure was never sent");
    for i in &sent_set {
        let in_saved = saved.contains(i);
        let failed = fails.contains(i);
        assert!(
            in_saved != failed,
            "input {i} was sent: saved {in_saved}, failed by the server {failed}"
        );
    }
    assert!(
        saved.iter().all(|i| sent_set.contains(i)),
        "saved without a request"
    );

    // No further request started after the first failure: at most
    // `limit - 1` others were started while the failing one was in flight.
    let last_sent = *sent_set.last().expect("at least the failure was sent");
    assert!(
        last_sent < err.index + limit,
        "input {last_sent} was sent after input {} failed (limit {limit})",
        err.index
    );
    // Whatever was never sent is handed back (implied by the partition, said
    // once more as the rule reads).
    for i in (0..inputs.len()).filter(|i| !sent_set.contains(i)) {
        assert!(unsaved.contains(&i), "input {i} was never sent and is lost");
    }
    sent_set
}

// S1 ----------------------------------------------------------------------

#[tokio::test]
async fn s1_new_model_posts_its_json_to_the_collection_path() {
    let server = Server::start().await;
    server.on("POST", "/users", Reply::json(201, user_json(1, "Ada")));

    User::unsaved("Ada").save(&client(&server)).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/users");
    assert_eq!(requests[0].json(), json!({ "id": null, "name": "Ada" }));
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn s1_existing_model_puts_its_full_json_to_the_member_path() {
    let server = Server::start().await;
    server.on("PUT", "/users/7", Reply::json(200, user_json(7, "Ada")));

    User::new(7, "Ada").save(&client(&server)).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(requests[0].path, "/users/7");
    assert_eq!(requests[0].json(), json!({ "id": 7, "name": "Ada" }));
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn s1_nested_model_posts_and_puts_under_its_parent_path() {
    let server = Server::start().await;
    let saved = json!({ "id": "r1", "org": "acme", "name": "api" });
    server.on("POST", "/orgs/acme/repos", Reply::json(201, saved.clone()));
    server.on(
        "PUT",
        "/orgs/acme/repos/r1",
        Reply::json(200, saved.clone()),
    );
    let client = client(&server);

    let new = Repo {
        id: None,
        org: "acme".into(),
        name: "api".into(),
    };
    let created = new.save(&client).await.unwrap();
    created.save(&client).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", "/orgs/acme/repos")
    );
    assert_eq!(
        requests[0].json(),
        json!({ "id": null, "org": "acme", "name": "api" })
    );
    assert_eq!(
        (requests[1].method.as_str(), requests[1].path.as_str()),
        ("PUT", "/orgs/acme/repos/r1")
    );
    assert_eq!(requests[1].json(), saved);
}

// S2 ----------------------------------------------------------------------

#[tokio::test]
async fn s2_json_body_is_the_saved_value_with_the_server_id() {
    let server = Server::start().await;
    server.on("POST", "/users", Reply::json(201, user_json(42, "Ada L.")));

    let saved = User::unsaved("Ada").save(&client(&server)).await.unwrap();

    assert_eq!(saved, User::new(42, "Ada L."));
}

#[tokio::test]
async fn s2_204_means_the_value_sent_was_saved() {
    let server = Server::start().await;
    server.on("PUT", "/users/7", Reply::empty(204));

    let sent = User::new(7, "Ada");
    let saved = sent.save(&client(&server)).await.unwrap();

    assert_eq!(saved, sent);
    assert_eq!(server.count("PUT", "/users/7"), 1);
}

#[tokio::test]
async fn s2_200_with_an_empty_body_means_the_value_sent_was_saved() {
    let server = Server::start().await;
    server.on("PUT", "/users/7", Reply::empty(200));
    let client = client(&server);

    let empty = User::new(7, "Ada");
    assert_eq!(empty.save(&client).await.unwrap(), empty);
    assert_eq!(server.total(), 1);
}

#[tokio::test]
async fn s2_new_model_saved_with_204_still_has_no_id() {
    let server = Server::start().await;
    server.on("POST", "/users", Reply::empty(204));

    let saved = User::unsaved("Ada").save(&client(&server)).await.unwrap();

    assert_eq!(saved, User::unsaved("Ada"));
    assert!(saved.is_new());
    assert_eq!(server.count("POST", "/users"), 1);
}

// S3 ----------------------------------------------------------------------

#[tokio::test]
async fn s3_non_2xx_is_an_error_with_the_status_and_body_text() {
    let server = Server::start().await;
    server.on("PUT", "/users/7", Reply::text(422, "name is taken"));
    server.on(
        "POST",
        "/users",
        Reply::json(409, json!({ "error": "dup" })),
    );
    let client = client(&server);

    let err = User::new(7, "Ada").save(&client).await.unwrap_err();
    assert!(err.is_status());
    assert_eq!(err.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
    assert_eq!(err.body(), Some("name is taken"));

    let err = User::unsaved("Ada").save(&client).await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT));
    assert_eq!(err.body(), Some(r#"{"error":"dup"}"#));
    assert_eq!(server.total(), 2);
}

#[tokio::test]
async fn s3_server_errors_and_other_3xx_are_errors_too() {
    let server = Server::start().await;
    server.on("PUT", "/users/7", Reply::text(500, "oops"));
    server.on("PUT", "/users/8", Reply::empty(304));

    let err = User::new(7, "Ada")
        .save(&client(&server))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(err.body(), Some("oops"));

    let err = User::new(8, "Ada")
        .save(&client(&server))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_MODIFIED));
    assert_eq!(err.body(), Some(""));
}

// S4 ----------------------------------------------------------------------

/// Saves `n` new users with every reply held until `limit` requests are in
/// flight together, and checks that no more ever were.
async fn save_all_held_at_the_limit(server: &Server, client: Client, n: usize, limit: usize) {
    let gate = Gate::new();
    let held = gate.clone();
    server.handle(move |request| created(request).after(&held).delay_ms(5));
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let inputs = new_users(n).into_iter().inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });

    let task = tokio::spawn(async move { User::save_all(&client, inputs).await });
    server.wait_for(limit).await;
    // Inputs are pulled only as saves start: memory follows the limit.
    let early = pulled.load(Ordering::SeqCst);
    assert!(
        (limit..=limit + 1).contains(&early),
        "{early} inputs pulled with {limit} saves in flight"
    );
    gate.open();
    let saved = task.await.unwrap().unwrap();

    assert_eq!(server.max_in_flight(), limit);
    assert_eq!(server.total(), n);
    assert_eq!(pulled.load(Ordering::SeqCst), n);
    let expected: Vec<User> = (0..n)
        .map(|i| User::new(server_id(i), &format!("user-{i}")))
        .collect();
    assert_eq!(saved, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s4_save_all_runs_at_most_16_at_a_time_by_default() {
    assert_eq!(DEFAULT_SAVE_ALL_CONCURRENCY, 16);
    let server = Server::start().await;
    let client = client(&server);
    save_all_held_at_the_limit(&server, client, 64, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s4_save_all_concurrency_is_configurable() {
    let server = Server::start().await;
    let client = client_with_concurrency(&server, 4);
    save_all_held_at_the_limit(&server, client, 20, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s4_save_all_concurrency_of_1_saves_one_by_one() {
    let server = Server::start().await;
    let client = client_with_concurrency(&server, 1);
    save_all_held_at_the_limit(&server, client, 5, 1).await;
    let order: Vec<usize> = server.requests().iter().map(input_index).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s4_results_are_in_input_order_when_replies_arrive_reversed() {
    const N: usize = 10;
    let server = Server::start().await;
    // The later the input, the sooner its reply: completion order is reversed.
    server.handle(|request| {
        let index = input_index(request);
        created(request).delay_ms(10 * (N - index) as u64)
    });
    let mut inputs = new_users(N);
    inputs[3] = User::new(3, "user-3"); // an update among creates

    let saved = User::save_all(&client(&server), inputs).await.unwrap();

    let names: Vec<&str> = saved.iter().map(|u| u.name.as_str()).collect();
    let expected: Vec<String> = (0..N).map(|i| format!("user-{i}")).collect();
    assert_eq!(names, expected);
    let ids: Vec<Option<u64>> = saved.iter().map(|u| u.id).collect();
    assert_eq!(ids, (0..N).map(|i| Some(server_id(i))).collect::<Vec<_>>());
    assert_eq!(server.count("POST", "/users"), N - 1);
    assert_eq!(server.count("PUT", "/users/3"), 1);
}

// S5 ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s5_one_failure_among_200_loses_nothing() {
    let server = Server::start().await;
    // Input 57 fails at once. Inputs after it are answered well after that,
    // so none of them can free a slot for a further input before the
    // failure is known: at most 15 of them are ever sent.
    server.handle(|request| match input_index(request) {
        57 => Reply::text(500, "disk full"),
        i if i < 57 => created(request).delay_ms(10),
        _ => created(request).delay_ms(300),
    });
    let inputs = new_users(200);

    let err = User::save_all(&client(&server), inputs.clone())
        .await
        .unwrap_err();

    assert_eq!(err.index, 57);
    assert_eq!(err.error.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(err.error.body(), Some("disk full"));
    assert_nothing_lost(
        &err,
        &inputs,
        &[57],
        &server.requests(),
        DEFAULT_SAVE_ALL_CONCURRENCY,
    );
    // Every request but the failure succeeded.
    assert_eq!(err.saved.len(), server.total() - 1);
    assert_eq!(err.unsaved.len(), 200 - err.saved.len());
    assert!(err.unsaved.iter().any(|(i, _)| *i == 57));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s5_requests_in_flight_at_the_failure_are_let_finish() {
    let server = Server::start().await;
    // Input 1 fails once the four first inputs have all arrived; 0, 2 and 3
    // are answered well after it, so they are in flight at the failure.
    let all_arrived = Gate::new();
    let gate = all_arrived.clone();
    server.handle(move |request| match input_index(request) {
        1 => Reply::text(503, "busy").after(&gate),
        0 | 2 | 3 => created(request).delay_ms(400),
        _ => created(request),
    });
    let inputs = new_users(10);
    let client = client_with_concurrency(&server, 4);

    let task = tokio::spawn({
        let inputs = inputs.clone();
        async move { User::save_all(&client, inputs).await }
    });
    server.wait_for(4).await;
    all_arrived.open();
    let err = task.await.unwrap().unwrap_err();

    assert_eq!(err.index, 1);
    assert_eq!(err.error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    let sent = assert_nothing_lost(&err, &inputs, &[1], &server.requests(), 4);
    assert_eq!(sent, BTreeSet::from([0, 1, 2, 3]));
    let saved: Vec<usize> = err.saved.iter().map(|(i, _)| *i).collect();
    assert_eq!(saved, vec![0, 2, 3]);
    let unsaved: Vec<usize> = err.unsaved.iter().map(|(i, _)| *i).collect();
    assert_eq!(unsaved, vec![1, 4, 5, 6, 7, 8, 9]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s5_the_first_failure_in_time_is_reported_and_every_failure_is_unsaved() {
    let server = Server::start().await;
    // Once the 16 first inputs have all arrived, input 5 fails at once and
    // input 2 fails late: 5 is the first failure in time, 2 the first by
    // index.
    let all_arrived = Gate::new();
    let gate = all_arrived.clone();
    server.handle(move |request| match input_index(request) {
        2 => Reply::text(500, "late").delay_ms(500),
        5 => Reply::text(400, "early").after(&gate),
        _ => created(request).delay_ms(300),
    });
    let inputs = new_users(40);
    let client = client(&server);

    let task = tokio::spawn({
        let inputs = inputs.clone();
        async move { User::save_all(&client, inputs).await }
    });
    server.wait_for(16).await;
    all_arrived.open();
    let err = task.await.unwrap().unwrap_err();

    assert_eq!(err.index, 5);
    assert_eq!(err.error.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(err.error.body(), Some("early"));
    let sent = assert_nothing_lost(&err, &inputs, &[2, 5], &server.requests(), 16);
    let unsaved: Vec<usize> = err.unsaved.iter().map(|(i, _)| *i).collect();
    assert!(unsaved.contains(&2) && unsaved.contains(&5));
    // The 16 first inputs were in flight together; none was sent after them.
    assert_eq!(sent, (0..16).collect::<BTreeSet<_>>());
    assert_eq!(err.saved.len(), 14);
}

#[tokio::test]
async fn s5_failure_of_the_first_input_with_concurrency_1_sends_one_request() {
    let server = Server::start().await;
    server.handle(|request| {
        if input_index(request) == 0 {
            Reply::text(500, "no")
        } else {
            created(request)
        }
    });
    let inputs = new_users(5);

    let err = User::save_all(&client_with_concurrency(&server, 1), inputs.clone())
        .await
        .unwrap_err();

    assert_eq!(server.total(), 1);
    assert_eq!(err.index, 0);
    assert_eq!(err.error.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(err.saved.is_empty());
    let unsaved: Vec<(usize, User)> = inputs.into_iter().enumerate().collect();
    assert_eq!(err.unsaved, unsaved);
}

#[tokio::test]
async fn s5_a_failure_midway_with_concurrency_1_stops_there() {
    let server = Server::start().await;
    server.handle(|request| {
        if input_index(request) == 2 {
            Reply::text(500, "no")
        } else {
            created(request)
        }
    });
    let inputs = new_users(6);

    let err = User::save_all(&client_with_concurrency(&server, 1), inputs.clone())
        .await
        .unwrap_err();

    let sent: Vec<usize> = server.requests().iter().map(input_index).collect();
    assert_eq!(sent, vec![0, 1, 2]);
    assert_eq!(err.index, 2);
    assert_eq!(
        err.saved,
        vec![
            (0, User::new(server_id(0), "user-0")),
            (1, User::new(server_id(1), "user-1")),
        ]
    );
    let unsaved: Vec<(usize, User)> = inputs.into_iter().enumerate().skip(2).collect();
    assert_eq!(err.unsaved, unsaved);
}

// S6 ----------------------------------------------------------------------

#[tokio::test]
async fn s6_empty_input_is_ok_without_a_request() {
    let server = Server::start().await;
    let client = client(&server);

    let saved = User::save_all(&client, Vec::new()).await.unwrap();
    assert_eq!(saved, Vec::<User>::new());
    let saved = User::save_all(&client, std::iter::empty()).await.unwrap();
    assert!(saved.is_empty());

    assert_eq!(server.total(), 0);
}

// S7 ----------------------------------------------------------------------

#[tokio::test]
async fn s7_destroy_of_a_new_model_is_ok_without_a_request() {
    let server = Server::start().await;
    let client = client(&server);

    User::unsaved("Ada").destroy(&client).await.unwrap();
    let repo = Repo {
        id: None,
        org: "acme".into(),
        name: "api".into(),
    };
    repo.destroy(&client).await.unwrap();

    assert_eq!(server.total(), 0);
}

#[tokio::test]
async fn s7_destroy_sends_delete_to_the_member_path_without_a_body() {
    let server = Server::start().await;
    server.on("DELETE", "/users/7", Reply::empty(204));
    server.on("DELETE", "/orgs/acme/repos/r1", Reply::json(200, json!({})));
    let client = client(&server);

    User::new(7, "Ada").destroy(&client).await.unwrap();
    let repo = Repo {
        id: Some("r1".into()),
        org: "acme".into(),
        name: "api".into(),
    };
    repo.destroy(&client).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for (request, path) in requests.iter().zip(["/users/7", "/orgs/acme/repos/r1"]) {
        assert_eq!(request.method, "DELETE");
        assert_eq!(request.path, path);
        assert!(request.body.is_empty(), "DELETE sent a body");
        assert_eq!(request.header("content-type"), None);
        let length = request.header("content-length").unwrap_or("0");
        assert_eq!(length, "0");
    }
}

#[tokio::test]
async fn s7_failed_destroy_is_an_error_with_the_status_and_body() {
    let server = Server::start().await;
    server.on("DELETE", "/users/7", Reply::text(404, "gone already"));

    let err = User::new(7, "Ada")
        .destroy(&client(&server))
        .await
        .unwrap_err();

    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(err.body(), Some("gone already"));
    assert_eq!(server.count("DELETE", "/users/7"), 1);
}
