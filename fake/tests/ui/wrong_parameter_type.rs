use backrest::Model;
use backrest::fake::FakeApi;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org_id}/repos")]
struct Repo {
    #[model(id)]
    id: Option<u64>,
    org_id: u64,
    name: String,
}

async fn test(api: FakeApi) {
    api.serve::<Repo>();
    // The org's id is a `u64`: a slug does not compile.
    let _held: Vec<Repo> = api.all::<Repo>(("acme",));
}

fn main() {}
