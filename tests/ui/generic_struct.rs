use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/items")]
struct Item<T> {
    #[model(id)]
    id: Option<u64>,
    value: T,
}

#[derive(Debug, Clone, Serialize, Model)]
#[model(path = "/names")]
struct Name<'a> {
    #[model(id)]
    id: Option<u64>,
    name: &'a str,
}

fn main() {}
