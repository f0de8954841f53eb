use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(pth = "/repos")]
struct Repo {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/users", cache = false)]
struct User {
    #[model(id)]
    id: Option<u64>,
}

fn main() {}
