use backrest::Model;
use serde::{Deserialize, Serialize};

// Ids and path parameters must be `PathParam` (`Display`): the errors point
// at the fields' types.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org}/repos")]
struct Repo {
    #[model(id)]
    id: Option<Vec<u8>>,
    org: Vec<u8>,
}

fn main() {}
