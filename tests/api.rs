//! The APIs people actually have (ARCHITECTURE.md, E1–E6) through the
//! derive: query strings, pages, PATCH, explicit create and update, shallow
//! member paths, singletons and envelopes. Each test runs against a real
//! loopback server and asserts the method, path, query, headers and body it
//! received.

use std::sync::Arc;
use std::time::Duration;

use backrest::{Client, Fetch, Model, Paging, Retry};
use backrest_testkit::{Gate, Reply, Request, Server};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/users")]
struct User {
    #[model(id)]
    id: Option<u64>,
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    tags: Vec<u32>,
    #[serde(default)]
    address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Address {
    city: String,
    zip: String,
}

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

/// What `update` keeps of fields the struct does not name: they ride in
/// `extra` and go back in the PUT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/notes")]
struct Note {
    #[model(id)]
    id: Option<u64>,
    text: String,
    #[serde(flatten)]
    extra: serde_json::Map<String, Value>,
}

/// The same resource without the map: a PUT drops what it does not name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/notes")]
struct BareNote {
    #[model(id)]
    id: Option<u64>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/items")]
struct Item {
    #[model(id)]
    id: Option<u64>,
}

const BOUND: Duration = Duration::from_secs(20);

async fn setup() -> (Server, Client) {
    let server = Server::start().await;
    let client = Client::builder(&format!("{}/api", server.url()))
        .retry(Retry::none())
        .build()
        .expect("valid base");
    (server, client)
}

fn ada() -> User {
    User {
        id: Some(7),
        name: "Ada".into(),
        email: Some("ada@example.com".into()),
        tags: vec![1, 2],
        address: Some(Address {
            city: "London".into(),
            zip: "N1".into(),
        }),
    }
}

fn only(server: &Server) -> Request {
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests.into_iter().next().unwrap()
}

async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("within the bound")
}

// ---- E5: create and update ----

#[tokio::test]
async fn e5_create_always_posts_with_an_idempotency_key_and_caches_as_save() {
    let (server, client) = setup().await;
    server.on("GET", "/api/users", Reply::json(200, json!([])));
    server.on(
        "POST",
        "/api/users",
        Reply::json(201, json!({"id": 42, "name": "Ada"})),
    );
    User::fetch_all(&client).await.unwrap();
    // A client-chosen id: `save` would PUT; `create` POSTs.
    let value = User {
        id: Some(42),
        ..ada()
    };
    let created = bounded(value.create(&client)).await.unwrap();
    assert_eq!(created.id, Some(42));
    let post = &server.requests()[1];
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/api/users")
    );
    assert_eq!(post.json(), serde_json::to_value(&value).unwrap());
    assert_eq!(post.header("content-type"), Some("application/json"));
    let key = post.header("idempotency-key").expect("an idempotency key");
    assert_eq!(key.len(), 36, "a UUID: {key}");
    // Cached as the newest for its id; the collection invalidated (C9).
    let cached = User::fetch(&client, 42).await.unwrap();
    assert_eq!(cached.name, "Ada");
    assert_eq!(server.count("GET", "/api/users/42"), 0);
    User::fetch_all(&client).await.unwrap();
    assert_eq!(server.count("GET", "/api/users"), 2);
}

#[tokio::test]
async fn e5_update_always_puts_and_caches_as_save() {
    let (server, client) = setup().await;
    server.on(
        "PUT",
        "/api/users/7",
        Reply::json(200, json!({"id": 7, "name": "Ada L."})),
    );
    let updated = bounded(ada().update(&client)).await.unwrap();
    assert_eq!(updated.name, "Ada L.");
    let put = only(&server);
    assert_eq!(
        (put.method.as_str(), put.path.as_str()),
        ("PUT", "/api/users/7")
    );
    assert_eq!(put.json(), serde_json::to_value(ada()).unwrap());
    assert_eq!(put.header("idempotency-key"), None);
    let cached = User::fetch(&client, 7).await.unwrap();
    assert_eq!(cached.name, "Ada L.");
    assert_eq!(server.total(), 1);
}

#[tokio::test]
async fn e5_update_without_an_id_is_a_builder_error_and_sends_nothing() {
    let (server, client) = setup().await;
    let value = User { id: None, ..ada() };
    let error = bounded(value.update(&client)).await.unwrap_err();
    assert!(error.is_builder(), "{error}");
    assert!(error.to_string().contains("without an id"), "{error}");
    assert_eq!(server.total(), 0);
}

#[tokio::test]
async fn e5_put_loses_fields_the_struct_does_not_name_and_a_flattened_map_keeps_them() {
    let (server, client) = setup().await;
    let stored = json!({"id": 3, "text": "hi", "pinned": true, "color": "red"});
    server.on("GET", "/api/notes/3", Reply::json(200, stored.clone()));
    server.on("PUT", "/api/notes/3", Reply::empty(204));

    let bare = BareNote::fetch(&client, 3).await.unwrap();
    bare.update(&client).await.unwrap();
    let kept = Note::fetch(&client, 3).await.unwrap();
    assert_eq!(kept.extra.get("pinned"), Some(&json!(true)));
    Note {
        text: "hello".into(),
        ..(*kept).clone()
    }
    .update(&client)
    .await
    .unwrap();

    let puts: Vec<Value> = server
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(Request::json)
        .collect();
    assert_eq!(
        puts[0],
        json!({"id": 3, "text": "hi"}),
        "lost: pinned, color"
    );
    assert_eq!(
        puts[1],
        json!({"id": 3, "text": "hello", "pinned": true, "color": "red"})
    );
}

// ---- E3: patch ----

#[tokio::test]
async fn e3_patch_sends_a_merge_patch_of_what_differs_and_caches_the_answer() {
    let (server, client) = setup().await;
    let answer = json!({"id": 7, "name": "Ada L.", "tags": [3],
        "address": {"city": "Paris", "zip": "N1"}});
    server.on("PATCH", "/api/users/7", Reply::json(200, answer));
    let original = ada();
    let mut value = original.clone();
    value.name = "Ada L.".into();
    value.email = None;
    value.tags = vec![3];
    value.address.as_mut().unwrap().city = "Paris".into();

    let saved = bounded(value.patch(&client, &original)).await.unwrap();
    assert_eq!(saved.name, "Ada L.");
    let patch = only(&server);
    assert_eq!(
        (patch.method.as_str(), patch.path.as_str()),
        ("PATCH", "/api/users/7")
    );
    assert_eq!(
        patch.header("content-type"),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        patch.json(),
        json!({"name": "Ada L.", "email": null, "tags": [3], "address": {"city": "Paris"}})
    );
    assert_eq!(patch.header("if-match"), None);
    let cached = User::fetch(&client, 7).await.unwrap();
    assert_eq!(*cached, saved);
    assert_eq!(server.total(), 1);
}

#[tokio::test]
async fn e3_a_patch_with_nothing_different_sends_nothing() {
    let (server, client) = setup().await;
    let value = ada();
    let same = bounded(value.patch(&client, &ada())).await.unwrap();
    assert_eq!(same, value);
    assert_eq!(server.total(), 0);
}

#[tokio::test]
async fn e3_patch_content_type_is_configurable_and_an_empty_answer_is_the_value() {
    let server = Server::start().await;
    let client = Client::builder(&server.url())
        .patch_content_type("application/json")
        .build()
        .unwrap();
    server.on("PATCH", "/users/7", Reply::empty(204));
    let mut value = ada();
    value.name = "Grace".into();
    let saved = bounded(value.patch(&client, &ada())).await.unwrap();
    assert_eq!(saved, value);
    let patch = only(&server);
    assert_eq!(patch.header("content-type"), Some("application/json"));
    assert_eq!(patch.json(), json!({"name": "Grace"}));
    assert!(
        Client::builder(&server.url())
            .patch_content_type("bad\nvalue")
            .build()
            .unwrap_err()
            .is_builder()
    );
}

#[tokio::test]
async fn e3_patch_sends_if_match_with_the_etag_and_is_never_retried() {
    let server = Server::start().await;
    let client = Client::builder(&server.url())
        .retry(Retry::attempts(3).backoff(Duration::from_millis(1), Duration::from_millis(2)))
        .build()
        .unwrap();
    server.on("PATCH", "/docs/1", Reply::text(503, "busy"));
    let original = Doc {
        id: Some(1),
        title: "a".into(),
        etag: Some("\"v1\"".into()),
    };
    let value = Doc {
        title: "b".into(),
        ..original.clone()
    };
    let error = bounded(value.patch(&client, &original)).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    let patch = only(&server);
    assert_eq!(patch.header("if-match"), Some("\"v1\""));
    assert_eq!(patch.json(), json!({"title": "b"}));
}

#[tokio::test]
async fn e3_a_refused_or_unreadable_patch_drops_the_member_from_the_cache() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/docs/1",
        Reply::json(200, json!({"id": 1, "title": "a"})).header("etag", "\"v2\""),
    );
    server.on("PATCH", "/api/docs/1", Reply::text(412, "stale"));
    server.on("PATCH", "/api/docs/1", Reply::raw(200, "not json"));
    let original = Doc {
        id: Some(1),
        title: "a".into(),
        etag: Some("\"v1\"".into()),
    };
    let value = Doc {
        title: "b".into(),
        ..original.clone()
    };
    Doc::fetch(&client, 1).await.unwrap();
    let refused = bounded(value.patch(&client, &original)).await.unwrap_err();
    assert!(refused.is_conflict(), "{refused}");
    // R8: the member is forgotten, the next fetch reads the server's.
    Doc::fetch(&client, 1).await.unwrap();
    assert_eq!(server.count("GET", "/api/docs/1"), 2);
    // R9: accepted but unreadable: an error that keeps the body, and the
    // member is forgotten too.
    let unread = bounded(value.patch(&client, &original)).await.unwrap_err();
    assert!(unread.is_decode(), "{unread}");
    assert_eq!(unread.body(), Some("not json"));
    Doc::fetch(&client, 1).await.unwrap();
    assert_eq!(server.count("GET", "/api/docs/1"), 3);
}

#[tokio::test]
async fn e3_patch_without_an_id_is_a_builder_error() {
    let (server, client) = setup().await;
    let value = User { id: None, ..ada() };
    let error = bounded(value.patch(&client, &ada())).await.unwrap_err();
    assert!(error.is_builder(), "{error}");
    assert_eq!(server.total(), 0);
}

// ---- E1: query strings ----

#[derive(Serialize)]
struct Filter<'a> {
    role: &'a str,
    q: Option<&'a str>,
    _sort: &'a str,
}

#[tokio::test]
async fn e1_queries_are_sent_and_cached_per_query_string_and_writes_invalidate_them() {
    let (server, client) = setup().await;
    server.handle(|request| {
        let query = request.query.clone().unwrap_or_default();
        Reply::json(200, json!([{"id": 1, "name": query}]))
    });
    server.on("PUT", "/api/users/7", Reply::empty(204));
    let admins = || {
        Fetch::new().query(&Filter {
            role: "admin",
            q: Some("a b&c"),
            _sort: "name",
        })
    };
    let first = User::fetch_all_with(&client, admins()).await.unwrap();
    let again = User::fetch_all_with(&client, admins()).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(first[0].name, "role=admin&q=a+b%26c&_sort=name");
    let plain = User::fetch_all(&client).await.unwrap();
    assert_eq!(plain[0].name, "");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/api/users");
    assert_eq!(
        requests[0].query.as_deref(),
        Some("role=admin&q=a+b%26c&_sort=name")
    );
    assert_eq!(requests[1].query, None);

    // A write of the type invalidates every query of its collections.
    ada().save(&client).await.unwrap();
    User::fetch_all_with(&client, admins()).await.unwrap();
    User::fetch_all(&client).await.unwrap();
    assert_eq!(server.count("GET", "/api/users"), 4);
}

#[tokio::test]
async fn e1_a_member_with_a_query_is_dropped_by_its_own_save_and_destroy() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/users/7",
        Reply::json(200, json!({"id": 7, "name": "Ada"})),
    );
    server.on("PUT", "/api/users/7", Reply::empty(204));
    server.on("DELETE", "/api/users/7", Reply::empty(204));
    let embed = || Fetch::new().query(&[("embed", "posts")]);
    User::fetch_with(&client, 7, embed()).await.unwrap();
    User::fetch_with(&client, 7, embed()).await.unwrap();
    assert_eq!(server.count("GET", "/api/users/7"), 1);
    assert_eq!(server.requests()[0].query.as_deref(), Some("embed=posts"));
    ada().save(&client).await.unwrap();
    User::fetch_with(&client, 7, embed()).await.unwrap();
    assert_eq!(server.count("GET", "/api/users/7"), 2);
    ada().destroy(&client).await.unwrap();
    User::fetch_with(&client, 7, embed()).await.unwrap();
    assert_eq!(server.count("GET", "/api/users/7"), 3);
}

#[tokio::test]
async fn e1_invalidating_a_member_drops_its_views_even_in_flight_and_no_other_s() {
    let (server, client) = setup().await;
    let user = |id: u64, name: &str| json!({"id": id, "name": name});
    let gate = Gate::new();
    server.on("GET", "/api/users/7", Reply::json(200, user(7, "view")));
    server.on("GET", "/api/users/7", Reply::json(200, user(7, "member")));
    server.on(
        "GET",
        "/api/users/8",
        Reply::json(200, user(8, "other view")),
    );
    // After the invalidation: an answer from before it, held, then a new one.
    server.on(
        "GET",
        "/api/users/7",
        Reply::json(200, user(7, "before")).after(&gate),
    );
    server.on("GET", "/api/users/7", Reply::json(200, user(7, "after")));
    let embed = || Fetch::new().query(&[("embed", "posts")]);
    let other = || Fetch::new().query(&[("fields", "name")]);
    assert_eq!(
        User::fetch_with(&client, 7, embed()).await.unwrap().name,
        "view"
    );
    assert_eq!(User::fetch(&client, 7).await.unwrap().name, "member");
    let kept = User::fetch_with(&client, 8, embed()).await.unwrap();
    assert_eq!(server.total(), 3);

    User::invalidate(&client, 7);
    let old = tokio::spawn({
        let client = client.clone();
        async move { User::fetch_with(&client, 7, other()).await }
    });
    bounded(server.wait_for(4)).await;
    // A view of 7 requested before the next invalidation, answered after it.
    User::invalidate(&client, 7);
    gate.open();
    assert_eq!(bounded(old).await.unwrap().unwrap().name, "before");

    assert_eq!(
        User::fetch_with(&client, 7, other()).await.unwrap().name,
        "after",
        "the answer from before the invalidation was not cached"
    );
    assert_eq!(server.count("GET", "/api/users/7"), 4);
    let again = User::fetch_with(&client, 8, embed()).await.unwrap();
    assert!(Arc::ptr_eq(&kept, &again), "another member's view stays");
    assert_eq!(server.total(), 5);
    // The member itself and its first view were dropped too: both ask
    // again (and get the route's last reply, which repeats).
    assert_eq!(
        User::fetch_with(&client, 7, embed()).await.unwrap().name,
        "after"
    );
    assert_eq!(User::fetch(&client, 7).await.unwrap().name, "after");
    assert_eq!(server.count("GET", "/api/users/7"), 6);
}

#[tokio::test]
async fn e1_a_value_that_is_not_a_query_string_fails_before_sending() {
    let (server, client) = setup().await;
    let nested = Fetch::new().query(&json!({"a": {"b": 1}}));
    assert_eq!(nested.query_string(), None);
    let error = User::fetch_all_with(&client, nested).await.unwrap_err();
    assert!(error.is_builder(), "{error}");
    assert_eq!(server.total(), 0);
    // An empty query is no query.
    assert_eq!(
        Fetch::new().query(&Vec::<(String, String)>::new()),
        Fetch::new()
    );
}

// ---- E2: pages and stream_all ----

/// `/items?page=n`: `per` items, and a relative `Link` to page n+1 up to
/// `last`, among other links.
fn paged(server: &Server, per: u64, last: u64) {
    server.handle(move |request| {
        let page: u64 = request
            .query
            .as_deref()
            .and_then(|q| q.strip_prefix("page="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let items: Vec<Value> = ((page - 1) * per..page * per)
            .map(|id| json!({ "id": id }))
            .collect();
        let mut reply = Reply::json(200, Value::Array(items));
        let mut links = vec![format!("</api/items?page=1>; rel=\"first\"")];
        if page < last {
            links.push(format!(
                "<items?page={}>; title=\"next, page\"; rel=\"next\"",
                page + 1
            ));
        }
        reply = reply.header("link", &links.join(", "));
        reply
    });
}

#[tokio::test]
async fn e2_stream_all_over_a_hundred_pages_requests_one_page_at_a_time() {
    let (server, client) = setup().await;
    let (per, last) = (3, 120);
    paged(&server, per, last);
    let mut stream = Box::pin(Item::stream_all(&client, Fetch::new()));
    tokio::task::yield_now().await;
    assert_eq!(server.total(), 0, "nothing before the first poll");
    let mut seen = 0;
    while let Some(item) = bounded(stream.next()).await {
        let item = item.unwrap();
        assert_eq!(item.id, Some(seen));
        // Item `seen` is on page seen / per + 1: that page and none after.
        assert_eq!(server.total() as u64, seen / per + 1, "at item {seen}");
        seen += 1;
    }
    assert_eq!(seen, per * last);
    assert_eq!(server.total() as u64, last);
    let requests = server.requests();
    assert_eq!(requests[0].query, None);
    assert_eq!(requests[1].path, "/api/items");
    assert_eq!(requests[1].query.as_deref(), Some("page=2"));
    assert_eq!(requests[1].header("accept"), Some("application/json"));
}

#[tokio::test]
async fn e2_pages_yield_one_vec_per_page_with_the_fetch_s_query_first() {
    let (server, client) = setup().await;
    paged(&server, 2, 3);
    let options = Fetch::new().query(&[("page", "1")]);
    let pages: Vec<Vec<Item>> = bounded(Item::pages(&client, options).try_collect())
        .await
        .unwrap();
    let ids: Vec<Vec<u64>> = pages
        .iter()
        .map(|page| page.iter().filter_map(|item| item.id).collect())
        .collect();
    assert_eq!(ids, vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
    let queries: Vec<Option<String>> = server.requests().into_iter().map(|r| r.query).collect();
    assert_eq!(
        queries,
        [Some("page=1"), Some("page=2"), Some("page=3")].map(|q| q.map(str::to_owned))
    );
    // Pages are not cached: a second walk asks again.
    let again: Vec<Vec<Item>> = Item::pages(&client, Fetch::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!(server.total(), 6);
}

#[tokio::test]
async fn e2_an_error_is_yielded_then_the_stream_ends() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/items",
        Reply::json(200, json!([{"id": 1}])).header("link", "</api/items/broken>; rel=next"),
    );
    server.on("GET", "/api/items/broken", Reply::text(500, "down"));
    let mut stream = Box::pin(Item::stream_all(&client, Fetch::new()));
    assert_eq!(bounded(stream.next()).await.unwrap().unwrap().id, Some(1));
    let error = bounded(stream.next()).await.unwrap().unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(500));
    assert!(bounded(stream.next()).await.is_none());
    assert_eq!(server.total(), 2);
}

#[tokio::test]
async fn e2_a_next_link_off_the_base_origin_is_an_error_and_not_followed() {
    let (server, client) = setup().await;
    let other = Server::start().await;
    server.on(
        "GET",
        "/api/items",
        Reply::json(200, json!([{"id": 1}])).header(
            "link",
            &format!("<{}/api/items?page=2>; rel=\"next\"", other.url()),
        ),
    );
    let results: Vec<Result<Item, backrest::Error>> =
        bounded(Item::stream_all(&client, Fetch::new()).collect()).await;
    assert_eq!(results.len(), 2);
    let error = results[1].as_ref().unwrap_err();
    assert!(error.is_builder(), "{error}");
    assert!(error.to_string().contains("origin"), "{error}");
    assert_eq!(other.total(), 0);
    assert_eq!(server.total(), 1);
}

#[tokio::test]
async fn e2_a_cursor_in_the_body_pages_through_the_query() {
    let (server, client) = setup().await;
    server.handle(|request| {
        let body = match request.query.as_deref() {
            Some("limit=2") => json!({"data": [{"id": 1}, {"id": 2}], "meta": {"next": "c 2"}}),
            Some("limit=2&after=c+2") => json!({"data": [{"id": 3}], "meta": {"next": 9}}),
            Some("limit=2&after=9") => json!({"data": [{"id": 4}], "meta": {"next": null}}),
            other => return Reply::text(400, &format!("{other:?}")),
        };
        Reply::json(200, body)
    });
    let options =
        Fetch::new()
            .query(&[("limit", 2)])
            .paging(Paging::cursor("/data", "/meta/next", "after"));
    let items: Vec<Item> = bounded(Item::stream_all(&client, options).try_collect())
        .await
        .unwrap();
    let ids: Vec<u64> = items.iter().filter_map(|item| item.id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(server.total(), 3);
}

#[tokio::test]
async fn e2_numbered_pages_end_at_the_first_empty_page() {
    let (server, client) = setup().await;
    server.handle(|request| {
        let body = match request.query.as_deref() {
            Some("_page=1") => json!([{"id": 1}, {"id": 2}]),
            Some("_page=2") => json!([{"id": 3}]),
            Some("_page=3") => json!([]),
            other => return Reply::text(400, &format!("{other:?}")),
        };
        Reply::json(200, body)
    });
    let options = Fetch::new().paging(Paging::page_number("_page", 1));
    let pages: Vec<Vec<Item>> = bounded(Item::pages(&client, options).try_collect())
        .await
        .unwrap();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1, 0]);
    assert_eq!(server.total(), 3);
}

// ---- E4: shallow member paths ----

/// Listed and created under the post, fetched, updated, patched and
/// destroyed at `/comments/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/posts/{post_id}/comments", member = "/comments/{id}")]
struct Comment {
    #[model(id)]
    id: Option<u64>,
    post_id: u64,
    body: String,
}

/// A member template that keeps one of the collection's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(
    path = "/orgs/{org}/teams/{team}/tasks",
    member = "/orgs/{org}/tasks/{id}"
)]
struct Task {
    #[model(id)]
    id: Option<String>,
    team: u32,
    org: String,
}

#[tokio::test]
async fn e4_collections_under_the_parent_and_members_at_their_own_path() {
    let (server, client) = setup().await;
    let stored = json!({"id": 7, "post_id": 1, "body": "hi"});
    server.on(
        "GET",
        "/api/posts/1/comments",
        Reply::json(200, json!([stored])),
    );
    server.on(
        "POST",
        "/api/posts/1/comments",
        Reply::json(201, stored.clone()),
    );
    server.on("GET", "/api/comments/7", Reply::json(200, stored.clone()));
    server.on("PUT", "/api/comments/7", Reply::empty(204));
    server.on("PATCH", "/api/comments/7", Reply::empty(204));
    server.on("DELETE", "/api/comments/7", Reply::empty(204));

    let all = Comment::fetch_all(&client, 1).await.unwrap();
    let new = Comment {
        id: None,
        post_id: 1,
        body: "hi".into(),
    };
    let created = new.save(&client).await.unwrap();
    // The create cached the member at its own path.
    let cached = Comment::fetch(&client, 7).await.unwrap();
    assert_eq!(*cached, created);
    assert_eq!(server.count("GET", "/api/comments/7"), 0);
    let reloaded = Comment::fetch_with(&client, 7, Fetch::reload())
        .await
        .unwrap();
    assert_eq!(all[0], *reloaded);
    let edited = Comment {
        body: "hello".into(),
        ..created.clone()
    };
    edited.update(&client).await.unwrap();
    edited.save(&client).await.unwrap();
    Comment {
        body: "bye".into(),
        ..edited.clone()
    }
    .patch(&client, &edited)
    .await
    .unwrap();
    edited.destroy(&client).await.unwrap();

    let seen = server.calls();
    let expected = [
        ("GET", "/api/posts/1/comments"),
        ("POST", "/api/posts/1/comments"),
        ("GET", "/api/comments/7"),
        ("PUT", "/api/comments/7"),
        ("PUT", "/api/comments/7"),
        ("PATCH", "/api/comments/7"),
        ("DELETE", "/api/comments/7"),
    ]
    .map(|(m, p)| (m.to_owned(), p.to_owned()));
    assert_eq!(seen, expected);
    assert_eq!(server.requests()[5].json(), json!({"body": "bye"}));
}

#[tokio::test]
async fn e4_a_member_template_takes_its_own_parameters_then_the_id() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/orgs/a%20b/tasks/x%2Fy",
        Reply::json(200, json!({"id": "x/y", "team": 3, "org": "a b"})),
    );
    server.on("DELETE", "/api/orgs/a%20b/tasks/x%2Fy", Reply::empty(204));
    let task = Task::fetch(&client, "a b".into(), "x/y".into())
        .await
        .unwrap();
    assert_eq!(task.team, 3);
    task.destroy(&client).await.unwrap();
    assert_eq!(server.count("GET", "/api/orgs/a%20b/tasks/x%2Fy"), 1);
    assert_eq!(server.count("DELETE", "/api/orgs/a%20b/tasks/x%2Fy"), 1);
    // Generic code builds the same member path from the collection's
    // parameters.
    let path = <Task as Model>::member_path(&("a b".into(), 3), &"x/y".into());
    assert_eq!(path, "/orgs/a%20b/tasks/x%2Fy");
}

// ---- E5: singletons ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(singleton, path = "/users/{user_id}/profile")]
struct Profile {
    user_id: u64,
    bio: String,
}

#[tokio::test]
async fn e5_a_singleton_is_fetched_with_its_parameters_and_saved_with_put() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/users/4/profile",
        Reply::json(200, json!({"user_id": 4, "bio": "old"})),
    );
    server.on(
        "PUT",
        "/api/users/4/profile",
        Reply::json(200, json!({"user_id": 4, "bio": "new"})),
    );
    let (a, b) = tokio::join!(Profile::fetch(&client, 4), Profile::fetch(&client, 4));
    assert!(Arc::ptr_eq(&a.unwrap(), &b.unwrap()), "shared and cached");
    let edited = Profile {
        user_id: 4,
        bio: "new".into(),
    };
    let saved = bounded(edited.save(&client)).await.unwrap();
    assert_eq!(saved.bio, "new");
    // Cached like a member: the save's answer is served.
    let cached = Profile::fetch(&client, 4).await.unwrap();
    assert_eq!(*cached, saved);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].method, "PUT");
    assert_eq!(requests[1].json(), json!({"user_id": 4, "bio": "new"}));
    assert_eq!(requests[1].header("idempotency-key"), None);
}

// ---- E6: envelopes ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/posts", envelope = "data")]
struct Post {
    #[model(id)]
    id: Option<u64>,
    title: String,
}

#[tokio::test]
async fn e6_answers_are_read_from_and_bodies_written_into_the_envelope() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/posts/1",
        Reply::json(200, json!({"data": {"id": 1, "title": "a"}, "meta": {}})),
    );
    server.on(
        "GET",
        "/api/posts",
        Reply::json(200, json!({"data": [{"id": 1, "title": "a"}]})),
    );
    server.on(
        "POST",
        "/api/posts",
        Reply::json(201, json!({"data": {"id": 2, "title": "b"}})),
    );
    server.on(
        "PATCH",
        "/api/posts/2",
        Reply::json(200, json!({"data": {"id": 2, "title": "c"}})),
    );
    server.on(
        "GET",
        "/api/posts/9",
        Reply::json(200, json!({"id": 9, "title": "bare"})),
    );

    assert_eq!(Post::fetch(&client, 1).await.unwrap().title, "a");
    assert_eq!(Post::fetch_all(&client).await.unwrap().len(), 1);
    let created = Post {
        id: None,
        title: "b".into(),
    }
    .save(&client)
    .await
    .unwrap();
    assert_eq!(created.id, Some(2));
    let patched = Post {
        title: "c".into(),
        ..created.clone()
    }
    .patch(&client, &created)
    .await
    .unwrap();
    assert_eq!(patched.title, "c");
    let error = Post::fetch(&client, 9).await.unwrap_err();
    assert!(error.is_decode(), "{error}");
    assert!(error.to_string().contains("Post"), "{error}");

    let requests = server.requests();
    assert_eq!(
        requests[2].json(),
        json!({"data": {"id": null, "title": "b"}})
    );
    assert_eq!(requests[3].json(), json!({"data": {"title": "c"}}));
}
