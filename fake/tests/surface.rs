//! The library's whole surface against the fake: what a user's tests do.
//! Each test asserts on what the fake received and what it then holds.

mod common;

use std::sync::Arc;
use std::time::Duration;

use backrest::fake::{FakeApi, StatusCode};
use backrest::{Client, Fetch, Method, Retry};
use common::{
    Article, Comment, Doc, Profile, Repo, User, article, bounded, comment, profile, user,
};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::json;

/// A client that retries quickly, as a test wants.
fn client(api: &FakeApi) -> Client {
    api.client_builder()
        .retry(Retry::attempts(3).backoff(Duration::from_millis(1), Duration::from_millis(5)))
        .build()
        .unwrap()
}

#[tokio::test]
async fn fetch_is_shared_and_cached_and_reload_asks_again() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    api.delay::<User>(Duration::from_millis(50));
    let client = client(&api);
    let (a, b) =
        bounded(async { tokio::join!(User::fetch(&client, 1), User::fetch(&client, 1)) }).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.name, "Ada");
    let cached = bounded(User::fetch(&client, 1)).await.unwrap();
    assert!(Arc::ptr_eq(&a, &cached));
    assert_eq!(api.count(Method::GET, "/users/1"), 1);
    bounded(User::fetch_with(&client, 1, Fetch::reload()))
        .await
        .unwrap();
    assert_eq!(api.count(Method::GET, "/users/1"), 2);
}

#[tokio::test]
async fn fetch_all_and_nested_fetches_read_what_the_fake_holds() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.serve::<Repo>();
    api.insert(user("Ada"));
    api.insert(user("Grace"));
    let repo = api.insert(Repo {
        id: None,
        org_id: 7,
        name: "backrest".into(),
    });
    let client = client(&api);
    let all = bounded(User::fetch_all(&client)).await.unwrap();
    assert_eq!(*all, api.all::<User>(()));
    let fetched = bounded(Repo::fetch(&client, 7, 1)).await.unwrap();
    assert_eq!(*fetched, repo);
    let repos = bounded(Repo::fetch_all(&client, 7)).await.unwrap();
    assert_eq!(*repos, [repo]);
    assert!(
        bounded(Repo::fetch_all(&client, 8))
            .await
            .unwrap()
            .is_empty()
    );
    let missing = bounded(Repo::fetch(&client, 8, 1)).await.unwrap_err();
    assert_eq!(missing.status(), Some(StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn save_creates_then_updates_and_the_fake_holds_the_result() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let client = client(&api);
    let mut ada = bounded(user("Ada").save(&client)).await.unwrap();
    assert_eq!(ada.id, Some(1));
    ada.name = "Ada Lovelace".into();
    let saved = bounded(ada.save(&client)).await.unwrap();
    assert_eq!(saved, ada);
    assert_eq!(api.all::<User>(()), [ada]);
    let writes: Vec<(Method, String)> = api
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        writes,
        [
            (Method::POST, "/users".to_owned()),
            (Method::PUT, "/users/1".to_owned())
        ]
    );
}

#[tokio::test]
async fn save_all_is_all_or_fail_against_the_fake_s_validation() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.validate::<User>(|u| {
        if u.name.is_empty() {
            Err("name must not be empty".into())
        } else {
            Ok(())
        }
    });
    let client = client(&api);
    let saved = bounded(User::save_all(&client, ["a", "b", "c"].map(user)))
        .await
        .unwrap();
    let ids: Vec<Option<u64>> = saved.iter().map(|u| u.id).collect();
    assert_eq!(ids, [Some(1), Some(2), Some(3)]);

    let error = bounded(User::save_all(&client, ["d", "", "e"].map(user)))
        .await
        .unwrap_err();
    assert_eq!(error.index, 1);
    assert_eq!(error.error.status(), Some(StatusCode::UNPROCESSABLE_ENTITY));
    assert_eq!(
        error.error.body(),
        Some(r#"{"error":"name must not be empty"}"#)
    );
    assert_eq!(error.unsaved.len() + error.saved.len(), 3);
    let held: Vec<String> = api.all::<User>(()).into_iter().map(|u| u.name).collect();
    assert!(!held.contains(&String::new()));
    assert_eq!(held.len(), 3 + error.saved.len());
}

#[tokio::test]
async fn destroy_removes_the_member_and_a_fetch_then_fails_with_404() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    let client = client(&api);
    let ada = api.insert(user("Ada"));
    bounded(User::fetch(&client, 1)).await.unwrap();
    bounded(ada.destroy(&client)).await.unwrap();
    assert!(api.all::<User>(()).is_empty());
    let error = bounded(User::fetch(&client, 1)).await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
}

#[tokio::test]
async fn a_stale_save_is_a_412_conflict_and_the_next_fetch_reads_the_fake_s_value() {
    let api = FakeApi::start().await;
    api.serve_with::<Doc>(|n| format!("d{n}"));
    let client = client(&api);
    api.insert(Doc {
        doc_id: None,
        title: "mine".into(),
        etag: None,
    });
    let mut edited = Doc::clone(&bounded(Doc::fetch(&client, "d1".into())).await.unwrap());
    // Someone else writes first.
    let http = reqwest::Client::new();
    let theirs = http
        .patch(format!("{}/docs/d1", api.url()))
        .body(r#"{"title":"theirs"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 200);

    edited.title = "overwrite".into();
    let error = bounded(edited.save(&client)).await.unwrap_err();
    assert!(error.is_conflict(), "{error}");
    assert_eq!(api.get::<Doc>((), "d1".into()).unwrap().title, "theirs");
    let put = api
        .requests()
        .into_iter()
        .find(|r| r.method == Method::PUT)
        .unwrap();
    assert_eq!(put.header("if-match"), edited.etag.as_deref());

    let current = bounded(Doc::fetch(&client, "d1".into())).await.unwrap();
    assert_eq!(current.title, "theirs");
    // Saved on the current version, it goes through.
    let mut mine = Doc::clone(&current);
    mine.title = "merged".into();
    let saved = bounded(mine.save(&client)).await.unwrap();
    assert_eq!(saved.etag, api.get::<Doc>((), "d1".into()).unwrap().etag);
}

#[tokio::test]
async fn a_reload_of_an_unchanged_member_is_revalidated_with_a_304() {
    let api = FakeApi::start().await;
    api.serve_with::<Doc>(|n| format!("d{n}"));
    let client = client(&api);
    let stored = api.insert(Doc {
        doc_id: None,
        title: "t".into(),
        etag: None,
    });
    let cached = bounded(Doc::fetch(&client, "d1".into())).await.unwrap();
    let revalidated = bounded(Doc::fetch_with(&client, "d1".into(), Fetch::reload()))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&cached, &revalidated));
    assert_eq!(revalidated.etag, stored.etag);
    assert_eq!(client.stats().not_modified, 1, "the fake answered 304");
    let gets: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::GET)
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[1].header("if-none-match"), stored.etag.as_deref());
}

#[tokio::test]
async fn transient_failures_asked_for_are_retried_until_they_run_out() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.insert(user("Ada"));
    let client = client(&api);
    api.fail::<User>(StatusCode::SERVICE_UNAVAILABLE, 2);
    let ada = bounded(User::fetch(&client, 1)).await.unwrap();
    assert_eq!(ada.name, "Ada");
    assert_eq!(api.count(Method::GET, "/users/1"), 3);

    api.fail::<User>(StatusCode::SERVICE_UNAVAILABLE, 3);
    let error = bounded(User::fetch_with(&client, 1, Fetch::reload()))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(error.attempts(), 3);
    assert_eq!(api.count(Method::GET, "/users/1"), 6);

    // A create is retried with its Idempotency-Key: one user, not two.
    api.fail::<User>(StatusCode::BAD_GATEWAY, 1);
    let grace = bounded(user("Grace").save(&client)).await.unwrap();
    assert_eq!(grace.id, Some(2));
    assert_eq!(api.all::<User>(()).len(), 2);
}

// ---- the shapes of issue 11 against the fake (T1, T3) ----

#[tokio::test]
async fn a_shallow_member_is_fetched_at_its_own_path_and_created_under_its_parent() {
    let api = FakeApi::start().await;
    api.serve::<Comment>();
    let seventh = api.insert(Comment {
        id: Some(7),
        ..comment(3, "Seventh")
    });
    let client = client(&api);
    let fetched = bounded(Comment::fetch(&client, 7)).await.unwrap();
    assert_eq!(*fetched, seventh);

    let created = bounded(comment(1, "New").create(&client)).await.unwrap();
    let saved = bounded(comment(1, "Saved").save(&client)).await.unwrap();
    // The sequence is the fake's own: an id given on insert is not in it.
    assert_eq!((created.id, saved.id), (Some(1), Some(2)));
    assert_eq!(created.etag, api.get::<Comment>((1,), 1).unwrap().etag);
    let listed = bounded(Comment::fetch_all(&client, 1)).await.unwrap();
    // Members of a list come without ETags of their own.
    let bodies: Vec<(Option<u64>, &str)> = listed.iter().map(|c| (c.id, c.body.as_str())).collect();
    assert_eq!(bodies, [(created.id, "New"), (saved.id, "Saved")]);
    // The answer of a create is cached at the member's own path (C9).
    let cached = bounded(Comment::fetch(&client, 1)).await.unwrap();
    assert_eq!(cached.body, "New");

    let seen: Vec<(Method, String)> = api
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        [
            (Method::GET, "/comments/7".to_owned()),
            (Method::POST, "/posts/1/comments".to_owned()),
            (Method::POST, "/posts/1/comments".to_owned()),
            (Method::GET, "/posts/1/comments".to_owned()),
        ]
    );
    let posts: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .collect();
    assert!(posts.iter().all(|r| r.header("idempotency-key").is_some()));
    assert_eq!(
        posts[0].json(),
        json!({"id": null, "post_id": 1, "body": "New"})
    );

    bounded(cached.destroy(&client)).await.unwrap();
    assert_eq!(api.count(Method::DELETE, "/comments/1"), 1);
    assert!(api.get::<Comment>((1,), 1).is_none());
}

#[tokio::test]
async fn a_patch_sends_only_what_changed_to_the_member_path_with_if_match() {
    let api = FakeApi::start().await;
    api.serve::<Comment>();
    api.insert(comment(2, "Draft"));
    let client = client(&api);
    let original = bounded(Comment::fetch(&client, 1)).await.unwrap();
    let edited = Comment {
        body: "Final".into(),
        ..Comment::clone(&original)
    };
    let patched = bounded(edited.patch(&client, &original)).await.unwrap();
    assert_eq!(patched.body, "Final");
    let stored = api.get::<Comment>((2,), 1).unwrap();
    assert_eq!(stored.body, "Final");
    assert_eq!(patched.etag, stored.etag, "the answer's ETag is kept");

    let patch = api.requests().pop().unwrap();
    assert_eq!(
        (patch.method.clone(), patch.path.as_str()),
        (Method::PATCH, "/comments/1")
    );
    assert_eq!(patch.json(), json!({"body": "Final"}));
    assert_eq!(patch.header("if-match"), original.etag.as_deref());
    assert_eq!(
        patch.header("content-type"),
        Some("application/merge-patch+json")
    );
    // Nothing different: nothing sent.
    bounded(patched.patch(&client, &patched)).await.unwrap();
    assert_eq!(api.count(Method::PATCH, "/comments/1"), 1);

    // Someone else writes: a patch on the old version is a 412 conflict,
    // and the fake keeps their value.
    api.replace(Comment {
        body: "Theirs".into(),
        ..stored
    });
    let late = Comment {
        body: "Mine".into(),
        ..patched.clone()
    };
    let error = bounded(late.patch(&client, &patched)).await.unwrap_err();
    assert!(error.is_conflict(), "{error}");
    assert_eq!(api.get::<Comment>((2,), 1).unwrap().body, "Theirs");
    assert_eq!(
        bounded(Comment::fetch(&client, 1)).await.unwrap().body,
        "Theirs"
    );
}

#[tokio::test]
async fn a_singleton_is_fetched_by_its_parameters_saved_with_a_put_and_patched_at_its_path() {
    let api = FakeApi::start().await;
    api.serve::<Profile>();
    let client = client(&api);
    // A first save creates it: a PUT at the path.
    let created = bounded(profile(3, "Hello").save(&client)).await.unwrap();
    assert_eq!(
        api.get::<Profile>((3,), backrest::NoId),
        Some(created.clone())
    );

    let fetched = bounded(Profile::fetch(&client, 3)).await.unwrap();
    assert_eq!(*fetched, created, "cached by the save");
    let reloaded = bounded(Profile::fetch_with(&client, 3, Fetch::reload()))
        .await
        .unwrap();
    assert_eq!(reloaded.bio, "Hello");
    let mut edited = Profile::clone(&reloaded);
    edited.bio = "Updated".into();
    let saved_value = bounded(edited.save(&client)).await.unwrap();
    assert_eq!(
        api.get::<Profile>((3,), backrest::NoId).as_ref(),
        Some(&saved_value)
    );

    let seen = api.requests();
    let shape: Vec<(Method, &str, Option<&str>)> = seen
        .iter()
        .map(|r| (r.method.clone(), r.path.as_str(), r.header("if-match")))
        .collect();
    assert_eq!(
        shape,
        [
            (Method::PUT, "/users/3/profile", None),
            (Method::GET, "/users/3/profile", None),
            (Method::PUT, "/users/3/profile", reloaded.etag.as_deref()),
        ]
    );
    assert_eq!(seen[2].json(), json!({"user_id": 3, "bio": "Updated"}));
    let mut shorter = saved_value.clone();
    shorter.bio = "Up".into();
    let patched = bounded(shorter.patch(&client, &saved_value)).await.unwrap();
    assert_eq!(api.all::<Profile>((3,)), [patched]);
    let patch = api.requests().pop().unwrap();
    assert_eq!(
        (patch.method.clone(), patch.path.as_str(), patch.json()),
        (Method::PATCH, "/users/3/profile", json!({"bio": "Up"}))
    );
    assert_eq!(patch.header("if-match"), saved_value.etag.as_deref());
    assert!(
        bounded(Profile::fetch(&client, 4))
            .await
            .unwrap_err()
            .status()
            == Some(StatusCode::NOT_FOUND)
    );
}

#[tokio::test]
async fn an_envelope_model_is_fetched_saved_patched_and_listed_through_its_envelope() {
    let api = FakeApi::start().await;
    api.serve::<Article>();
    api.insert(article("On REST"));
    let client = client(&api);
    let fetched = bounded(Article::fetch(&client, 1)).await.unwrap();
    assert_eq!(fetched.title, "On REST");
    assert!(fetched.etag.is_some());

    let created = bounded(article("Second").save(&client)).await.unwrap();
    assert_eq!(created.id, Some(2));
    let mut edited = created.clone();
    edited.tags = vec!["http".into()];
    let updated = bounded(edited.save(&client)).await.unwrap();
    assert_eq!(api.get::<Article>((), 2), Some(updated.clone()));
    let mut renamed = updated.clone();
    renamed.title = "Second, renamed".into();
    let patched = bounded(renamed.patch(&client, &updated)).await.unwrap();
    assert_eq!(api.get::<Article>((), 2), Some(patched));
    let all = bounded(Article::fetch_all(&client)).await.unwrap();
    assert_eq!(
        all.iter().map(|a| a.title.as_str()).collect::<Vec<_>>(),
        ["On REST", "Second, renamed"]
    );

    let writes: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method != Method::GET)
        .map(|r| (r.method.clone(), r.path.clone(), r.json()))
        .collect();
    let patch = api
        .requests()
        .into_iter()
        .find(|r| r.method == Method::PATCH)
        .unwrap();
    assert_eq!(patch.header("if-match"), updated.etag.as_deref());
    assert_eq!(
        writes,
        [
            (
                Method::POST,
                "/articles".to_owned(),
                json!({"data": {"id": null, "title": "Second", "tags": []}})
            ),
            (
                Method::PUT,
                "/articles/2".to_owned(),
                json!({"data": {"id": 2, "title": "Second", "tags": ["http"]}})
            ),
            (
                Method::PATCH,
                "/articles/2".to_owned(),
                json!({"data": {"title": "Second, renamed"}})
            ),
        ]
    );
}

/// The query of a filter by name.
#[derive(Serialize)]
struct ByName<'a> {
    name: &'a str,
}

#[tokio::test]
async fn a_query_filters_the_fake_s_lists_by_equality_and_is_cached_per_query() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    for name in ["Ada", "Grace", "Ada"] {
        api.insert(user(name));
    }
    let client = client(&api);
    let by = |name| Fetch::new().query(&ByName { name });
    let adas = bounded(User::fetch_all_with(&client, by("Ada")))
        .await
        .unwrap();
    assert_eq!(
        adas.iter().map(|u| u.id).collect::<Vec<_>>(),
        [Some(1), Some(3)]
    );
    let again = bounded(User::fetch_all_with(&client, by("Ada")))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&adas, &again));
    let graces = bounded(User::fetch_all_with(&client, by("Grace")))
        .await
        .unwrap();
    assert_eq!(graces.len(), 1);
    let none = bounded(User::fetch_all_with(&client, by("Nobody")))
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(api.count(Method::GET, "/users?name=Ada"), 1);
    assert_eq!(api.count(Method::GET, "/users?name=Grace"), 1);
    assert_eq!(api.requests().len(), 3);
}

#[tokio::test]
async fn pages_and_stream_all_follow_the_fake_s_link_headers_one_page_at_a_time() {
    let api = FakeApi::start().await;
    api.serve::<User>();
    for n in 1..=5 {
        api.insert(user(&format!("U{n}")));
    }
    api.page_size::<User>(2);
    let client = client(&api);

    let pages: Vec<Vec<User>> = bounded(User::pages(&client, Fetch::new()).try_collect())
        .await
        .unwrap();
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let paths: Vec<String> = api.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/users",
            "/users?_page=2&_limit=2",
            "/users?_page=3&_limit=2"
        ]
    );

    // stream_all asks for a page only when an item past the last is polled.
    let before = api.requests().len();
    let mut stream = Box::pin(User::stream_all(
        &client,
        Fetch::new().query(&ByName { name: "U4" }),
    ));
    let first = bounded(stream.next()).await.unwrap().unwrap();
    assert_eq!(first.name, "U4");
    assert_eq!(api.requests().len(), before + 1);
    assert!(bounded(stream.next()).await.is_none());
    assert_eq!(api.requests()[before].path, "/users?name=U4");

    let mut stream = Box::pin(User::stream_all(&client, Fetch::new()));
    let mut names = Vec::new();
    for _ in 0..3 {
        names.push(bounded(stream.next()).await.unwrap().unwrap().name);
    }
    assert_eq!(names, ["U1", "U2", "U3"]);
    assert_eq!(
        api.requests().len(),
        before + 3,
        "two pages for three items"
    );
    let rest: Vec<User> = bounded(stream.try_collect()).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(api.requests().len(), before + 4);
}

#[tokio::test]
async fn envelope_pages_are_read_from_the_envelope() {
    let api = FakeApi::start().await;
    api.serve::<Article>();
    for n in 1..=3 {
        api.insert(article(&format!("A{n}")));
    }
    api.page_size::<Article>(2);
    let client = client(&api);
    let titles: Vec<String> = bounded(
        Article::stream_all(&client, Fetch::new())
            .map_ok(|a| a.title)
            .try_collect(),
    )
    .await
    .unwrap();
    assert_eq!(titles, ["A1", "A2", "A3"]);
    assert_eq!(api.requests().len(), 2);
}
