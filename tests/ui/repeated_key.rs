use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos", reload)]
#[model(path = "/repositories", reload)]
struct Repo {
    #[model(id, id)]
    id: Option<u64>,
}

fn main() {}
