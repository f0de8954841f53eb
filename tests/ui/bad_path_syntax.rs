use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "repos")]
struct NoLeadingSlash {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos/")]
struct TrailingSlash {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/repos?page=1")]
struct Query {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org_id/repos")]
struct Unclosed {
    #[model(id)]
    id: Option<u64>,
    org_id: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/org_id}/repos")]
struct Unmatched {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/my repos")]
struct Space {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/../repos")]
struct DotSegment {
    #[model(id)]
    id: Option<u64>,
}

fn main() {}
