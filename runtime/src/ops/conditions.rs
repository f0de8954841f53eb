//! Conditional requests: the validators read from an answer, the
//! conditions a revalidation sends (`If-None-Match`, `If-Modified-Since`:
//! ARCHITECTURE.md, R7) and the precondition a write sends (`If-Match`, R8).
//! Every value goes out as it came in, byte for byte.

use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::{
    ETAG, HeaderMap, HeaderValue, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};

use crate::Error;
use crate::cache::Validators;
use crate::http::Call;

/// The validators of an answer, verbatim (an `ETag` keeps its quotes and
/// `W/`); `None` when it has neither. A value that is not visible ASCII is
/// not a validator: it could not be sent back as it came.
pub(super) fn validators(headers: &HeaderMap) -> Option<Arc<Validators>> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
            .map(str::to_owned)
    };
    let etag = text(ETAG);
    let last_modified = text(LAST_MODIFIED);
    (etag.is_some() || last_modified.is_some()).then(|| {
        Arc::new(Validators {
            etag,
            last_modified,
        })
    })
}

/// Asks the server to answer `304 Not Modified` if the value these
/// validators came with is still current: `If-None-Match` with the `ETag`,
/// `If-Modified-Since` with the `Last-Modified` (both when there are both;
/// a server then goes by the `ETag`).
pub(super) fn revalidate(call: &mut Call, validators: &Validators) {
    let conditions = [
        (IF_NONE_MATCH, &validators.etag),
        (IF_MODIFIED_SINCE, &validators.last_modified),
    ];
    for (name, value) in conditions {
        let value = value.as_deref().map(HeaderValue::from_str);
        if let Some(Ok(value)) = value {
            call.headers.insert(name, value);
        }
    }
}

/// Makes a write conditional on the value's etag (R8): `If-Match` with it,
/// verbatim. An etag that cannot be a header value is an error, not a write
/// without the condition. (The message leaves out the URL, which may hold
/// the base's password: R11.)
pub(super) fn if_match(call: &mut Call, etag: Option<&str>) -> Result<(), Error> {
    let Some(etag) = etag else {
        return Ok(());
    };
    let value = HeaderValue::from_str(etag).map_err(|_| {
        Error::builder(format!(
            "the etag {etag:?} is not a valid header value, so the {} cannot be sent with \
             `If-Match`",
            call.method
        ))
    })?;
    call.headers.insert(IF_MATCH, value);
    Ok(())
}

/// Whether a write was refused because its `If-Match` did not match (412):
/// the value it was based on is not the server's any more.
pub(super) fn precondition_failed(error: &Error) -> bool {
    error.status() == Some(StatusCode::PRECONDITION_FAILED)
}

/// Whether an answer is a `304 Not Modified` (which the transport returns
/// only to a conditional request).
pub(super) fn not_modified(status: StatusCode) -> bool {
    status == StatusCode::NOT_MODIFIED
}
