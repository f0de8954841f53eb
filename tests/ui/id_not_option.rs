use backrest::{Client, Model};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos")]
struct Repo {
    #[model(id)]
    id: u64,
    name: String,
}

async fn calls(client: &Client) {
    let _ = Repo::fetch(client, 7).await;
}

fn main() {
    let _ = calls;
}
