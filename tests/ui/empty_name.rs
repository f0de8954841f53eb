use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, Model)]
#[model(path = "/invoices", name = "")]
struct Invoice {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Clone, Serialize, Deserialize, Model)]
#[model(path = "/credits", name = "  ")]
struct Credit {
    #[model(id)]
    id: Option<u64>,
}

#[derive(Clone, Serialize, Deserialize, Model)]
#[model(path = "/refunds", name = refund)]
struct Refund {
    #[model(id)]
    id: Option<u64>,
}

fn main() {}
