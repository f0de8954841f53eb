//! The one error type of backrest.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

/// How much of an error response's body an [`Error`] keeps, in bytes.
pub const MAX_ERROR_BODY: usize = 8 * 1024;

/// The error of every backrest operation.
///
/// It is cheap to clone (one pointer), so one failed request can be handed to
/// every caller that shared it, and it is `Send + Sync + 'static`. Its
/// [`Display`](fmt::Display) names the method, the URL and what went wrong,
/// e.g. `GET http://api.test/v1/users/7: server answered 404 Not Found: no
/// such user`; the underlying causes (an I/O error, a JSON syntax error) are
/// its [`source`](StdError::source) chain, printed by reporters such as
/// `anyhow` once each.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: Kind,
    request: Option<(Method, String)>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
    /// How many attempts were made (0 when nothing was sent).
    attempts: u32,
    /// An earlier attempt may have reached the server without a complete
    /// answer, whatever the last one says.
    uncertain: bool,
}

/// What a failed request may have done on the server, for
/// [`SaveAllError`](crate::SaveAllError)'s classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Nothing reached the server.
    NotSent,
    /// The server answered with an error: nothing was written.
    Rejected,
    /// It was sent and no complete answer came back (or an answer we could
    /// not read): it may have been written.
    Unknown,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The client could not be built: an invalid base URL, header or option.
    Builder(String),
    /// The request could not be sent or its response read.
    Transport { timeout: bool, connect: bool },
    /// The server answered with a status other than 2xx.
    Status {
        status: StatusCode,
        body: String,
        /// The answer's headers, for what a caller may act on
        /// (`Retry-After`, `ETag`, `Location`).
        headers: HeaderMap,
    },
    /// A success body was larger than the limit.
    TooLarge {
        limit: usize,
        /// The `Content-Length` the server announced, if it did.
        length: Option<u64>,
    },
    /// The HTTP client followed a redirect of a write by itself (a
    /// `reqwest::Client` given to the builder with its own redirect policy).
    Redirected,
    /// A 2xx body did not decode as the expected type.
    Decode {
        type_name: &'static str,
        /// The body, bounded, when the request was a write the server
        /// accepted.
        body: Option<String>,
    },
    /// A value could not be encoded as JSON.
    Encode { type_name: &'static str },
    /// The work producing a shared result panicked; its callers get an
    /// error instead of waiting forever.
    Panicked,
    /// The request could not run to its end on the async runtime.
    Runtime(&'static str),
    /// A broken invariant of backrest itself, reported rather than panicked.
    Internal(&'static str),
}

impl Error {
    fn new(kind: Kind) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind,
                request: None,
                source: None,
                attempts: 0,
                uncertain: false,
            }),
        }
    }

    fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.inner).source = Some(Arc::new(source));
        self
    }

    fn with_request(mut self, method: &Method, url: &str) -> Self {
        Arc::make_mut(&mut self.inner).request = Some((method.clone(), url.to_owned()));
        self
    }

    /// Records how many attempts the request made, and whether an earlier
    /// one may have reached the server.
    pub(crate) fn with_attempts(mut self, attempts: u32, uncertain: bool) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.attempts = attempts;
        inner.uncertain |= uncertain;
        self
    }

    /// Whether another attempt may cure this failure (R3): a transport
    /// failure or a transient status.
    pub(crate) fn is_transient(&self) -> bool {
        match &self.inner.kind {
            Kind::Transport { .. } => true,
            Kind::Status { status, .. } => crate::http::retryable_status(*status),
            _ => false,
        }
    }

    /// What the failed request may have done on the server.
    pub(crate) fn delivery(&self) -> Delivery {
        if self.inner.uncertain {
            return Delivery::Unknown;
        }
        match &self.inner.kind {
            Kind::Builder(_) | Kind::Encode { .. } | Kind::Internal(_) => Delivery::NotSent,
            Kind::Runtime(_) if self.inner.attempts == 0 => Delivery::NotSent,
            Kind::Transport { connect: true, .. } => Delivery::NotSent,
            Kind::Status { .. } | Kind::Redirected => Delivery::Rejected,
            Kind::Transport { .. }
            | Kind::TooLarge { .. }
            | Kind::Decode { .. }
            | Kind::Panicked
            | Kind::Runtime(_) => Delivery::Unknown,
        }
    }

    pub(crate) fn builder(message: impl Into<String>) -> Self {
        Error::new(Kind::Builder(message.into()))
    }

    pub(crate) fn builder_with(
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Error::builder(message).with_source(source)
    }

    pub(crate) fn transport(method: &Method, url: &str, source: reqwest::Error) -> Self {
        let kind = Kind::Transport {
            timeout: source.is_timeout(),
            connect: source.is_connect(),
        };
        // reqwest's own message repeats the URL; keep its cause chain only.
        Error::new(kind)
            .with_request(method, url)
            .with_source(source.without_url())
    }

    /// An attempt that got no complete answer before its timeout (R1).
    pub(crate) fn timed_out(
        method: &Method,
        url: &str,
        source: tokio::time::error::Elapsed,
    ) -> Self {
        Error::new(Kind::Transport {
            timeout: true,
            connect: false,
        })
        .with_request(method, url)
        .with_source(source)
    }

    pub(crate) fn from_status(
        method: &Method,
        url: &str,
        status: StatusCode,
        body: String,
        headers: HeaderMap,
    ) -> Self {
        Error::new(Kind::Status {
            status,
            body,
            headers,
        })
        .with_request(method, url)
    }

    pub(crate) fn decode<T>(
        method: &Method,
        url: &str,
        source: serde_json::Error,
        body: Option<String>,
    ) -> Self {
        Error::new(Kind::Decode {
            type_name: std::any::type_name::<T>(),
            body,
        })
        .with_request(method, url)
        .with_source(source)
    }

    pub(crate) fn too_large(method: &Method, url: &str, limit: usize, length: Option<u64>) -> Self {
        Error::new(Kind::TooLarge { limit, length }).with_request(method, url)
    }

    pub(crate) fn redirected(method: &Method, url: &str) -> Self {
        Error::new(Kind::Redirected).with_request(method, url)
    }

    pub(crate) fn encode<T: ?Sized>(method: &Method, url: &str, source: serde_json::Error) -> Self {
        Error::new(Kind::Encode {
            type_name: std::any::type_name::<T>(),
        })
        .with_request(method, url)
        .with_source(source)
    }

    pub(crate) fn invalid_path(
        method: &Method,
        url: &str,
        path: &str,
        source: Option<url::ParseError>,
    ) -> Self {
        let error = Error::new(Kind::Builder(format!(
            "the path `{path}` cannot be sent as built: a value in it is `.` or `..`, \
             which URLs resolve to another resource"
        )))
        .with_request(method, url);
        match source {
            Some(source) => error.with_source(source),
            None => error,
        }
    }

    pub(crate) fn empty_path_value(method: &Method, url: &str, path: &str) -> Self {
        Error::new(Kind::Builder(format!(
            "the path `{path}` cannot be sent: a value in it (an id or a parent's id) is empty"
        )))
        .with_request(method, url)
    }

    pub(crate) fn panicked() -> Self {
        Error::new(Kind::Panicked)
    }

    pub(crate) fn no_runtime() -> Self {
        Error::new(Kind::Runtime(
            "no Tokio runtime is running: backrest's requests run on Tokio",
        ))
    }

    pub(crate) fn interrupted() -> Self {
        Error::new(Kind::Runtime(
            "the task running the request stopped before it finished (its runtime shut down)",
        ))
    }

    pub(crate) fn internal(message: &'static str) -> Self {
        Error::new(Kind::Internal(message))
    }

    /// The status of the server's answer, for [status errors](Error::is_status).
    ///
    /// ```
    /// # fn check(err: backrest::Error) {
    /// if err.status() == Some(backrest::StatusCode::NOT_FOUND) { /* ... */ }
    /// # }
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        match self.inner.kind {
            Kind::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The text of the server's answer, cut to at most [`MAX_ERROR_BODY`]
    /// bytes: for [status errors](Error::is_status), and for a write the
    /// server accepted with a body that did not [decode](Error::is_decode).
    pub fn body(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Status { body, .. }
            | Kind::Decode {
                body: Some(body), ..
            } => Some(body),
            _ => None,
        }
    }

    /// How many attempts the request made, retries included (see
    /// [`Retry`](crate::Retry)); 0 when nothing was sent.
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The headers of the server's answer, for [status errors](Error::is_status):
    /// what a caller may act on, such as `Retry-After` or `ETag`.
    pub fn headers(&self) -> Option<&HeaderMap> {
        match &self.inner.kind {
            Kind::Status { headers, .. } => Some(headers),
            _ => None,
        }
    }

    /// The method of the request that failed, if a request was involved.
    pub fn method(&self) -> Option<&Method> {
        self.inner.request.as_ref().map(|(method, _)| method)
    }

    /// The URL of the request that failed, if a request was involved.
    pub fn url(&self) -> Option<&str> {
        self.inner.request.as_ref().map(|(_, url)| url.as_str())
    }

    /// Whether the server answered with a status other than 2xx.
    pub fn is_status(&self) -> bool {
        matches!(self.inner.kind, Kind::Status { .. })
    }

    /// Whether a success body was larger than
    /// [`max_response_bytes`](crate::ClientBuilder::max_response_bytes);
    /// nothing of it is cached.
    pub fn is_too_large(&self) -> bool {
        matches!(self.inner.kind, Kind::TooLarge { .. })
    }

    /// Whether the server refused a write as conflicting: `409 Conflict`, or
    /// `412 Precondition Failed` for a save or destroy sent with `If-Match`
    /// (the server's value was not overwritten).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self.status(),
            Some(StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED)
        )
    }

    /// Whether the server answered with a redirect that was not followed:
    /// any 3xx to a write (writes never follow redirects), or the eleventh
    /// redirect of a GET. [`status`](Error::status) is the 3xx.
    pub fn is_redirect(&self) -> bool {
        match &self.inner.kind {
            Kind::Status { status, .. } => status.is_redirection(),
            Kind::Redirected => true,
            _ => false,
        }
    }

    /// Whether a 2xx body did not decode as the expected type.
    pub fn is_decode(&self) -> bool {
        matches!(self.inner.kind, Kind::Decode { .. })
    }

    /// Whether the request timed out (see
    /// [`ClientBuilder::timeout`](crate::ClientBuilder::timeout)).
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, Kind::Transport { timeout: true, .. })
    }

    /// Whether the connection to the server could not be made (refused,
    /// unreachable, DNS).
    pub fn is_connect(&self) -> bool {
        matches!(self.inner.kind, Kind::Transport { connect: true, .. })
    }

    /// Whether the client could not be built (an invalid base URL, header or
    /// option).
    pub fn is_builder(&self) -> bool {
        matches!(self.inner.kind, Kind::Builder(_))
    }

    /// Whether the request failed in transport: connection, timeout, I/O.
    pub fn is_request(&self) -> bool {
        matches!(self.inner.kind, Kind::Transport { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((method, url)) = &self.inner.request {
            write!(f, "{method} {url}: ")?;
        }
        match &self.inner.kind {
            Kind::Builder(message) => f.write_str(message)?,
            Kind::Transport { timeout: true, .. } => f.write_str("request timed out")?,
            Kind::Transport { connect: true, .. } => f.write_str("could not connect")?,
            Kind::Transport { .. } => f.write_str("request failed")?,
            Kind::Status { status, body, .. } => {
                write!(f, "server answered {status}")?;
                let excerpt = body.trim();
                if !excerpt.is_empty() {
                    let cut = floor_char_boundary(excerpt, 200);
                    let more = if cut < excerpt.len() { "…" } else { "" };
                    write!(f, ": {}{more}", &excerpt[..cut])?;
                }
            }
            Kind::TooLarge {
                limit,
                length: Some(length),
            } => write!(
                f,
                "response body of {length} bytes is over the limit of {limit} bytes"
            )?,
            Kind::TooLarge {
                limit,
                length: None,
            } => {
                write!(f, "response body is over the limit of {limit} bytes")?;
            }
            Kind::Redirected => f.write_str(
                "the server redirected a write and the HTTP client followed it; \
                 writes must not follow redirects (build the reqwest::Client with \
                 `redirect::Policy::none()`)",
            )?,
            Kind::Decode { type_name, .. } => {
                write!(f, "response body is not a valid `{type_name}`")?;
            }
            Kind::Encode { type_name } => write!(f, "could not encode `{type_name}` as JSON")?,
            Kind::Panicked => f.write_str("the request panicked (see the panic message)")?,
            Kind::Runtime(message) => f.write_str(message)?,
            Kind::Internal(message) => write!(f, "internal error in backrest: {message}")?,
        }
        if self.inner.attempts > 1 {
            write!(f, " (after {} attempts)", self.inner.attempts)?;
        }
        // Causes are left to `source()`, so that reporters that walk the
        // chain (anyhow, eyre) print each of them once.
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("backrest::Error");
        d.field("kind", &self.inner.kind);
        if let Some((method, url)) = &self.inner.request {
            d.field("method", method).field("url", url);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        if self.inner.attempts > 1 {
            d.field("attempts", &self.inner.attempts);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// The largest index `<= max` that is a char boundary of `s`.
pub(crate) fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
