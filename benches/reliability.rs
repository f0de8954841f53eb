//! What reliability costs when nothing goes wrong, and what revalidation
//! saves, measured paired (ABBA blocks, median ratio of the rounds), in the
//! out-of-runtime regime of `benches/paired.rs` (the client on the default
//! multi-thread runtime, the server in a child process: this executable,
//! run again as `backrest_testkit::bench_server`), and the 304's time also
//! in-runtime (client and axum server on one current-thread runtime):
//!
//! - retries (R3): a cold fetch with the default `Retry::attempts(3)` costs
//!   at most 1.02x one with `Retry::none()` (ARCHITECTURE.md, R3);
//! - revalidation (R7): an unchanged reload of a 100 KB resource (a `304`)
//!   moves at most 5% of the bytes of a full reload, counted by a TCP proxy
//!   between client and server, and takes at most 0.3x its time; beside it,
//!   for reference, the same 304 reload against a bare reqwest GET that the
//!   server answers with the same 304 (one round trip, the floor of the
//!   ratio above). The document is `bench_server::doc_json`'s: 1,000
//!   strings of 100 characters, with the `ETag` `DOC_ETAG`.
//!
//! Not a criterion benchmark (`harness = false`): `cargo bench --bench
//! reliability`.

#![allow(
    clippy::print_stdout,
    reason = "the ratios printed are this benchmark's report"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use backrest::{Client, Fetch, Model, Retry};
use backrest_testkit::bench_server::{self, DOC_ETAG};
use backrest_testkit::{Reply, Server};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::{Builder, Runtime};

use common::pairing::{Ratio, format_time, paired};
use common::{Regime, User, serve_if_child};

/// A resource of about 100 KB that the server tags with an `ETag`.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/docs")]
struct Doc {
    #[model(id)]
    id: Option<u64>,
    lines: Vec<String>,
}

/// The same body at a path whose answers carry no validator: every reload
/// moves it whole.
#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[model(path = "/full")]
struct FullDoc {
    #[model(id)]
    id: Option<u64>,
    lines: Vec<String>,
}

/// A server on `runtime`: `/docs/1` with an `ETag` (and a 304 to
/// `If-None-Match` with it), `/full/1` without; the same routes and
/// bytes as the out-of-runtime regime's child server
/// (`backrest_testkit::bench_server`).
fn doc_server(runtime: &Runtime) -> Server {
    let server = runtime.block_on(Server::start());
    server.stop_recording();
    let mut body = Vec::new();
    bench_server::doc_json(1, &mut body);
    server.handle(move |request| {
        let tagged = request.path.starts_with("/docs/");
        if tagged && request.header("if-none-match") == Some(DOC_ETAG) {
            return Reply::empty(304).header("etag", DOC_ETAG);
        }
        let reply = Reply::raw(200, body.clone());
        if tagged {
            reply.header("etag", DOC_ETAG)
        } else {
            reply
        }
    });
    server
}

/// Times an unchanged reload (304) against a full one of the same body,
/// the client on `runtime`.
fn reload_time(regime: &str, runtime: &Runtime, base: &str) {
    let client = Client::builder(base)
        .retry(Retry::none())
        .build()
        .expect("a client");
    runtime.block_on(async {
        Doc::fetch(&client, 1).await.expect("a doc");
        FullDoc::fetch(&client, 1).await.expect("a doc");
    });
    let revalidated = || async {
        Doc::fetch_with(&client, 1, Fetch::reload())
            .await
            .expect("a doc")
    };
    let time = paired(runtime, (50, 24), revalidated, || async {
        FullDoc::fetch_with(&client, 1, Fetch::reload())
            .await
            .expect("a doc")
    });
    report(
        &format!("reload of 100 KB, 304 vs full, time ({regime})"),
        &time,
        "<= 0.3x",
    );
    // The floor under that ratio: a 304 is one round trip, and what the
    // library adds to it shows against a bare reqwest GET that the server
    // answers with the same 304.
    let http = reqwest::Client::new();
    let url = format!("{base}/docs/1");
    let floor = paired(runtime, (50, 24), revalidated, || async {
        let answer = http
            .get(&url)
            .header("if-none-match", DOC_ETAG)
            .send()
            .await
            .expect("a 304");
        assert_eq!(answer.status(), 304);
        answer.bytes().await.expect("an empty body")
    });
    report(
        &format!("reload of 100 KB, 304 vs a bare reqwest 304 ({regime})"),
        &floor,
        "for reference",
    );
}

/// A TCP proxy to `upstream` that counts the bytes the server sends.
async fn counting_proxy(upstream: String, counted: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let Ok(mut server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.split();
                let (mut server_read, mut server_write) = server.split();
                let up = tokio::io::copy(&mut client_read, &mut server_write);
                let down = async {
                    let mut buffer = vec![0; 64 * 1024];
                    loop {
                        let n = server_read.read(&mut buffer).await?;
                        if n == 0 {
                            return Ok::<(), std::io::Error>(());
                        }
                        counted.fetch_add(n as u64, Ordering::Relaxed);
                        client_write.write_all(&buffer[..n]).await?;
                    }
                };
                let _ = tokio::join!(up, down);
            });
        }
    });
    format!("http://{addr}")
}

fn report(name: &str, ratio: &Ratio, target: &str) {
    println!(
        "{name:<60} {:>6.3}x (quartiles {:.3}-{:.3})  ours {:>9}  peer {:>9}  target {target}",
        ratio.median,
        ratio.low,
        ratio.high,
        format_time(ratio.ours),
        format_time(ratio.peer),
    );
}

fn main() {
    serve_if_child();
    // The regime users run: the client on the default multi-thread runtime,
    // the server in a child process (as in `benches/paired.rs`).
    let regime = Regime::out_of_runtime();
    let runtime = &regime.runtime;

    // R3: the default retry policy against none, no fault, cold fetches.
    let with_retry = Client::new(&regime.base).expect("a client");
    let without = Client::builder(&regime.base)
        .retry(Retry::none())
        .build()
        .expect("a client");
    let next = AtomicU64::new(1);
    let fetch = |client: &Client| {
        let id = next.fetch_add(1, Ordering::Relaxed);
        let client = client.clone();
        async move { User::fetch(&client, id).await.expect("a user") }
    };
    let retry = paired(
        runtime,
        (200, 48),
        || fetch(&with_retry),
        || fetch(&without),
    );
    report(
        "cold fetch: Retry::attempts(3) vs Retry::none()",
        &retry,
        "<= 1.02x",
    );

    // R7: an unchanged reload (304) against a full one, 100 KB: the bytes
    // the server sends, counted by a proxy in front of it.
    let counted = Arc::new(AtomicU64::new(0));
    let proxy = runtime.block_on(counting_proxy(
        regime.base.trim_start_matches("http://").to_owned(),
        Arc::clone(&counted),
    ));
    let client = Client::builder(&proxy)
        .retry(Retry::none())
        .build()
        .expect("a client");
    runtime.block_on(async {
        Doc::fetch(&client, 1).await.expect("a doc");
        FullDoc::fetch(&client, 1).await.expect("a doc");
    });
    let bytes = |reload: &mut dyn FnMut()| {
        let before = counted.load(Ordering::SeqCst);
        for _ in 0..50 {
            reload();
        }
        (counted.load(Ordering::SeqCst) - before) as f64 / 50.0
    };
    let revalidated = bytes(&mut || {
        runtime.block_on(async {
            Doc::fetch_with(&client, 1, Fetch::reload())
                .await
                .expect("a doc");
        });
    });
    let full = bytes(&mut || {
        runtime.block_on(async {
            FullDoc::fetch_with(&client, 1, Fetch::reload())
                .await
                .expect("a doc");
        });
    });
    println!(
        "{:<60} {:>6.3}%  ({revalidated:.0} vs {full:.0} bytes from the server per reload)  target <= 5%",
        "reload of 100 KB, 304 vs full, bytes from the server",
        revalidated / full * 100.0,
    );
    // Timed without the proxy, which adds two hops to every request: in
    // the regime users run, and with the server on the client's own
    // current-thread runtime, which isolates the library's cost from
    // thread wake-ups.
    reload_time("out of runtime", runtime, &regime.base);
    let local = Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let local_server = doc_server(&local);
    reload_time("in runtime", &local, &local_server.url());
}
