//! Peak memory of `save_all`: it grows with the concurrency, not with the
//! number of inputs.
//!
//! Not a criterion benchmark (`harness = false`): a counting global
//! allocator measures, for 1,000 and 10,000 models at concurrency 4, 16 and
//! 64, the peak bytes allocated while `save_all` runs, above the level at
//! the call. The same is measured for the peer, `buffer_unordered(n)` over
//! plain reqwest PUTs collected into a `Vec`.
//!
//! The loopback server runs in a child process (this binary, started again),
//! so that only the client's allocations are counted. Inputs come from a
//! lazy iterator, so they are not a buffer held by the caller; the output
//! `Vec` and, for backrest, the values its cache keeps (a save caches the
//! server's value, ARCHITECTURE.md C9) grow with the input by contract. They are
//! measured and subtracted: what remains is the working memory.
//! `cargo bench --bench save_all_memory`

#![allow(
    clippy::print_stdout,
    reason = "the table printed is this benchmark's report"
)]

mod common;

use std::alloc::System;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use backrest::Client;
use cap::Cap;
use peakmem_alloc::{PeakMemAlloc, PeakMemAllocTrait};

use common::{Loopback, User, buffer_unordered, client_runtime, user};

static PEAK: PeakMemAlloc<System> = PeakMemAlloc::system();

/// Counts bytes in use (`Cap::allocated`) on top of `PEAK`, which records
/// the highest level since its last reset.
#[global_allocator]
static ALLOCATOR: Cap<&PeakMemAlloc<System>> = Cap::new(&PEAK, usize::MAX);

/// Set in the child process that serves.
const SERVE: &str = "BACKREST_BENCH_SERVE";

const COUNTS: [usize; 2] = [1_000, 10_000];
const CONCURRENCY: [usize; 3] = [4, 16, 64];

/// What one run allocated, in bytes.
struct Usage {
    /// The highest level while it ran, above the level at the call.
    peak: usize,
    /// The returned `Vec`: its buffer and its values' strings.
    output: usize,
    /// What the client kept after the call, besides the output: the values
    /// its cache took (backrest), connections its pool opened.
    kept: usize,
}

impl Usage {
    /// The peak less the output and what the client kept.
    fn working(&self) -> usize {
        self.peak.saturating_sub(self.output + self.kept)
    }
}

fn output_bytes(saved: &[User], capacity: usize) -> usize {
    capacity * size_of::<User>()
        + saved
            .iter()
            .map(|user| user.name.capacity() + user.email.capacity())
            .sum::<usize>()
}

/// Runs `run` and measures it; the inputs are ids from 1 to `count`.
fn measure<F>(run: F) -> Usage
where
    F: FnOnce() -> Vec<User>,
{
    let start = ALLOCATOR.allocated();
    PEAK.reset_peak_memory();
    let saved = run();
    let peak = PEAK.get_peak_memory();
    let end = ALLOCATOR.allocated();
    let output = output_bytes(&saved, saved.capacity());
    drop(saved);
    Usage {
        peak,
        output,
        kept: (end - start).saturating_sub(output),
    }
}

fn serve() {
    let loopback = Loopback::start(0);
    println!("{}", loopback.url());
    // Serve until the parent closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn main() {
    if std::env::var_os(SERVE).is_some() {
        serve();
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env(SERVE, "1")
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

    println!("save_all peak memory (bytes), server in another process");
    println!(
        "{:<26} {:>6} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "side", "inputs", "conc.", "peak", "output", "kept", "working", "work/input"
    );
    for count in COUNTS {
        for concurrency in CONCURRENCY {
            let client = Client::builder(&url)
                .save_all_concurrency(concurrency)
                .build()
                .expect("client");
            let http = reqwest::Client::new();
            // Open the connections first: a warm pool, as in a running service.
            let warm = (1_000_000..).take(2 * concurrency).map(user);
            runtime
                .block_on(User::save_all(&client, warm.clone()))
                .expect("warm up");
            runtime
                .block_on(buffer_unordered(&http, &url, warm, concurrency))
                .expect("warm up");

            let save_all = || {
                let inputs = (1..).take(count).map(user);
                runtime
                    .block_on(User::save_all(&client, inputs))
                    .expect("save_all")
            };
            // First save of these ids: the cache grows by one value each.
            let first = measure(save_all);
            // The same ids again: the cache replaces its values.
            let again = measure(save_all);
            let theirs = measure(|| {
                let inputs = (1..).take(count).map(user);
                runtime
                    .block_on(buffer_unordered(&http, &url, inputs, concurrency))
                    .expect("buffer_unordered")
            });
            for (side, usage) in [
                ("backrest, new ids", first),
                ("backrest, ids cached", again),
                ("reqwest buffer_unordered", theirs),
            ] {
                println!(
                    "{side:<26} {count:>6} {concurrency:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
                    usage.peak,
                    usage.output,
                    usage.kept,
                    usage.working(),
                    usage.working() / count,
                );
            }
        }
    }
    println!(
        "peak: highest bytes in use above the level at the call; output: the returned Vec \
         ({} bytes a User, plus its strings); kept: what the client kept after the call \
         besides it (cached values, new pooled connections); working: peak - output - kept",
        size_of::<User>()
    );

    drop(child.stdin.take());
    let _ = child.wait();
    let _ = std::io::stdout().flush();
}
