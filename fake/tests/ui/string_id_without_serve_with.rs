use backrest::Model;
use backrest::fake::FakeApi;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/keys")]
struct Key {
    #[model(id)]
    id: Option<String>,
}

async fn test(api: FakeApi) {
    api.serve::<Key>();
}

fn main() {}
