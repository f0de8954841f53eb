use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos")]
struct Repo(Option<u64>, String);

fn main() {}
