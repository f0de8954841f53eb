//! Each fault does what it says on the wire: seen by plain reqwest, and by a
//! raw TCP client where the bytes themselves are the point.

use std::future::Future;
use std::time::{Duration, Instant};

use backrest_testkit::{ENDLESS_CAP, Fault, Gate, HUGE_CONTENT_LENGTH, RawServer, Reply, Server};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long any test may take: every await is bounded by it.
const BOUND: Duration = Duration::from_secs(10);

/// How long a test listens for bytes that must not come.
const QUIET: Duration = Duration::from_millis(200);

async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {BOUND:?}"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain client builds")
}

/// A client that gives up on a request after `QUIET`.
fn impatient() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(QUIET)
        .build()
        .expect("a plain client builds")
}

/// Connects to `base` (`http://127.0.0.1:PORT`) and sends `request` as is.
async fn send_raw(base: &str, request: &str) -> TcpStream {
    let addr = base.strip_prefix("http://").expect("an http:// base URL");
    let mut stream = bounded("connect", TcpStream::connect(addr))
        .await
        .expect("connect to the test server");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    stream
}

/// Everything the server sends until it closes the connection, a reset
/// included (what arrived before it is kept).
async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        match bounded("read to the end", stream.read(&mut chunk)).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A GET of `path` with `Connection: close`, and every byte of the answer.
async fn raw_get(base: &str, path: &str) -> Vec<u8> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    let mut stream = send_raw(base, &request).await;
    read_all(&mut stream).await
}

/// The head (lowercase, as hyper writes it) and the body of a raw answer.
fn split(answer: &[u8]) -> (String, Vec<u8>) {
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&answer[..at]).to_ascii_lowercase();
    (head, answer[at + 4..].to_vec())
}

/// Asserts that nothing arrives on `stream` for `QUIET`.
async fn assert_quiet(stream: &mut TcpStream) {
    let mut byte = [0; 1];
    let read = timeout(QUIET, stream.read(&mut byte)).await;
    assert!(read.is_err(), "the server answered: {read:?}");
}

/// Asserts that the server closes `stream` (soon), having sent nothing.
async fn assert_closed_silently(stream: &mut TcpStream) {
    assert_eq!(read_all(stream).await, b"", "bytes before the close");
}

/// Asserts that `err` is a body cut short by the connection closing (which
/// reqwest labels a decode error).
fn assert_cut(err: &reqwest::Error) {
    assert!(err.is_decode(), "{err:?}");
    assert!(format!("{err:?}").contains("IncompleteBody"), "{err:?}");
}

fn user() -> String {
    json!({"id": 7, "name": "Ada Lovelace", "email": "ada@example.com"}).to_string()
}

#[tokio::test]
async fn reset_mid_body_fails_the_body_after_good_headers() {
    let server = Server::start().await;
    let body = user();
    let reply = Reply::raw(200, body.clone()).fault(Fault::ResetMidBody);
    server.on("GET", "/users/7", reply);

    let response = bounded("headers", client().get(server.url() + "/users/7").send())
        .await
        .expect("the headers are fine");
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(body.len() as u64));
    assert_cut(&bounded("body", response.bytes()).await.unwrap_err());

    let (head, sent) = split(&raw_get(&server.url(), "/users/7").await);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains(&format!("content-length: {}", body.len())));
    assert_eq!(sent, &body.as_bytes()[..body.len() / 2]);
    assert_eq!(server.count("GET", "/users/7"), 2);
}

#[tokio::test]
async fn short_body_sends_all_of_a_body_shorter_than_announced() {
    let server = Server::start().await;
    let body = user();
    server.on(
        "GET",
        "/users/7",
        Reply::raw(200, body.clone()).fault(Fault::ShortBody),
    );

    let response = bounded("headers", client().get(server.url() + "/users/7").send())
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(2 * body.len() as u64));
    assert_cut(&bounded("body", response.bytes()).await.unwrap_err());

    // Every byte sent is valid JSON: only the length says it is cut.
    let (head, sent) = split(&raw_get(&server.url(), "/users/7").await);
    assert!(head.contains(&format!("content-length: {}", 2 * body.len())));
    assert_eq!(sent, body.as_bytes());
}

#[tokio::test]
async fn endless_chunked_goes_on_until_the_client_hangs_up() {
    let server = Server::start().await;
    let element = json!({"id": 1}).to_string();
    let reply = Reply::raw(200, element.clone()).fault(Fault::EndlessChunked);
    server.on("GET", "/users", reply);

    let mut response = bounded("headers", client().get(server.url() + "/users").send())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), None);
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let mut received = Vec::new();
    while received.len() < 512 {
        let chunk = bounded("a chunk", response.chunk()).await.unwrap();
        received.extend(chunk.expect("the body never ends"));
    }
    let expected = format!("[{}", format!("{element},").repeat(received.len()));
    assert_eq!(received, &expected.as_bytes()[..received.len()]);
    assert!((received.len() as u64) < ENDLESS_CAP);
    assert_eq!(server.open_streams(), 1);

    drop(response);
    bounded("the body to stop", server.wait_streams_closed()).await;
    assert_eq!(server.open_streams(), 0);
}

#[tokio::test]
async fn huge_content_length_is_announced_and_never_sent() {
    let server = Server::start().await;
    let body = user();
    let reply = Reply::raw(200, body.clone()).fault(Fault::HugeContentLength);
    server.on("GET", "/users/7", reply);

    let mut response = bounded("headers", client().get(server.url() + "/users/7").send())
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(10_000_000_000));
    assert_eq!(response.content_length(), Some(HUGE_CONTENT_LENGTH));
    let mut received = Vec::new();
    while received.len() < body.len() + 2 {
        let chunk = bounded("a chunk", response.chunk()).await.unwrap();
        received.extend(chunk.expect("the body goes on"));
    }
    assert!(received.starts_with(body.as_bytes()));
    assert!(received[body.len()..].iter().all(|&b| b == b' '));

    drop(response);
    bounded("the body to stop", server.wait_streams_closed()).await;
}

#[tokio::test]
async fn no_headers_answers_nothing_until_the_client_gives_up() {
    let server = Server::start().await;
    server.on(
        "GET",
        "/users/7",
        Reply::raw(200, user()).fault(Fault::NoHeaders),
    );

    let err = bounded(
        "a timeout",
        impatient().get(server.url() + "/users/7").send(),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    bounded("arrival", server.wait_for(1)).await;
    assert_eq!(server.count("GET", "/users/7"), 1);

    let mut stream = send_raw(&server.url(), "GET /users/7 HTTP/1.1\r\nhost: t\r\n\r\n").await;
    bounded("arrival", server.wait_for(2)).await;
    assert_eq!(server.requests()[1].path, "/users/7");
    assert_quiet(&mut stream).await;
    // Dropping the server releases the held request: closed, unanswered.
    drop(server);
    assert_closed_silently(&mut stream).await;
}

#[tokio::test]
async fn trickle_sends_good_headers_then_a_byte_per_interval() {
    let server = Server::start().await;
    let body = r#"{"id":7}"#;
    let every = Duration::from_millis(20);
    server.on(
        "GET",
        "/users/7",
        Reply::raw(200, body).fault(Fault::Trickle(every)),
    );

    let started = Instant::now();
    let mut response = bounded("headers", client().get(server.url() + "/users/7").send())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.content_length(), Some(body.len() as u64));
    let mut received = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = bounded("a byte", response.chunk()).await.unwrap() {
        received.extend(chunk);
        chunks += 1;
    }
    assert_eq!(received, body.as_bytes());
    assert!(chunks > 1, "the body came at once");
    // The server waits `every` before each byte.
    assert!(started.elapsed() >= every * body.len() as u32);
    bounded("the body to stop", server.wait_streams_closed()).await;
}

#[tokio::test]
async fn chunked_sends_the_body_in_chunks_without_a_length() {
    let server = Server::start().await;
    server.on("GET", "/digits", Reply::chunked(200, "0123456789", 4));

    let response = bounded("headers", client().get(server.url() + "/digits").send())
        .await
        .unwrap();
    assert_eq!(response.content_length(), None);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        bounded("body", response.text()).await.unwrap(),
        "0123456789"
    );

    let (head, sent) = split(&raw_get(&server.url(), "/digits").await);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert_eq!(sent, b"4\r\n0123\r\n4\r\n4567\r\n2\r\n89\r\n0\r\n\r\n");
}

#[tokio::test]
async fn html_error_is_a_proxy_page() {
    let server = Server::start().await;
    server.on("GET", "/users/7", Reply::html_error(500));
    server.on("GET", "/page", Reply::html(200, "<p>hi</p>"));

    let response = bounded("answer", client().get(server.url() + "/users/7").send())
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["content-type"], "text/html");
    let page = bounded("body", response.text()).await.unwrap();
    assert!(
        page.contains("<title>500 Internal Server Error</title>"),
        "{page}"
    );

    let response = bounded("answer", client().get(server.url() + "/page").send())
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(bounded("body", response.text()).await.unwrap(), "<p>hi</p>");
}

#[tokio::test]
async fn redirect_and_redirect_loop() {
    let server = Server::start().await;
    server.on("POST", "/users", Reply::redirect(303, "/users/7"));
    server.redirect_loop("GET", "/loop");

    let no_follow = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = bounded("answer", no_follow.post(server.url() + "/users").send())
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/users/7");

    let response = bounded("answer", no_follow.get(server.url() + "/loop").send())
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], server.url() + "/loop");

    // reqwest's default policy follows 10 redirects, then gives up.
    let err = bounded("give up", client().get(server.url() + "/loop").send())
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(server.count("GET", "/loop"), 1 + (1 + 10));
}

#[tokio::test]
async fn reset_after_stored_records_the_create_and_answers_nothing() {
    let server = Server::start().await;
    let created = Reply::json(201, json!({"id": 7})).fault(Fault::ResetAfterStored);
    server.on("POST", "/users", created);

    let err = bounded(
        "an error",
        client()
            .post(server.url() + "/users")
            .header("idempotency-key", "k-1")
            .body(r#"{"name":"Ada"}"#)
            .send(),
    )
    .await
    .unwrap_err();
    assert!(err.is_request(), "{err:?}");
    let stored = &server.requests()[0];
    assert_eq!(stored.method, "POST");
    assert_eq!(stored.json(), json!({"name": "Ada"}));
    assert_eq!(stored.header("idempotency-key"), Some("k-1"));

    let request = "POST /users HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n{}";
    let mut stream = send_raw(&server.url(), request).await;
    assert_closed_silently(&mut stream).await;
    assert_eq!(server.count("POST", "/users"), 2);
}

#[tokio::test]
async fn dropping_the_server_releases_a_gated_reply() {
    let server = Server::start().await;
    let gate = Gate::new();
    server.on("GET", "/users/7", Reply::raw(200, user()).after(&gate));

    let get = tokio::spawn(client().get(server.url() + "/users/7").send());
    bounded("arrival", server.wait_for(1)).await;
    drop(server);
    let err = bounded("release", get).await.unwrap().unwrap_err();
    assert!(err.is_request(), "{err:?}");
}

#[tokio::test]
async fn dropping_the_server_cuts_a_fault_body() {
    let server = Server::start().await;
    let reply = Reply::raw(200, user()).fault(Fault::HugeContentLength);
    server.on("GET", "/users/7", reply);

    let mut response = bounded("headers", client().get(server.url() + "/users/7").send())
        .await
        .unwrap();
    let first = bounded("a chunk", response.chunk()).await.unwrap();
    assert!(first.is_some());
    drop(server);
    loop {
        match bounded("the cut", response.chunk()).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("a 10 GB body ended"),
            Err(err) => break assert_cut(&err),
        }
    }
}

#[tokio::test]
async fn endless_continue_never_sends_a_final_status() {
    let server = RawServer::endless_continue().await;
    let continues = b"HTTP/1.1 100 Continue\r\n\r\n";

    let mut stream = send_raw(&server.url(), "GET /users/7 HTTP/1.1\r\nhost: t\r\n\r\n").await;
    let mut received = Vec::new();
    let mut chunk = [0; 1024];
    while received.len() < 10 * continues.len() {
        let n = bounded("a 100", stream.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "closed after {received:?}");
        received.extend_from_slice(&chunk[..n]);
    }
    // And for a while more: still nothing but 100s.
    let listening = Instant::now();
    while let Ok(read) = timeout(
        QUIET.saturating_sub(listening.elapsed()),
        stream.read(&mut chunk),
    )
    .await
    {
        let n = read.unwrap();
        assert!(n > 0, "closed after {received:?}");
        received.extend_from_slice(&chunk[..n]);
    }
    let repeated = continues.repeat(received.len() / continues.len() + 1);
    assert_eq!(received, &repeated[..received.len()]);
    assert_eq!(server.total(), 1);
    assert_eq!(server.requests()[0].path, "/users/7");

    // hyper skips 1xx answers: the client waits until its timeout.
    let err = bounded(
        "a timeout",
        impatient().get(server.url() + "/users/7").send(),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    bounded("arrival", server.wait_for(2)).await;
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn silent_reads_requests_and_never_writes() {
    let server = RawServer::silent().await;

    let request = "POST /users?x=1 HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello\
                   PUT /users/7 HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n\
                   3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
    let mut stream = send_raw(&server.url(), request).await;
    bounded("arrival", server.wait_for(2)).await;
    let requests = server.requests();
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/users");
    assert_eq!(requests[0].query.as_deref(), Some("x=1"));
    assert_eq!(requests[0].body, b"hello");
    assert_eq!(requests[1].method, "PUT");
    assert_eq!(requests[1].body, b"abcde");
    assert_eq!(requests[1].header("host"), Some("t"));
    assert_quiet(&mut stream).await;

    let err = bounded(
        "a timeout",
        impatient().get(server.url() + "/users/7").send(),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    bounded("arrival", server.wait_for(3)).await;
    assert_eq!(server.connections(), 2);

    // Dropping the server closes what it holds.
    drop(server);
    assert_closed_silently(&mut stream).await;
}

#[tokio::test]
async fn stale_keep_alive_fails_the_reused_connection_only() {
    let server = RawServer::stale_keep_alive(json!({"id": 7})).await;
    let client = client();
    let url = server.url() + "/users/7";

    let first = bounded("first", client.get(&url).send()).await.unwrap();
    assert_eq!(first.headers()["connection"], "keep-alive");
    let first = bounded("first body", first.bytes()).await.unwrap();
    let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(first, json!({"id": 7}));

    // The pooled connection is reused, and closed under the request.
    let err = bounded("second", client.get(&url).send())
        .await
        .unwrap_err();
    assert!(err.is_request(), "{err:?}");
    let source = format!("{err:?}");
    assert!(source.contains("IncompleteMessage"), "{source}");
    assert_eq!((server.total(), server.connections()), (2, 1));

    // A retry goes over a new connection, and succeeds.
    let third = bounded("retry", client.get(&url).send()).await.unwrap();
    assert_eq!(third.status(), 200);
    assert_eq!((server.total(), server.connections()), (3, 2));
    assert!(server.requests().iter().all(|r| r.path == "/users/7"));
}
