//! `#[derive(Model)]` end to end: generated methods against a real loopback
//! server, asserting on what the server received.

use std::sync::Arc;

use backrest::{Client, Fetch, Model};
use backrest_testkit::{Reply, Server};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/users")]
struct User {
    #[model(id)]
    id: Option<u64>,
    name: String,
}

/// Two parent parameters, in template order, of two types; an id field not
/// named `id`; `Option` written by its full path.
#[allow(unused_qualifications, reason = "the full path to Option is the point")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org}/teams/{team}/members")]
struct Member {
    team: u32,
    org: String,
    #[model(id)]
    login: std::option::Option<String>,
    role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/clock", reload)]
struct Clock {
    #[model(id)]
    id: Option<u64>,
    now: u64,
}

async fn setup() -> (Server, Client) {
    let server = Server::start().await;
    let client = Client::new(&format!("{}/api/v1/", server.url())).expect("valid base");
    (server, client)
}

#[tokio::test]
async fn top_level_model_end_to_end() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/v1/users/7",
        Reply::json(200, json!({"id": 7, "name": "Ada"})),
    );
    server.on(
        "GET",
        "/api/v1/users/7",
        Reply::json(200, json!({"id": 7, "name": "Ada L."})),
    );
    server.on(
        "GET",
        "/api/v1/users",
        Reply::json(200, json!([{"id": 7, "name": "Ada"}])),
    );
    server.on(
        "POST",
        "/api/v1/users",
        Reply::json(201, json!({"id": 8, "name": "Grace"})),
    );
    server.on(
        "PUT",
        "/api/v1/users/8",
        Reply::json(200, json!({"id": 8, "name": "Grace H."})),
    );
    server.on("DELETE", "/api/v1/users/8", Reply::empty(204));

    let (a, b) = tokio::join!(User::fetch(&client, 7), User::fetch(&client, 7));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.name, "Ada");
    let cached = User::fetch(&client, 7).await.unwrap();
    assert!(Arc::ptr_eq(&a, &cached));
    assert_eq!(server.count("GET", "/api/v1/users/7"), 1);

    let fresh = User::fetch_with(&client, 7, Fetch::reload()).await.unwrap();
    assert_eq!(fresh.name, "Ada L.");
    assert_eq!(server.count("GET", "/api/v1/users/7"), 2);

    let all = User::fetch_all(&client).await.unwrap();
    let again = User::fetch_all_with(&client, Fetch::new()).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(Arc::ptr_eq(&all, &again));
    assert_eq!(server.count("GET", "/api/v1/users"), 1);

    let mut grace = User {
        id: None,
        name: "Grace".into(),
    }
    .save(&client)
    .await
    .unwrap();
    assert_eq!(grace.id, Some(8));
    grace.name = "Grace H.".into();
    let grace = grace.save(&client).await.unwrap();
    grace.destroy(&client).await.unwrap();

    let writes: Vec<(String, String, serde_json::Value)> = server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| (r.method.clone(), r.path.clone(), r.json()))
        .collect();
    assert_eq!(
        writes,
        [
            (
                "POST".into(),
                "/api/v1/users".into(),
                json!({"id": null, "name": "Grace"})
            ),
            (
                "PUT".into(),
                "/api/v1/users/8".into(),
                json!({"id": 8, "name": "Grace H."})
            ),
            (
                "DELETE".into(),
                "/api/v1/users/8".into(),
                serde_json::Value::Null
            ),
        ]
    );
}

#[tokio::test]
async fn nested_model_takes_parent_parameters_in_template_order() {
    let (server, client) = setup().await;
    let member = json!({"team": 3, "org": "a b", "login": "ada", "role": "lead"});
    server.on(
        "GET",
        "/api/v1/orgs/a%20b/teams/3/members/ada",
        Reply::json(200, member.clone()),
    );
    server.on(
        "GET",
        "/api/v1/orgs/a%20b/teams/3/members",
        Reply::json(200, json!([member])),
    );
    server.on(
        "PUT",
        "/api/v1/orgs/a%20b/teams/3/members/ada",
        Reply::json(
            200,
            json!({"team": 3, "org": "a b", "login": "ada", "role": "owner"}),
        ),
    );
    server.on(
        "POST",
        "/api/v1/orgs/x/teams/9/members",
        Reply::json(
            201,
            json!({"team": 9, "org": "x", "login": "new", "role": "dev"}),
        ),
    );

    let fetched = Member::fetch(&client, "a b".to_owned(), 3, "ada".to_owned())
        .await
        .unwrap();
    assert_eq!(fetched.role, "lead");
    let all = Member::fetch_all(&client, "a b".to_owned(), 3)
        .await
        .unwrap();
    assert_eq!(*all, vec![(*fetched).clone()]);

    let mut edited = (*fetched).clone();
    edited.role = "owner".into();
    let saved = edited.save(&client).await.unwrap();
    assert_eq!(saved.role, "owner");
    let cached = Member::fetch(&client, "a b".to_owned(), 3, "ada".to_owned())
        .await
        .unwrap();
    assert_eq!(cached.role, "owner", "the save is cached under its id");

    let created = Member {
        team: 9,
        org: "x".into(),
        login: None,
        role: "dev".into(),
    }
    .save(&client)
    .await
    .unwrap();
    assert_eq!(created.login.as_deref(), Some("new"));

    assert_eq!(
        server.count("GET", "/api/v1/orgs/a%20b/teams/3/members/ada"),
        1
    );
    assert_eq!(server.count("GET", "/api/v1/orgs/a%20b/teams/3/members"), 1);
    assert_eq!(
        server.count("PUT", "/api/v1/orgs/a%20b/teams/3/members/ada"),
        1
    );
    assert_eq!(server.count("POST", "/api/v1/orgs/x/teams/9/members"), 1);
}

#[tokio::test]
async fn save_all_and_its_error_through_the_derive() {
    let (server, client) = setup().await;
    server.handle(|request| {
        let body = request.json();
        if body["name"] == "bad" {
            Reply::text(422, "bad name")
        } else {
            let id = body["name"].as_str().map_or(0, |n| n.len() as u64);
            Reply::json(201, json!({"id": id, "name": body["name"]}))
        }
    });
    let users = |names: &[&str]| -> Vec<User> {
        names
            .iter()
            .map(|n| User {
                id: None,
                name: (*n).to_owned(),
            })
            .collect()
    };

    let saved = User::save_all(&client, users(&["a", "bb", "ccc"]))
        .await
        .unwrap();
    assert_eq!(
        saved.iter().map(|u| u.id).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    assert_eq!(User::save_all(&client, Vec::new()).await.unwrap(), []);

    let err = User::save_all(&client, users(&["a", "bad", "ccc"]))
        .await
        .unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(err.error.status().map(|s| s.as_u16()), Some(422));
    assert_eq!(
        err.saved.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 2]
    );
    assert_eq!(err.unsaved, [(1, users(&["bad"]).remove(0))]);
    assert_eq!(server.count("POST", "/api/v1/users"), 6);
}

#[tokio::test]
async fn reload_attribute_makes_every_fetch_a_request() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/v1/clock/1",
        Reply::json(200, json!({"id": 1, "now": 1})),
    );
    server.on(
        "GET",
        "/api/v1/clock/1",
        Reply::json(200, json!({"id": 1, "now": 2})),
    );

    const { assert!(Clock::RELOAD) };
    assert_eq!(Clock::fetch(&client, 1).await.unwrap().now, 1);
    assert_eq!(Clock::fetch(&client, 1).await.unwrap().now, 2);
    assert_eq!(server.count("GET", "/api/v1/clock/1"), 2);
}

/// Generic code over any model: the trait's methods take the path's
/// parameters as a tuple.
async fn names_of<M: Model<Params = ()>>(client: &Client, ids: Vec<M::Id>) -> usize {
    let mut found = 0;
    for id in ids {
        if M::fetch(client, (), id).await.is_ok() {
            found += 1;
        }
    }
    found
}

#[tokio::test]
async fn generic_code_calls_the_trait() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/v1/users/1",
        Reply::json(200, json!({"id": 1, "name": "a"})),
    );
    server.on("GET", "/api/v1/users/2", Reply::text(404, "gone"));

    assert_eq!(names_of::<User>(&client, vec![1, 2]).await, 1);
    assert_eq!(
        Member::member_path(&("a/b".to_owned(), 5), &"x".to_owned()),
        "/orgs/a%2Fb/teams/5/members/x"
    );
    assert_eq!(server.total(), 2);
}

/// A fetch is lazy, like every future: nothing is looked up or sent before
/// it is polled, so a value saved or invalidated between its creation and
/// its first poll is what it sees. It is also small (it holds its
/// arguments, then its waiter, never both): callers put thousands of them
/// in `join_all`, and each is moved a few times on the way. 40 bytes for
/// an integer id on 64 bits: `join_all`'s task of it then stays within glibc's
/// fast bins (at most 128 bytes), as `Shared`'s does (ARCHITECTURE.md,
/// "The fetch's future").
#[tokio::test]
async fn a_fetch_does_nothing_until_polled_and_stays_small() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/v1/users/7",
        Reply::json(200, json!({"id": 7, "name": "Ada"})),
    );
    let fetch = User::fetch(&client, 7);
    let bytes = size_of_val(&fetch);
    let most = if cfg!(target_pointer_width = "64") {
        40
    } else {
        96
    };
    assert!(bytes <= most, "a fetch's future takes {bytes} bytes");
    client.prime(User {
        id: Some(7),
        name: "Primed".to_owned(),
    });
    // Primed after the future was made, before it was polled: a hit.
    assert_eq!(fetch.await.unwrap().name, "Primed");
    assert_eq!(server.count("GET", "/api/v1/users/7"), 0);

    client.clear();
    let fetch = User::fetch(&client, 7);
    assert!(server.requests().is_empty(), "nothing sent before a poll");
    assert_eq!(fetch.await.unwrap().name, "Ada");
    assert_eq!(server.count("GET", "/api/v1/users/7"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_futures_are_send_and_can_be_spawned() {
    let (server, client) = setup().await;
    server.on(
        "GET",
        "/api/v1/users/1",
        Reply::json(200, json!({"id": 1, "name": "a"})).delay_ms(20),
    );

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { User::fetch(&client, 1).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().name, "a");
    }
    assert_eq!(server.count("GET", "/api/v1/users/1"), 1);
}

#[tokio::test]
async fn a_reqwest_client_built_through_the_re_export_is_used() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/1",
        Reply::json(200, json!({"id": 1, "name": "a"})),
    );
    use backrest::reqwest::{self as http, header::HeaderMap};

    let mut headers = HeaderMap::new();
    headers.insert("x-from", "reexport".parse().unwrap());
    let http = http::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let client = Client::builder(&server.url())
        .http_client(http)
        .build()
        .unwrap();

    User::fetch(&client, 1).await.unwrap();
    assert_eq!(server.requests()[0].header("x-from"), Some("reexport"));
}

/// The id field's name in JSON, renamed by serde.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[serde(rename_all = "camelCase")]
#[model(path = "/accounts/{org_id}/keys")]
struct Key {
    org_id: u64,
    #[model(id)]
    key_id: Option<String>,
}

#[test]
fn t1_the_model_names_its_path_template_and_its_id_field() {
    assert_eq!(<User as Model>::PATH, "/users");
    assert_eq!(<User as Model>::ID_FIELD, "id");
    assert_eq!(<Member as Model>::PATH, "/orgs/{org}/teams/{team}/members");
    assert_eq!(<Member as Model>::ID_FIELD, "login");
    assert_eq!(<Key as Model>::PATH, "/accounts/{org_id}/keys");
    assert_eq!(<Key as Model>::ID_FIELD, "keyId");
    let json = serde_json::to_value(Key {
        org_id: 1,
        key_id: Some("k".into()),
    })
    .unwrap();
    assert_eq!(json[<Key as Model>::ID_FIELD], "k");
    assert_eq!(<User as Model>::MEMBER, None);
    assert_eq!(<Shallow as Model>::MEMBER, Some("/orgs/{org}/notes/{id}"));
}

/// A shallow member's template, as written, for tools that serve it (T1).
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(
    path = "/orgs/{org}/boards/{board}/notes",
    member = "/orgs/{org}/notes/{id}"
)]
struct Shallow {
    #[model(id)]
    id: Option<u64>,
    org: String,
    board: u32,
}

mod billing {
    use backrest::Model;
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Serialize, Deserialize, Model)]
    #[model(path = "/invoices")]
    pub(crate) struct Invoice {
        #[model(id)]
        pub(crate) id: Option<u64>,
    }

    #[derive(Clone, Serialize, Deserialize, Model)]
    #[model(path = "/credits", name = "billing.Credit")]
    pub(crate) struct r#Credit {
        #[model(id)]
        pub(crate) id: Option<u64>,
    }
}

#[test]
fn name_is_the_attribute_or_else_the_type_path() {
    // The stable name of a shared cache's keys (F1).
    assert_eq!(
        <billing::Invoice as Model>::NAME,
        "derive::billing::Invoice"
    );
    assert_eq!(<billing::Credit as Model>::NAME, "billing.Credit");
}
