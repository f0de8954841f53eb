//! A plain HTTP/1.1 server for benchmarks, run outside the client's runtime:
//! in a child process ([`ChildServer`]) or on OS threads of its own
//! ([`ThreadServer`]).
//!
//! It is what a user's API looks like from the client: another process,
//! answering on its own threads, so that every response reaches the client
//! through a wake-up of one of the client's threads. One OS thread per
//! connection, blocking I/O, keep-alive, no async runtime at all, so the
//! server adds nothing of the client's scheduling to what is measured.
//!
//! Routes:
//! - `GET /users/{id}`: `200`, the JSON of that user, the same bytes as
//!   `serde_json::to_vec` of the benchmarks' `User`
//!   (`{"id":7,"name":"User number 7","email":"user7@example.com","active":false}`);
//! - `GET /docs/{id}`: `200`, a document of about 100 KB ([`doc_json`]) with
//!   the `ETag` [`DOC_ETAG`], or `304` with that `ETag` and no body to a
//!   request whose `If-None-Match` is [`DOC_ETAG`]: an unchanged resource
//!   revalidated;
//! - `GET /full/{id}`: the same document, with no validator, so always
//!   whole;
//! - `PUT`, `POST`, `PATCH`: `200` echoing the request body (`204` when empty);
//! - `DELETE`: `204`;
//! - `GET /__count`: how many requests (other than these) were answered,
//!   as text; it takes no delay;
//! - anything else: `404`.
//!
//! A path may start with `/delay/{ms}` (e.g. `/delay/2/users/7`): that
//! request is answered `ms` milliseconds after it was read, which beats the
//! server-wide `--delay-ms`. A client whose base URL is
//! `http://127.0.0.1:PORT/delay/2` so gets a 2 ms API without a second
//! server.
//!
//! As a process (`bench_server [--delay-ms N] [--port P]`, see
//! `src/bin/bench_server.rs`, or any binary calling [`main_with_args`]), it
//! prints `http://127.0.0.1:PORT` and a newline on stdout once listening,
//! then serves until its stdin closes (so it never outlives the process that
//! started it, even one that was killed) or it is killed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::thread;
use std::time::Duration;

/// What the server shares between its connection threads.
#[derive(Debug, Default)]
struct Stats {
    answered: AtomicU64,
    stopping: AtomicBool,
}

/// Accepts connections on `listener` forever (until `stats.stopping`), one
/// thread per connection; `delay` is the default wait before each reply.
fn accept_loop(listener: &TcpListener, delay: Duration, stats: &Arc<Stats>) {
    for stream in listener.incoming() {
        if stats.stopping.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let stats = Arc::clone(stats);
        // A connection that fails ends its thread, nothing more.
        let _ = thread::Builder::new()
            .name("bench-server-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, delay, &stats);
            });
    }
}

/// One request's head, as far as this server reads it.
struct Head {
    method: String,
    target: String,
    content_length: usize,
    chunked: bool,
    close: bool,
    /// The request's `If-None-Match`, if it has one.
    if_none_match: Option<String>,
}

fn serve_connection(stream: TcpStream, delay: Duration, stats: &Stats) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(16 * 1024, stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    let mut body = Vec::new();
    let mut out = Vec::with_capacity(1024);
    loop {
        let Some(head) = read_head(&mut reader, &mut line)? else {
            return Ok(()); // the client closed the connection
        };
        body.clear();
        if head.chunked {
            read_chunked(&mut reader, &mut line, &mut body)?;
        } else {
            body.resize(head.content_length, 0);
            reader.read_exact(&mut body)?;
        }
        out.clear();
        respond(&head, &body, delay, stats, &mut out);
        writer.write_all(&out)?;
        if head.close {
            return Ok(());
        }
    }
}

/// Reads a request line and headers; `None` at a clean end of stream.
fn read_head(reader: &mut impl BufRead, line: &mut String) -> io::Result<Option<Head>> {
    line.clear();
    if reader.read_line(line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let close = parts.next() == Some("HTTP/1.0");
    let mut head = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        content_length: 0,
        chunked: false,
        close,
        if_none_match: None,
    };
    loop {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            return Ok(Some(head));
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length = value
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("if-none-match") {
            head.if_none_match = Some(value.to_owned());
        }
    }
}

fn read_chunked(
    reader: &mut impl BufRead,
    line: &mut String,
    body: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        line.clear();
        reader.read_line(line)?;
        let size = line.trim_end().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if reader.read_line(line)? == 0 || line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(line)?; // the CRLF after the chunk
    }
}

/// Writes the whole response to `head` into `out`.
fn respond(head: &Head, body: &[u8], default_delay: Duration, stats: &Stats, out: &mut Vec<u8>) {
    let (path, _query) = head
        .target
        .split_once('?')
        .unwrap_or((head.target.as_str(), ""));
    if head.method == "GET" && path == "/__count" {
        let count = stats.answered.load(Ordering::Acquire).to_string();
        write_response(out, 200, "text/plain", None, count.as_bytes(), head.close);
        return;
    }
    let (delay, path) = match strip_delay(path) {
        Some((millis, rest)) => (Duration::from_millis(millis), rest),
        None => (default_delay, path),
    };
    let mut json = Vec::new();
    let mut etag = None;
    let (status, content_type, reply): (u16, &str, &[u8]) = match head.method.as_str() {
        "GET" => match get_route(path) {
            Some(Get::User(id)) => {
                user_json(id, &mut json);
                (200, "application/json", &json)
            }
            Some(Get::Doc { id, tagged }) => {
                if tagged {
                    etag = Some(DOC_ETAG);
                }
                if tagged && head.if_none_match.as_deref() == Some(DOC_ETAG) {
                    (304, "", b"")
                } else {
                    doc_json(id, &mut json);
                    (200, "application/json", &json)
                }
            }
            None => (404, "text/plain", b"no such resource"),
        },
        "PUT" | "POST" | "PATCH" if body.is_empty() => (204, "", b""),
        "PUT" | "POST" | "PATCH" => (200, "application/json", body),
        "DELETE" => (204, "", b""),
        _ => (404, "text/plain", b"no such route"),
    };
    if !delay.is_zero() {
        thread::sleep(delay);
    }
    write_response(out, status, content_type, etag, reply, head.close);
    stats.answered.fetch_add(1, Ordering::AcqRel);
}

/// `/delay/{ms}/rest` as `(ms, "/rest")`.
fn strip_delay(path: &str) -> Option<(u64, &str)> {
    let rest = path.strip_prefix("/delay/")?;
    let (millis, rest) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    Some((millis.parse().ok()?, rest))
}

/// What a `GET` asks for.
enum Get {
    /// `/users/{id}`.
    User(u64),
    /// `/docs/{id}` (`tagged`: with an `ETag`) or `/full/{id}`.
    Doc { id: u64, tagged: bool },
}

fn get_route(path: &str) -> Option<Get> {
    let id = |rest: &str| rest.parse::<u64>().ok();
    if let Some(rest) = path.strip_prefix("/users/") {
        return id(rest).map(Get::User);
    }
    if let Some(rest) = path.strip_prefix("/docs/") {
        return id(rest).map(|id| Get::Doc { id, tagged: true });
    }
    let rest = path.strip_prefix("/full/")?;
    id(rest).map(|id| Get::Doc { id, tagged: false })
}

/// The `ETag` of every `/docs/{id}` document: they never change.
pub const DOC_ETAG: &str = "\"doc-v1\"";

/// The lines of every document, encoded once: a JSON array of 1,000
/// strings, `"0000 xxx…"`, of 100 characters each.
static DOC_LINES: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut lines = Vec::with_capacity(103 * 1000);
    lines.push(b'[');
    for i in 0..1000 {
        if i > 0 {
            lines.push(b',');
        }
        let _ = write!(lines, "\"{i:04} {}\"", "x".repeat(95));
    }
    lines.push(b']');
    lines
});

/// The JSON of document `id`, about 100 KB:
/// `{"id":ID,"lines":["0000 xxx…", …]}`, 1,000 lines of 100 characters,
/// byte for byte what serde_json writes for it.
pub fn doc_json(id: u64, out: &mut Vec<u8>) {
    out.reserve(DOC_LINES.len() + 32);
    let _ = write!(out, r#"{{"id":{id},"lines":"#);
    out.extend_from_slice(&DOC_LINES);
    out.push(b'}');
}

/// The JSON of the benchmarks' user `id`, byte for byte what serde_json
/// writes for it.
fn user_json(id: u64, out: &mut Vec<u8>) {
    let active = id % 2 == 0;
    let _ = write!(
        out,
        r#"{{"id":{id},"name":"User number {id}","email":"user{id}@example.com","active":{active}}}"#
    );
}

fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    etag: Option<&str>,
    body: &[u8],
    close: bool,
) {
    let reason = match status {
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        _ => "Not Found",
    };
    let _ = write!(out, "HTTP/1.1 {status} {reason}\r\n");
    if !content_type.is_empty() {
        let _ = write!(out, "content-type: {content_type}\r\n");
    }
    if let Some(etag) = etag {
        let _ = write!(out, "etag: {etag}\r\n");
    }
    if status != 204 && status != 304 {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn bind(port: u16) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Runs the server as a process's `main`: parses `--delay-ms N` and
/// `--port P` from `args`, prints its base URL on stdout, and serves until
/// stdin closes.
///
/// # Errors
///
/// Bad arguments, or no port to bind.
pub fn main_with_args(args: impl IntoIterator<Item = String>) -> io::Result<()> {
    let mut delay_ms = 0;
    let mut port = 0;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = args.next();
        let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad argument `{arg}`"));
        let value = value.ok_or_else(bad)?;
        match arg.as_str() {
            "--delay-ms" => delay_ms = value.parse().map_err(|_| bad())?,
            "--port" => port = value.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        }
    }
    let (listener, addr) = bind(port)?;
    let stats = Arc::new(Stats::default());
    let delay = Duration::from_millis(delay_ms);
    let server = {
        let stats = Arc::clone(&stats);
        thread::Builder::new()
            .name("bench-server-accept".into())
            .spawn(move || accept_loop(&listener, delay, &stats))?
    };
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "http://{addr}")?;
    stdout.flush()?;
    drop(stdout);
    // Serve until the parent closes our stdin (or dies, which closes it).
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    stats.stopping.store(true, Ordering::Release);
    drop(server); // detached: the process exits with its threads
    Ok(())
}

/// The server in a child process, killed when dropped.
///
/// The child is any program that runs [`main_with_args`]: this package's
/// `bench_server` binary, or a benchmark that re-runs its own executable in
/// server mode (see the `paired` benchmark).
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    url: String,
}

impl ChildServer {
    /// Starts `command` (stdin and stdout piped) and reads the base URL it
    /// prints.
    ///
    /// # Errors
    ///
    /// When the program cannot start, or exits or prints something else
    /// before its URL.
    pub fn spawn(mut command: Command) -> io::Result<ChildServer> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut url = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout).read_line(&mut url)?;
        let url = url.trim().to_owned();
        if !url.starts_with("http://") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "the bench server printed `{url}` instead of its URL"
            )));
        }
        Ok(ChildServer { child, url })
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // asks it to stop
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same server on OS threads of this process (no runtime): the fallback
/// where a child process cannot be started. Its threads are detached; it
/// stops accepting when dropped.
#[derive(Debug)]
pub struct ThreadServer {
    addr: SocketAddr,
    stats: Arc<Stats>,
}

impl ThreadServer {
    /// Starts the server on an ephemeral port of 127.0.0.1.
    ///
    /// # Errors
    ///
    /// When no port can be bound or no thread started.
    pub fn start(delay: Duration) -> io::Result<ThreadServer> {
        let (listener, addr) = bind(0)?;
        let stats = Arc::new(Stats::default());
        let accepting = Arc::clone(&stats);
        thread::Builder::new()
            .name("bench-server-accept".into())
            .spawn(move || accept_loop(&listener, delay, &accepting))?;
        Ok(ThreadServer { addr, stats })
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        self.stats.stopping.store(true, Ordering::Release);
        // Wakes the accept loop so that it sees `stopping`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// How many requests the bench server at `base` has answered (its
/// `GET /__count`), read over a connection of its own.
///
/// # Errors
///
/// When the server cannot be reached or answers something else.
pub fn answered(base: &str) -> io::Result<u64> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| bad("not an http URL"))?;
    let authority = authority.split('/').next().unwrap_or(authority);
    let mut stream = TcpStream::connect(authority)?;
    write!(
        stream,
        "GET /__count HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (_, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no body"))?;
    body.trim().parse().map_err(|_| bad("not a count"))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use super::{DOC_ETAG, ThreadServer, answered, doc_json, strip_delay, user_json};

    /// One request over a connection of its own; the whole response.
    fn exchange(server: &ThreadServer, request: &str) -> String {
        let authority = server.url().trim_start_matches("http://").to_owned();
        let mut stream = TcpStream::connect(&authority).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{request}\r\nhost: {authority}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn a_doc_is_revalidated_by_its_etag_and_a_full_one_has_none() {
        let server = ThreadServer::start(Duration::ZERO).unwrap();
        let mut doc = Vec::new();
        doc_json(1, &mut doc);
        let doc = String::from_utf8(doc).unwrap();

        let full = exchange(&server, "GET /docs/1 HTTP/1.1");
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"), "{full:.200}");
        assert!(full.contains(&format!("\r\netag: {DOC_ETAG}\r\n")));
        assert!(full.ends_with(&format!("\r\n\r\n{doc}")));

        let unchanged = exchange(
            &server,
            &format!("GET /docs/1 HTTP/1.1\r\nif-none-match: {DOC_ETAG}"),
        );
        assert!(unchanged.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(unchanged.contains(&format!("\r\netag: {DOC_ETAG}\r\n")));
        assert!(unchanged.ends_with("\r\n\r\n"), "no body: {unchanged}");
        assert!(!unchanged.contains("content-length"));

        let other = exchange(&server, "GET /docs/1 HTTP/1.1\r\nif-none-match: \"v0\"");
        assert!(other.starts_with("HTTP/1.1 200 OK\r\n"));

        let untagged = exchange(
            &server,
            &format!("GET /full/1 HTTP/1.1\r\nif-none-match: {DOC_ETAG}"),
        );
        assert!(untagged.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(!untagged.contains("etag"));
        assert!(untagged.ends_with(&doc));

        assert_eq!(answered(&server.url()).unwrap(), 4);
    }

    #[test]
    fn delay_prefix() {
        assert_eq!(strip_delay("/delay/2/users/7"), Some((2, "/users/7")));
        assert_eq!(strip_delay("/delay/0"), Some((0, "")));
        assert_eq!(strip_delay("/users/7"), None);
    }

    #[test]
    fn user_body() {
        let mut out = Vec::new();
        user_json(8, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":8,"name":"User number 8","email":"user8@example.com","active":true}"#
        );
    }

    #[test]
    fn doc_body() {
        let mut out = Vec::new();
        doc_json(3, &mut out);
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["id"], 3);
        let lines = doc["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines[7], format!("0007 {}", "x".repeat(95)));
        assert_eq!(serde_json::to_vec(&doc).unwrap().len(), out.len());
        assert!((100_000..110_000).contains(&out.len()));
        assert!(DOC_ETAG.starts_with('"') && DOC_ETAG.ends_with('"'));
    }
}
