//! Failures on demand: a status instead of the answer
//! ([`FakeApi::fail`](crate::FakeApi::fail)), or the answer delivered the
//! way a broken network delivers it ([`FakeApi::fault`](crate::FakeApi::fault)).
//!
//! A broken body is a stream that fails (hyper then drops the connection
//! without ending the response) or ends before its `Content-Length` (hyper
//! then closes it). Each ends within [`FLUSH_PAUSE`]: nothing of it
//! outlives the request.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Response, header};
use backrest_runtime::StatusCode;
use futures_util::stream::{self, StreamExt as _};

/// How long a cut body waits before it fails, so that hyper has flushed
/// what was sent (it writes a chunk when the body next waits; an error in
/// the same turn would discard the chunk unsent).
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// How an answer reaches the client wrongly. The request is handled first,
/// as if nothing were wrong: a create is stored, a destroy done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The status, the headers and a `Content-Length` of the whole body,
    /// the first half of the body, then the connection is reset. An answer
    /// without a body of 2 bytes or more is reset before its status line.
    ResetMidBody,
    /// The status, the headers, a `Content-Length` of twice the body's
    /// length, the whole body, then the connection is closed. An answer
    /// without a body is reset before its status line.
    ShortBody,
    /// The connection is closed without a byte of the answer: the write was
    /// done, and the client cannot know it.
    ResetAfterStored,
}

/// What is queued for a model's next request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Injected {
    /// Answer this status instead, without handling the request.
    Status(StatusCode),
    /// Handle the request, then deliver the answer with this fault.
    Fault(Fault),
}

impl Fault {
    /// The answer `response` (whose body is `body`) delivered with this
    /// fault.
    pub(crate) fn deliver(self, mut response: Response<Body>, body: Vec<u8>) -> Response<Body> {
        let len = body.len();
        let body = Bytes::from(body);
        match self {
            Fault::ResetMidBody if len >= 2 => {
                set_length(&mut response, len);
                let half = body.slice(..len / 2);
                *response.body_mut() = Body::from_stream(
                    stream::iter([Ok(half)]).chain(stream::once(failing("reset mid-body"))),
                );
                response
            }
            Fault::ShortBody if len >= 1 => {
                set_length(&mut response, 2 * len);
                *response.body_mut() = Body::from_stream(
                    stream::iter([Ok::<_, io::Error>(body)]).chain(
                        // Ending short of the length makes hyper close.
                        stream::once(async {
                            tokio::time::sleep(FLUSH_PAUSE).await;
                        })
                        .filter_map(|()| async { None }),
                    ),
                );
                response
            }
            Fault::ResetMidBody | Fault::ShortBody | Fault::ResetAfterStored => aborted(),
        }
    }
}

fn set_length(response: &mut Response<Body>, len: usize) {
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// A body error after [`FLUSH_PAUSE`].
async fn failing(why: &'static str) -> io::Result<Bytes> {
    tokio::time::sleep(FLUSH_PAUSE).await;
    Err(io::Error::new(io::ErrorKind::ConnectionReset, why))
}

/// A response that is never sent: its body fails at once, in the turn hyper
/// writes the head, so the connection is dropped before anything is flushed.
pub(crate) fn aborted() -> Response<Body> {
    let failed = stream::iter([Err::<Bytes, _>(io::Error::other("no response"))]);
    Response::new(Body::from_stream(failed))
}
