//! T1: the routes the fake derives from a model, each seen over plain HTTP,
//! and what it then holds.

mod common;

use backrest::fake::FakeApi;
use common::{Doc, Repo, User, send, user};
use serde_json::json;

#[tokio::test]
async fn t1_create_assigns_integer_ids_in_sequence_and_answers_201_with_location() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let first = send(
        &api,
        "POST",
        "/users",
        &[],
        Some(json!({"id": null, "name": "Ada"})),
    )
    .await;
    let second = send(&api, "POST", "/users", &[], Some(json!({"name": "Grace"}))).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.json, json!({"id": 1, "name": "Ada"}));
    assert_eq!(first.header("location"), Some("/users/1"));
    assert_eq!(second.json, json!({"id": 2, "name": "Grace"}));
    assert_eq!(api.all::<User>(()).len(), 2);
}

#[tokio::test]
async fn t1_list_answers_the_collection_in_creation_order() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let empty = send(&api, "GET", "/users", &[], None).await;
    assert_eq!((empty.status, empty.json), (200, json!([])));
    api.insert(user("Ada"));
    api.insert(user("Grace"));
    let list = send(&api, "GET", "/users", &[], None).await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.json,
        json!([{"id": 1, "name": "Ada"}, {"id": 2, "name": "Grace"}])
    );
}

#[tokio::test]
async fn t1_fetch_answers_a_member_or_404() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let ada = api.insert(user("Ada"));
    assert_eq!(ada.id, Some(1));
    let found = send(&api, "GET", "/users/1", &[], None).await;
    assert_eq!(
        (found.status, found.json),
        (200, json!({"id": 1, "name": "Ada"}))
    );
    let missing = send(&api, "GET", "/users/2", &[], None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json["error"], "no `User` with the id \"2\"");
}

#[tokio::test]
async fn t1_put_replaces_a_member_keeping_its_id() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    let put = send(
        &api,
        "PUT",
        "/users/1",
        &[],
        Some(json!({"id": 9, "name": "Ada L."})),
    )
    .await;
    assert_eq!(
        (put.status, put.json),
        (200, json!({"id": 1, "name": "Ada L."}))
    );
    assert_eq!(
        api.get::<User>((), 1).map(|u| u.name),
        Some("Ada L.".into())
    );
    assert_eq!(api.get::<User>((), 9), None);
    let missing = send(&api, "PUT", "/users/5", &[], Some(json!({"name": "x"}))).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn t1_patch_merges_rfc_7396_and_refuses_what_is_not_the_model() {
    let api = FakeApi::start().await;
    api.serve::<Repo>();
    api.insert(Repo {
        id: None,
        org_id: 7,
        name: "backrest".into(),
    });
    let patched = send(
        &api,
        "PATCH",
        "/orgs/7/repos/1",
        &[("content-type", "application/merge-patch+json")],
        Some(json!({"name": "backrest-fake"})),
    )
    .await;
    assert_eq!(patched.status, 200);
    assert_eq!(
        patched.json,
        json!({"id": 1, "org_id": 7, "name": "backrest-fake"})
    );
    // Removing a required field leaves no `Repo`: refused, nothing written.
    let refused = send(
        &api,
        "PATCH",
        "/orgs/7/repos/1",
        &[],
        Some(json!({"name": null})),
    )
    .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.json["error"]
            .as_str()
            .unwrap()
            .starts_with("the body is not a `Repo`: missing field `name`"),
        "{}",
        refused.json
    );
    assert_eq!(api.all::<Repo>((7,))[0].name, "backrest-fake");
}

#[tokio::test]
async fn t1_destroy_answers_204_and_the_member_is_gone() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    let deleted = send(&api, "DELETE", "/users/1", &[], None).await;
    assert_eq!(deleted.status, 204);
    assert!(api.all::<User>(()).is_empty());
    assert_eq!(
        send(&api, "DELETE", "/users/1", &[], None).await.status,
        404
    );
}

#[tokio::test]
async fn t1_nested_parameters_keep_each_parent_s_members_apart() {
    let api = FakeApi::start().await;
    api.serve::<Repo>();
    let created = send(
        &api,
        "POST",
        "/orgs/7/repos",
        &[],
        Some(json!({"org_id": 7, "name": "a"})),
    )
    .await;
    assert_eq!(created.header("location"), Some("/orgs/7/repos/1"));
    api.insert(Repo {
        id: None,
        org_id: 8,
        name: "b".into(),
    });
    assert_eq!(
        send(&api, "GET", "/orgs/7/repos", &[], None)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.all::<Repo>((8,))
            .iter()
            .map(|r| &r.name)
            .collect::<Vec<_>>(),
        ["b"]
    );
    assert_eq!(api.all::<Repo>((9,)), []);
    // Member 2 belongs to org 8, not to org 7.
    assert_eq!(
        send(&api, "GET", "/orgs/7/repos/2", &[], None).await.status,
        404
    );
    assert_eq!(
        send(&api, "GET", "/orgs/8/repos/2", &[], None).await.status,
        200
    );
    // A body whose parent is not the path's is refused.
    let elsewhere = send(
        &api,
        "POST",
        "/orgs/7/repos",
        &[],
        Some(json!({"org_id": 8, "name": "c"})),
    )
    .await;
    assert_eq!(elsewhere.status, 422);
    assert_eq!(api.all::<Repo>((8,)).len(), 1);
}

#[tokio::test]
async fn t1_other_ids_come_from_serve_with_and_the_id_field_is_named_as_serde_names_it() {
    let api = FakeApi::start().await;
    api.serve_with::<Doc>(|n| format!("doc-{n}"));
    let created = send(&api, "POST", "/docs", &[], Some(json!({"title": "Notes"}))).await;
    assert_eq!(created.json, json!({"docId": "doc-1", "title": "Notes"}));
    // A create that brings its id keeps it; a taken id is a 409.
    let chosen = send(
        &api,
        "POST",
        "/docs",
        &[],
        Some(json!({"docId": "a b", "title": "x"})),
    )
    .await;
    assert_eq!(
        (chosen.status, chosen.header("location")),
        (201, Some("/docs/a%20b"))
    );
    let again = send(
        &api,
        "POST",
        "/docs",
        &[],
        Some(json!({"docId": "a b", "title": "y"})),
    )
    .await;
    assert_eq!(again.status, 409);
    assert_eq!(
        send(&api, "GET", "/docs/a%20b", &[], None).await.json["title"],
        "x"
    );
    let inserted = api.insert(Doc {
        doc_id: None,
        title: "More".into(),
        etag: None,
    });
    assert_eq!(inserted.doc_id.as_deref(), Some("doc-2"));
}

#[tokio::test]
async fn t1_an_insert_with_a_taken_id_skips_it_in_the_sequence() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(User {
        id: Some(2),
        name: "Two".into(),
    });
    assert_eq!(api.insert(user("a")).id, Some(1));
    assert_eq!(api.insert(user("b")).id, Some(3));
}

#[tokio::test]
async fn t1_unknown_routes_methods_and_bodies_get_clear_errors() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let unknown = send(&api, "GET", "/teams", &[], None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json["error"],
        "no served model has a route for /teams"
    );
    let verb = send(&api, "DELETE", "/users", &[], None).await;
    assert_eq!(
        (verb.status, verb.header("allow")),
        (405, Some("GET, POST"))
    );
    let not_a_user = send(&api, "POST", "/users", &[], Some(json!({"name": 5}))).await;
    assert_eq!(not_a_user.status, 422);
    let http = reqwest::Client::new();
    let not_json = http
        .post(format!("{}/users", api.url()))
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert!(api.all::<User>(()).is_empty());
}

#[tokio::test]
async fn t1_validate_refuses_with_422_and_writes_nothing() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.validate::<User>(|user| {
        if user.name.is_empty() {
            Err("name must not be empty".into())
        } else {
            Ok(())
        }
    });
    let refused = send(&api, "POST", "/users", &[], Some(json!({"name": ""}))).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json, json!({"error": "name must not be empty"}));
    assert!(api.all::<User>(()).is_empty());
    // A refused create uses up no id.
    assert_eq!(api.insert(user("Ada")).id, Some(1));
}

#[tokio::test]
async fn t1_replace_plays_someone_else_s_write_with_a_new_etag() {
    let api = FakeApi::start().await;
    api.serve_with::<Doc>(|n| n.to_string());
    let first = api.insert(Doc {
        doc_id: None,
        title: "mine".into(),
        etag: None,
    });
    let theirs = api.replace(Doc {
        title: "theirs".into(),
        ..first.clone()
    });
    assert_eq!(theirs.doc_id, first.doc_id);
    assert_ne!(theirs.etag, first.etag);
    let fetched = send(&api, "GET", "/docs/1", &[], None).await;
    assert_eq!(fetched.json["title"], "theirs");
    assert_eq!(fetched.header("etag"), theirs.etag.as_deref());
    assert!(
        api.requests().len() == 1,
        "no request was made by insert or replace"
    );
}

#[tokio::test]
#[should_panic(
    expected = "FakeApi::replace::<User> refused the value: no `User` with the id \"4\""
)]
async fn t1_replacing_a_member_the_fake_does_not_hold_is_a_clear_panic() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.replace(User {
        id: Some(4),
        name: "x".into(),
    });
}

#[tokio::test]
async fn t1_requests_are_recorded_as_they_came() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    send(
        &api,
        "POST",
        "/users",
        &[("x-trace", "1")],
        Some(json!({"name": "Ada"})),
    )
    .await;
    send(&api, "GET", "/users?name=Ada", &[], None).await;
    let seen = api.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, backrest::Method::POST);
    assert_eq!(seen[0].path, "/users");
    assert_eq!(seen[0].header("x-trace"), Some("1"));
    assert_eq!(seen[0].json(), json!({"name": "Ada"}));
    assert_eq!(seen[1].path, "/users?name=Ada");
    assert!(seen[1].body.is_empty());
    assert_eq!(api.count(backrest::Method::GET, "/users?name=Ada"), 1);
}

#[tokio::test]
#[should_panic(expected = "FakeApi does not serve `User`: call `api.serve::<User>()` first")]
async fn t1_naming_a_model_that_is_not_served_is_a_clear_panic() {
    let api = FakeApi::start().await;
    api.insert(user("Ada"));
}

/// A collection of its own at a path that is also a member's path.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, backrest::Model)]
#[model(path = "/users/me")]
struct Me {
    #[model(id)]
    id: Option<u64>,
    name: String,
}

#[tokio::test]
async fn t1_a_collection_wins_over_a_member_at_the_same_path() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.serve::<Me>();
    api.insert(Me {
        id: None,
        name: "me".into(),
    });
    let list = send(&api, "GET", "/users/me", &[], None).await;
    assert_eq!(list.json, json!([{"id": 1, "name": "me"}]));
    api.insert(user("Ada"));
    assert_eq!(
        send(&api, "GET", "/users/1", &[], None).await.json["name"],
        "Ada"
    );
    assert_eq!(
        send(&api, "GET", "/users/me/1", &[], None).await.json["name"],
        "me"
    );
}

#[test]
fn t1_the_fake_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<FakeApi>();
    shared::<backrest::fake::Request>();
}
