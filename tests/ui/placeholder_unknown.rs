use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/users/{owner}/repos")]
struct Repo {
    #[model(id)]
    id: Option<u64>,
    org_id: u64,
    name: String,
}

fn main() {}
