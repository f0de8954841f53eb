use backrest::{Client, Model};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org_id}/repos")]
struct Repo {
    id: Option<u64>,
    org_id: u64,
    name: String,
}

// The stand-ins emitted next to the error keep these calls from adding errors.
async fn calls(client: &Client, repo: Repo) {
    let _ = Repo::fetch(client, 42, 7).await;
    let _ = repo.destroy(client).await;
}

fn main() {
    let _ = calls;
}
