//! backrest against a json-server-like API: filters in the query string,
//! pages followed through `Link` headers, PATCH with a merge patch, and
//! shallow routes (comments listed under their post, fetched at
//! `/comments/{id}`). The server is embedded: a small in-memory imitation
//! of json-server on 127.0.0.1, which counts what it receives.
//!
//! ```text
//! cargo run --example json_server
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its results")]

use std::error::Error;

use backrest::{Client, Fetch, Model};
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
    let server = demo::start().await?;
    // json-server reads only `application/json` bodies, PATCH included.
    let client = Client::builder(&server.url)
        .patch_content_type("application/json")
        .build()?;
    println!(
        "backrest against a json-server-like API at {}\n",
        server.url
    );

    println!("1. Filters: Fetch::query");
    let by_ada = || Fetch::new().query(&ByAuthor { author: "ada" });
    let posts = Post::fetch_all_with(&client, by_ada()).await?;
    let again = Post::fetch_all_with(&client, by_ada()).await?;
    println!(
        "   GET /posts?author=ada -> {} posts; fetched twice, {} request(s): cached per query",
        posts.len(),
        server.count("GET /posts?author=ada")
    );
    assert_eq!(posts, again);

    println!("\n2. Pages: stream_all follows Link: <..>; rel=\"next\"");
    let paged = Fetch::new().query(&[("_limit", 10)]);
    let mut stream = Box::pin(Post::stream_all(&client, paged));
    let before = server.total();
    let first = stream.next().await.transpose()?;
    println!(
        "   first post {:?} after {} request(s)",
        first.map(|post| post.title),
        server.total() - before
    );
    let rest: Vec<Post> = stream.try_collect().await?;
    println!(
        "   then {} more posts, over {} requests in all: one page at a time",
        rest.len(),
        server.total() - before
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
        server.last_body(),
        saved.title
    );
    let unchanged = saved.patch(&client, &saved).await?;
    println!(
        "   a patch with nothing different sends nothing ({} PATCH in all), -> {:?}",
        server.count("PATCH /posts/1"),
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
        server.count(&format!("GET /comments/{id}")),
        listed.len()
    );
    fetched.destroy(&client).await?;
    println!(
        "   destroy -> DELETE /comments/{id} ({} request)",
        server.count(&format!("DELETE /comments/{id}"))
    );

    println!("\nThe server received {} requests in all.", server.total());
    Ok(())
}

/// The demo server: json-server's conventions, in memory.
mod demo {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex, PoisonError};

    use axum::Router;
    use axum::body::{Body, to_bytes};
    use axum::http::{Method, Request, Response, StatusCode, header};
    use serde_json::{Value, json};

    #[derive(Default)]
    struct Db {
        /// Collection name to its items by id.
        tables: HashMap<&'static str, BTreeMap<u64, Value>>,
        next_id: u64,
        /// `"METHOD /path?query"` to how many arrived.
        requests: HashMap<String, usize>,
        total: usize,
        last_body: String,
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
        /// How many requests arrived for `"METHOD /path?query"`.
        pub(crate) fn count(&self, request: &str) -> usize {
            db(&self.db).requests.get(request).copied().unwrap_or(0)
        }

        pub(crate) fn total(&self) -> usize {
            db(&self.db).total
        }

        /// The body of the last request that had one.
        pub(crate) fn last_body(&self) -> String {
            db(&self.db).last_body.clone()
        }
    }

    pub(crate) async fn start() -> std::io::Result<Demo> {
        let mut seed = Db {
            next_id: 100,
            ..Db::default()
        };
        let posts = seed.tables.entry("posts").or_default();
        for id in 1..=35 {
            let author = if id % 3 == 0 { "ada" } else { "grace" };
            posts.insert(
                id,
                json!({"id": id, "author": author, "title": format!("Post {id}"), "views": id * 10}),
            );
        }
        posts.insert(
            1,
            json!({"id": 1, "author": "ada", "title": "Notes on the Analytical Engine",
                   "views": 1843, "tags": ["engines"]}),
        );
        seed.tables.entry("comments").or_default();
        let shared: Shared = Arc::new(Mutex::new(seed));
        let state = Arc::clone(&shared);
        let app = Router::new().fallback(move |request: Request<Body>| {
            let state = Arc::clone(&state);
            async move { serve(&state, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Demo { url, db: shared })
    }

    fn reply(status: StatusCode, body: &Value) -> Response<Body> {
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        response
    }

    fn not_found() -> Response<Body> {
        reply(StatusCode::NOT_FOUND, &json!({}))
    }

    /// `a=1&b=2` as pairs (the demo's values need no decoding).
    fn pairs(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    async fn serve(shared: &Shared, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        let mut db = db(shared);
        let counted = if query.is_empty() {
            format!("{} {path}", parts.method)
        } else {
            format!("{} {path}?{query}", parts.method)
        };
        *db.requests.entry(counted).or_default() += 1;
        db.total += 1;
        let body: Option<Value> = serde_json::from_slice(&body).ok();
        if let Some(body) = &body {
            db.last_body = body.to_string();
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (segments.as_slice(), body) {
            (["posts"], None) if parts.method == Method::GET => list(&db, &path, &query),
            (["posts", post, "comments"], None) if parts.method == Method::GET => {
                let filter = format!("post_id={post}");
                list_table(&db, "comments", &path, &filter)
            }
            (["posts", _, "comments"], Some(body)) if parts.method == Method::POST => {
                create(&mut db, "comments", body)
            }
            ([table @ ("posts" | "comments"), id], body) => {
                let table = if *table == "posts" {
                    "posts"
                } else {
                    "comments"
                };
                let Ok(id) = id.parse::<u64>() else {
                    return not_found();
                };
                member(&mut db, table, id, &parts.method, body)
            }
            _ => not_found(),
        }
    }

    fn list(db: &Db, path: &str, query: &str) -> Response<Body> {
        list_table(db, "posts", path, query)
    }

    /// json-server's list: equality filters, and `_page`/`_limit` pages
    /// with a `Link` header to the next one.
    fn list_table(db: &Db, table: &str, path: &str, query: &str) -> Response<Body> {
        let params = pairs(query);
        let filters: Vec<&(String, String)> = params
            .iter()
            .filter(|(name, _)| !name.starts_with('_'))
            .collect();
        let items: Vec<&Value> = db.tables[table]
            .values()
            .filter(|item| {
                filters
                    .iter()
                    .all(|(name, value)| match &item[name.as_str()] {
                        Value::String(text) => text == value,
                        other => serde_json::from_str::<Value>(value).is_ok_and(|v| v == *other),
                    })
            })
            .collect();
        let number = |name: &str| {
            params
                .iter()
                .find(|(param, _)| param == name)
                .and_then(|(_, value)| value.parse::<usize>().ok())
        };
        let Some(limit) = number("_limit") else {
            return reply(StatusCode::OK, &json!(items));
        };
        let page = number("_page").unwrap_or(1).max(1);
        let start = (page - 1) * limit;
        let slice: Vec<&Value> = items.iter().skip(start).take(limit).copied().collect();
        let mut response = reply(StatusCode::OK, &json!(slice));
        if start + limit < items.len() {
            let link = format!("<{path}?_limit={limit}&_page={}>; rel=\"next\"", page + 1);
            if let Ok(value) = header::HeaderValue::from_str(&link) {
                response.headers_mut().insert(header::LINK, value);
            }
        }
        response
    }

    fn create(db: &mut Db, table: &'static str, mut item: Value) -> Response<Body> {
        db.next_id += 1;
        let id = db.next_id;
        item["id"] = json!(id);
        db.tables.entry(table).or_default().insert(id, item.clone());
        reply(StatusCode::CREATED, &item)
    }

    fn member(
        db: &mut Db,
        table: &'static str,
        id: u64,
        method: &Method,
        body: Option<Value>,
    ) -> Response<Body> {
        let items = db.tables.entry(table).or_default();
        let Some(item) = items.get_mut(&id) else {
            return not_found();
        };
        match (method.as_str(), body) {
            ("GET", _) => reply(StatusCode::OK, item),
            ("PUT", Some(mut body)) => {
                body["id"] = json!(id);
                *item = body;
                reply(StatusCode::OK, item)
            }
            // A merge patch, one level deep as json-server applies it.
            ("PATCH", Some(Value::Object(patch))) => {
                for (name, value) in patch {
                    if value.is_null() {
                        item.as_object_mut().map(|object| object.remove(&name));
                    } else {
                        item[name.as_str()] = value;
                    }
                }
                reply(StatusCode::OK, item)
            }
            ("DELETE", _) => {
                items.remove(&id);
                reply(StatusCode::OK, &json!({}))
            }
            _ => reply(StatusCode::BAD_REQUEST, &json!({"error": "unsupported"})),
        }
    }
}
