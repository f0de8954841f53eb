//! T2: failures on demand (a status n times, a delay, a broken connection),
//! and the fake's own end: stopped when dropped, nothing left running.

mod common;

use std::time::{Duration, Instant};

use backrest::fake::{FakeApi, Fault, StatusCode};
use common::{BOUND, Repo, User, bounded, send, user};
use serde_json::json;

#[tokio::test]
async fn t2_fail_answers_the_status_n_times_without_handling_the_requests() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.serve::<Repo>();
    api.fail::<User>(StatusCode::SERVICE_UNAVAILABLE, 2);
    let first = send(&api, "POST", "/users", &[], Some(json!({"name": "Ada"}))).await;
    assert_eq!(first.status, 503);
    assert!(
        first.json["error"]
            .as_str()
            .unwrap()
            .contains("FakeApi::fail")
    );
    // Another model's routes are not affected, and do not use up the count.
    assert_eq!(
        send(&api, "GET", "/orgs/1/repos", &[], None).await.status,
        200
    );
    assert_eq!(send(&api, "GET", "/users", &[], None).await.status, 503);
    assert!(
        api.all::<User>(()).is_empty(),
        "a failed create stores nothing"
    );
    assert_eq!(
        send(&api, "POST", "/users", &[], Some(json!({"name": "Ada"})))
            .await
            .status,
        201
    );
    assert_eq!(api.requests().len(), 4, "failed requests are recorded too");
    // Queued failures add up, in order.
    api.fail::<User>(StatusCode::BAD_GATEWAY, 1);
    api.fail::<User>(StatusCode::TOO_MANY_REQUESTS, 1);
    assert_eq!(send(&api, "GET", "/users/1", &[], None).await.status, 502);
    assert_eq!(send(&api, "GET", "/users/1", &[], None).await.status, 429);
    assert_eq!(send(&api, "GET", "/users/1", &[], None).await.status, 200);
}

#[tokio::test]
async fn t2_delay_holds_every_answer_of_the_model_until_turned_off() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.serve::<Repo>();
    api.delay::<User>(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(send(&api, "GET", "/users", &[], None).await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );

    // The held request has arrived (it is recorded) while its answer waits:
    // a client with a shorter timeout gives up on it.
    let client = api
        .client_builder()
        .timeout(Duration::from_millis(50))
        .retry(backrest::Retry::none())
        .build()
        .unwrap();
    let error = bounded(User::fetch(&client, 1)).await.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(api.count(backrest::Method::GET, "/users/1"), 1);

    // Another model is not held, and `ZERO` turns the delay off: each
    // answer comes far sooner than the delay that was set.
    api.delay::<User>(Duration::from_secs(10));
    let started = Instant::now();
    send(&api, "GET", "/orgs/1/repos", &[], None).await;
    api.delay::<User>(Duration::ZERO);
    send(&api, "GET", "/users", &[], None).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// A raw request whose body must fail to arrive whole: the error reqwest
/// gives, and whether the status line came first.
async fn broken(
    api: &FakeApi,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
) -> (Option<u16>, reqwest::Error) {
    let http = reqwest::Client::new();
    let mut request = http.request(method, format!("{}{path}", api.url()));
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    match bounded(request.send()).await {
        Err(error) => (None, error),
        Ok(response) => {
            let status = response.status().as_u16();
            let error = bounded(response.bytes())
                .await
                .expect_err("the body is cut");
            (Some(status), error)
        }
    }
}

#[tokio::test]
async fn t2_reset_mid_body_sends_the_head_and_half_the_body_after_handling_the_request() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    api.fault::<User>(Fault::ResetMidBody, 1);
    let (status, error) = broken(
        &api,
        reqwest::Method::PUT,
        "/users/1",
        Some(r#"{"name":"Ada L."}"#),
    )
    .await;
    assert_eq!(status, Some(200));
    assert!(
        error.is_body() || error.is_decode() || error.is_request(),
        "{error:?}"
    );
    assert_eq!(
        api.get::<User>((), 1).unwrap().name,
        "Ada L.",
        "the PUT was done"
    );
    // Once only.
    assert_eq!(send(&api, "GET", "/users/1", &[], None).await.status, 200);
}

#[tokio::test]
async fn t2_short_body_ends_before_its_content_length() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    api.fault::<User>(Fault::ShortBody, 1);
    let (status, error) = broken(&api, reqwest::Method::GET, "/users/1", None).await;
    assert_eq!(status, Some(200));
    assert!(
        error.is_body() || error.is_decode() || error.is_request(),
        "{error:?}"
    );
}

#[tokio::test]
async fn t2_reset_after_stored_closes_without_an_answer_but_the_create_is_stored() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.fault::<User>(Fault::ResetAfterStored, 1);
    let (status, _error) = broken(
        &api,
        reqwest::Method::POST,
        "/users",
        Some(r#"{"name":"Ada"}"#),
    )
    .await;
    assert_eq!(status, None, "not even a status line");
    assert_eq!(api.all::<User>(()).len(), 1);
    // An answer without a body to cut is reset before its status line too.
    api.fault::<User>(Fault::ShortBody, 1);
    let (status, _error) = broken(&api, reqwest::Method::DELETE, "/users/1", None).await;
    assert_eq!(status, None);
    assert!(api.all::<User>(()).is_empty(), "the DELETE was done");
}

#[tokio::test]
async fn t2_a_retried_create_with_its_idempotency_key_after_a_lost_answer_creates_once() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.fault::<User>(Fault::ResetAfterStored, 1);
    let client = api
        .client_builder()
        .retry(
            backrest::Retry::attempts(3)
                .backoff(Duration::from_millis(1), Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    let saved = bounded(user("Ada").save(&client)).await.unwrap();
    assert_eq!(saved.id, Some(1));
    assert_eq!(
        api.all::<User>(()),
        [User {
            id: Some(1),
            name: "Ada".into()
        }]
    );
    let posts: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == backrest::Method::POST)
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].header("idempotency-key"),
        posts[1].header("idempotency-key")
    );
    assert!(posts[0].header("idempotency-key").is_some());
}

#[tokio::test]
async fn t2_dropping_the_fake_stops_it_and_releases_held_answers() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.delay::<User>(Duration::from_secs(600));
    let url = format!("{}/users", api.url());
    let held = tokio::spawn(async move { reqwest::get(url).await });
    // The request has arrived and is held.
    api.wait_for(1).await;
    let base = api.url().to_owned();
    drop(api);
    let answer = tokio::time::timeout(BOUND, held)
        .await
        .expect("released")
        .unwrap();
    assert!(answer.is_err(), "a held answer is dropped, not sent");
    // And nothing listens any more.
    let error = bounded(reqwest::get(format!("{base}/users")))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
}

#[tokio::test]
async fn t2_shutdown_ends_the_server_task_with_a_kept_alive_connection_open() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let http = reqwest::Client::new();
    // A pooled, idle keep-alive connection stays open after this.
    let answer = bounded(http.get(format!("{}/users", api.url())).send())
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let base = api.url().to_owned();
    bounded(api.shutdown()).await;
    let error = bounded(http.get(format!("{base}/users")).send())
        .await
        .unwrap_err();
    assert!(error.is_connect() || error.is_request(), "{error:?}");
}
