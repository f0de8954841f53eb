//! backrest in one run: starts a small REST server on 127.0.0.1 inside this
//! process, then shows each part of the library against it, with the
//! server's own request counts.
//!
//! ```text
//! cargo run --example quickstart
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its results")]

use std::error::Error;
use std::sync::Arc;

use backrest::{Client, Fetch, Model};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

/// A user: `/users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/users")]
struct User {
    #[model(id)]
    id: Option<u64>,
    name: String,
}

/// A user's post, a nested resource: `/users/{user_id}/posts/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/users/{user_id}/posts")]
struct Post {
    #[model(id)]
    id: Option<u64>,
    user_id: u64,
    title: String,
}

fn user(name: &str) -> User {
    User {
        id: None,
        name: name.to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = demo::start().await?;
    let client = Client::new(&server.url)?;
    println!(
        "backrest quickstart: a demo REST server runs at {}\n",
        server.url
    );

    println!("1. Shared fetch");
    let users = join_all((0..100).map(|_| User::fetch(&client, 1))).await;
    let users: Vec<Arc<User>> = users.into_iter().collect::<Result<_, _>>()?;
    let shared = users.iter().all(|u| Arc::ptr_eq(u, &users[0]));
    println!(
        "   100 concurrent User::fetch(&client, 1) -> {:?}; the server got {} request(s); one shared Arc: {shared}",
        users[0].name,
        server.count("GET /users/1"),
    );

    let before = server.total();
    let cached = User::fetch(&client, 1).await?;
    println!(
        "   fetch again -> {:?} from the cache, {} new request(s)",
        cached.name,
        server.total() - before
    );

    let fresh = User::fetch_with(&client, 1, Fetch::reload()).await?;
    println!(
        "   Fetch::reload() -> {:?}, a new request (GET /users/1 now {})",
        fresh.name,
        server.count("GET /users/1")
    );

    let posts = Post::fetch_all(&client, 1).await?;
    let post = Post::fetch(&client, 1, posts[0].id.unwrap_or_default()).await?;
    println!(
        "   Post::fetch_all(&client, 1) -> {} posts; Post::fetch(&client, 1, {}) -> {:?}\n",
        posts.len(),
        post.id.unwrap_or_default(),
        post.title
    );

    println!("2. Save: POST when new, PUT otherwise");
    let mut grace = user("Grace").save(&client).await?;
    println!(
        "   User {{ id: None, name: \"Grace\" }}.save() -> POST /users, the server assigned id {:?}",
        grace.id
    );
    grace.name = "Grace Hopper".to_owned();
    let grace = grace.save(&client).await?;
    let id = grace.id.unwrap_or_default();
    println!(
        "   rename and save() -> PUT /users/{id} -> {:?}",
        grace.name
    );
    let before = server.total();
    let cached = User::fetch(&client, id).await?;
    println!(
        "   User::fetch(&client, {id}) -> {:?} from the cache, {} new request(s)\n",
        cached.name,
        server.total() - before
    );

    println!("3. save_all: all or fail, nothing lost");
    let team = ["Alan", "Barbara", "Donald", "Edsger"].map(user);
    let saved = User::save_all(&client, team).await?;
    let ids: Vec<u64> = saved.iter().filter_map(|u| u.id).collect();
    println!("   4 new users -> Ok, ids {ids:?}, in input order");

    // The demo server refuses an empty name with 422.
    let batch = ["Frances", "Niklaus", "", "Tony", "Radia"].map(user);
    if let Err(err) = User::save_all(&client, batch).await {
        println!(
            "   5 users, one with an empty name -> Err: input {} failed: {}",
            err.index, err.error
        );
        let saved: Vec<String> = err
            .saved
            .iter()
            .map(|(i, u)| format!("#{i} {} (id {})", u.name, u.id.unwrap_or_default()))
            .collect();
        let unsaved: Vec<String> = err
            .unsaved
            .iter()
            .map(|(i, u)| format!("#{i} {:?}", u.name))
            .collect();
        println!("     saved:   {}", saved.join(", "));
        println!("     handed back, unsaved: {}", unsaved.join(", "));
    }

    let one_at_a_time = Client::builder(&server.url)
        .save_all_concurrency(1)
        .build()?;
    let batch = ["Ken", "", "Dennis", "Bjarne"].map(user);
    if let Err(err) = User::save_all(&one_at_a_time, batch).await {
        let never_sent: Vec<usize> = err
            .unsaved
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| *i != err.index)
            .collect();
        println!(
            "   one at a time, input {} fails: {} saved, and inputs {never_sent:?} were never sent\n",
            err.index,
            err.saved.len()
        );
    }

    println!("4. Destroy");
    grace.destroy(&client).await?;
    println!("   grace.destroy() -> DELETE /users/{id}");
    match User::fetch(&client, id).await {
        Ok(user) => println!("   unexpected: {user:?}"),
        Err(err) => println!("   User::fetch(&client, {id}) -> Err: {err}"),
    }
    println!("\nThe server received {} requests in all.", server.total());
    Ok(())
}

/// The demo server: users and their posts, in memory, with a little latency.
mod demo {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use axum::extract::{Path, Request, State};
    use axum::http::StatusCode;
    use axum::middleware::{self, Next};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use axum::{Json, Router};
    use serde_json::{Value, json};

    /// Latency of each answer, so that concurrent fetches overlap as they do
    /// over a network.
    const LATENCY: Duration = Duration::from_millis(20);

    #[derive(Default)]
    struct Db {
        users: BTreeMap<u64, Value>,
        posts: BTreeMap<u64, Value>,
        next_id: u64,
        requests: HashMap<String, usize>,
        total: usize,
    }

    type Shared = Arc<Mutex<Db>>;

    fn db(shared: &Shared) -> std::sync::MutexGuard<'_, Db> {
        shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) struct Demo {
        pub(crate) url: String,
        db: Shared,
    }

    impl Demo {
        /// How many requests the server received for `"METHOD /path"`.
        pub(crate) fn count(&self, request: &str) -> usize {
            db(&self.db).requests.get(request).copied().unwrap_or(0)
        }

        pub(crate) fn total(&self) -> usize {
            db(&self.db).total
        }
    }

    pub(crate) async fn start() -> std::io::Result<Demo> {
        let mut seed = Db {
            next_id: 100,
            ..Db::default()
        };
        seed.users.insert(1, json!({"id": 1, "name": "Ada"}));
        seed.posts.insert(
            1,
            json!({"id": 1, "user_id": 1, "title": "Notes on the Analytical Engine"}),
        );
        seed.posts.insert(
            2,
            json!({"id": 2, "user_id": 1, "title": "On Bernoulli numbers"}),
        );
        let shared: Shared = Arc::new(Mutex::new(seed));
        let app = Router::new()
            .route("/users", get(list_users).post(create_user))
            .route(
                "/users/{id}",
                get(get_user).put(update_user).delete(delete_user),
            )
            .route("/users/{user_id}/posts", get(list_posts))
            .route("/users/{user_id}/posts/{id}", get(get_post))
            .layer(middleware::from_fn_with_state(shared.clone(), count))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Demo { url, db: shared })
    }

    async fn count(State(shared): State<Shared>, request: Request, next: Next) -> Response {
        {
            let mut db = db(&shared);
            *db.requests
                .entry(format!("{} {}", request.method(), request.uri().path()))
                .or_default() += 1;
            db.total += 1;
        }
        tokio::time::sleep(LATENCY).await;
        next.run(request).await
    }

    fn not_found() -> Response {
        (StatusCode::NOT_FOUND, "no such resource").into_response()
    }

    /// The demo's one rule: a user has a name. `None` when valid.
    fn refusal(user: &Value) -> Option<Response> {
        match user.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => None,
            _ => Some((StatusCode::UNPROCESSABLE_ENTITY, "name must not be empty").into_response()),
        }
    }

    async fn list_users(State(shared): State<Shared>) -> Json<Vec<Value>> {
        Json(db(&shared).users.values().cloned().collect())
    }

    async fn get_user(State(shared): State<Shared>, Path(id): Path<u64>) -> Response {
        match db(&shared).users.get(&id) {
            Some(user) => Json(user.clone()).into_response(),
            None => not_found(),
        }
    }

    async fn create_user(State(shared): State<Shared>, Json(mut user): Json<Value>) -> Response {
        if let Some(refused) = refusal(&user) {
            return refused;
        }
        let mut db = db(&shared);
        db.next_id += 1;
        let id = db.next_id;
        user["id"] = json!(id);
        db.users.insert(id, user.clone());
        (StatusCode::CREATED, Json(user)).into_response()
    }

    async fn update_user(
        State(shared): State<Shared>,
        Path(id): Path<u64>,
        Json(mut user): Json<Value>,
    ) -> Response {
        if let Some(refused) = refusal(&user) {
            return refused;
        }
        let mut db = db(&shared);
        if !db.users.contains_key(&id) {
            return not_found();
        }
        user["id"] = json!(id);
        db.users.insert(id, user.clone());
        Json(user).into_response()
    }

    async fn delete_user(State(shared): State<Shared>, Path(id): Path<u64>) -> StatusCode {
        match db(&shared).users.remove(&id) {
            Some(_) => StatusCode::NO_CONTENT,
            None => StatusCode::NOT_FOUND,
        }
    }

    async fn list_posts(
        State(shared): State<Shared>,
        Path(user_id): Path<u64>,
    ) -> Json<Vec<Value>> {
        let db = db(&shared);
        let posts = db.posts.values().filter(|p| p["user_id"] == json!(user_id));
        Json(posts.cloned().collect())
    }

    async fn get_post(
        State(shared): State<Shared>,
        Path((user_id, id)): Path<(u64, u64)>,
    ) -> Response {
        match db(&shared).posts.get(&id) {
            Some(post) if post["user_id"] == json!(user_id) => Json(post.clone()).into_response(),
            _ => not_found(),
        }
    }
}
