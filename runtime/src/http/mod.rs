//! The HTTP transport: the base URL, one [`Http::send`] for every request
//! (attempts, retries, redirects, limits), and (in [`response`]) reading
//! answers into values or [`Error`]s. It knows nothing of caching.

mod response;
mod retry;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{
    ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LOCATION,
};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::Error;
use crate::cache::Stats;

pub use retry::Retry;
pub(crate) use retry::retryable_status;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The header that makes a POST safe to retry (R5).
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// How many redirects a GET follows (R6).
pub(crate) const MAX_REDIRECTS: usize = 10;

/// What the transport is configured with, from the builder.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Sent with every request to the base URL's origin.
    pub(crate) headers: HeaderMap,
    /// Per attempt, from connecting to the end of the body (R1).
    pub(crate) timeout: Duration,
    /// The largest success body read (R2).
    pub(crate) max_response_bytes: usize,
    pub(crate) retry: Retry,
}

/// One request to make: what ops hand to [`Http::send`].
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) method: Method,
    /// Made by [`Http::url`].
    pub(crate) url: String,
    /// A JSON body.
    pub(crate) body: Option<Bytes>,
    /// Headers of this request only (idempotency key, conditions).
    pub(crate) headers: HeaderMap,
}

impl Call {
    pub(crate) fn new(method: Method, url: String) -> Call {
        Call {
            method,
            url,
            body: None,
            headers: HeaderMap::new(),
        }
    }

    fn conditional(&self) -> bool {
        self.headers.contains_key(IF_NONE_MATCH) || self.headers.contains_key(IF_MODIFIED_SINCE)
    }

    /// Whether a failed attempt may be sent again (R3): GET, PUT and
    /// DELETE, and a POST that carries an idempotency key; never a PATCH,
    /// which need not be idempotent.
    fn repeatable(&self) -> bool {
        match self.method {
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE => true,
            Method::POST => self.headers.contains_key(IDEMPOTENCY_KEY),
            _ => false,
        }
    }
}

/// A complete answer: a 2xx, or a 304 to a conditional request.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// How many attempts it took.
    pub(crate) attempts: u32,
}

/// A reqwest client bound to a base URL.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    /// The base URL without a trailing slash, so that `base + "/users"` keeps
    /// the base's own path (H1).
    base: String,
    /// `base` without its password, for messages (R11).
    shown_base: String,
    /// The path of `base` ("" for `http://h`, "/api" for `http://h/api/`).
    base_path: String,
    /// `base`, parsed once: a request's URL is a clone with its path set.
    base_url: Url,
    origin: url::Origin,
    settings: Settings,
    /// The cache's counters: every request sent counts (P4).
    counters: Arc<Stats>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may be secrets (R11): their names only.
        let headers: Vec<&str> = self
            .settings
            .headers
            .keys()
            .map(HeaderName::as_str)
            .collect();
        f.debug_struct("Http")
            .field("base", &self.shown_base)
            .field("headers", &headers)
            .field("timeout", &self.settings.timeout)
            .field("max_response_bytes", &self.settings.max_response_bytes)
            .field("retry", &self.settings.retry)
            .finish_non_exhaustive()
    }
}

impl Http {
    pub(crate) fn new(
        client: reqwest::Client,
        base: &str,
        settings: Settings,
        counters: Arc<Stats>,
    ) -> Result<Self, Error> {
        let parsed = normalize_base(base)?;
        let base = parsed.as_str().trim_end_matches('/').to_owned();
        let shown_base = redact(&parsed).trim_end_matches('/').to_owned();
        let base_path = parsed.path().trim_end_matches('/').to_owned();
        Ok(Http {
            client,
            base,
            shown_base,
            base_path,
            origin: parsed.origin(),
            base_url: parsed,
            settings,
            counters,
        })
    }

    /// The base URL without a trailing slash or a password.
    pub(crate) fn shown_base(&self) -> &str {
        &self.shown_base
    }

    /// The URL of `path`, which starts with `/` and is already encoded.
    pub(crate) fn url(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }

    /// Whether `url` is the base followed by a path or a query.
    fn under_base(&self, url: &str) -> bool {
        url.strip_prefix(self.base.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    }

    /// `url` as messages show it: without the base's password (R11).
    fn shown<'a>(&self, url: &'a str) -> Cow<'a, str> {
        if self.base.len() == self.shown_base.len() {
            return Cow::Borrowed(url);
        }
        match url.strip_prefix(self.base.as_str()) {
            Some(rest) => Cow::Owned(format!("{}{rest}", self.shown_base)),
            None => Cow::Owned(Url::parse(url).map_or_else(|_| String::new(), |url| redact(&url))),
        }
    }

    /// The parsed URL of `path`, refused when parsing would not keep the
    /// path as built: the URL standard resolves `.` and `..` segments, even
    /// percent-encoded, so an id `..` would otherwise reach another resource
    /// (H2); and an empty value would name the collection or make `//` (R10).
    fn parse(&self, method: &Method, url: &str) -> Result<Url, Error> {
        let shown = || self.shown(url);
        let Some(path) = url.strip_prefix(self.base.as_str()) else {
            // Not under the base (a `Location` read back): parsed whole.
            return Url::parse(url)
                .map_err(|e| Error::invalid_path(method, &shown(), url, Some(e)));
        };
        let (path_only, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        if path_only.contains("//") || path_only.ends_with('/') {
            return Err(Error::empty_path_value(method, &shown(), path_only));
        }
        // The base was parsed once; only the path is parsed here.
        let mut parsed = self.base_url.clone();
        if self.base_path.is_empty() {
            parsed.set_path(path_only);
        } else {
            let mut full = String::with_capacity(self.base_path.len() + path_only.len());
            full.push_str(&self.base_path);
            full.push_str(path_only);
            parsed.set_path(&full);
        }
        parsed.set_query(query);
        let kept = parsed
            .path()
            .strip_prefix(self.base_path.as_str())
            .is_some_and(|rest| rest == path_only);
        if kept {
            Ok(parsed)
        } else {
            Err(Error::invalid_path(method, &shown(), path, None))
        }
    }

    /// Sends one request: every method goes through here. Returns a
    /// complete answer (a 2xx, or a 304 to a conditional request) with its
    /// body read, bounded by `max_response_bytes` (R2); any other status is
    /// a status error with its bounded body and headers (S3).
    ///
    /// Failed attempts are retried as [`Retry`] says (R3); the error
    /// returned is the last attempt's, with the count of attempts. GETs
    /// follow up to [`MAX_REDIRECTS`] redirects, without the configured
    /// headers once they leave the base's origin; writes follow none (R6).
    ///
    /// The request's future is boxed (992 bytes, held under 1,032 by a
    /// test): every operation awaits
    /// one, and a save, a destroy or a load holding it inline would weigh
    /// one to two kilobytes, past the sizes an allocator's per-thread cache
    /// serves fast (glibc's ends at 1,032 bytes), where `save_all` and the
    /// cache box or queue them by the thousand. Two small allocations cost
    /// less than one large one.
    pub(crate) fn send<'a>(
        &'a self,
        call: &'a Call,
    ) -> Pin<Box<dyn Future<Output = Result<Answer, Error>> + Send + 'a>> {
        Box::pin(self.send_unboxed(call))
    }

    async fn send_unboxed(&self, call: &Call) -> Result<Answer, Error> {
        let url = self.parse(&call.method, &call.url)?;
        let retry = &self.settings.retry;
        let mut uncertain = false;
        let mut attempt = 1;
        loop {
            // One timeout for the attempt, its redirects and its body
            // included (R1): one timer of our own, not reqwest's per-request
            // timeout, which costs every request a map of extensions and a
            // boxed timer.
            let now = tokio::time::Instant::now();
            // A timeout past the clock's range (`Duration::MAX`) bounds
            // nothing: a deadline a century away (tokio's timer waits at most
            // about two years anyway), not a panic.
            let deadline = now
                .checked_add(self.settings.timeout)
                .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
            let mut rejected = None;
            let attempted =
                tokio::time::timeout_at(deadline, self.attempt(call, &url, &mut rejected)).await;
            let attempted = match attempted {
                Ok(attempted) => attempted,
                // Out of time while an error's body was read: that error,
                // with what arrived of its body (S3); otherwise a timeout.
                Err(elapsed) => Err(match rejected.take() {
                    Some(rejection) => rejection.into_error(&call.method),
                    None => Error::timed_out(&call.method, &self.shown(&call.url), elapsed),
                }),
            };
            let error = match attempted {
                Ok(answer) => {
                    return Ok(Answer {
                        attempts: attempt,
                        ..answer
                    });
                }
                Err(error) => error,
            };
            let last =
                attempt >= retry.max_attempts() || !call.repeatable() || !error.is_transient();
            let wait = match error.headers().map(|headers| retry.retry_after(headers)) {
                _ if last => None,
                Some(Err(())) => None,
                Some(Ok(Some(wait))) => Some(wait),
                Some(Ok(None)) | None => Some(retry.backoff_before(attempt + 1)),
            };
            let Some(wait) = wait else {
                return Err(error.with_attempts(attempt, uncertain));
            };
            uncertain |= error.delivery() == crate::error::Delivery::Unknown;
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt: the request, the redirects a GET follows, the body. A
    /// non-2xx answer is read into `rejected` (see `response::Rejection`).
    async fn attempt(
        &self,
        call: &Call,
        url: &Url,
        rejected: &mut Option<Box<response::Rejection>>,
    ) -> Result<Answer, Error> {
        let method = &call.method;
        let mut url = Cow::Borrowed(url);
        let mut hops = 0;
        // Credentials stay with the base's origin (R6, R11); a URL built
        // from the base is on it.
        let mut same_origin = self.under_base(&call.url) || url.origin() == self.origin;
        loop {
            let shown = match &url {
                Cow::Borrowed(_) => self.shown(&call.url),
                Cow::Owned(hop) => Cow::Owned(redact(hop)),
            };
            let mut request = self
                .client
                .request(method.clone(), url.as_ref().clone())
                .header(ACCEPT, JSON);
            if same_origin && !self.settings.headers.is_empty() {
                request = request.headers(self.settings.headers.clone());
            }
            if !call.headers.is_empty() {
                request = request.headers(call.headers.clone());
            }
            if let Some(body) = &call.body {
                // A call may name its own type (a merge patch, E3).
                if !call.headers.contains_key(CONTENT_TYPE) {
                    request = request.header(CONTENT_TYPE, JSON);
                }
                request = request.body(body.clone());
            }
            Stats::count(&self.counters.requests);
            let mut response = request
                .send()
                .await
                .map_err(|e| Error::transport(method, &shown, e))?;
            // A `reqwest::Client` of the user's may follow redirects itself.
            if method != Method::GET && response.url() != url.as_ref() {
                return Err(Error::redirected(method, &shown));
            }
            let status = response.status();
            if status.is_redirection() && *method == Method::GET && hops < MAX_REDIRECTS {
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|location| location.to_str().ok())
                    .and_then(|location| url.join(location).ok());
                if let Some(next) = next {
                    hops += 1;
                    same_origin = next.origin() == self.origin;
                    url = Cow::Owned(next);
                    continue;
                }
            }
            let not_modified = status == StatusCode::NOT_MODIFIED && call.conditional();
            if !status.is_success() && !not_modified {
                return Err(response::status_error(method, &shown, &mut response, rejected).await);
            }
            let limit = self.settings.max_response_bytes;
            let body = response::read(method, &shown, &mut response, limit).await?;
            let headers = std::mem::take(response.headers_mut());
            return Ok(Answer {
                status,
                headers,
                body,
                attempts: 1,
            });
        }
    }

    /// `answer`'s body, the answer to `call`, decoded as a `T` (H5). For a
    /// write the server accepted, the error keeps the body and says the
    /// write may have happened (R9).
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        call: &Call,
        answer: &Answer,
        accepted_write: bool,
    ) -> Result<T, Error> {
        let url = || self.shown(&call.url).into_owned();
        response::decode(&call.method, url, &answer.body, accepted_write)
            .map_err(|error| error.with_attempts(answer.attempts, accepted_write))
    }

    /// The error of an answer whose body parsed but is not a `T` (an
    /// envelope without its member, E6), as [`Http::decode`] makes it.
    pub(crate) fn decode_error<T>(
        &self,
        call: &Call,
        answer: &Answer,
        source: serde_json::Error,
        accepted_write: bool,
    ) -> Error {
        let kept = accepted_write.then(|| response::bounded_text(&answer.body));
        Error::decode::<T>(&call.method, &self.shown(&call.url), source, kept)
            .with_attempts(answer.attempts, accepted_write)
    }

    /// Whether `url` is on the base's origin (scheme, host, port): where a
    /// next page's link may lead (E2).
    pub(crate) fn on_base_origin(&self, url: &Url) -> bool {
        url.origin() == self.origin
    }

    /// The URL of an error about `url`, as messages show it.
    pub(crate) fn shown_url(&self, url: &str) -> String {
        self.shown(url).into_owned()
    }
}

/// `url` without its password.
fn redact(url: &Url) -> String {
    if url.password().is_none() {
        return url.as_str().to_owned();
    }
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    shown.into()
}

/// Validates a base URL (H1, H6). A base that does not parse is not echoed
/// if it may hold a password (R11).
fn normalize_base(base: &str) -> Result<Url, Error> {
    let url = Url::parse(base).map_err(|e| {
        let shown = if base.contains('@') {
            "<hidden: it has user info>"
        } else {
            base
        };
        Error::builder_with(format!("invalid base URL `{shown}`"), e)
    })?;
    let shown = redact(&url);
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::builder(format!(
            "invalid base URL `{shown}`: the scheme must be http or https"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::builder(format!(
            "invalid base URL `{shown}`: it must not have a query or a fragment"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
