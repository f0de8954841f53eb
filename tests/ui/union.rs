use backrest::Model;

#[derive(Clone, Copy, Model)]
#[model(path = "/bits")]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
