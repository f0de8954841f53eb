//! Paired measurement: backrest and its peer take turns in short blocks
//! (ABBA order), and the ratio is taken block by block, so that both see
//! the same machine.

use std::future::Future;
use std::hint::black_box;
use std::time::Instant;

use tokio::runtime::Runtime;

/// The median and quartiles of the per-round ratio, and the mean times.
#[derive(Clone, Copy)]
pub(crate) struct Ratio {
    pub(crate) median: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
    pub(crate) rounds: usize,
    pub(crate) ours: f64,
    pub(crate) peer: f64,
}

/// Seconds per call of `f`, over `calls` calls.
async fn block<F, Fut>(calls: usize, f: &mut F) -> f64
where
    F: FnMut() -> Fut,
    Fut: Future,
{
    let start = Instant::now();
    for _ in 0..calls {
        black_box(f().await);
    }
    start.elapsed().as_secs_f64() / calls as f64
}

/// Times `ours` and `peer` in `rounds` pairs of blocks of `calls` calls
/// (after one warm-up block each), alternating which goes first.
pub(crate) fn paired<A, AF, B, BF>(
    runtime: &Runtime,
    (calls, rounds): (usize, usize),
    mut ours: A,
    mut peer: B,
) -> Ratio
where
    A: FnMut() -> AF,
    AF: Future,
    B: FnMut() -> BF,
    BF: Future,
{
    let (ratios, ours_mean, peer_mean) = runtime.block_on(async {
        block(calls, &mut ours).await;
        block(calls, &mut peer).await;
        let mut ratios = Vec::with_capacity(rounds);
        let (mut ours_sum, mut peer_sum) = (0.0, 0.0);
        for round in 0..rounds {
            let (a, b) = if round % 2 == 0 {
                let a = block(calls, &mut ours).await;
                (a, block(calls, &mut peer).await)
            } else {
                let b = block(calls, &mut peer).await;
                (block(calls, &mut ours).await, b)
            };
            ratios.push(a / b);
            ours_sum += a;
            peer_sum += b;
        }
        ratios.sort_by(f64::total_cmp);
        (ratios, ours_sum / rounds as f64, peer_sum / rounds as f64)
    });
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Ratio {
        median: at(0.5),
        low: at(0.25),
        high: at(0.75),
        rounds,
        ours: ours_mean,
        peer: peer_mean,
    }
}

pub(crate) fn format_time(seconds: f64) -> String {
    if seconds < 1e-6 {
        format!("{:.1} ns", seconds * 1e9)
    } else if seconds < 1e-3 {
        format!("{:.2} µs", seconds * 1e6)
    } else {
        format!("{:.2} ms", seconds * 1e3)
    }
}
