//! Unit tests of [`Error`](super::Error).

use super::*;

#[test]
fn error_is_send_sync_clone_and_one_pointer_wide() {
    fn assert_traits<T: Clone + Send + Sync + StdError + 'static>() {}
    assert_traits::<Error>();
    assert_eq!(size_of::<Error>(), size_of::<usize>());
}

#[test]
fn status_error_names_method_url_and_status() {
    let err = Error::from_status(
        &Method::GET,
        "http://h/api/users/7",
        StatusCode::NOT_FOUND,
        "no such user".into(),
        HeaderMap::new(),
    );
    assert_eq!(
        err.to_string(),
        "GET http://h/api/users/7: server answered 404 Not Found: no such user"
    );
    assert!(err.is_status());
    assert!(!err.is_decode() && !err.is_timeout() && !err.is_connect());
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(err.body(), Some("no such user"));
}

#[test]
fn display_is_its_own_message_and_causes_come_from_source() {
    let cause = serde_json::from_str::<u32>("x").unwrap_err();
    let shown_cause = cause.to_string();
    let err = Error::decode::<u32>(&Method::GET, "http://h/n", cause, None);
    let shown = err.to_string();
    assert_eq!(shown, "GET http://h/n: response body is not a valid `u32`");
    assert!(!shown.contains(&shown_cause), "{shown}");
    let source = StdError::source(&err).expect("the JSON error is the source");
    assert_eq!(source.to_string(), shown_cause);
}

#[test]
fn a_status_error_keeps_the_answer_headers() {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "1".parse().unwrap());
    let err = Error::from_status(
        &Method::GET,
        "http://h/n",
        StatusCode::SERVICE_UNAVAILABLE,
        String::new(),
        headers,
    );
    let kept = err.headers().expect("a status error has headers");
    assert_eq!(kept.get("retry-after").unwrap(), "1");
}

#[test]
fn floor_char_boundary_never_splits_a_char() {
    assert_eq!(floor_char_boundary("héllo", 2), 1);
    assert_eq!(floor_char_boundary("abc", 10), 3);
}
