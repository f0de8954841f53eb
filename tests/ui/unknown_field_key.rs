use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos")]
struct Repo {
    #[model(ids)]
    id: Option<u64>,
    #[model(id)]
    key: Option<u64>,
    #[model(rename = "n")]
    name: String,
}

fn main() {}
