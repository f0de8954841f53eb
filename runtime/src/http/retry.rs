//! [`Retry`]: which failed attempts are tried again, and how long to wait
//! first. The transport asks it; nothing else knows its policy.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How many times a request is attempted, and how long to wait between
/// attempts (see [`ClientBuilder::retry`](crate::ClientBuilder::retry)).
///
/// Only failures that a new attempt can cure are retried: connect errors,
/// attempt timeouts, a connection closed or reset before a complete answer,
/// and the statuses 408, 429, 500, 502, 503 and 504. GET, PUT and DELETE
/// are retried; a POST only when it carries an `Idempotency-Key`
/// (see [`ClientBuilder::idempotency_keys`](crate::ClientBuilder::idempotency_keys)).
/// Other statuses and decode errors are never retried.
///
/// Between attempts it waits a random time between zero and the backoff,
/// which starts at `base` and doubles each attempt up to `max` ("full
/// jitter"). An answer with `Retry-After` (seconds or an HTTP date) is
/// waited for instead, when it is at most
/// [`max_retry_after`](Retry::max_retry_after); a longer one ends the
/// request at once with that answer's error.
///
/// The default is [`Retry::attempts(3)`](Retry::attempts) with a backoff from
/// 100 ms to 5 s and a `Retry-After` of at most 30 s.
///
/// ```
/// use std::time::Duration;
/// use backrest::Retry;
///
/// let patient = Retry::attempts(5)
///     .backoff(Duration::from_millis(200), Duration::from_secs(10))
///     .max_retry_after(Duration::from_secs(60));
/// let client = backrest::Client::builder("https://api.example.com")
///     .retry(patient)
///     .build()?;
/// # Ok::<(), backrest::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    attempts: u32,
    base: Duration,
    max: Duration,
    max_retry_after: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry::attempts(3)
    }
}

impl Retry {
    /// One attempt, never retried.
    pub const fn none() -> Retry {
        Retry::attempts(1)
    }

    /// At most `attempts` attempts in all, the first included (0 counts as
    /// 1), with the default backoff.
    pub const fn attempts(attempts: u32) -> Retry {
        Retry {
            attempts: if attempts == 0 { 1 } else { attempts },
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }

    /// The backoff: the first retry waits up to `base`, each next one up to
    /// twice the last, never more than `max`.
    pub const fn backoff(mut self, base: Duration, max: Duration) -> Retry {
        self.base = base;
        self.max = max;
        self
    }

    /// The longest `Retry-After` waited for; an answer asking for longer
    /// ends the request with its error at once.
    pub const fn max_retry_after(mut self, max: Duration) -> Retry {
        self.max_retry_after = max;
        self
    }

    /// How many attempts in all.
    pub const fn max_attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait before attempt `next` (2 for the first retry): a random
    /// time up to the capped exponential backoff.
    pub(crate) fn backoff_before(&self, next: u32) -> Duration {
        let doublings = next.saturating_sub(2).min(31);
        let ceiling = self.base.saturating_mul(1 << doublings).min(self.max);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// What an answer's `Retry-After` asks: `Ok(None)` when it has none,
    /// `Ok(Some(wait))` when it may be waited for, `Err(())` when it asks
    /// for longer than [`max_retry_after`](Retry::max_retry_after).
    pub(crate) fn retry_after(&self, headers: &HeaderMap) -> Result<Option<Duration>, ()> {
        let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        let value = value.trim();
        let wait = match value.parse::<u64>() {
            Ok(seconds) => Duration::from_secs(seconds),
            Err(_) => match httpdate::parse_http_date(value) {
                Ok(at) => at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO),
                // A value we cannot read: fall back to the backoff.
                Err(_) => return Ok(None),
            },
        };
        if wait > self.max_retry_after {
            Err(())
        } else {
            Ok(Some(wait))
        }
    }
}

/// Whether an answer with this status is worth another attempt.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_full_jitter_doubling_up_to_the_cap() {
        let retry = Retry::attempts(10).backoff(Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..200 {
            assert!(retry.backoff_before(2) <= Duration::from_millis(100));
            assert!(retry.backoff_before(3) <= Duration::from_millis(200));
            assert!(retry.backoff_before(9) <= Duration::from_secs(1));
        }
        let waits: Vec<_> = (0..200).map(|_| retry.backoff_before(9)).collect();
        assert!(
            waits.iter().any(|w| *w > Duration::from_millis(500)),
            "jitter spans the range"
        );
        assert!(waits.iter().any(|w| *w < Duration::from_millis(500)));
    }

    #[test]
    fn zero_attempts_count_as_one() {
        assert_eq!(Retry::attempts(0).max_attempts(), 1);
        assert_eq!(Retry::none().max_attempts(), 1);
        assert_eq!(Retry::default().max_attempts(), 3);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_refuses_long_waits() {
        let retry = Retry::default();
        let mut headers = HeaderMap::new();
        assert_eq!(retry.retry_after(&headers), Ok(None));
        headers.insert(RETRY_AFTER, "1".parse().unwrap());
        assert_eq!(
            retry.retry_after(&headers),
            Ok(Some(Duration::from_secs(1)))
        );
        headers.insert(RETRY_AFTER, "31".parse().unwrap());
        assert_eq!(retry.retry_after(&headers), Err(()));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(10));
        headers.insert(RETRY_AFTER, soon.parse().unwrap());
        let wait = retry.retry_after(&headers).unwrap().unwrap();
        assert!(
            wait <= Duration::from_secs(10) && wait >= Duration::from_secs(8),
            "{wait:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(10));
        headers.insert(RETRY_AFTER, past.parse().unwrap());
        assert_eq!(retry.retry_after(&headers), Ok(Some(Duration::ZERO)));
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [400, 401, 403, 404, 409, 412, 422, 501, 505] {
            assert!(
                !retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }
}
