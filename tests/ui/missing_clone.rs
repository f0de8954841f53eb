use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, Model)]
#[model(path = "/users")]
struct User {
    #[model(id)]
    id: Option<u64>,
    name: String,
}

fn main() {}
