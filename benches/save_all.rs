//! `save_all` against what a user would write instead.
//!
//! - `save_all_10000`: 10,000 models PUT to the zero-delay loopback server,
//!   against `stream::iter(..).buffer_unordered(16)` over plain reqwest PUTs
//!   with the same bodies, headers and decode (16 is `save_all`'s default
//!   concurrency). Target: within 1.1x.
//! - `save_all_1000_at_2ms`: 1,000 models on a server that answers each
//!   request after 2 ms, against saving them one by one with `save`.
//!   Target: at least 10x faster.
//!
//! Both sides run on the same current-thread runtime, and so does the server
//! (see `Loopback::start_on`); the inputs are cloned outside the timing
//! (`iter_batched`). `cargo bench --bench save_all`

mod common;

use std::time::Duration;

use backrest::{Client, DEFAULT_SAVE_ALL_CONCURRENCY};
use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};

use common::{Loopback, User, buffer_unordered, client_runtime, users};

fn zero_delay(c: &mut Criterion) {
    const COUNT: usize = 10_000;
    let runtime = client_runtime();
    let loopback = Loopback::start_on(&runtime, 0);
    let base = loopback.url();
    let client = Client::new(&base).expect("client");
    let http = reqwest::Client::new();
    let inputs = users(1, COUNT);

    // Outside the timing: both sides save everything and get the same values.
    runtime.block_on(async {
        let ours = User::save_all(&client, inputs.clone())
            .await
            .expect("save_all");
        assert_eq!(ours, inputs, "in input order");
        let mut theirs =
            buffer_unordered(&http, &base, inputs.clone(), DEFAULT_SAVE_ALL_CONCURRENCY)
                .await
                .expect("buffer_unordered");
        theirs.sort_by_key(|user| user.id);
        assert_eq!(theirs, inputs);
    });

    let mut group = c.benchmark_group("save_all_10000");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    group.bench_function("backrest_save_all_16", |b| {
        b.to_async(&runtime).iter_batched(
            || inputs.clone(),
            |inputs| async { User::save_all(&client, inputs).await.expect("save_all") },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("reqwest_buffer_unordered_16", |b| {
        b.to_async(&runtime).iter_batched(
            || inputs.clone(),
            |inputs| async {
                buffer_unordered(&http, &base, inputs, DEFAULT_SAVE_ALL_CONCURRENCY)
                    .await
                    .expect("buffer_unordered")
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn latency(c: &mut Criterion) {
    const COUNT: usize = 1_000;
    let runtime = client_runtime();
    let loopback = Loopback::start_on(&runtime, 2);
    let client = Client::new(&loopback.url()).expect("client");
    let inputs = users(1, COUNT);

    let mut group = c.benchmark_group("save_all_1000_at_2ms");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("backrest_save_all_16", |b| {
        b.to_async(&runtime).iter_batched(
            || inputs.clone(),
            |inputs| async { User::save_all(&client, inputs).await.expect("save_all") },
            BatchSize::PerIteration,
        );
    });
    // About 3.3 s an iteration (tokio's timer rounds 2 ms up): room for the
    // 10 samples of flat sampling, one iteration each.
    group.measurement_time(Duration::from_secs(35));
    group.bench_function("backrest_save_one_by_one", |b| {
        b.to_async(&runtime).iter_batched(
            || inputs.clone(),
            |inputs| async {
                let mut saved = Vec::with_capacity(inputs.len());
                for user in inputs {
                    saved.push(user.save(&client).await.expect("save"));
                }
                saved
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, zero_delay, latency);
criterion_main!(benches);
