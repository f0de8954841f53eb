use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Model)]
#[model(path = "/users", max_age = "30 secs", stale_while_revalidate = "1.5m")]
struct User {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Clone, Serialize, Deserialize, Model)]
#[model(path = "/teams", stale_while_revalidate = "5m")]
struct Team {
    #[model(id)]
    id: Option<u64>,
}



#[derive(Clone, Serialize, Deserialize, Model)]
#[model(path = "/feeds", reload, max_age = "1h")]
struct Feed {
    #[model(id)]
    id: Option<u64>,
}
fn main() {}
