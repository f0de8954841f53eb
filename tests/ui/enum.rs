use backrest::Model;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/shapes")]
enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

fn main() {}
