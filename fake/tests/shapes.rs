//! T1: the API shapes of `#[model(..)]` the fake serves from a model's
//! `Model` impl, each seen over plain HTTP: shallow member paths
//! (`member = ".."`), singletons and envelopes, with their `ETag`s, `304`s
//! and `412`s.

mod common;

use backrest::NoId;
use backrest::fake::FakeApi;
use common::{Article, Comment, Profile, User, article, comment, profile, send, user};
use serde_json::json;

// ---- shallow member paths ----

#[tokio::test]
async fn t1_shallow_members_are_created_and_listed_under_the_parent_and_served_at_their_own_path() {
    let api = FakeApi::start().await;
    api.serve::<Comment>();
    let created = send(
        &api,
        "POST",
        "/posts/1/comments",
        &[],
        Some(json!({"post_id": 1, "body": "First"})),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.header("location"), Some("/comments/1"));
    assert_eq!(
        created.json,
        json!({"id": 1, "post_id": 1, "body": "First"})
    );
    // Ids are unique across parents: a member is found by id alone.
    let other = send(
        &api,
        "POST",
        "/posts/2/comments",
        &[],
        Some(json!({"post_id": 2, "body": "Elsewhere"})),
    )
    .await;
    assert_eq!(other.json["id"], 2);
    let taken = send(
        &api,
        "POST",
        "/posts/2/comments",
        &[],
        Some(json!({"id": 1, "post_id": 2, "body": "Same id"})),
    )
    .await;
    assert_eq!(taken.status, 409);

    let fetched = send(&api, "GET", "/comments/1", &[], None).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json, created.json);
    assert_eq!(fetched.header("etag"), created.header("etag"));
    let listed = send(&api, "GET", "/posts/1/comments", &[], None).await;
    assert_eq!(listed.json, json!([created.json]));
    // Members are at `member` only, not under the collection too.
    let nested = send(&api, "GET", "/posts/1/comments/1", &[], None).await;
    assert_eq!(nested.status, 404);
    let missing = send(&api, "GET", "/comments/3", &[], None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        api.get::<Comment>((1,), 1).map(|c| c.body),
        Some("First".into())
    );
    assert_eq!(api.all::<Comment>((2,)).len(), 1);
}

#[tokio::test]
async fn t1_shallow_members_are_replaced_patched_and_deleted_at_their_own_path_with_conditions() {
    let api = FakeApi::start().await;
    api.serve::<Comment>();
    let stored = api.insert(comment(4, "Draft"));
    let etag = stored.etag.clone().unwrap();

    let unchanged = send(
        &api,
        "GET",
        "/comments/1",
        &[("if-none-match", etag.as_str())],
        None,
    )
    .await;
    assert_eq!(unchanged.status, 304);

    let put = send(
        &api,
        "PUT",
        "/comments/1",
        &[("if-match", etag.as_str())],
        Some(json!({"post_id": 4, "body": "Final"})),
    )
    .await;
    assert_eq!(put.status, 200);
    assert_eq!(put.json, json!({"id": 1, "post_id": 4, "body": "Final"}));
    assert_ne!(put.header("etag"), Some(etag.as_str()));

    // The old ETag no longer matches: 412, and nothing is written.
    let stale = send(
        &api,
        "PATCH",
        "/comments/1",
        &[("if-match", etag.as_str())],
        Some(json!({"body": "Lost"})),
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(api.get::<Comment>((4,), 1).unwrap().body, "Final");

    // A member's parent is where it was created: a PUT moving it is refused.
    let moved = send(
        &api,
        "PUT",
        "/comments/1",
        &[],
        Some(json!({"post_id": 5, "body": "Moved"})),
    )
    .await;
    assert_eq!(moved.status, 422);

    let patched = send(
        &api,
        "PATCH",
        "/comments/1",
        &[("if-match", put.header("etag").unwrap())],
        Some(json!({"body": "Patched"})),
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        patched.json,
        json!({"id": 1, "post_id": 4, "body": "Patched"})
    );

    // Failures asked for on the model reach its member path too.
    api.fail::<Comment>(backrest::fake::StatusCode::SERVICE_UNAVAILABLE, 1);
    let failed = send(&api, "DELETE", "/comments/1", &[], None).await;
    assert_eq!(failed.status, 503);
    assert_eq!(
        api.all::<Comment>((4,)).len(),
        1,
        "a failure writes nothing"
    );
    let deleted = send(&api, "DELETE", "/comments/1", &[], None).await;
    assert_eq!(deleted.status, 204);
    assert!(api.all::<Comment>((4,)).is_empty());
    assert_eq!(
        send(&api, "GET", "/comments/1", &[], None).await.status,
        404
    );
}

/// Shallow members whose member path keeps one of the collection's
/// parameters: ids differ per org, not across orgs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, backrest::Model)]
#[model(
    path = "/orgs/{org}/boards/{board}/notes",
    member = "/orgs/{org}/notes/{id}"
)]
struct Note {
    #[model(id)]
    id: Option<u64>,
    org: String,
    board: u32,
    text: String,
}

fn note(id: u64, org: &str, board: u32, text: &str) -> serde_json::Value {
    json!({"id": id, "org": org, "board": board, "text": text})
}

#[tokio::test]
async fn t1_a_member_template_with_a_parameter_keeps_its_parents_members_apart() {
    let api = FakeApi::start().await;
    api.serve::<Note>();
    for (org, board, text) in [("a", 1, "in a"), ("b", 1, "in b")] {
        let path = format!("/orgs/{org}/boards/{board}/notes");
        let created = send(&api, "POST", &path, &[], Some(note(5, org, board, text))).await;
        assert_eq!(created.status, 201);
        assert_eq!(
            created.header("location"),
            Some(format!("/orgs/{org}/notes/5").as_str())
        );
    }
    // Another board of the same org: its member path would be the same.
    let clash = send(
        &api,
        "POST",
        "/orgs/a/boards/2/notes",
        &[],
        Some(note(5, "a", 2, "clash")),
    )
    .await;
    assert_eq!(clash.status, 409);
    assert_eq!(
        send(&api, "GET", "/orgs/a/notes/5", &[], None).await.json,
        note(5, "a", 1, "in a")
    );
    assert_eq!(
        send(&api, "GET", "/orgs/b/notes/5", &[], None).await.json,
        note(5, "b", 1, "in b")
    );
    assert_eq!(
        send(&api, "GET", "/orgs/c/notes/5", &[], None).await.status,
        404
    );
    let deleted = send(&api, "DELETE", "/orgs/b/notes/5", &[], None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(api.all::<Note>(("a".into(), 1)).len(), 1);
    assert!(api.all::<Note>(("b".into(), 1)).is_empty());
}

// ---- singletons ----

#[tokio::test]
async fn t1_a_singleton_is_created_or_replaced_by_a_put_at_its_path_and_kept_per_parameters() {
    let api = FakeApi::start().await;
    api.serve::<Profile>();
    let none = send(&api, "GET", "/users/3/profile", &[], None).await;
    assert_eq!(none.status, 404);

    // If-Match names a version: with none there, nothing is created.
    let expected = send(
        &api,
        "PUT",
        "/users/3/profile",
        &[("if-match", "\"1\"")],
        Some(json!({"user_id": 3, "bio": "Hello"})),
    )
    .await;
    assert_eq!(expected.status, 412);
    assert!(api.get::<Profile>((3,), NoId).is_none());

    let created = send(
        &api,
        "PUT",
        "/users/3/profile",
        &[],
        Some(json!({"user_id": 3, "bio": "Hello"})),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json, json!({"user_id": 3, "bio": "Hello"}));
    let etag = created.header("etag").unwrap().to_owned();

    let fetched = send(&api, "GET", "/users/3/profile", &[], None).await;
    assert_eq!((fetched.status, &fetched.json), (200, &created.json));
    let unchanged = send(
        &api,
        "GET",
        "/users/3/profile",
        &[("if-none-match", etag.as_str())],
        None,
    )
    .await;
    assert_eq!(unchanged.status, 304);

    let replaced = send(
        &api,
        "PUT",
        "/users/3/profile",
        &[("if-match", etag.as_str())],
        Some(json!({"user_id": 3, "bio": "Updated"})),
    )
    .await;
    assert_eq!(replaced.status, 200);
    assert_ne!(replaced.header("etag"), Some(etag.as_str()));
    let stale = send(
        &api,
        "PUT",
        "/users/3/profile",
        &[("if-match", etag.as_str())],
        Some(json!({"user_id": 3, "bio": "Lost"})),
    )
    .await;
    assert_eq!(stale.status, 412);
    assert_eq!(api.get::<Profile>((3,), NoId).unwrap().bio, "Updated");

    let patched = send(
        &api,
        "PATCH",
        "/users/3/profile",
        &[],
        Some(json!({"bio": "Patched"})),
    )
    .await;
    assert_eq!(patched.json, json!({"user_id": 3, "bio": "Patched"}));
    // No collection: nothing to POST to, and no member under the path.
    let post = send(
        &api,
        "POST",
        "/users/3/profile",
        &[],
        Some(json!({"user_id": 3, "bio": "x"})),
    )
    .await;
    assert_eq!(post.status, 405);
    assert_eq!(
        send(&api, "GET", "/users/3/profile/1", &[], None)
            .await
            .status,
        404
    );
    // Another user's is another singleton.
    assert_eq!(
        send(&api, "GET", "/users/4/profile", &[], None)
            .await
            .status,
        404
    );
    api.insert(profile(4, "Four"));
    assert_eq!(
        send(&api, "GET", "/users/4/profile", &[], None).await.json,
        json!({"user_id": 4, "bio": "Four"})
    );
    assert_eq!(
        send(&api, "DELETE", "/users/3/profile", &[], None)
            .await
            .status,
        204
    );
    assert!(api.all::<Profile>((3,)).is_empty());
    assert_eq!(api.all::<Profile>((4,)).len(), 1);
}

#[tokio::test]
#[should_panic(
    expected = "FakeApi::insert::<Profile> refused the value: the `Profile` exists already"
)]
async fn t1_a_singleton_inserted_twice_is_refused() {
    let api = FakeApi::start().await;
    api.serve::<Profile>();
    api.insert(profile(1, "One"));
    api.insert(profile(1, "Again"));
}

// ---- envelopes ----

#[tokio::test]
async fn t1_an_envelope_model_reads_bodies_from_and_writes_answers_into_its_envelope() {
    let api = FakeApi::start().await;
    api.serve::<Article>();
    api.serve::<User>();
    let created = send(
        &api,
        "POST",
        "/articles",
        &[],
        Some(json!({"data": {"title": "On REST", "tags": []}})),
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.json,
        json!({"data": {"id": 1, "title": "On REST", "tags": []}})
    );
    // What the fake holds is the model, without its envelope.
    assert_eq!(api.all::<Article>(())[0].title, "On REST");

    let bare = send(
        &api,
        "POST",
        "/articles",
        &[],
        Some(json!({"title": "Bare"})),
    )
    .await;
    assert_eq!(bare.status, 422);
    assert_eq!(
        bare.json["error"],
        "the body is not in the model's envelope: an object with a `data` member"
    );
    assert_eq!(api.all::<Article>(()).len(), 1);

    api.insert(article("Second"));
    let fetched = send(&api, "GET", "/articles/2", &[], None).await;
    assert_eq!(
        fetched.json,
        json!({"data": {"id": 2, "title": "Second", "tags": []}})
    );
    let listed = send(&api, "GET", "/articles", &[], None).await;
    assert_eq!(listed.json["data"].as_array().map(Vec::len), Some(2));
    let etag = fetched.header("etag").unwrap().to_owned();
    let unchanged = send(
        &api,
        "GET",
        "/articles/2",
        &[("if-none-match", etag.as_str())],
        None,
    )
    .await;
    assert_eq!(unchanged.status, 304);

    let patched = send(
        &api,
        "PATCH",
        "/articles/2",
        &[("if-match", etag.as_str())],
        Some(json!({"data": {"tags": ["http"]}})),
    )
    .await;
    assert_eq!(
        patched.json,
        json!({"data": {"id": 2, "title": "Second", "tags": ["http"]}})
    );
    let stale = send(
        &api,
        "PUT",
        "/articles/2",
        &[("if-match", etag.as_str())],
        Some(json!({"data": {"title": "Lost", "tags": []}})),
    )
    .await;
    assert_eq!(stale.status, 412);
    // Errors are not wrapped; models without an envelope are read as they are.
    assert!(stale.json["error"].is_string());
    api.insert(user("Ada"));
    assert_eq!(
        send(&api, "GET", "/users/1", &[], None).await.json,
        json!({"id": 1, "name": "Ada"})
    );
}

#[tokio::test]
async fn t1_an_envelope_model_s_pages_are_wrapped_and_linked() {
    let api = FakeApi::start().await;
    api.serve::<Article>();
    for n in 1..=3 {
        api.insert(article(&format!("A{n}")));
    }
    api.page_size::<Article>(2);
    let first = send(&api, "GET", "/articles", &[], None).await;
    assert_eq!(first.json["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(first.header("x-total-count"), Some("3"));
    let link = first.header("link").unwrap();
    assert!(
        link.contains("/articles?_page=2&_limit=2>; rel=\"next\""),
        "{link}"
    );
}
