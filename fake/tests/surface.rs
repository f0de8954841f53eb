//! The library's whole surface against the fake: what a user's tests do.
//! Each test asserts on what the fake received and what it then holds.

mod common;

use std::sync::Arc;
use std::time::Duration;

use backrest::fake::{FakeApi, StatusCode};
use backrest::{Client, Fetch, Method, Retry};
use common::{Doc, Repo, User, bounded, user};

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
