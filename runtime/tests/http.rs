//! The HTTP contract, H1–H6 of ARCHITECTURE.md, against a real loopback server:
//! each test asserts on what the server received and on what the caller got.
//!
//! Clients here make one attempt per request (`Retry::none()`): these are the
//! contracts of one request; retries are proved in `reliability.rs`.

mod common;

use std::time::Duration;

use backrest_runtime::{Client, Error, MAX_ERROR_BODY, Method, Model, Retry, StatusCode};
use backrest_testkit::{Reply, Server, hang_up_url, refused_url};
use common::{Repo, User, user_json};
use serde_json::json;

fn client(server: &Server) -> Client {
    Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .expect("the test server's URL is a valid base")
}

fn repo(org: &str, id: Option<&str>) -> Repo {
    Repo {
        id: id.map(str::to_owned),
        org: org.to_owned(),
        name: "api".to_owned(),
    }
}

/// Fetches, creates, updates and destroys a user: one request of each method.
async fn one_of_each_method(client: &Client) {
    User::fetch(client, (), 7).await.unwrap();
    User::unsaved("Ada").save(client).await.unwrap();
    User::new(7, "Ada").save(client).await.unwrap();
    User::new(7, "Ada").destroy(client).await.unwrap();
}

/// Scripts the replies that [`one_of_each_method`] expects under `prefix`.
fn script_one_of_each_method(server: &Server, prefix: &str) {
    let users = format!("{prefix}/users");
    let user = format!("{prefix}/users/7");
    server.on("GET", &user, Reply::json(200, user_json(7, "Ada")));
    server.on("POST", &users, Reply::json(201, user_json(7, "Ada")));
    server.on("PUT", &user, Reply::json(200, user_json(7, "Ada")));
    server.on("DELETE", &user, Reply::empty(204));
}

// H1 ----------------------------------------------------------------------

#[tokio::test]
async fn h1_base_url_path_is_kept_with_or_without_a_trailing_slash() {
    for suffix in ["/api/v1", "/api/v1/"] {
        let server = Server::start().await;
        script_one_of_each_method(&server, "/api/v1");
        let client = Client::new(&format!("{}{suffix}", server.url())).unwrap();

        one_of_each_method(&client).await;

        let seen = server.calls();
        let expected = [
            ("GET", "/api/v1/users/7"),
            ("POST", "/api/v1/users"),
            ("PUT", "/api/v1/users/7"),
            ("DELETE", "/api/v1/users/7"),
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned()));
        assert_eq!(seen, expected, "base ending in {suffix:?}");
        assert_eq!(client.base_url(), format!("{}/api/v1", server.url()));
    }
}

#[tokio::test]
async fn h1_base_url_without_a_path_with_or_without_a_trailing_slash() {
    for suffix in ["", "/"] {
        let server = Server::start().await;
        server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
        let client = Client::new(&format!("{}{suffix}", server.url())).unwrap();

        User::fetch(&client, (), 7).await.unwrap();

        assert_eq!(server.count("GET", "/users/7"), 1, "base ending {suffix:?}");
        assert_eq!(server.total(), 1);
    }
}

// H2 ----------------------------------------------------------------------

#[tokio::test]
async fn h2_path_values_are_percent_encoded_as_one_segment() {
    let server = Server::start().await;
    let path = "/orgs/a%2Fb%20c/repos/x%20y";
    let body = json!({ "id": "x y", "org": "a/b c", "name": "api" });
    server.on("GET", path, Reply::json(200, body.clone()));
    server.on("PUT", path, Reply::json(200, body.clone()));
    server.on("DELETE", path, Reply::empty(204));
    server.on("POST", "/orgs/a%2Fb%20c/repos", Reply::json(201, body));
    let client = client(&server);

    let fetched = Repo::fetch(&client, ("a/b c".to_owned(),), "x y".to_owned())
        .await
        .unwrap();
    assert_eq!(*fetched, repo("a/b c", Some("x y")));
    repo("a/b c", None).save(&client).await.unwrap();
    repo("a/b c", Some("x y")).save(&client).await.unwrap();
    repo("a/b c", Some("x y")).destroy(&client).await.unwrap();

    let seen = server.calls();
    let expected = [
        ("GET", path),
        ("POST", "/orgs/a%2Fb%20c/repos"),
        ("PUT", path),
        ("DELETE", path),
    ]
    .map(|(m, p)| (m.to_owned(), p.to_owned()));
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn h2_reserved_and_non_ascii_characters_stay_in_one_segment() {
    let server = Server::start().await;
    server
        .handle(|request| Reply::json(200, json!({ "id": "x", "org": "o", "name": request.path })));
    let client = client(&server);

    for (org, id, path) in [
        ("?q=1", "#f", "/orgs/%3Fq%3D1/repos/%23f"),
        ("%2F", "é", "/orgs/%252F/repos/%C3%A9"),
        ("a;b", "...", "/orgs/a%3Bb/repos/..."),
    ] {
        let fetched = Repo::fetch(&client, (org.to_owned(),), id.to_owned())
            .await
            .unwrap();
        // The server echoes the path it saw.
        assert_eq!(fetched.name, path, "org {org:?}, id {id:?}");
    }
    assert_eq!(server.total(), 3);
    assert!(server.requests().iter().all(|r| r.query.is_none()));
}

/// The one segment `value` must become: `.` and `..` are dot segments that
/// would climb the path, so they are encoded (H2).
fn dot_segment(value: &str) -> &str {
    match value {
        "." => "%2E",
        ".." => "%2E%2E",
        other => other,
    }
}

#[tokio::test]
async fn h2_dot_segments_cannot_move_the_request_to_another_resource() {
    let server = Server::start().await;
    server.handle(|request| match request.method.as_str() {
        "DELETE" => Reply::empty(204),
        _ => Reply::json(200, json!({ "id": "x", "org": "o", "name": "n" })),
    });
    let client = client(&server);

    for (org, id) in [("acme", ".."), ("acme", "."), ("..", ".."), (".", ".")] {
        let path = format!("/orgs/{}/repos/{}", dot_segment(org), dot_segment(id));
        let before = server.total();
        let fetched = Repo::fetch(&client, (org.to_owned(),), id.to_owned()).await;
        let destroyed = repo(org, Some(id)).destroy(&client).await;

        // URLs resolve `.` and `..` even percent-encoded (`%2E%2E`), so such
        // a path cannot reach its own resource: it is refused without a
        // request, never sent to another one (`..` would make the DELETE of
        // repo `..` a DELETE of the whole org).
        assert_eq!(
            server.total(),
            before,
            "org {org:?}, id {id:?}: nothing sent"
        );
        for err in [fetched.unwrap_err(), destroyed.unwrap_err()] {
            assert!(err.is_builder(), "{err}");
            assert!(
                err.to_string().contains(&path),
                "{err} names the path {path}"
            );
        }
    }
}

// H3 ----------------------------------------------------------------------

#[tokio::test]
async fn h3_json_accept_on_every_request_and_content_type_on_bodies() {
    let server = Server::start().await;
    script_one_of_each_method(&server, "");
    server.on(
        "GET",
        "/users",
        Reply::json(200, json!([user_json(7, "Ada")])),
    );
    let client = client(&server);

    one_of_each_method(&client).await;
    User::fetch_all(&client, ()).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    for request in &requests {
        let accept: Vec<_> = request.headers.get_all("accept").iter().collect();
        assert_eq!(
            accept,
            ["application/json"],
            "{} {}",
            request.method,
            request.path
        );
        let with_body = matches!(request.method.as_str(), "POST" | "PUT");
        let content_type = request.header("content-type");
        if with_body {
            assert_eq!(content_type, Some("application/json"), "{}", request.method);
            assert_eq!(request.json()["name"], "Ada");
        } else {
            assert_eq!(content_type, None, "{} has no body", request.method);
            assert!(request.body.is_empty());
        }
    }
}

// H4 ----------------------------------------------------------------------

#[test]
fn h4_error_is_clone_send_sync_and_a_std_error() {
    fn assert_traits<T: Clone + Send + Sync + std::error::Error + 'static>() {}
    assert_traits::<Error>();
    // save_all's error is a std error too, so `?` works on it.
    fn assert_std_error<T: Send + Sync + std::error::Error + 'static>() {}
    assert_std_error::<backrest_runtime::SaveAllError<User>>();
}

#[tokio::test]
async fn h4_status_error_carries_status_body_method_and_url() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::text(404, "no such user"));
    let client = client(&server);

    let err = User::fetch(&client, (), 7).await.unwrap_err();

    assert!(err.is_status());
    assert!(!err.is_decode() && !err.is_timeout() && !err.is_connect());
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(err.body(), Some("no such user"));
    let url = format!("{}/users/7", server.url());
    assert_eq!(err.method(), Some(&Method::GET));
    assert_eq!(err.url(), Some(url.as_str()));
    let shown = err.to_string();
    for part in ["GET", url.as_str(), "404", "no such user"] {
        assert!(shown.contains(part), "{shown:?} does not name {part:?}");
    }
    // A clone is the same error.
    let clone = err.clone();
    assert_eq!(clone.to_string(), shown);
    assert_eq!(clone.status(), err.status());
}

#[tokio::test]
async fn h4_display_names_the_method_of_writes() {
    let server = Server::start().await;
    server.on("PUT", "/users/7", Reply::text(500, "db down"));
    server.on("POST", "/users", Reply::text(500, "db down"));
    server.on("DELETE", "/users/7", Reply::text(500, "db down"));
    let client = client(&server);
    let put = User::new(7, "A").save(&client).await.unwrap_err();
    let post = User::unsaved("A").save(&client).await.unwrap_err();
    let delete = User::new(7, "A").destroy(&client).await.unwrap_err();

    for (method, path, err) in [
        ("PUT", "/users/7", put),
        ("POST", "/users", post),
        ("DELETE", "/users/7", delete),
    ] {
        let shown = err.to_string();
        let url = format!("{}{path}", server.url());
        assert!(
            shown.starts_with(&format!("{method} {url}")),
            "{shown:?} does not start with the method and URL"
        );
        assert!(
            shown.contains("500") && shown.contains("db down"),
            "{shown:?}"
        );
    }
}

#[tokio::test]
async fn h4_error_body_is_bounded() {
    let server = Server::start().await;
    let big = "x".repeat(100 * 1024);
    server.on("GET", "/users/7", Reply::text(500, &big));

    let err = User::fetch(&client(&server), (), 7).await.unwrap_err();

    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    let body = err.body().unwrap();
    assert!(body.len() <= MAX_ERROR_BODY, "kept {} bytes", body.len());
    assert!(!body.is_empty() && big.starts_with(body));
    // Display quotes an excerpt, not the whole body.
    assert!(
        err.to_string().len() < 1024,
        "{} chars",
        err.to_string().len()
    );
}

#[tokio::test]
async fn h4_error_body_is_cut_on_a_char_boundary() {
    let server = Server::start().await;
    // 3-byte chars: MAX_ERROR_BODY (a power of two) falls inside one.
    let big = "€".repeat(40 * 1024);
    server.on("GET", "/users/7", Reply::text(500, &big));

    let err = User::fetch(&client(&server), (), 7).await.unwrap_err();

    let body = err.body().unwrap();
    assert!(body.len() <= MAX_ERROR_BODY, "kept {} bytes", body.len());
    assert!(
        body.len() + 3 > MAX_ERROR_BODY,
        "kept only {} bytes",
        body.len()
    );
    assert!(body.chars().all(|c| c == '€'), "the body was mangled");
}

#[tokio::test]
async fn h4_non_utf8_error_body_is_kept_lossily() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::raw(500, b"bad \xff\xfe body".to_vec()),
    );

    let err = User::fetch(&client(&server), (), 7).await.unwrap_err();

    assert_eq!(err.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    let body = err.body().unwrap();
    assert!(
        body.starts_with("bad ") && body.ends_with(" body"),
        "{body:?}"
    );
    assert!(body.contains('\u{FFFD}'), "{body:?}");
    assert!(err.to_string().contains("bad "));
}

#[tokio::test]
async fn h4_timeout_is_a_timeout_error() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).delay_ms(2000),
    );
    server.on(
        "PUT",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).delay_ms(2000),
    );
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();

    let err = User::fetch(&client, (), 7).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(!err.is_status() && !err.is_connect() && !err.is_decode());
    assert_eq!(err.status(), None);
    let shown = err.to_string();
    assert!(shown.contains("GET") && shown.contains(&format!("{}/users/7", server.url())));
    assert!(shown.contains("timed out"), "{shown:?}");

    let err = User::new(7, "Ada").save(&client).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().starts_with("PUT "), "{err}");
}

#[tokio::test]
async fn h4_refused_connection_is_a_connect_error() {
    let base = refused_url().await;
    let client = Client::builder(&base).retry(Retry::none()).build().unwrap();

    let fetched = User::fetch(&client, (), 7).await.unwrap_err();
    let saved = User::new(7, "Ada").save(&client).await.unwrap_err();
    let destroyed = User::new(7, "Ada").destroy(&client).await.unwrap_err();

    for (err, method) in [(fetched, "GET"), (saved, "PUT"), (destroyed, "DELETE")] {
        assert!(err.is_connect(), "{err:?}");
        assert!(!err.is_status() && !err.is_timeout() && !err.is_decode());
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("{method} {base}/users/7")),
            "{shown:?}"
        );
        assert!(shown.contains("connect"), "{shown:?}");
    }
}

#[tokio::test]
async fn h4_server_hanging_up_is_an_error_not_a_panic() {
    let base = hang_up_url().await;
    let client = Client::builder(&base).retry(Retry::none()).build().unwrap();

    let fetched = User::fetch(&client, (), 7).await.unwrap_err();
    let created = User::unsaved("Ada").save(&client).await.unwrap_err();
    let all = User::save_all(&client, vec![User::new(1, "a"), User::new(2, "b")])
        .await
        .unwrap_err();
    let destroyed = User::new(7, "Ada").destroy(&client).await.unwrap_err();

    for err in [&fetched, &created, &all.error, &destroyed] {
        assert!(err.is_request(), "{err:?}");
        assert!(!err.is_status() && !err.is_decode());
        assert!(err.to_string().contains(&base), "{err}");
    }
    assert_eq!(all.unsaved.len() + all.saved.len(), 2);
    assert!(all.saved.is_empty());
}

// H5 ----------------------------------------------------------------------

#[tokio::test]
async fn h5_body_that_is_not_json_is_a_decode_error_naming_the_type() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::raw(200, "<html>hello</html>"));

    let err = User::fetch(&client(&server), (), 7).await.unwrap_err();

    assert!(err.is_decode(), "{err:?}");
    assert!(!err.is_status() && !err.is_request());
    assert_eq!(err.status(), None);
    let shown = err.to_string();
    let url = format!("{}/users/7", server.url());
    assert!(shown.contains("User"), "{shown:?} does not name the type");
    assert!(shown.contains("GET") && shown.contains(&url), "{shown:?}");
}

#[tokio::test]
async fn h5_json_of_the_wrong_shape_is_a_decode_error() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, json!({ "id": "seven", "name": 7 })),
    );
    server.on("GET", "/users", Reply::json(200, json!({ "users": [] })));
    server.on(
        "POST",
        "/users",
        Reply::json(201, json!(["not", "a", "user"])),
    );
    let client = client(&server);

    let err = User::fetch(&client, (), 7).await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert!(err.to_string().contains("User"), "{err}");

    let err = User::fetch_all(&client, ()).await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert!(
        err.to_string().contains("Vec") && err.to_string().contains("User"),
        "{err}"
    );

    let err = User::unsaved("Ada").save(&client).await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert!(
        err.to_string().contains("POST") && err.to_string().contains("User"),
        "{err}"
    );
}

#[tokio::test]
async fn h5_decode_errors_are_not_cached() {
    let server = Server::start().await;
    // The first answer does not decode; the next ones do.
    server.on("GET", "/users/7", Reply::raw(200, "{\"id\": 7,"));
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Ada")));
    let client = client(&server);

    let err = User::fetch(&client, (), 7).await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");
    assert_eq!(server.count("GET", "/users/7"), 1);

    let user = User::fetch(&client, (), 7).await.unwrap();
    assert_eq!(*user, User::new(7, "Ada"));
    assert_eq!(server.count("GET", "/users/7"), 2);

    // Now cached (C2): no third request.
    User::fetch(&client, (), 7).await.unwrap();
    assert_eq!(server.count("GET", "/users/7"), 2);
}

// H6 ----------------------------------------------------------------------

#[test]
fn h6_invalid_base_urls_are_rejected() {
    for base in [
        "not a url",
        "",
        "/api/v1",
        "ftp://example.com/x",
        "http://h/v1?q=1",
        "http://h/v1#top",
    ] {
        let err = Client::new(base).unwrap_err();
        assert!(err.is_builder(), "{base:?}: {err:?}");
        assert!(
            err.to_string().contains(base),
            "{err} does not name {base:?}"
        );
        let err = Client::builder(base).build().unwrap_err();
        assert!(err.is_builder(), "{base:?}: {err:?}");
    }
}

#[tokio::test]
async fn h6_builder_headers_and_bearer_auth_are_sent_with_every_request() {
    let server = Server::start().await;
    script_one_of_each_method(&server, "");
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .header("x-app", "demo")
        .bearer_auth("s3cr3t")
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    one_of_each_method(&client).await;

    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(request.header("x-app"), Some("demo"), "{}", request.method);
        assert_eq!(request.header("authorization"), Some("Bearer s3cr3t"));
        assert_eq!(request.header("accept"), Some("application/json"));
    }
    // The token is not shown by Debug.
    assert!(!format!("{client:?}").contains("s3cr3t"));
}

/// A timeout too long for the clock (`Duration::MAX`) means no timeout,
/// not a panic.
#[tokio::test]
async fn h6_a_timeout_past_the_clock_s_range_bounds_nothing() {
    let server = Server::start().await;
    server.on("GET", "/users/8", Reply::json(200, user_json(8, "Bo")));
    let client = Client::builder(&server.url())
        .timeout(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(User::fetch(&client, (), 8).await.unwrap().name, "Bo");
    assert_eq!(server.count("GET", "/users/8"), 1);
}

#[tokio::test]
async fn h6_builder_timeout_is_applied() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).delay_ms(2000),
    );
    server.on("GET", "/users/8", Reply::json(200, user_json(8, "Bo")));
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();

    assert!(User::fetch(&client, (), 7).await.unwrap_err().is_timeout());
    // A reply within the timeout is fine.
    assert_eq!(
        *User::fetch(&client, (), 8).await.unwrap(),
        User::new(8, "Bo")
    );
}

#[test]
fn h6_invalid_headers_and_tokens_fail_build() {
    let base = "http://127.0.0.1:1/v1";
    let err = Client::builder(base)
        .header("bad header", "x")
        .build()
        .unwrap_err();
    assert!(err.is_builder(), "{err:?}");
    assert!(err.to_string().contains("header name"), "{err}");

    let err = Client::builder(base)
        .header("x-app", "a\nb")
        .build()
        .unwrap_err();
    assert!(err.is_builder(), "{err:?}");
    assert!(err.to_string().contains("x-app"), "{err}");

    let err = Client::builder(base)
        .bearer_auth("a\nb")
        .build()
        .unwrap_err();
    assert!(err.is_builder(), "{err:?}");

    // The first mistake is reported even if valid settings follow it.
    let err = Client::builder(base)
        .header("bad header", "x")
        .header("x-ok", "1")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("header name"), "{err}");
}

#[tokio::test]
async fn h6_a_ready_reqwest_client_is_used_with_the_builder_settings_on_top() {
    let server = Server::start().await;
    script_one_of_each_method(&server, "");
    let mut defaults = reqwest::header::HeaderMap::new();
    defaults.insert("x-from-reqwest", "yes".parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(defaults)
        .build()
        .unwrap();
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .http_client(http)
        .header("x-app", "demo")
        .build()
        .unwrap();

    one_of_each_method(&client).await;

    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(
            request.header("x-from-reqwest"),
            Some("yes"),
            "{}",
            request.method
        );
        assert_eq!(request.header("x-app"), Some("demo"));
        assert_eq!(request.header("accept"), Some("application/json"));
    }
}
