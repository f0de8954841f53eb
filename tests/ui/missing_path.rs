use backrest::{Client, Model};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
struct Repo {
    #[model(id)]
    id: Option<u64>,
    name: String,
}

// The stand-ins emitted next to the error keep these calls from adding errors.
async fn calls(client: &Client, repo: Repo) {
    let _ = Repo::fetch(client, 7).await;
    let _ = Repo::fetch_all(client).await;
    let _ = repo.save(client).await;
}

fn main() {
    let _ = calls;
}
