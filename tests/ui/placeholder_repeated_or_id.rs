use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org_id}/mirrors/{org_id}/repos")]
struct Mirror {
    #[model(id)]
    id: Option<u64>,
    org_id: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos/{id}")]
struct Repo {
    #[model(id)]
    id: Option<u64>,
}

fn main() {}
