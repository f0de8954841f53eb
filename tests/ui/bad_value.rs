use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = repos, reload = true, crate = "not a path")]
struct Repo {
    #[model(id = "id")]
    id: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model]
struct User {
    #[model(id)]
    id: Option<u64>,
}

fn main() {}
