use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos")]
struct Repo {
    #[model(id)]
    id: Option<u64>,
    #[model(id)]
    slug: Option<String>,
}

fn main() {}
