//! Reading answers: the bounded body of a success, its decoding, and the
//! bounded body of an error.

use bytes::{Bytes, BytesMut};
use reqwest::{Method, Response};
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

/// The error for a non-2xx answer: its status, its headers, and at most
/// [`MAX_ERROR_BODY`] bytes of its body (S3, H4).
pub(super) async fn status_error(method: &Method, url: &str, response: &mut Response) -> Error {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut bytes = Vec::new();
    // A body that fails midway still leaves the status to report.
    while let Ok(Some(chunk)) = response.chunk().await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    Error::from_status(method, url, status, bounded_text(&bytes), headers)
}

/// At most [`MAX_ERROR_BODY`] bytes of `bytes` as text, cut on a char
/// boundary.
pub(super) fn bounded_text(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_ERROR_BODY + 4)];
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    text.truncate(floor_char_boundary(&text, MAX_ERROR_BODY));
    text
}
