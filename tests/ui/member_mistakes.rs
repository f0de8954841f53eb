use backrest::Model;
use serde::{Deserialize, Serialize};

// A typo in a member placeholder.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/orgs/{org_id}/posts/{post_id}/comments", member = "/orgs/{orgid}/comments/{id}")]
struct Comment {
    #[model(id)]
    id: Option<u64>,
    org_id: u64,
    post_id: u64,
}

// A member path without the id.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/posts/{post_id}/notes", member = "/notes")]
struct Note {
    #[model(id)]
    id: Option<u64>,
    post_id: u64,
}

// A member placeholder that is a field but not in the collection's path.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/posts/{post_id}/tags", member = "/{lang}/tags/{id}")]
struct Tag {
    #[model(id)]
    id: Option<u64>,
    post_id: u64,
    lang: String,
}

// A member path with bad syntax.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/posts/{post_id}/links", member = "/links/{id")]
struct Link {
    #[model(id)]
    id: Option<u64>,
    post_id: u64,
}

fn main() {}
