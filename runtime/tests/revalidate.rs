//! Revalidation (ARCHITECTURE.md, R7) against a real loopback server: a
//! request for a key whose cached value came with an `ETag` or a
//! `Last-Modified` is conditional, and a `304` resolves with the cached
//! `Arc` itself, as a fresh answer (C4 and C5 apply).
//!
//! Each test asserts what the server received. Clients make one attempt per
//! request (`Retry::none()`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use backrest_runtime::{Client, Fetch, Model, Retry};
use backrest_testkit::{Gate, Reply, Request, Server};
use common::{Clock, User, user_json};
use serde_json::json;

/// Bounds every wait that a broken cache could turn into a hang.
const LIMIT: Duration = Duration::from_secs(10);

async fn setup() -> (Server, Client) {
    let server = Server::start().await;
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .expect("valid base");
    (server, client)
}

/// `{"id": 7, "name": name}` with this `ETag`.
fn tagged(name: &str, etag: &str) -> Reply {
    Reply::json(200, user_json(7, name)).header("etag", etag)
}

/// The conditions a request carried: (`If-None-Match`, `If-Modified-Since`).
fn conditions(request: &Request) -> (Option<&str>, Option<&str>) {
    (
        request.header("if-none-match"),
        request.header("if-modified-since"),
    )
}

/// The requests the server received for this method and path, in order.
fn received(server: &Server, method: &str, path: &str) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|request| request.method == method && request.path == path)
        .collect()
}

async fn reload(client: &Client) -> Arc<User> {
    tokio::time::timeout(LIMIT, User::fetch_with(client, (), 7, Fetch::reload()))
        .await
        .expect("the reload resolves")
        .expect("the reload succeeds")
}

#[tokio::test]
async fn r7_a_reload_with_an_etag_sends_if_none_match_and_a_304_resolves_with_the_same_arc() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", tagged("Ada", "\"v1\""));
    server.on("GET", "/users/7", Reply::empty(304));

    let cached = User::fetch(&client, (), 7).await.unwrap();
    let revalidated = reload(&client).await;

    assert!(Arc::ptr_eq(&cached, &revalidated), "the cached Arc itself");
    assert_eq!(server.count("GET", "/users/7"), 2, "one request per fetch");
    let sent = received(&server, "GET", "/users/7");
    assert_eq!(conditions(&sent[0]), (None, None));
    assert_eq!(
        conditions(&sent[1]),
        (Some("\"v1\""), None),
        "the ETag verbatim"
    );
}

#[tokio::test]
async fn r7_a_reload_with_last_modified_sends_if_modified_since() {
    let (server, client) = setup().await;
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    server.on(
        "GET",
        "/users/7",
        Reply::json(200, user_json(7, "Ada")).header("last-modified", date),
    );
    server.on("GET", "/users/7", Reply::empty(304));

    let cached = User::fetch(&client, (), 7).await.unwrap();
    let revalidated = reload(&client).await;

    assert!(Arc::ptr_eq(&cached, &revalidated));
    assert_eq!(server.count("GET", "/users/7"), 2);
    let sent = received(&server, "GET", "/users/7");
    assert_eq!(conditions(&sent[1]), (None, Some(date)));
}

#[tokio::test]
async fn r7_a_reload_with_both_validators_sends_both_conditions() {
    let (server, client) = setup().await;
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    server.on(
        "GET",
        "/users/7",
        tagged("Ada", "W/\"v1\"").header("last-modified", date),
    );
    server.on("GET", "/users/7", Reply::empty(304));

    let cached = User::fetch(&client, (), 7).await.unwrap();
    let revalidated = reload(&client).await;

    assert!(Arc::ptr_eq(&cached, &revalidated));
    let sent = received(&server, "GET", "/users/7");
    assert_eq!(conditions(&sent[1]), (Some("W/\"v1\""), Some(date)));
}

#[tokio::test]
async fn r7_a_collection_is_revalidated_like_a_member() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/users",
        Reply::json(200, json!([user_json(7, "Ada")])).header("etag", "\"list-1\""),
    );
    server.on("GET", "/users", Reply::empty(304));

    let cached = User::fetch_all(&client, ()).await.unwrap();
    let revalidated =
        tokio::time::timeout(LIMIT, User::fetch_all_with(&client, (), Fetch::reload()))
            .await
            .expect("the reload resolves")
            .unwrap();
    let after = User::fetch_all(&client, ()).await.unwrap();

    assert!(Arc::ptr_eq(&cached, &revalidated));
    assert!(Arc::ptr_eq(&cached, &after), "still cached");
    assert_eq!(server.count("GET", "/users"), 2);
    let sent = received(&server, "GET", "/users");
    assert_eq!(conditions(&sent[0]), (None, None));
    assert_eq!(conditions(&sent[1]), (Some("\"list-1\""), None));
}

#[tokio::test]
async fn r7_a_plain_first_fetch_sends_no_condition() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", tagged("Ada", "\"v1\""));

    User::fetch(&client, (), 7).await.unwrap();

    let sent = received(&server, "GET", "/users/7");
    assert_eq!(sent.len(), 1);
    assert_eq!(conditions(&sent[0]), (None, None));
}

#[tokio::test]
async fn r7_after_a_304_the_value_is_still_cached() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", tagged("Ada", "\"v1\""));
    server.on("GET", "/users/7", Reply::empty(304));

    let cached = User::fetch(&client, (), 7).await.unwrap();
    reload(&client).await;
    let after = User::fetch(&client, (), 7).await.unwrap();

    assert!(Arc::ptr_eq(&cached, &after));
    assert_eq!(
        server.count("GET", "/users/7"),
        2,
        "the plain fetch sent nothing"
    );
    // And it is still revalidated with its ETag.
    assert!(Arc::ptr_eq(&cached, &reload(&client).await));
    let sent = received(&server, "GET", "/users/7");
    assert_eq!(conditions(&sent[2]), (Some("\"v1\""), None));
}

#[tokio::test]
async fn r7_a_304_racing_a_save_loses_to_the_save() {
    let (server, client) = setup().await;
    let gate = Gate::new();
    server.on("GET", "/users/7", tagged("Ada", "\"v1\""));
    server.on("GET", "/users/7", Reply::empty(304).after(&gate));
    server.on("PUT", "/users/7", tagged("Grace", "\"v2\""));

    let cached = User::fetch(&client, (), 7).await.unwrap();
    let racing = {
        let client = client.clone();
        tokio::spawn(async move { reload(&client).await })
    };
    server.wait_for(2).await;
    // The reload's request is at the server, its 304 held: the save starts
    // after it and is answered first.
    let saved = User::new(7, "Grace").save(&client).await.unwrap();
    gate.open();
    let revalidated = tokio::time::timeout(LIMIT, racing)
        .await
        .expect("the reload resolves")
        .expect("its task ran");
    let after = User::fetch(&client, (), 7).await.unwrap();

    assert_eq!(saved.name, "Grace");
    assert_eq!(
        revalidated.name, "Grace",
        "C5: the save is newer than the 304"
    );
    assert!(!Arc::ptr_eq(&revalidated, &cached));
    assert!(
        Arc::ptr_eq(&revalidated, &after),
        "C4: the save stays cached"
    );
    assert_eq!(server.count("GET", "/users/7"), 2);
    assert_eq!(
        conditions(&received(&server, "GET", "/users/7")[1]),
        (Some("\"v1\""), None)
    );
}

#[tokio::test]
async fn r7_a_200_to_a_conditional_request_replaces_the_value_and_its_validators() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", tagged("Ada", "\"v1\""));
    server.on("GET", "/users/7", tagged("Grace", "\"v2\""));
    server.on("GET", "/users/7", Reply::empty(304));

    let old = User::fetch(&client, (), 7).await.unwrap();
    let new = reload(&client).await;
    let after = User::fetch(&client, (), 7).await.unwrap();
    let revalidated = reload(&client).await;

    assert_eq!((old.name.as_str(), new.name.as_str()), ("Ada", "Grace"));
    assert!(Arc::ptr_eq(&new, &after), "the new value is cached");
    assert!(Arc::ptr_eq(&new, &revalidated), "and is what a 304 keeps");
    let sent = received(&server, "GET", "/users/7");
    assert_eq!(sent.len(), 3);
    assert_eq!(conditions(&sent[1]), (Some("\"v1\""), None));
    assert_eq!(
        conditions(&sent[2]),
        (Some("\"v2\""), None),
        "its validators too"
    );
}

#[tokio::test]
async fn r7_a_reload_with_nothing_cached_sends_no_condition() {
    let (server, client) = setup().await;
    server.on("GET", "/users/7", tagged("Ada", "\"v1\""));

    reload(&client).await;

    let sent = received(&server, "GET", "/users/7");
    assert_eq!(sent.len(), 1);
    assert_eq!(conditions(&sent[0]), (None, None));
}

#[tokio::test]
async fn r7_a_reload_model_revalidates_every_fetch() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/clocks/1",
        Reply::json(200, json!({ "id": 1, "now": 1 })).header("etag", "\"t1\""),
    );
    server.on("GET", "/clocks/1", Reply::empty(304));

    let first = Clock::fetch(&client, (), 1).await.unwrap();
    let second = Clock::fetch(&client, (), 1).await.unwrap();

    assert!(Arc::ptr_eq(&first, &second));
    let sent = received(&server, "GET", "/clocks/1");
    assert_eq!(sent.len(), 2, "C8: every fetch is a request");
    assert_eq!(conditions(&sent[1]), (Some("\"t1\""), None));
}

#[tokio::test]
async fn r7_a_save_stores_the_validators_of_its_answer_or_none() {
    let (server, client) = setup().await;
    server.on("PUT", "/users/7", tagged("Ada", "\"v2\""));
    server.on("PUT", "/users/7", Reply::json(200, user_json(7, "Grace")));
    server.on("GET", "/users/7", Reply::empty(304));
    server.on("GET", "/users/7", Reply::json(200, user_json(7, "Grace")));

    let saved = User::new(7, "Ada").save(&client).await.unwrap();
    let cached = User::fetch(&client, (), 7).await.unwrap();
    let revalidated = reload(&client).await;
    assert_eq!(saved.name, "Ada");
    assert!(
        Arc::ptr_eq(&cached, &revalidated),
        "the saved value, kept by a 304"
    );

    // An answer without validators leaves none: the reload is plain.
    User::new(7, "Grace").save(&client).await.unwrap();
    let fresh = reload(&client).await;
    assert_eq!(fresh.name, "Grace");

    let sent = received(&server, "GET", "/users/7");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        conditions(&sent[0]),
        (Some("\"v2\""), None),
        "the PUT's ETag"
    );
    assert_eq!(conditions(&sent[1]), (None, None));
}
