//! Pagination (ARCHITECTURE.md, E2): `stream_all` over 1,000,000 items in
//! pages of 1,000, against walking the same pages by hand with reqwest and
//! serde_json (GET, decode the `Vec`, read the `Link` header's next URL).
//!
//! Not a criterion benchmark (`harness = false`): the two sides take turns
//! in one run (benches/common/pairing.rs), and the time ratio is taken walk
//! by walk. A counting global allocator measures the peak bytes in use
//! during one walk of each side, above the level at its start, and reports
//! it in pages (a page: its body plus its decoded `Vec`); the target is at
//! most two. The server runs in a child process (this binary, started
//! again), so that only the client's allocations are counted.
//!
//! `cargo bench --bench pages` (`BACKREST_BENCH_PAGES=100` for a short
//! check: 100 pages a walk).

#![allow(
    clippy::print_stdout,
    reason = "the table printed is this benchmark's report"
)]

mod common;

use std::alloc::System;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};

use backrest::{Client, Fetch, Model};
use cap::Cap;
use futures_util::StreamExt;
use peakmem_alloc::{PeakMemAlloc, PeakMemAllocTrait};
use serde::{Deserialize, Serialize};

use common::client_runtime;
use common::pairing::{format_time, paired};

static PEAK: PeakMemAlloc<System> = PeakMemAlloc::system();

/// `Cap` on top of `PEAK`, which records the highest level in use since
/// its last reset, as in benches/save_all_memory.rs.
#[global_allocator]
static ALLOCATOR: Cap<&PeakMemAlloc<System>> = Cap::new(&PEAK, usize::MAX);

/// Set in the child process that serves.
const SERVE: &str = "BACKREST_BENCH_SERVE";

const PER_PAGE: u64 = 1_000;

/// One item of the list: `/items`.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/items")]
struct Item {
    #[model(id)]
    id: Option<u64>,
    name: String,
    done: bool,
}

/// The body of page `page` (from 1): its items, in JSON.
fn page_body(page: u64) -> Vec<u8> {
    let items: Vec<Item> = ((page - 1) * PER_PAGE..page * PER_PAGE)
        .map(|id| Item {
            id: Some(id),
            name: format!("item number {id}"),
            done: id % 2 == 0,
        })
        .collect();
    serde_json::to_vec(&items).expect("items serialize")
}

/// A blocking HTTP/1.1 server: `GET /items?page=n` answers page n (1 when
/// absent) with a relative `Link` to the next, up to `pages`. Bodies are
/// made once, before serving.
fn serve(pages: u64) {
    let bodies: Vec<Vec<u8>> = (1..=pages).map(page_body).collect();
    let bodies = std::sync::Arc::new(bodies);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("http://{}", listener.local_addr().expect("address"));
    let _ = std::io::stdout().flush();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let bodies = std::sync::Arc::clone(&bodies);
            std::thread::spawn(move || connection(stream, &bodies));
        }
    });
    // Serve until the parent closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn connection(stream: TcpStream, bodies: &[Vec<u8>]) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        // The headers, up to the empty line (the requests have no body).
        let mut header = String::new();
        while reader.read_line(&mut header).unwrap_or(0) > 2 {
            header.clear();
        }
        let target = line.split(' ').nth(1).unwrap_or("/");
        let page: u64 = target
            .split_once("page=")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(1);
        let Some(body) = bodies.get(page as usize - 1) else {
            let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
            continue;
        };
        let link = if (page as usize) < bodies.len() {
            format!("link: <items?page={}>; rel=\"next\"\r\n", page + 1)
        } else {
            String::new()
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{link}\r\n",
            body.len()
        );
        // One write per answer: a head and a body written apart wait on
        // Nagle's algorithm and the client's delayed ACK (40 ms a page).
        let mut answer = Vec::with_capacity(head.len() + body.len());
        answer.extend_from_slice(head.as_bytes());
        answer.extend_from_slice(body);
        if writer.write_all(&answer).is_err() {
            return;
        }
    }
}

/// backrest: every item of the list, counted.
async fn ours(client: &Client) -> u64 {
    let mut stream = std::pin::pin!(Item::stream_all(client, Fetch::new()));
    let mut count = 0;
    while let Some(item) = stream.next().await {
        black_box(item.expect("an item"));
        count += 1;
    }
    count
}

/// By hand: GET each page, decode it, follow the `Link` header's next URL.
async fn by_hand(http: &reqwest::Client, base: &str) -> u64 {
    let mut url = reqwest::Url::parse(&format!("{base}/items")).expect("url");
    let mut count = 0;
    loop {
        let response = http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, common::JSON)
            .send()
            .await
            .expect("a page");
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|link| link.to_str().ok())
            .and_then(|link| link.strip_prefix('<'))
            .and_then(|link| link.split_once('>'))
            .and_then(|(target, _)| url.join(target).ok());
        let body = response.bytes().await.expect("a body");
        let items: Vec<Item> = serde_json::from_slice(&body).expect("items");
        drop(body);
        for item in items {
            black_box(item);
            count += 1;
        }
        match next {
            Some(next) => url = next,
            None => return count,
        }
    }
}

/// The peak bytes in use while `run` runs, above the level at its start.
fn peak_of(run: impl FnOnce() -> u64) -> (usize, u64) {
    // The peak is counted from the reset: above the level at the start.
    PEAK.reset_peak_memory();
    let count = run();
    (PEAK.get_peak_memory(), count)
}

fn main() {
    let pages: u64 = std::env::var("BACKREST_BENCH_PAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    if std::env::var_os(SERVE).is_some() {
        serve(pages);
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env(SERVE, "1")
        .env("BACKREST_BENCH_PAGES", pages.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut url)
        .expect("the server's URL");
    let url = url.trim().to_owned();
    let runtime = client_runtime();
    let http = reqwest::Client::new();
    let client = Client::builder(&url)
        .http_client(http.clone())
        .build()
        .expect("client");
    let items = pages * PER_PAGE;

    // One page, as memory holds it: its body and its decoded `Vec`.
    let body = page_body(1);
    let decoded: Vec<Item> = serde_json::from_slice(&body).expect("items");
    let page_bytes = body.len()
        + decoded.capacity() * size_of::<Item>()
        + decoded
            .iter()
            .map(|item| item.name.capacity())
            .sum::<usize>();
    drop(decoded);

    // A first walk of each side opens the pooled connection and whatever
    // the runtime allocates once (timers), as in a running service.
    runtime.block_on(ours(&client));
    runtime.block_on(by_hand(&http, &url));
    let (our_peak, counted) = peak_of(|| runtime.block_on(ours(&client)));
    assert_eq!(counted, items, "backrest walked every item");
    let (their_peak, counted) = peak_of(|| runtime.block_on(by_hand(&http, &url)));
    assert_eq!(counted, items, "the peer walked every item");

    let rounds = if pages >= 1_000 { 15 } else { 31 };
    let ratio = paired(
        &runtime,
        (1, rounds),
        || ours(&client),
        || by_hand(&http, &url),
    );

    println!(
        "stream_all over {items} items in {pages} pages of {PER_PAGE}, server in another process"
    );
    println!(
        "time a walk: backrest {}, by hand {} (means, ratio {:.3}x); ratio per round: median \
         {:.3}x (quartiles {:.3}-{:.3}, {} rounds; target <= 1.1x)",
        format_time(ratio.ours),
        format_time(ratio.peer),
        ratio.ours / ratio.peer,
        ratio.median,
        ratio.low,
        ratio.high,
        ratio.rounds
    );
    println!(
        "peak memory of a walk: backrest {our_peak} bytes = {:.2} pages, by hand {their_peak} \
         bytes = {:.2} pages (a page: {page_bytes} bytes, body and decoded Vec; target <= 2)",
        our_peak as f64 / page_bytes as f64,
        their_peak as f64 / page_bytes as f64,
    );

    drop(child.stdin.take());
    let _ = child.wait();
    let _ = std::io::stdout().flush();
}
