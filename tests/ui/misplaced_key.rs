use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos", id)]
struct Repo {
    #[model(id, reload)]
    id: Option<u64>,
}

fn main() {}
