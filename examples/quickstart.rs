//! backrest in one run: starts a REST server on 127.0.0.1 inside this
//! process (backrest's own fake, `backrest::fake`, serving the two models
//! below), then shows each part of the library against it, with the
//! server's own request counts.
//!
//! ```text
//! cargo run --example quickstart
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its results")]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use backrest::fake::FakeApi;
use backrest::{Fetch, Method, Model};
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};

/// Latency of each answer, so that concurrent fetches overlap as they do
/// over a network.
const LATENCY: Duration = Duration::from_millis(20);

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
    let server = demo().await;
    let client = server.client();
    println!(
        "backrest quickstart: a demo REST server (backrest::fake) runs at {}\n",
        server.url()
    );

    println!("1. Shared fetch");
    let users = join_all((0..100).map(|_| User::fetch(&client, 1))).await;
    let users: Vec<Arc<User>> = users.into_iter().collect::<Result<_, _>>()?;
    let shared = users.iter().all(|u| Arc::ptr_eq(u, &users[0]));
    println!(
        "   100 concurrent User::fetch(&client, 1) -> {:?}; the server got {} request(s); one shared Arc: {shared}",
        users[0].name,
        server.count(Method::GET, "/users/1"),
    );

    let before = server.requests().len();
    let cached = User::fetch(&client, 1).await?;
    println!(
        "   fetch again -> {:?} from the cache, {} new request(s)",
        cached.name,
        server.requests().len() - before
    );

    let fresh = User::fetch_with(&client, 1, Fetch::reload()).await?;
    println!(
        "   Fetch::reload() -> {:?}, a new request (GET /users/1 now {})",
        fresh.name,
        server.count(Method::GET, "/users/1")
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
    let before = server.requests().len();
    let cached = User::fetch(&client, id).await?;
    println!(
        "   User::fetch(&client, {id}) -> {:?} from the cache, {} new request(s)\n",
        cached.name,
        server.requests().len() - before
    );

    println!("3. save_all: all or fail, nothing lost");
    let team = ["Alan", "Barbara", "Donald", "Edsger"].map(user);
    let saved = User::save_all(&client, team).await?;
    let ids: Vec<u64> = saved.iter().filter_map(|u| u.id).collect();
    println!("   4 new users -> Ok, ids {ids:?}, in input order");

    // The demo server refuses an empty name with 422 (see `demo`).
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

    let one_at_a_time = server.client_builder().save_all_concurrency(1).build()?;
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
    println!(
        "\nThe server received {} requests in all.",
        server.requests().len()
    );
    Ok(())
}

/// The demo server: the fake serving users and their posts, seeded with
/// one user and two posts, with a little latency, and refusing a user
/// without a name (`422`) as a real server's validation would.
async fn demo() -> FakeApi {
    let api = FakeApi::start().await;
    api.serve::<User>();
    api.serve::<Post>();
    api.validate::<User>(|user| {
        if user.name.is_empty() {
            Err("name must not be empty".to_owned())
        } else {
            Ok(())
        }
    });
    api.insert(user("Ada"));
    for title in ["Notes on the Analytical Engine", "On Bernoulli numbers"] {
        api.insert(Post {
            id: None,
            user_id: 1,
            title: title.to_owned(),
        });
    }
    api.delay::<User>(LATENCY);
    api.delay::<Post>(LATENCY);
    api
}
