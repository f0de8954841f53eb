use backrest::Model;
use serde::{Deserialize, Serialize};

// A singleton has no id.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(singleton, path = "/users/{user_id}/profile")]
struct Profile {
    #[model(id)]
    id: Option<u64>,
    user_id: u64,
}

// Nor members.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(singleton, path = "/settings", member = "/settings/{id}")]
struct Settings {
    theme: String,
}

// `singleton` takes no value.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(singleton = true, path = "/me")]
struct Me {
    name: String,
}

fn main() {}
