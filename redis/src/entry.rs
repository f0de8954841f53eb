//! An entry as Redis holds it: a version line, the line of when it was
//! stored and the line of the time to live it was stored with (both in
//! milliseconds, the first since the Unix epoch), the `ETag` line, the
//! `Last-Modified` line, then the body as the origin sent it. Header values
//! cannot hold a line break, and the body is never parsed here, so a hit
//! costs one GET and the model's own decode.
//!
//! The entry's age is the reader's clock less the writer's, at most its
//! time to live: hosts whose clocks disagree shift it by the difference.
//! (Asking Redis for the time left, `PTTL`, in the same round trip, cost
//! 15% of a hit: ARCHITECTURE.md, "Fleets".)

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backrest_runtime::shared::{Entry, SharedError};
use bytes::Bytes;

/// The first line of every entry this version writes.
const VERSION: &[u8] = b"backrest2";

/// Milliseconds since the Unix epoch, on this host's clock.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// `entry` as stored at `now_ms` (less its age) for `ttl_ms`.
pub(crate) fn encode(entry: &Entry, now_ms: u64, ttl_ms: u64) -> Vec<u8> {
    let etag = entry.etag.as_deref().unwrap_or("");
    let last_modified = entry.last_modified.as_deref().unwrap_or("");
    let (mut stored, mut ttl) = (itoa::Buffer::new(), itoa::Buffer::new());
    let stored = stored.format(now_ms.saturating_sub(entry.age.as_millis() as u64));
    let ttl = ttl.format(ttl_ms);
    let lines = [
        VERSION,
        stored.as_bytes(),
        ttl.as_bytes(),
        etag.as_bytes(),
        last_modified.as_bytes(),
    ];
    let header: usize = lines.iter().map(|line| line.len() + 1).sum();
    let mut out = Vec::with_capacity(header + entry.body.len());
    for line in lines {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(&entry.body);
    out
}

/// The entry in `value`, read at `now_ms`.
pub(crate) fn decode(value: Vec<u8>, now_ms: u64) -> Result<Entry, SharedError> {
    let value = Bytes::from(value);
    let mut lines = value.splitn(6, |&b| b == b'\n');
    let (Some(VERSION), Some(stored), Some(ttl), Some(etag), Some(last_modified), Some(body)) = (
        lines.next(),
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
    let number =
        |line: &[u8]| -> Result<u64, SharedError> { Ok(std::str::from_utf8(line)?.parse()?) };
    let (stored, ttl_ms) = (number(stored)?, number(ttl)?);
    let age = Duration::from_millis(now_ms.saturating_sub(stored).min(ttl_ms));
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
    fn an_entry_comes_back_as_it_went_in_aged_by_the_clock() {
        let entry = Entry {
            body: Bytes::from_static(b"{\"id\":1,\n\"name\":\"a\"}"),
            etag: Some("W/\"v1\"".into()),
            last_modified: None,
            age: Duration::ZERO,
        };
        let back = decode(encode(&entry, 1_000_000, 30_000), 1_000_000).unwrap();
        assert_eq!(back, entry);
        let aged = decode(encode(&entry, 1_000_000, 30_000), 1_009_000).unwrap();
        assert_eq!(aged.age, Duration::from_secs(9));
        // Never older than its time to live, never younger than zero (a
        // reader whose clock is behind the writer's).
        let clamped = decode(encode(&entry, 1_000_000, 30_000), 2_000_000).unwrap();
        assert_eq!(clamped.age, Duration::from_secs(30));
        let behind = decode(encode(&entry, 1_000_000, 30_000), 999_000).unwrap();
        assert_eq!(behind.age, Duration::ZERO);
        // An entry put with an age keeps it.
        let old = Entry {
            age: Duration::from_secs(4),
            ..entry.clone()
        };
        let again = decode(encode(&old, 1_000_000, 30_000), 1_001_000).unwrap();
        assert_eq!(again.age, Duration::from_secs(5));
        let bare = Entry {
            body: Bytes::new(),
            etag: None,
            last_modified: Some("Tue, 01 Dec 2026 10:00:00 GMT".into()),
            age: Duration::ZERO,
        };
        assert_eq!(decode(encode(&bare, 7, 5), 7).unwrap(), bare);
    }

    #[test]
    fn a_foreign_value_is_an_error_not_a_panic() {
        assert!(decode(b"{\"id\":1}".to_vec(), 1).is_err());
        assert!(decode(b"backrest2\nonly".to_vec(), 1).is_err());
        assert!(decode(b"backrest2\nx\n5\n\n\n{}".to_vec(), 1).is_err());
        assert!(decode(Vec::new(), 1).is_err());
    }
}
