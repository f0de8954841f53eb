//! Compile-fail cases of `#[derive(Model)]` (ARCHITECTURE.md M1–M5): each mistake
//! is an error spanned on the user's tokens that says what to write or
//! remove, independent mistakes are reported together, and a failed derive
//! adds no cascade of secondary errors.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
