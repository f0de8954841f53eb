//! An entry as Redis holds it: a version line, the line of the time to
//! live it was stored with (in milliseconds), the `ETag` line, the
//! `Last-Modified` line, then the body as the origin sent it. Header values
//! cannot hold a line break, and the body is never parsed here, so a hit
//! costs one round trip and the model's own decode. The entry's age is that
//! time to live less what Redis says is left of it.

use std::time::Duration;

use backrest_runtime::shared::{Entry, SharedError};
use bytes::Bytes;

/// The first line of every entry this version writes.
const VERSION: &[u8] = b"backrest2";

pub(crate) fn encode(entry: &Entry, ttl_ms: u64) -> Vec<u8> {
    let etag = entry.etag.as_deref().unwrap_or("");
    let last_modified = entry.last_modified.as_deref().unwrap_or("");
    let mut ttl = itoa::Buffer::new();
    let ttl = ttl.format(ttl_ms);
    let mut out = Vec::with_capacity(
        VERSION.len() + ttl.len() + etag.len() + last_modified.len() + 4 + entry.body.len(),
    );
    for line in [
        VERSION,
        ttl.as_bytes(),
        etag.as_bytes(),
        last_modified.as_bytes(),
    ] {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(&entry.body);
    out
}

/// The entry in `value`, aged by what Redis says is left of its time to
/// live (`remaining_ms`, negative when it has none).
pub(crate) fn decode(value: Vec<u8>, remaining_ms: i64) -> Result<Entry, SharedError> {
    let value = Bytes::from(value);
    let mut lines = value.splitn(5, |&b| b == b'\n');
    let (Some(VERSION), Some(ttl), Some(etag), Some(last_modified), Some(body)) = (
        lines.next(),
        lines.next(),
        lines.next(),
        lines.next(),
        lines.next(),
    ) else {
        return Err("a Redis entry not written by this version of backrest-redis".into());
    };
    let text = |line: &[u8]| -> Result<Option<String>, SharedError> {
        match line {
            [] => Ok(None),
            line => Ok(Some(String::from_utf8(line.to_vec())?)),
        }
    };
    let ttl_ms: u64 = std::str::from_utf8(ttl)?.parse()?;
    let age = match u64::try_from(remaining_ms) {
        Ok(remaining) => Duration::from_millis(ttl_ms.saturating_sub(remaining)),
        Err(_) => Duration::ZERO,
    };
    let etag = text(etag)?;
    let last_modified = text(last_modified)?;
    let start = value.len() - body.len();
    Ok(Entry {
        body: value.slice(start..),
        etag,
        last_modified,
        age,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_comes_back_as_it_went_in_aged_by_the_ttl_used() {
        let entry = Entry {
            body: Bytes::from_static(b"{\"id\":1,\n\"name\":\"a\"}"),
            etag: Some("W/\"v1\"".into()),
            last_modified: None,
            age: Duration::ZERO,
        };
        let back = decode(encode(&entry, 30_000), 30_000).unwrap();
        assert_eq!(back, entry);
        let aged = decode(encode(&entry, 30_000), 21_000).unwrap();
        assert_eq!(aged.age, Duration::from_secs(9));
        let bare = Entry {
            body: Bytes::new(),
            etag: None,
            last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT".into()),
            age: Duration::ZERO,
        };
        assert_eq!(decode(encode(&bare, 5), -1).unwrap(), bare);
    }

    #[test]
    fn a_foreign_value_is_an_error_not_a_panic() {
        assert!(decode(b"{\"id\":1}".to_vec(), 1).is_err());
        assert!(decode(b"backrest2\nonly".to_vec(), 1).is_err());
        assert!(decode(b"backrest2\nx\n\n\n{}".to_vec(), 1).is_err());
        assert!(decode(Vec::new(), 1).is_err());
    }
}
