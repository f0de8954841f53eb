//! Reading answers: the bounded body of a success, its decoding, and the
//! bounded body of an error.

use bytes::{Bytes, BytesMut};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::Error;
use crate::error::{MAX_ERROR_BODY, floor_char_boundary};

/// The whole body of an answer, at most `limit` bytes (R2): a
/// `Content-Length` over it fails before the body is read, and a body
/// without one fails as soon as it passes the limit while streaming.
///
/// It borrows the response rather than take it: an `async fn` keeps an
/// argument it owns twice in its future (as passed, and as moved into the
/// body), and this future is part of every load, which the cache boxes.
pub(super) async fn read(
    method: &Method,
    url: &str,
    response: &mut Response,
    limit: usize,
) -> Result<Bytes, Error> {
    let announced = response.content_length();
    if let Some(length) = announced
        && length > limit as u64
    {
        return Err(Error::too_large(method, url, limit, Some(length)));
    }
    let transport = |e| Error::transport(method, url, e);
    // Most bodies arrive as one chunk: that chunk is the body, uncopied.
    let Some(first) = response.chunk().await.map_err(transport)? else {
        return Ok(Bytes::new());
    };
    let Some(second) = response.chunk().await.map_err(transport)? else {
        return within(method, url, first, limit);
    };
    let expected = announced.map_or(first.len() + second.len(), |length| length as usize);
    let mut body = BytesMut::with_capacity(expected.min(limit));
    for chunk in [first, second] {
        push(method, url, &mut body, &chunk, limit)?;
    }
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        push(method, url, &mut body, &chunk, limit)?;
    }
    Ok(body.freeze())
}

fn within(method: &Method, url: &str, body: Bytes, limit: usize) -> Result<Bytes, Error> {
    if body.len() > limit {
        return Err(Error::too_large(method, url, limit, None));
    }
    Ok(body)
}

fn push(
    method: &Method,
    url: &str,
    body: &mut BytesMut,
    chunk: &[u8],
    limit: usize,
) -> Result<(), Error> {
    if body.len() + chunk.len() > limit {
        return Err(Error::too_large(method, url, limit, None));
    }
    body.extend_from_slice(chunk);
    Ok(())
}

/// `body` decoded as JSON into a `T`; a decode error names `T` (H5). For a
/// write the server accepted, the error keeps the body (bounded), so that
/// what the server did is never reported as nothing (R9).
pub(super) fn decode<T: DeserializeOwned>(
    method: &Method,
    url: impl FnOnce() -> String,
    body: &[u8],
    accepted_write: bool,
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        let kept = accepted_write.then(|| bounded_text(body));
        Error::decode::<T>(method, &url(), e, kept)
    })
}

/// A non-2xx answer whose body is being read for its error. It lives
/// outside the attempt (whose future the attempt's timeout drops), so that
/// an error body that stalls past the timeout still reports its status, as
/// a body that fails midway does (S3, R1). Boxed there (`Option<Box<_>>`):
/// it is kept across every attempt's await, in the future of every request
/// (see `Http::send`), and only an error answer fills it.
pub(super) struct Rejection {
    status: StatusCode,
    headers: HeaderMap,
    /// The URL of the answer, as messages show it.
    url: String,
    body: Vec<u8>,
}

impl Rejection {
    /// The error: the status, the headers, and at most [`MAX_ERROR_BODY`]
    /// bytes of what arrived of the body.
    pub(super) fn into_error(self, method: &Method) -> Error {
        Error::from_status(
            method,
            &self.url,
            self.status,
            bounded_text(&self.body),
            self.headers,
        )
    }
}

/// The error for a non-2xx answer: its status, its headers, and at most
/// [`MAX_ERROR_BODY`] bytes of its body (S3, H4), read into `rejection`.
pub(super) async fn status_error(
    method: &Method,
    url: &str,
    response: &mut Response,
    rejection: &mut Option<Box<Rejection>>,
) -> Error {
    let reading = rejection.insert(Box::new(Rejection {
        status: response.status(),
        headers: std::mem::take(response.headers_mut()),
        url: url.to_owned(),
        body: Vec::new(),
    }));
    // A body that fails midway still leaves the status to report.
    while let Ok(Some(chunk)) = response.chunk().await {
        reading.body.extend_from_slice(&chunk);
        if reading.body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    match rejection.take() {
        Some(rejection) => rejection.into_error(method),
        None => Error::internal("an error answer was lost while its body was read"),
    }
}

/// At most [`MAX_ERROR_BODY`] bytes of `bytes` as text, cut on a char
/// boundary.
pub(super) fn bounded_text(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_ERROR_BODY + 4)];
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    text.truncate(floor_char_boundary(&text, MAX_ERROR_BODY));
    text
}
