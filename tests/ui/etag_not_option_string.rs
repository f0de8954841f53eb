use backrest::{Client, Model};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/users")]
struct User {
    #[model(id)]
    id: Option<u64>,
    #[model(etag)]
    #[serde(skip)]
    etag: String,
    name: String,
}

async fn calls(client: &Client, user: User) {
    let _ = User::fetch(client, 7).await;
    let _ = user.save(client).await;
}

fn main() {
    let _ = calls;
}
