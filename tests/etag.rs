//! No lost update (ARCHITECTURE.md, R8) through the derive: a
//! `#[model(etag)]` field holds the `ETag` a value came with, never travels
//! in a body, and makes saves and destroys conditional (`If-Match`); a `412`
//! is a conflict that drops the member from the cache.
//!
//! Each test runs against a real loopback server and asserts what it
//! received: a scripted one where the exact answer is the point (a weak
//! `ETag`, a `204`), backrest's typed fake where a server that keeps
//! versions reads better (a conflict, a revalidation). Clients make one
//! attempt per request (`Retry::none()`).

use std::sync::Arc;
use std::time::Duration;

use backrest::fake::FakeApi;
use backrest::{Client, Fetch, Method, Model, Retry};
use backrest_testkit::{Reply, Request, Server};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A model with an etag field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/docs")]
struct Doc {
    #[model(id)]
    id: Option<u64>,
    title: String,
    #[model(etag)]
    #[serde(skip)]
    etag: Option<String>,
}

/// A model without one: it behaves as before R8.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/notes")]
struct Note {
    #[model(id)]
    id: Option<u64>,
    text: String,
}

/// The etag field spelled with both serde keys, and full paths.
#[allow(unused_qualifications, reason = "the full paths are the point")]
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/pages")]
struct Page {
    #[model(id)]
    id: Option<u64>,
    #[model(etag)]
    #[serde(skip_serializing, skip_deserializing)]
    version: std::option::Option<std::string::String>,
}

/// Generated etag methods name everything through `__private` (M6): they
/// compile next to user types that shadow `Option`, `String` and `str`.
/// (serde's `Deserialize` derive does not, so that impl is written by hand.)
#[deny(warnings, unused_qualifications)]
mod hygiene {
    #![allow(dead_code, non_camel_case_types)]

    use backrest::Model;
    use serde::{Deserialize, Deserializer, Serialize};

    struct Option;
    struct String;
    struct str;

    #[derive(Clone, Serialize, Model)]
    #[model(path = "/shadowed")]
    struct Shadowed {
        #[model(id)]
        id: std::option::Option<u64>,
        #[model(etag)]
        #[serde(skip)]
        etag: std::option::Option<std::string::String>,
    }

    impl<'de> Deserialize<'de> for Shadowed {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let id = Deserialize::deserialize(deserializer)?;
            Ok(Shadowed { id, etag: None })
        }
    }
}

/// Bounds every call that a broken client could turn into a hang.
const LIMIT: Duration = Duration::from_secs(10);

async fn setup() -> (Server, Client) {
    let server = Server::start().await;
    let client = Client::builder(&server.url())
        .retry(Retry::none())
        .build()
        .expect("valid base");
    (server, client)
}

/// The typed fake serving `Doc`, holding doc 1 (`"mine"`), and a client on
/// it.
async fn fake() -> (FakeApi, Client, Doc) {
    let api = FakeApi::start().await;
    api.serve::<Doc>();
    let stored = api.insert(Doc {
        id: None,
        title: "mine".into(),
        etag: None,
    });
    let client = api
        .client_builder()
        .retry(Retry::none())
        .build()
        .expect("valid base");
    (api, client, stored)
}

/// The requests the fake received with this method, in order.
fn received_by(api: &FakeApi, method: &Method) -> Vec<backrest::fake::Request> {
    api.requests()
        .into_iter()
        .filter(|request| request.method == method)
        .collect()
}

async fn bounded<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, call)
        .await
        .expect("the call resolves")
}

fn doc(id: u64, title: &str) -> serde_json::Value {
    json!({ "id": id, "title": title })
}

/// The requests the server received with this method, in order.
fn received(server: &Server, method: &str) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|request| request.method == method)
        .collect()
}

#[tokio::test]
async fn r8_fetch_fills_the_etag_from_the_etag_header_verbatim() {
    let (server, client) = setup().await;
    let on = |path: &str, etag: &str| {
        let id = path.trim_start_matches("/docs/").parse().unwrap();
        server.on(
            "GET",
            path,
            Reply::json(200, doc(id, "t")).header("etag", etag),
        );
    };
    on("/docs/1", "\"v1\"");
    on("/docs/2", "W/\"x\"");
    server.on("GET", "/docs/3", Reply::json(200, doc(3, "t")));
    server.on(
        "GET",
        "/docs",
        Reply::json(200, json!([doc(1, "t")])).header("etag", "\"list\""),
    );
    server.on(
        "GET",
        "/pages/1",
        Reply::json(200, json!({ "id": 1 })).header("etag", "\"p1\""),
    );

    let strong = bounded(Doc::fetch(&client, 1)).await.unwrap();
    let weak = bounded(Doc::fetch(&client, 2)).await.unwrap();
    let none = bounded(Doc::fetch(&client, 3)).await.unwrap();
    let all = bounded(Doc::fetch_all(&client)).await.unwrap();
    let page = bounded(Page::fetch(&client, 1)).await.unwrap();

    assert_eq!(strong.etag.as_deref(), Some("\"v1\""));
    assert_eq!(
        weak.etag.as_deref(),
        Some("W/\"x\""),
        "`W/` and quotes kept"
    );
    assert_eq!(none.etag, None, "no ETag, no etag");
    assert_eq!(
        all[0].etag, None,
        "a collection's items have no ETag of their own"
    );
    assert_eq!(page.version.as_deref(), Some("\"p1\""));
    assert_eq!(Model::etag(page.as_ref()), Some("\"p1\""));
}

#[tokio::test]
async fn r8_the_etag_is_never_written_into_a_body_nor_read_from_one() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/docs/1",
        Reply::json(
            200,
            json!({ "id": 1, "title": "t", "etag": "\"from the body\"" }),
        )
        .header("etag", "\"v1\""),
    );
    server.on(
        "GET",
        "/docs/2",
        Reply::json(
            200,
            json!({ "id": 2, "title": "t", "etag": "\"from the body\"" }),
        ),
    );
    server.on("PUT", "/docs/1", Reply::empty(204));
    server.on("POST", "/docs", Reply::json(201, doc(3, "new")));

    let headed = bounded(Doc::fetch(&client, 1)).await.unwrap();
    let bodied = bounded(Doc::fetch(&client, 2)).await.unwrap();
    assert_eq!(
        headed.etag.as_deref(),
        Some("\"v1\""),
        "the header, not the body"
    );
    assert_eq!(bodied.etag, None, "a body's `etag` key is not read");

    bounded(headed.save(&client)).await.unwrap();
    let created = Doc {
        id: None,
        title: "new".into(),
        etag: Some("\"v9\"".into()),
    };
    bounded(created.save(&client)).await.unwrap();

    let bodies: Vec<serde_json::Value> = server
        .requests()
        .iter()
        .filter(|request| request.method == "PUT" || request.method == "POST")
        .map(Request::json)
        .collect();
    assert_eq!(bodies.len(), 2);
    for body in bodies {
        let body = body.as_object().expect("a JSON object");
        assert!(!body.contains_key("etag"), "no etag in {body:?}");
        assert!(body.contains_key("title"));
    }
}

#[tokio::test]
async fn r8_save_sends_if_match_with_the_etag() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/docs/1",
        Reply::json(200, doc(1, "t")).header("etag", "W/\"v1\""),
    );
    server.on(
        "PUT",
        "/docs/1",
        Reply::json(200, doc(1, "edited")).header("etag", "\"v2\""),
    );

    let mut edited = Doc::clone(&bounded(Doc::fetch(&client, 1)).await.unwrap());
    edited.title = "edited".into();
    bounded(edited.save(&client)).await.unwrap();

    let puts = received(&server, "PUT");
    assert_eq!(puts.len(), 1);
    assert_eq!(
        puts[0].header("if-match"),
        Some("W/\"v1\""),
        "exactly the etag"
    );
}

#[tokio::test]
async fn r8_save_fills_the_etag_from_its_answer_or_leaves_none() {
    let (server, client) = setup().await;
    server.on(
        "PUT",
        "/docs/1",
        Reply::json(200, doc(1, "a")).header("etag", "\"v2\""),
    );
    server.on("PUT", "/docs/1", Reply::empty(204));

    let first = Doc {
        id: Some(1),
        title: "a".into(),
        etag: Some("\"v1\"".into()),
    };
    let saved = bounded(first.save(&client)).await.unwrap();
    assert_eq!(saved.etag.as_deref(), Some("\"v2\""), "the answer's ETag");
    let cached = bounded(Doc::fetch(&client, 1)).await.unwrap();
    assert_eq!(cached.etag.as_deref(), Some("\"v2\""), "cached with it");

    // A 204 without an ETag: the value sent was saved, its version unknown.
    let kept = bounded(saved.save(&client)).await.unwrap();
    assert_eq!(kept.etag, None);
    let puts = received(&server, "PUT");
    assert_eq!(puts[1].header("if-match"), Some("\"v2\""));
    assert_eq!(server.count("GET", "/docs/1"), 0, "the saves were cached");
}

#[tokio::test]
async fn r8_a_model_without_an_etag_sends_no_if_match() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/notes/1",
        Reply::json(200, json!({ "id": 1, "text": "t" })).header("etag", "\"v1\""),
    );
    server.on("PUT", "/notes/1", Reply::empty(204));
    server.on("DELETE", "/notes/1", Reply::empty(204));

    let note = bounded(Note::fetch(&client, 1)).await.unwrap();
    assert_eq!(Model::etag(note.as_ref()), None);
    bounded(note.save(&client)).await.unwrap();
    bounded(note.destroy(&client)).await.unwrap();

    let writes: Vec<Request> = server
        .requests()
        .into_iter()
        .filter(|request| request.method != "GET")
        .collect();
    assert_eq!(writes.len(), 2);
    for write in writes {
        assert_eq!(write.header("if-match"), None, "{}", write.method);
    }
}

#[tokio::test]
async fn r8_a_create_is_not_conditional() {
    let (server, client) = setup().await;
    server.on(
        "POST",
        "/docs",
        Reply::json(201, doc(5, "copy")).header("etag", "\"c1\""),
    );

    // A copy of a fetched value, id cleared: its etag is another resource's.
    let copy = Doc {
        id: None,
        title: "copy".into(),
        etag: Some("\"v1\"".into()),
    };
    let created = bounded(copy.save(&client)).await.unwrap();

    assert_eq!(received(&server, "POST")[0].header("if-match"), None);
    assert_eq!(created.etag.as_deref(), Some("\"c1\""));
}

#[tokio::test]
async fn r8_an_etag_that_cannot_be_a_header_is_an_error_before_anything_is_sent() {
    let (server, client) = setup().await;
    let bad = Doc {
        id: Some(1),
        title: "t".into(),
        etag: Some("\"v1\"\r\nx-injected: 1".into()),
    };

    let saved = bounded(bad.save(&client)).await.unwrap_err();
    let destroyed = bounded(bad.destroy(&client)).await.unwrap_err();

    assert!(saved.is_builder(), "{saved}");
    assert!(destroyed.is_builder(), "{destroyed}");
    assert_eq!(server.total(), 0);
}

#[tokio::test]
async fn r8_a_412_is_a_conflict_and_the_next_fetch_reads_the_server_s_value() {
    let (api, client, _) = fake().await;

    let list = bounded(Doc::fetch_all(&client)).await.unwrap();
    let mut edited = Doc::clone(&bounded(Doc::fetch(&client, 1)).await.unwrap());
    let mine = edited.etag.clone();
    // Someone else writes first: a new version, a new ETag.
    let theirs = api.replace(Doc {
        id: Some(1),
        title: "theirs".into(),
        etag: None,
    });
    edited.title = "overwrite".into();
    let error = bounded(edited.save(&client)).await.unwrap_err();
    let current = bounded(Doc::fetch(&client, 1)).await.unwrap();
    let list_after = bounded(Doc::fetch_all(&client)).await.unwrap();

    assert!(error.is_conflict(), "{error}");
    assert_eq!(
        error.status(),
        Some(backrest::StatusCode::PRECONDITION_FAILED)
    );
    assert!(mine.is_some());
    assert_eq!(
        received_by(&api, &Method::PUT)[0].header("if-match"),
        mine.as_deref()
    );
    assert_eq!(
        api.get::<Doc>((), 1).unwrap().title,
        "theirs",
        "the server's value was left as it was"
    );
    assert_eq!(
        api.count(Method::GET, "/docs/1"),
        2,
        "the member was invalidated"
    );
    assert_eq!(current.title, "theirs", "the server's value");
    assert_eq!(current.etag, theirs.etag);
    assert!(
        Arc::ptr_eq(&list, &list_after),
        "nothing was written: collections stay"
    );
}

#[tokio::test]
async fn r8_destroy_sends_if_match_with_the_etag() {
    let (api, client, stored) = fake().await;

    let fetched = bounded(Doc::fetch(&client, 1)).await.unwrap();
    bounded(fetched.destroy(&client)).await.unwrap();

    let deletes = received_by(&api, &Method::DELETE);
    assert_eq!(deletes.len(), 1);
    assert!(stored.etag.is_some());
    assert_eq!(deletes[0].header("if-match"), stored.etag.as_deref());
    assert!(deletes[0].body.is_empty());
    assert!(api.all::<Doc>(()).is_empty(), "the fake's If-Match held");
}

#[tokio::test]
async fn r8_a_412_to_a_destroy_is_a_conflict_and_invalidates_the_member() {
    let (api, client, stored) = fake().await;

    let fetched = bounded(Doc::fetch(&client, 1)).await.unwrap();
    api.replace(stored);
    let error = bounded(fetched.destroy(&client)).await.unwrap_err();
    bounded(Doc::fetch(&client, 1)).await.unwrap();

    assert!(error.is_conflict(), "{error}");
    assert_eq!(
        api.count(Method::GET, "/docs/1"),
        2,
        "the member was invalidated"
    );
    assert_eq!(api.all::<Doc>(()).len(), 1, "nothing was destroyed");
}

#[tokio::test]
async fn r8_a_304_to_a_member_fetch_keeps_the_cached_value_and_its_etag() {
    let (api, client, stored) = fake().await;

    let cached = bounded(Doc::fetch(&client, 1)).await.unwrap();
    let revalidated = bounded(Doc::fetch_with(&client, 1, Fetch::reload()))
        .await
        .unwrap();

    assert!(Arc::ptr_eq(&cached, &revalidated));
    assert!(stored.etag.is_some());
    assert_eq!(revalidated.etag, stored.etag);
    let gets = received_by(&api, &Method::GET);
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[1].header("if-none-match"), stored.etag.as_deref());
}
