//! Servers written on TCP directly, for what an HTTP library will not send:
//! endless `100 Continue`, a server that reads and never writes, and a
//! keep-alive connection that goes stale under the client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::sleep;

use crate::{FAULT_LIMIT, Request, WAIT_LIMIT, bind, lock, wait_until};

/// Between two `100 Continue`s of [`RawServer::endless_continue`].
const CONTINUE_EVERY: Duration = Duration::from_millis(5);

/// The longest request head read, so that garbage cannot grow a buffer
/// forever.
const MAX_HEAD: usize = 64 * 1024;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What a [`RawServer`] does on each connection.
#[derive(Debug, Clone)]
enum Script {
    EndlessContinue,
    Silent,
    StaleKeepAlive(Arc<Vec<u8>>),
}

#[derive(Debug, Default)]
struct Stats {
    connections: AtomicUsize,
    log: Mutex<Vec<Request>>,
    arrival: tokio::sync::Notify,
}

/// A misbehaving HTTP/1.1 server on 127.0.0.1, written on TCP directly;
/// stopped, and every connection it holds closed, when dropped.
///
/// It parses each request minimally but correctly (the head up to its empty
/// line, then a `Content-Length` or chunked body, none awaited after
/// `Expect: 100-continue`), records it, and counts connections, so that a
/// test can tell a retry on a new connection from one on the same. Each
/// connection is closed after [`FAULT_LIMIT`] at the latest.
#[derive(Debug)]
pub struct RawServer {
    addr: SocketAddr,
    stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl RawServer {
    /// Answers every request with `HTTP/1.1 100 Continue` every 5 ms,
    /// forever, and never with a final response.
    pub async fn endless_continue() -> RawServer {
        RawServer::start(Script::EndlessContinue).await
    }

    /// Reads requests and never writes a byte: each connection is held open
    /// until the client closes it.
    pub async fn silent() -> RawServer {
        RawServer::start(Script::Silent).await
    }

    /// Answers the first request of each connection with a complete
    /// keep-alive `200` carrying `body` as JSON, and closes the connection,
    /// unanswered, when a second request arrives on it: a client reusing the
    /// connection fails, one on a new connection succeeds.
    #[allow(clippy::needless_pass_by_value, reason = "takes `json!(..)` inline")]
    pub async fn stale_keep_alive(body: serde_json::Value) -> RawServer {
        RawServer::start(Script::StaleKeepAlive(Arc::new(
            body.to_string().into_bytes(),
        )))
        .await
    }

    async fn start(script: Script) -> RawServer {
        let (listener, addr) = bind().await;
        let stats = Arc::new(Stats::default());
        let counted = Arc::clone(&stats);
        let task = tokio::spawn(async move {
            // Dropped with the task: aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            // Out of descriptors, say: try again shortly.
                            sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        counted.connections.fetch_add(1, Ordering::SeqCst);
                        let serving = serve(stream, script.clone(), Arc::clone(&counted));
                        connections.spawn(tokio::time::timeout(FAULT_LIMIT, serving));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        RawServer { addr, stats, task }
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// How many requests arrived, on all connections.
    pub fn total(&self) -> usize {
        lock(&self.stats.log).len()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.stats.log).clone()
    }

    /// Waits until at least `n` requests have arrived.
    ///
    /// # Panics
    ///
    /// After [`WAIT_LIMIT`], so that a broken test fails instead of hanging.
    pub async fn wait_for(&self, n: usize) {
        if !wait_until(&self.stats.arrival, || self.total() >= n).await {
            panic!(
                "waited {WAIT_LIMIT:?} for {n} requests, {} arrived",
                self.total()
            );
        }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Plays `script` on one connection; returns when it is done with it.
async fn serve(mut stream: TcpStream, script: Script, stats: Arc<Stats>) {
    let mut conn = Conn::default();
    match script {
        Script::EndlessContinue => {
            if conn.request(&mut stream, &stats).await.is_none() {
                return;
            }
            let (mut reader, mut writer) = stream.split();
            let writing = async {
                while writer.write_all(CONTINUE).await.is_ok() {
                    sleep(CONTINUE_EVERY).await;
                }
            };
            // Until the client closes (or a write fails).
            let reading = drain(&mut reader);
            tokio::select! {
                () = writing => {}
                () = reading => {}
            }
        }
        Script::Silent => while conn.request(&mut stream, &stats).await.is_some() {},
        Script::StaleKeepAlive(body) => {
            if conn.request(&mut stream, &stats).await.is_none() {
                return;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: keep-alive\r\n\r\n",
                body.len()
            );
            let mut response = head.into_bytes();
            response.extend_from_slice(&body);
            if stream.write_all(&response).await.is_err() {
                return;
            }
            // The second request is read (and recorded), then the
            // connection is closed with nothing in flight: a clean FIN.
            let _ = conn.request(&mut stream, &stats).await;
        }
    }
}

/// Reads and discards until the peer closes or the connection fails.
async fn drain(reader: &mut (impl AsyncReadExt + Unpin)) {
    let mut buf = [0; 4096];
    while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// What was read from a connection and not yet parsed.
#[derive(Debug, Default)]
struct Conn {
    buf: Vec<u8>,
}

impl Conn {
    /// Reads one request and records it; `None` if the connection ended
    /// (or broke, or sent garbage) first.
    async fn request(&mut self, stream: &mut TcpStream, stats: &Stats) -> Option<()> {
        let request = self.read_request(stream).await?;
        lock(&stats.log).push(request);
        stats.arrival.notify_waiters();
        Some(())
    }

    async fn read_request(&mut self, stream: &mut TcpStream) -> Option<Request> {
        let (head_len, mut request, length) = loop {
            if let Some(parsed) = parse_head(&self.buf)? {
                break parsed;
            }
            if self.buf.len() > MAX_HEAD {
                return None;
            }
            self.fill(stream).await?;
        };
        self.buf.drain(..head_len);
        request.body = match length {
            Length::None => Vec::new(),
            Length::Known(n) => self.take(stream, n).await?,
            Length::Chunked => self.chunked(stream).await?,
        };
        Some(request)
    }

    /// Reads more bytes; `None` at the end of the stream or on an error.
    async fn fill(&mut self, stream: &mut TcpStream) -> Option<()> {
        let mut chunk = [0; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }

    /// The next `n` bytes.
    async fn take(&mut self, stream: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            self.fill(stream).await?;
        }
        Some(self.buf.drain(..n).collect())
    }

    /// The next line, without its CRLF.
    async fn line(&mut self, stream: &mut TcpStream) -> Option<Vec<u8>> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.drain(..at + 2).take(at).collect();
                return Some(line);
            }
            if self.buf.len() > MAX_HEAD {
                return None;
            }
            self.fill(stream).await?;
        }
    }

    /// A chunked body, decoded (trailers are read and dropped).
    async fn chunked(&mut self, stream: &mut TcpStream) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line(stream).await?;
            let size = std::str::from_utf8(&line).ok()?;
            let size = size.split(';').next()?.trim();
            let size = usize::from_str_radix(size, 16).ok()?;
            if size == 0 {
                while !self.line(stream).await?.is_empty() {}
                return Some(body);
            }
            body.extend(self.take(stream, size).await?);
            if !self.line(stream).await?.is_empty() {
                return None;
            }
        }
    }
}

/// How a request's body is delimited.
#[derive(Debug)]
enum Length {
    None,
    Known(usize),
    Chunked,
}

/// A request head from the start of `buf`: its length, the request without
/// its body, and how the body is delimited. `Some(None)` if the head is not
/// all there yet, `None` if it is not HTTP.
#[allow(clippy::option_option, reason = "incomplete differs from invalid")]
fn parse_head(buf: &[u8]) -> Option<Option<(usize, Request, Length)>> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut fields);
    let head_len = match parsed.parse(buf).ok()? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Some(None),
    };
    let target = parsed.path?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (target, None),
    };
    let mut headers = HeaderMap::new();
    for field in parsed.headers.iter() {
        let name = HeaderName::try_from(field.name).ok()?;
        let value = HeaderValue::from_bytes(field.value).ok()?;
        headers.append(name, value);
    }
    let has = |name: &str, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.to_ascii_lowercase().contains(token))
    };
    let length = if has("expect", "100-continue") {
        // The client waits for a `100` before it sends the body.
        Length::None
    } else if has("transfer-encoding", "chunked") {
        Length::Chunked
    } else {
        match headers.get("content-length") {
            Some(value) => Length::Known(value.to_str().ok()?.trim().parse().ok()?),
            None => Length::None,
        }
    };
    let request = Request {
        method: parsed.method?.to_owned(),
        path: path.to_owned(),
        query,
        headers,
        body: Vec::new(),
    };
    Some(Some((head_len, request, length)))
}
