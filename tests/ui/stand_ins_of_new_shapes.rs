use backrest::{Client, Model};
use serde::{Deserialize, Serialize};

// A failed derive of a singleton and of a shallow member: each mistake is
// one error, and the calls below, written for the real methods, add none.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(singleton, path = "/users/{usr_id}/profile")]
struct Profile {
    user_id: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/posts/{pst_id}/comments", member = "/comments/{id}")]
struct Comment {
    #[model(id)]
    id: Option<u64>,
    post_id: u64,
}

async fn calls(client: &Client) {
    let _ = Profile::fetch(client, 4).await;
    let _ = Comment::fetch(client, 7).await;
    let _ = Comment::fetch_all(client, 1).await;
}

fn main() {
    let _ = calls;
}
