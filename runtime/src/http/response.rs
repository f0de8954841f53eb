//! Reading answers: the body of a success, its decoding, and the bounded
//! body of an error.

use bytes::Bytes;
use reqwest::{Method, Response};
use serde::de::DeserializeOwned;

use crate::Error;
use crate::error::{MAX_ERROR_BODY, floor_char_boundary};

/// The whole body of a 2xx answer.
pub(super) async fn read(method: &Method, url: &str, response: Response) -> Result<Bytes, Error> {
    response
        .bytes()
        .await
        .map_err(|e| Error::transport(method, url, e))
}

/// `body` decoded as JSON into a `T`; a decode error names `T` (H5).
pub(super) fn decode<T: DeserializeOwned>(
    method: &Method,
    url: &str,
    body: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::decode::<T>(method, url, e))
}

/// The error for a non-2xx answer: its status, its headers, and at most
/// [`MAX_ERROR_BODY`] bytes of its body (S3, H4).
pub(super) async fn status_error(method: &Method, url: &str, mut response: Response) -> Error {
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
    let mut body = String::from_utf8_lossy(&bytes).into_owned();
    body.truncate(floor_char_boundary(&body, MAX_ERROR_BODY));
    Error::from_status(method, url, status, body, headers)
}
