//! Typed mistakes in a test of the fake do not compile, with a clear
//! message: see tests/ui/*.rs and their .stderr.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
