use backrest::Model;
use serde::{Deserialize, Serialize};

// An empty envelope.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/posts", envelope = "")]
struct Post {
    #[model(id)]
    id: Option<u64>,
}

// Not a string.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/pages", envelope = data)]
struct Page {
    #[model(id)]
    id: Option<u64>,
}

fn main() {}
