//! Unit tests of the HTTP layer: base URLs (H1, H6) and the size of a
//! request's future.

use reqwest::Method;

use super::{Call, normalize_base};

/// What `send` boxes stays within the sizes glibc's per-thread cache
/// serves (1,032 bytes): past it, every request's allocation took the
/// allocator's slow path, and the small ones around it slowed too
/// (ARCHITECTURE.md, "Every boxed load fits the allocator's fast sizes").
#[test]
#[cfg(target_pointer_width = "64")]
fn a_request_s_future_fits_the_allocator_s_fast_sizes() {
    let client = crate::Client::new("http://127.0.0.1:9/api").unwrap();
    let http = client.http();
    let call = Call::new(Method::PUT, http.url("/users/1"));
    let bytes = size_of_val(&http.send_unboxed(&call));
    assert!(bytes <= 1032, "a request's future takes {bytes} bytes");
}

#[test]
fn h1_base_keeps_its_path_with_or_without_trailing_slash() {
    let base = |url: &str| {
        let url = normalize_base(url).unwrap();
        url.as_str().trim_end_matches('/').to_owned()
    };
    assert_eq!(base("http://h/api/v1"), "http://h/api/v1");
    assert_eq!(base("http://h/api/v1/"), "http://h/api/v1");
    assert_eq!(base("http://h"), "http://h");
}

#[test]
fn h6_invalid_bases_are_rejected() {
    for base in [
        "",
        "not a url",
        "ftp://h/x",
        "mailto:a@b",
        "http://h/?q=1",
        "http://h/#f",
    ] {
        let err = normalize_base(base).unwrap_err();
        assert!(err.is_builder(), "{base}: {err}");
        assert!(err.to_string().contains("invalid base URL"), "{err}");
    }
}
