use backrest::{Client, Model};
use serde::{Deserialize, Serialize};

// Two independent mistakes, both reported by one compile: no `#[model(id)]`,
// and `{org}` for the field `org_id`.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org}/repos")]
struct Repo {
    id: Option<u64>,
    org_id: u64,
    name: String,
}

// The stand-ins emitted next to the errors keep this call from adding one.
async fn calls(client: &Client) {
    let _ = Repo::fetch(client, 42, 7).await;
}

fn main() {
    let _ = calls;
}
