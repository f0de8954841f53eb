use backrest::fake::FakeApi;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settings {
    theme: String,
}

async fn test(api: FakeApi) {
    api.serve::<Settings>();
}

fn main() {}
