//! An entry as Redis holds it: a version line, the `ETag` line, the
//! `Last-Modified` line, then the body as the origin sent it. Header
//! values cannot hold a line break, and the body is never parsed here, so a
//! hit costs one GET and the model's own decode.

use backrest_runtime::shared::{Entry, SharedError};
use bytes::Bytes;

/// The first line of every entry this version writes.
const VERSION: &[u8] = b"backrest1";

pub(crate) fn encode(entry: &Entry) -> Vec<u8> {
    let etag = entry.etag.as_deref().unwrap_or("");
    let last_modified = entry.last_modified.as_deref().unwrap_or("");
    let mut out =
        Vec::with_capacity(VERSION.len() + etag.len() + last_modified.len() + 3 + entry.body.len());
    out.extend_from_slice(VERSION);
    out.push(b'\n');
    out.extend_from_slice(etag.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(last_modified.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&entry.body);
    out
}

pub(crate) fn decode(value: Vec<u8>) -> Result<Entry, SharedError> {
    let value = Bytes::from(value);
    let mut lines = value.splitn(4, |&b| b == b'\n');
    let (Some(VERSION), Some(etag), Some(last_modified), Some(body)) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err("a Redis entry not written by this version of backrest-redis".into());
    };
    let text = |line: &[u8]| -> Result<Option<String>, SharedError> {
        match line {
            [] => Ok(None),
            line => Ok(Some(String::from_utf8(line.to_vec())?)),
        }
    };
    let etag = text(etag)?;
    let last_modified = text(last_modified)?;
    let start = value.len() - body.len();
    Ok(Entry {
        body: value.slice(start..),
        etag,
        last_modified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_comes_back_as_it_went_in() {
        let entry = Entry {
            body: Bytes::from_static(b"{\"id\":1,\n\"name\":\"a\"}"),
            etag: Some("W/\"v1\"".into()),
            last_modified: None,
        };
        let back = decode(encode(&entry)).unwrap();
        assert_eq!(back, entry);
        let bare = Entry {
            body: Bytes::new(),
            etag: None,
            last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT".into()),
        };
        assert_eq!(decode(encode(&bare)).unwrap(), bare);
    }

    #[test]
    fn a_foreign_value_is_an_error_not_a_panic() {
        assert!(decode(b"{\"id\":1}".to_vec()).is_err());
        assert!(decode(b"backrest1\nonly".to_vec()).is_err());
        assert!(decode(Vec::new()).is_err());
    }
}
