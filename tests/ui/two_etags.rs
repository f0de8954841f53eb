use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/users")]
struct User {
    #[model(id)]
    id: Option<u64>,
    #[model(etag)]
    #[serde(skip)]
    etag: Option<String>,
    #[model(etag)]
    #[serde(skip)]
    version: Option<String>,
}

fn main() {}
