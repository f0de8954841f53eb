//! T2: the protocol the fake speaks, seen over plain HTTP: strong ETags,
//! `If-None-Match` and `If-Match`, `Idempotency-Key` replay, `Link`
//! pagination and equality filters.

mod common;

use backrest::fake::FakeApi;
use common::{Doc, User, send, user};
use serde_json::json;

#[tokio::test]
async fn t2_every_answer_with_a_member_carries_its_strong_etag_new_on_each_write() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let created = send(&api, "POST", "/users", &[], Some(json!({"name": "Ada"}))).await;
    let created_tag = created.header("etag").unwrap().to_owned();
    assert!(
        created_tag.starts_with('"') && created_tag.ends_with('"'),
        "{created_tag}"
    );
    let fetched = send(&api, "GET", "/users/1", &[], None).await;
    assert_eq!(fetched.header("etag"), Some(created_tag.as_str()));
    let put = send(
        &api,
        "PUT",
        "/users/1",
        &[],
        Some(json!({"name": "Ada L."})),
    )
    .await;
    let put_tag = put.header("etag").unwrap().to_owned();
    assert_ne!(put_tag, created_tag);
    let patched = send(&api, "PATCH", "/users/1", &[], Some(json!({"name": "A"}))).await;
    let patch_tag = patched.header("etag").unwrap();
    assert_ne!(patch_tag, put_tag);
}

#[tokio::test]
async fn t2_the_typed_view_carries_the_same_etag_as_the_wire() {
    let api = FakeApi::start().await;
    api.serve_with::<Doc>(|n| format!("d{n}"));
    let doc = api.insert(Doc {
        doc_id: None,
        title: "Notes".into(),
        etag: None,
    });
    let wire = send(&api, "GET", "/docs/d1", &[], None).await;
    assert_eq!(doc.etag.as_deref(), wire.header("etag"));
    assert!(doc.etag.is_some());
    // The etag field is never in a body.
    assert_eq!(wire.json, json!({"docId": "d1", "title": "Notes"}));
    send(
        &api,
        "PATCH",
        "/docs/d1",
        &[],
        Some(json!({"title": "More"})),
    )
    .await;
    let held = api.all::<Doc>(());
    assert_ne!(held[0].etag, doc.etag);
    assert_eq!(
        held[0].etag.as_deref(),
        send(&api, "GET", "/docs/d1", &[], None)
            .await
            .header("etag")
    );
}

#[tokio::test]
async fn t2_if_none_match_answers_304_without_a_body_while_the_member_is_unchanged() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    let first = send(&api, "GET", "/users/1", &[], None).await;
    let tag = first.header("etag").unwrap().to_owned();
    let same = send(&api, "GET", "/users/1", &[("if-none-match", &tag)], None).await;
    assert_eq!(
        (same.status, same.json.clone()),
        (304, serde_json::Value::Null)
    );
    assert_eq!(same.header("etag"), Some(tag.as_str()));
    // Weak comparison: `W/` does not stop a match; a list of tags may.
    let weak = format!("W/{tag}");
    assert_eq!(
        send(&api, "GET", "/users/1", &[("if-none-match", &weak)], None)
            .await
            .status,
        304
    );
    let listed = format!("\"other\", {tag}");
    assert_eq!(
        send(&api, "GET", "/users/1", &[("if-none-match", &listed)], None)
            .await
            .status,
        304
    );
    send(
        &api,
        "PUT",
        "/users/1",
        &[],
        Some(json!({"name": "Ada L."})),
    )
    .await;
    let changed = send(&api, "GET", "/users/1", &[("if-none-match", &tag)], None).await;
    assert_eq!(
        (changed.status, changed.json["name"].clone()),
        (200, json!("Ada L."))
    );
}

#[tokio::test]
async fn t2_a_list_has_an_etag_of_its_own_and_answers_304_while_unchanged() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    let first = send(&api, "GET", "/users", &[], None).await;
    let tag = first.header("etag").unwrap().to_owned();
    let same = send(&api, "GET", "/users", &[("if-none-match", &tag)], None).await;
    assert_eq!(same.status, 304);
    api.insert(user("Grace"));
    let changed = send(&api, "GET", "/users", &[("if-none-match", &tag)], None).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(tag.as_str()));
}

#[tokio::test]
async fn t2_if_match_that_does_not_match_is_412_and_nothing_is_written() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    let tag = send(&api, "GET", "/users/1", &[], None)
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let stale = [("if-match", "\"999\"")];
    let put = send(&api, "PUT", "/users/1", &stale, Some(json!({"name": "X"}))).await;
    assert_eq!(put.status, 412);
    let patch = send(
        &api,
        "PATCH",
        "/users/1",
        &stale,
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!(patch.status, 412);
    let delete = send(&api, "DELETE", "/users/1", &stale, None).await;
    assert_eq!(delete.status, 412);
    // A weak tag never matches strongly.
    let weak = format!("W/{tag}");
    let weakly = send(
        &api,
        "PUT",
        "/users/1",
        &[("if-match", &weak)],
        Some(json!({"name": "X"})),
    )
    .await;
    assert_eq!(weakly.status, 412);
    assert_eq!(api.get::<User>((), 1).unwrap().name, "Ada");

    let current = send(
        &api,
        "PUT",
        "/users/1",
        &[("if-match", &tag)],
        Some(json!({"name": "Y"})),
    )
    .await;
    assert_eq!(current.status, 200);
    // `*` matches any current member, and no missing one.
    assert_eq!(
        send(&api, "DELETE", "/users/1", &[("if-match", "*")], None)
            .await
            .status,
        204
    );
    assert_eq!(
        send(&api, "DELETE", "/users/1", &[("if-match", "*")], None)
            .await
            .status,
        412
    );
}

#[tokio::test]
async fn t2_the_same_idempotency_key_answers_the_stored_response_and_creates_nothing() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let key = [("idempotency-key", "k-1")];
    let body = json!({"name": "Ada"});
    let first = send(&api, "POST", "/users", &key, Some(body.clone())).await;
    let again = send(&api, "POST", "/users", &key, Some(body)).await;
    assert_eq!((first.status, again.status), (201, 201));
    assert_eq!(first.json, again.json);
    assert_eq!(first.header("etag"), again.header("etag"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.header("idempotent-replayed"), None);
    assert_eq!(api.all::<User>(()).len(), 1);
    // The key with another request is refused; another key creates.
    let reused = send(&api, "POST", "/users", &key, Some(json!({"name": "Grace"}))).await;
    assert_eq!(reused.status, 422);
    let other = send(
        &api,
        "POST",
        "/users",
        &[("idempotency-key", "k-2")],
        Some(json!({"name": "Ada"})),
    )
    .await;
    assert_eq!(other.json["id"], 2);
    assert_eq!(api.all::<User>(()).len(), 2);
}

#[tokio::test]
async fn t2_pages_follow_link_headers_at_the_page_size() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.page_size::<User>(2);
    for name in ["a", "b", "c", "d", "e"] {
        api.insert(user(name));
    }
    let mut names = Vec::new();
    let mut next = Some(format!("{}/users", api.url()));
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        let path = url.strip_prefix(api.url()).unwrap().to_owned();
        let page = send(&api, "GET", &path, &[], None).await;
        assert_eq!(page.header("x-total-count"), Some("5"));
        names.extend(
            page.json
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["name"].as_str().unwrap().to_owned()),
        );
        next = page.header("link").and_then(next_link);
        assert!(pages <= 3, "no more than 3 pages of 2");
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["a", "b", "c", "d", "e"]);

    let second = send(&api, "GET", "/users?_page=2", &[], None).await;
    let link = second.header("link").unwrap();
    let base = api.url();
    assert_eq!(
        link,
        format!(
            "<{base}/users?_page=3&_limit=2>; rel=\"next\", <{base}/users?_page=1&_limit=2>; rel=\"prev\", \
             <{base}/users?_page=1&_limit=2>; rel=\"first\", <{base}/users?_page=3&_limit=2>; rel=\"last\""
        )
    );
    // A request's `_limit` wins; a page past the end is empty.
    assert_eq!(
        send(&api, "GET", "/users?_limit=4", &[], None)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        send(&api, "GET", "/users?_page=9", &[], None).await.json,
        json!([])
    );
    assert_eq!(
        send(&api, "GET", "/users?_page=0", &[], None).await.status,
        400
    );
    // Off again: the whole list, without a Link.
    api.page_size::<User>(0);
    let whole = send(&api, "GET", "/users", &[], None).await;
    assert_eq!(
        (whole.json.as_array().unwrap().len(), whole.header("link")),
        (5, None)
    );
}

/// The `rel="next"` target of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(", ").find_map(|part| {
        let (target, rel) = part.split_once(">; ")?;
        (rel == "rel=\"next\"").then(|| target.trim_start_matches('<').to_owned())
    })
}

#[tokio::test]
async fn t2_query_parameters_filter_lists_by_equality_and_pages_keep_the_filter() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    for name in ["Ada", "Grace", "Ada", "Ada B"] {
        api.insert(user(name));
    }
    let adas = send(&api, "GET", "/users?name=Ada", &[], None).await;
    assert_eq!(
        adas.json,
        json!([{"id": 1, "name": "Ada"}, {"id": 3, "name": "Ada"}])
    );
    let spaced = send(&api, "GET", "/users?name=Ada+B", &[], None).await;
    assert_eq!(spaced.json, json!([{"id": 4, "name": "Ada B"}]));
    let by_id = send(&api, "GET", "/users?id=2", &[], None).await;
    assert_eq!(by_id.json, json!([{"id": 2, "name": "Grace"}]));
    let both = send(&api, "GET", "/users?name=Ada&id=3", &[], None).await;
    assert_eq!(both.json.as_array().unwrap().len(), 1);
    assert_eq!(
        send(&api, "GET", "/users?nick=x", &[], None).await.json,
        json!([])
    );

    let paged = send(&api, "GET", "/users?name=Ada&_limit=1", &[], None).await;
    assert_eq!(paged.header("x-total-count"), Some("2"));
    let next = paged.header("link").and_then(next_link).unwrap();
    assert_eq!(
        next,
        format!("{}/users?name=Ada&_page=2&_limit=1", api.url())
    );
}

#[tokio::test]
async fn t2_a_member_created_again_at_the_same_id_does_not_match_an_old_etag() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    let old = send(&api, "GET", "/users/1", &[], None)
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    assert_eq!(
        send(&api, "DELETE", "/users/1", &[], None).await.status,
        204
    );
    api.insert(User {
        id: Some(1),
        name: "Ada again".into(),
    });
    let stale = [("if-match", old.as_str())];
    let put = send(&api, "PUT", "/users/1", &stale, Some(json!({"name": "X"}))).await;
    assert_eq!(put.status, 412, "revisions are never reused");
    assert_eq!(api.get::<User>((), 1).unwrap().name, "Ada again");
}
