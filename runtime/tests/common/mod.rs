//! Models implemented by hand, so that the runtime is tested on its own,
//! without the derive.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use backrest_runtime::{Model, push_param};
use serde::{Deserialize, Serialize};

/// A top-level resource: `/users/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Option<u64>,
    pub name: String,
}

impl User {
    pub fn new(id: u64, name: &str) -> User {
        User {
            id: Some(id),
            name: name.to_owned(),
        }
    }

    pub fn unsaved(name: &str) -> User {
        User {
            id: None,
            name: name.to_owned(),
        }
    }
}

impl Model for User {
    type Id = u64;
    type Params = ();
    const PATH: &'static str = "/users";
    const ID_FIELD: &'static str = "id";

    fn collection_path((): &()) -> String {
        "/users".to_owned()
    }

    fn params(&self) {}

    fn id(&self) -> Option<&u64> {
        self.id.as_ref()
    }
}

/// Another type on the same path: its cache entries are its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Admin {
    pub id: Option<u64>,
    pub name: String,
}

impl Model for Admin {
    type Id = u64;
    type Params = ();
    const PATH: &'static str = "/users";
    const ID_FIELD: &'static str = "id";

    fn collection_path((): &()) -> String {
        "/users".to_owned()
    }

    fn params(&self) {}

    fn id(&self) -> Option<&u64> {
        self.id.as_ref()
    }
}

/// A nested resource with string ids: `/orgs/{org}/repos/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repo {
    pub id: Option<String>,
    pub org: String,
    pub name: String,
}

impl Model for Repo {
    type Id = String;
    type Params = (String,);
    const PATH: &'static str = "/orgs/{org}/repos";
    const ID_FIELD: &'static str = "id";

    fn collection_path((org,): &(String,)) -> String {
        let mut path = String::from("/orgs/");
        push_param(&mut path, org);
        path.push_str("/repos");
        path
    }

    fn params(&self) -> (String,) {
        (self.org.clone(),)
    }

    fn id(&self) -> Option<&String> {
        self.id.as_ref()
    }
}

/// A type whose every fetch is a reload (`#[model(reload)]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clock {
    pub id: Option<u64>,
    pub now: u64,
}

impl Model for Clock {
    type Id = u64;
    type Params = ();
    const PATH: &'static str = "/clocks";
    const ID_FIELD: &'static str = "id";
    const RELOAD: bool = true;

    fn collection_path((): &()) -> String {
        "/clocks".to_owned()
    }

    fn params(&self) {}

    fn id(&self) -> Option<&u64> {
        self.id.as_ref()
    }
}

/// A type whose decoding panics on the name "boom": a panic inside a shared
/// fetch must not leave the other callers hanging.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fragile {
    pub id: Option<u64>,
    pub name: String,
}

impl<'de> Deserialize<'de> for Fragile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let user = User::deserialize(d)?;
        assert!(user.name != "boom", "Fragile refuses to decode `boom`");
        Ok(Fragile {
            id: user.id,
            name: user.name,
        })
    }
}

impl Model for Fragile {
    type Id = u64;
    type Params = ();
    const PATH: &'static str = "/fragile";
    const ID_FIELD: &'static str = "id";

    fn collection_path((): &()) -> String {
        "/fragile".to_owned()
    }

    fn params(&self) {}

    fn id(&self) -> Option<&u64> {
        self.id.as_ref()
    }
}

/// `/news/{id}`: fresh for 30 s, then served stale for 60 s more while it
/// is refreshed (`#[model(max_age = "30s", stale_while_revalidate = "60s")]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct News {
    pub id: Option<u64>,
    pub name: String,
}

impl Model for News {
    type Id = u64;
    type Params = ();
    const PATH: &'static str = "/news";
    const ID_FIELD: &'static str = "id";
    const MAX_AGE: Option<Duration> = Some(Duration::from_secs(30));
    const STALE_WHILE_REVALIDATE: Option<Duration> = Some(Duration::from_secs(60));

    fn collection_path((): &()) -> String {
        "/news".to_owned()
    }

    fn params(&self) {}

    fn id(&self) -> Option<&u64> {
        self.id.as_ref()
    }
}

/// `/quotes/{id}`: fresh for 30 s, then a miss (`max_age = "30s"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub id: Option<u64>,
    pub name: String,
}

impl Model for Quote {
    type Id = u64;
    type Params = ();
    const PATH: &'static str = "/quotes";
    const ID_FIELD: &'static str = "id";
    const MAX_AGE: Option<Duration> = Some(Duration::from_secs(30));

    fn collection_path((): &()) -> String {
        "/quotes".to_owned()
    }

    fn params(&self) {}

    fn id(&self) -> Option<&u64> {
        self.id.as_ref()
    }
}

/// `{"id": id, "name": name}`.
pub fn user_json(id: u64, name: &str) -> serde_json::Value {
    serde_json::json!({ "id": id, "name": name })
}
