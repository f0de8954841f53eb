//! backrest against a json-server-like API: filters in the query string,
//! pages followed through `Link` headers (`_page`/`_limit`), PATCH with a
//! merge patch, and shallow routes (comments listed under their post,
//! fetched at `/comments/{id}`). The server is backrest's fake
//! (`backrest::fake::FakeApi`, feature `fake`) on 127.0.0.1: it serves
//! json-server's conventions from the models themselves and records what
//! it receives.
//!
//! ```text
//! cargo run --example json_server
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its results")]

use std::error::Error;

use backrest::fake::FakeApi;
use backrest::{Client, Fetch, Method, Model};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

/// A post: `/posts`, `/posts/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/posts")]
struct Post {
    #[model(id)]
    id: Option<u64>,
    author: String,
    title: String,
    /// Fields this struct does not name, kept so that a PUT sends them back.
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// A comment: listed and created under its post, a member on its own.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/posts/{post_id}/comments", member = "/comments/{id}")]
struct Comment {
    #[model(id)]
    id: Option<u64>,
    post_id: u64,
    body: String,
}

/// The query json-server filters by.
#[derive(Serialize)]
struct ByAuthor<'a> {
    author: &'a str,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = seeded().await;
    // json-server reads only `application/json` bodies, PATCH included (the
    // fake reads any JSON body).
    let client = Client::builder(server.url())
        .patch_content_type("application/json")
        .build()?;
    println!(
        "backrest against a json-server-like API (backrest's fake) at {}\n",
        server.url()
    );

    println!("1. Filters: Fetch::query");
    let by_ada = || Fetch::new().query(&ByAuthor { author: "ada" });
    let posts = Post::fetch_all_with(&client, by_ada()).await?;
    let again = Post::fetch_all_with(&client, by_ada()).await?;
    println!(
        "   GET /posts?author=ada -> {} posts; fetched twice, {} request(s): cached per query",
        posts.len(),
        server.count(Method::GET, "/posts?author=ada")
    );
    assert_eq!(posts, again);

    println!("\n2. Pages: stream_all follows Link: <..>; rel=\"next\"");
    let paged = Fetch::new().query(&[("_limit", 10)]);
    let mut stream = Box::pin(Post::stream_all(&client, paged));
    let before = total(&server);
    let first = stream.next().await.transpose()?;
    println!(
        "   first post {:?} after {} request(s)",
        first.map(|post| post.title),
        total(&server) - before
    );
    let rest: Vec<Post> = stream.try_collect().await?;
    println!(
        "   then {} more posts, over {} requests in all: one page at a time",
        rest.len(),
        total(&server) - before
    );

    println!("\n3. PATCH: only what changed");
    let original = Post::fetch(&client, 1).await?;
    let edited = Post {
        title: "Notes on the Analytical Engine (2nd ed.)".into(),
        ..(*original).clone()
    };
    let saved = edited.patch(&client, &original).await?;
    println!(
        "   PATCH /posts/1 sent {} -> {:?}",
        last_body(&server),
        saved.title
    );
    println!(
        "   the server now holds {:?}",
        server.get::<Post>((), 1).map(|post| post.title)
    );
    let unchanged = saved.patch(&client, &saved).await?;
    println!(
        "   a patch with nothing different sends nothing ({} PATCH in all), -> {:?}",
        server.count(Method::PATCH, "/posts/1"),
        unchanged.title
    );
    println!(
        "   fields the struct does not name ride in `extra`: {:?}, so a PUT keeps them",
        saved.extra.keys().collect::<Vec<_>>()
    );

    println!("\n4. Shallow routes: member = \"/comments/{{id}}\"");
    let comment = Comment {
        id: None,
        post_id: 1,
        body: "Lovely".into(),
    }
    .save(&client)
    .await?;
    let id = comment.id.unwrap_or_default();
    let fetched = Comment::fetch(&client, id).await?;
    let listed = Comment::fetch_all(&client, 1).await?;
    println!(
        "   POST /posts/1/comments -> id {id}; Comment::fetch(&client, {id}) -> {:?} from the \
         cache ({} GET /comments/{id}); GET /posts/1/comments -> {} comment(s)",
        fetched.body,
        server.count(Method::GET, &format!("/comments/{id}")),
        listed.len()
    );
    fetched.destroy(&client).await?;
    println!(
        "   destroy -> DELETE /comments/{id} ({} request)",
        server.count(Method::DELETE, &format!("/comments/{id}"))
    );

    println!("\nThe server received {} requests in all.", total(&server));
    Ok(())
}

/// The fake, serving posts and comments, with 35 posts by two authors.
async fn seeded() -> FakeApi {
    let server = FakeApi::start().await;
    server.serve::<Post>();
    server.serve::<Comment>();
    for n in 1..=35_u64 {
        let (author, title, extra) = if n == 1 {
            let extra = serde_json::json!({"views": 1843, "tags": ["engines"]});
            ("ada", "Notes on the Analytical Engine".to_owned(), extra)
        } else {
            let author = if n % 3 == 0 { "ada" } else { "grace" };
            (
                author,
                format!("Post {n}"),
                serde_json::json!({"views": n * 10}),
            )
        };
        let serde_json::Value::Object(extra) = extra else {
            unreachable!("a JSON object")
        };
        server.insert(Post {
            id: None,
            author: author.into(),
            title,
            extra,
        });
    }
    server
}

/// How many requests the fake received.
fn total(server: &FakeApi) -> usize {
    server.requests().len()
}

/// The body of the last request that had one, as text.
fn last_body(server: &FakeApi) -> String {
    server
        .requests()
        .iter()
        .rev()
        .find(|request| !request.body.is_empty())
        .map(|request| String::from_utf8_lossy(&request.body).into_owned())
        .unwrap_or_default()
}
