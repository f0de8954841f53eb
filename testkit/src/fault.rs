//! Fault replies: a response delivered the way a broken server, proxy or
//! network delivers it, and the replies of misconfigured ones (an HTML error
//! page, a redirect loop).
//!
//! A fault body is produced by a task of its own and streamed to hyper, which
//! writes what it gets: a body that ends before its `Content-Length`, or a
//! body stream that yields an error, makes hyper drop the connection without
//! ending the response. Every fault body stops when the client goes away
//! (hyper drops the body), when the [`Server`] is dropped, and after
//! [`FAULT_LIMIT`] at the latest.

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use futures_util::stream;
use tokio::sync::mpsc;
use tokio::time::sleep;

use crate::{Reply, Server, Shared, WAIT_LIMIT, wait_until};

/// The longest any fault keeps a connection busy on the server's side: then
/// the connection is closed, so that no test hangs on a fault forever.
pub const FAULT_LIMIT: Duration = Duration::from_secs(10 * 60);

/// The most body bytes [`Fault::EndlessChunked`] sends before it gives up and
/// closes the connection (it is never a complete response).
pub const ENDLESS_CAP: u64 = 1 << 30;

/// The `Content-Length` that [`Fault::HugeContentLength`] announces: 10 GB.
pub const HUGE_CONTENT_LENGTH: u64 = 10_000_000_000;

/// Between two chunks of [`Fault::EndlessChunked`].
const ENDLESS_EVERY: Duration = Duration::from_millis(5);

/// Between two bytes of the slow body of [`Fault::HugeContentLength`].
const SLOW_EVERY: Duration = Duration::from_millis(100);

/// How long a cut body waits before the connection is dropped, so that hyper
/// has flushed what was sent (it writes a body's chunks when the body next
/// waits; an error in the same turn would discard them unsent).
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// How a [`Reply`] is delivered wrongly: the reply's status, headers and body
/// say what the server meant to send, the fault what reaches the client.
///
/// Use it as `Reply::json(200, body).fault(Fault::ResetMidBody)`. The request
/// is received, counted and recorded like any other first; the reply's
/// [`Reply::delay_ms`] and [`Reply::after`] apply before the fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The status, the headers and a `Content-Length` of the whole body, the
    /// first half of the body, then the connection is dropped (the body
    /// stream fails, so hyper aborts the connection). Needs a body of at
    /// least 2 bytes.
    ResetMidBody,
    /// The status, the headers, a `Content-Length` of twice the body's
    /// length, the whole body, then the connection is closed: every byte
    /// sent may parse, yet the response is incomplete. Needs a body.
    ShortBody,
    /// The status and headers, then a chunked body that never ends: `[`,
    /// then the reply's body (`{}` if empty) followed by `,` every 5 ms, as
    /// a JSON array that never closes. It stops when the client goes away,
    /// and aborts the connection after [`ENDLESS_CAP`] bytes or
    /// [`FAULT_LIMIT`].
    EndlessChunked,
    /// The status, the headers and `Content-Length: 10000000000`
    /// ([`HUGE_CONTENT_LENGTH`]), the reply's body, then a space every
    /// 100 ms until the client goes away (or [`FAULT_LIMIT`]).
    HugeContentLength,
    /// Nothing is ever answered, not even a status line: the connection is
    /// held until the client gives up, the [`Server`] is dropped or
    /// [`FAULT_LIMIT`] passes, then closed.
    NoHeaders,
    /// The status, the headers and a `Content-Length` at once, then the
    /// body one byte per interval (the interval before each byte). The
    /// response is complete and correct, only slow.
    Trickle(Duration),
    /// The request was received and recorded (a create "was stored"), then
    /// the connection is closed without a single byte of response.
    ResetAfterStored,
}

/// How the server sends a reply's body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Delivery {
    /// At once, with a `Content-Length`.
    Whole,
    /// In chunks of this many bytes, with no `Content-Length`.
    Chunked(usize),
    /// Wrongly.
    Fault(Fault),
}

impl Reply {
    /// Delivers this reply with `fault`: see [`Fault`] for each. The fault
    /// sets the `Content-Length` (or removes it), whatever the reply's
    /// headers said.
    ///
    /// # Panics
    ///
    /// If the body is too short for the fault to cut (see
    /// [`Fault::ResetMidBody`] and [`Fault::ShortBody`]): a mistake in the
    /// test.
    #[must_use]
    pub fn fault(mut self, fault: Fault) -> Reply {
        match fault {
            Fault::ResetMidBody => assert!(
                self.body.len() >= 2,
                "Fault::ResetMidBody needs a body of 2 bytes or more to cut"
            ),
            Fault::ShortBody => assert!(!self.body.is_empty(), "Fault::ShortBody needs a body"),
            _ => {}
        }
        self.delivery = Delivery::Fault(fault);
        self
    }

    /// A JSON reply sent with `Transfer-Encoding: chunked` in chunks of
    /// `chunk_size` bytes, without a `Content-Length`: a client learns its
    /// size only by reading it.
    ///
    /// # Panics
    ///
    /// If `chunk_size` is 0.
    pub fn chunked(status: u16, body: impl Into<Vec<u8>>, chunk_size: usize) -> Reply {
        assert!(chunk_size > 0, "a chunk holds at least one byte");
        let mut reply = Reply::raw(status, body);
        reply.delivery = Delivery::Chunked(chunk_size);
        reply
    }

    /// An HTML reply (`Content-Type: text/html`).
    pub fn html(status: u16, page: &str) -> Reply {
        Reply::new(status, page, Some("text/html"))
    }

    /// The HTML error page a reverse proxy answers with, such as
    /// `Reply::html_error(500)` or `Reply::html_error(502)`.
    pub fn html_error(status: u16) -> Reply {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("Error");
        let title = format!("{status} {reason}");
        let page = format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n\
             <center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n"
        );
        Reply::html(status, &page)
    }

    /// A redirect: `status` with a `Location` header and no body.
    ///
    /// # Panics
    ///
    /// If `status` is not a 3xx, or `location` not a valid header value.
    pub fn redirect(status: u16, location: &str) -> Reply {
        assert!(
            (300..400).contains(&status),
            "a redirect's status is a 3xx, not {status}"
        );
        Reply::empty(status).header("Location", location)
    }

    /// The response for this reply, its body delivered as scripted.
    pub(crate) async fn respond(self, shared: &Arc<Shared>) -> Response<Body> {
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        let body = match self.delivery {
            Delivery::Whole => Body::from(self.body),
            Delivery::Chunked(size) => {
                headers.remove(header::CONTENT_LENGTH);
                let chunks: Vec<io::Result<Bytes>> = self
                    .body
                    .chunks(size)
                    .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
                    .collect();
                Body::from_stream(stream::iter(chunks))
            }
            Delivery::Fault(fault) => match faulty_body(fault, self.body, &mut headers, shared) {
                Some(body) => body,
                None => {
                    if fault == Fault::NoHeaders {
                        // hyper drops this future if the client hangs up.
                        tokio::select! {
                            () = shared.stopped.wait() => {}
                            () = sleep(FAULT_LIMIT) => {}
                        }
                    }
                    return aborted();
                }
            },
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        *response.headers_mut() = headers;
        response
    }
}

/// The body that `fault` sends, and its `Content-Length` in `headers`; `None`
/// for the faults that send no response at all.
fn faulty_body(
    fault: Fault,
    body: Vec<u8>,
    headers: &mut HeaderMap,
    shared: &Arc<Shared>,
) -> Option<Body> {
    let len = body.len() as u64;
    let body = Bytes::from(body);
    let stream = match fault {
        Fault::NoHeaders | Fault::ResetAfterStored => return None,
        Fault::ResetMidBody => {
            content_length(headers, len);
            streamed(shared, move |out| async move {
                out.send(body.slice(..body.len() / 2)).await?;
                sleep(FLUSH_PAUSE).await;
                out.fail("reset mid-body").await
            })
        }
        Fault::ShortBody => {
            content_length(headers, 2 * len);
            streamed(shared, move |out| async move {
                out.send(body).await?;
                sleep(FLUSH_PAUSE).await;
                // Ending short of the length makes hyper close.
                Some(())
            })
        }
        Fault::EndlessChunked => {
            headers.remove(header::CONTENT_LENGTH);
            let mut element = if body.is_empty() {
                b"{}".to_vec()
            } else {
                body.to_vec()
            };
            element.push(b',');
            let element = Bytes::from(element);
            streamed(shared, move |out| async move {
                out.send(Bytes::from_static(b"[")).await?;
                let mut sent = 1;
                while sent < ENDLESS_CAP {
                    out.send(element.clone()).await?;
                    sent += element.len() as u64;
                    sleep(ENDLESS_EVERY).await;
                }
                out.fail("endless body capped").await
            })
        }
        Fault::HugeContentLength => {
            content_length(headers, HUGE_CONTENT_LENGTH);
            streamed(shared, move |out| async move {
                out.send(body).await?;
                loop {
                    sleep(SLOW_EVERY).await;
                    out.send(Bytes::from_static(b" ")).await?;
                }
            })
        }
        Fault::Trickle(every) => {
            content_length(headers, len);
            streamed(shared, move |out| async move {
                for at in 0..body.len() {
                    sleep(every).await;
                    out.send(body.slice(at..=at)).await?;
                }
                Some(())
            })
        }
    };
    Some(stream)
}

/// Sets the `Content-Length`, replacing any the reply had.
fn content_length(headers: &mut HeaderMap, len: u64) {
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// A response that is never sent: the connection is closed first.
///
/// hyper writes the head of a response into its buffer, then polls the body
/// in the same turn; a body that fails at once makes it drop the connection
/// before anything was flushed.
pub(crate) fn aborted() -> Response<Body> {
    let failed = stream::iter([Err::<Bytes, _>(io::Error::other("no response"))]);
    Response::new(Body::from_stream(failed))
}

/// Where a fault's producer writes its body.
struct Out(mpsc::Sender<io::Result<Bytes>>);

impl Out {
    /// Sends a chunk; `None` once the client is gone.
    async fn send(&self, chunk: Bytes) -> Option<()> {
        self.0.send(Ok(chunk)).await.ok()
    }

    /// Fails the body, so that hyper drops the connection.
    async fn fail(&self, why: &'static str) -> Option<()> {
        let error = io::Error::new(io::ErrorKind::ConnectionReset, why);
        self.0.send(Err(error)).await.ok()
    }
}

/// A body written by `produce` on a task of its own; the body ends when
/// `produce` returns, fails if the [`Server`] is dropped or after
/// [`FAULT_LIMIT`], and `produce` is stopped when hyper drops the body.
fn streamed<F, P>(shared: &Arc<Shared>, produce: F) -> Body
where
    F: FnOnce(Out) -> P,
    P: Future<Output = Option<()>> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(1);
    let closed = sender.clone();
    let producing = produce(Out(sender));
    tokio::spawn(async move {
        tokio::select! {
            limited = tokio::time::timeout(FAULT_LIMIT, producing) => {
                if limited.is_err() {
                    let _ = Out(closed.clone()).fail("fault time limit").await;
                }
            }
            () = closed.closed() => {}
        }
    });
    let open = OpenStream::new(Arc::clone(shared));
    Body::from_stream(stream::unfold(
        (receiver, open),
        |(mut receiver, open)| async move {
            let next = tokio::select! {
                next = receiver.recv() => next?,
                () = open.0.stopped.wait() => Err(io::Error::other("server dropped")),
            };
            Some((next, (receiver, open)))
        },
    ))
}

/// Counts a fault body as open until hyper drops it.
struct OpenStream(Arc<Shared>);

impl OpenStream {
    fn new(shared: Arc<Shared>) -> OpenStream {
        shared.open_streams.fetch_add(1, Ordering::SeqCst);
        OpenStream(shared)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::SeqCst);
        self.0.stream_closed.notify_waiters();
    }
}

impl Server {
    /// Makes `method path` redirect to itself forever: a `307` (the method
    /// and body are kept) whose `Location` is the same URL.
    pub fn redirect_loop(&self, method: &str, path: &str) {
        let location = format!("{}{path}", self.url());
        self.on(method, path, Reply::redirect(307, &location));
    }

    /// How many fault bodies ([`Fault::EndlessChunked`],
    /// [`Fault::Trickle`], ...) are being sent now: a body stops counting
    /// when hyper drops it, because it ended or the client went away.
    pub fn open_streams(&self) -> usize {
        self.shared.open_streams.load(Ordering::SeqCst)
    }

    /// Waits until no fault body is being sent: how a test sees that a
    /// client hung up on an endless body.
    ///
    /// # Panics
    ///
    /// After [`WAIT_LIMIT`], so that a broken test fails instead of hanging.
    pub async fn wait_streams_closed(&self) {
        if !wait_until(&self.shared.stream_closed, || self.open_streams() == 0).await {
            panic!(
                "waited {WAIT_LIMIT:?} for fault bodies to close, {} still open",
                self.open_streams()
            );
        }
    }
}
