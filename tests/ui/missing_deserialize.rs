use backrest::Model;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, Model)]
#[model(path = "/users")]
struct User {
    #[model(id)]
    id: Option<u64>,
    name: String,
}

fn main() {}
