//! Models and a raw HTTP helper shared by the fake's tests.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use backrest::Model;
use backrest::fake::FakeApi;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A top-level model with an integer id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/users")]
pub struct User {
    #[model(id)]
    pub id: Option<u64>,
    pub name: String,
}

pub fn user(name: &str) -> User {
    User {
        id: None,
        name: name.to_owned(),
    }
}

/// A nested model: `/orgs/{org_id}/repos/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org_id}/repos")]
pub struct Repo {
    #[model(id)]
    pub id: Option<u64>,
    pub org_id: u64,
    pub name: String,
}

/// A model with an etag field and a string id under a renamed field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[serde(rename_all = "camelCase")]
#[model(path = "/docs")]
pub struct Doc {
    #[model(id)]
    pub doc_id: Option<String>,
    pub title: String,
    #[model(etag)]
    #[serde(skip)]
    pub etag: Option<String>,
}

/// Shallow members: listed and created under a post
/// (`/posts/{post_id}/comments`), each a member at `/comments/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/posts/{post_id}/comments", member = "/comments/{id}")]
pub struct Comment {
    #[model(id)]
    pub id: Option<u64>,
    pub post_id: u64,
    pub body: String,
    #[model(etag)]
    #[serde(skip)]
    pub etag: Option<String>,
}

pub fn comment(post_id: u64, body: &str) -> Comment {
    Comment {
        id: None,
        post_id,
        body: body.to_owned(),
        etag: None,
    }
}

/// A singleton: one profile per user, at `/users/{user_id}/profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(singleton, path = "/users/{user_id}/profile")]
pub struct Profile {
    pub user_id: u64,
    pub bio: String,
    #[model(etag)]
    #[serde(skip)]
    pub etag: Option<String>,
}

pub fn profile(user_id: u64, bio: &str) -> Profile {
    Profile {
        user_id,
        bio: bio.to_owned(),
        etag: None,
    }
}

/// A model in an envelope: bodies and answers are `{"data": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[model(path = "/articles", envelope = "data")]
pub struct Article {
    #[model(id)]
    pub id: Option<u64>,
    pub title: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[model(etag)]
    #[serde(skip)]
    pub etag: Option<String>,
}

pub fn article(title: &str) -> Article {
    Article {
        id: None,
        title: title.to_owned(),
        tags: Vec::new(),
        etag: None,
    }
}

/// Every test's bound: a broken fake fails the test instead of hanging it.
pub const BOUND: Duration = Duration::from_secs(20);

pub async fn bounded<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, call)
        .await
        .expect("the call ended within the bound")
}

/// A raw answer: status, headers, JSON body (`Null` if none).
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request to the fake over plain reqwest, so that the protocol
/// is seen as any client sees it.
pub async fn send(
    api: &FakeApi,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Raw {
    let http = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = http.request(method, format!("{}{path}", api.url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = bounded(request.send()).await.expect("the fake answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = bounded(response.text()).await.expect("a whole body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("a JSON body")
    };
    Raw {
        status,
        headers,
        json,
    }
}
