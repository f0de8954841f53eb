//! What a cache counts (P4): relaxed atomics, none of them behind the hit
//! path's lock. Hits, joins and misses, one of which every fetch counts, are
//! striped across cache lines by thread, so that two threads hitting
//! different keys never write the same line (P5).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

/// What a client's cache has done, and what it holds now:
/// [`Client::stats`](crate::Client::stats).
///
/// Each fetch counts once, as exactly one of [`hits`](Self::hits),
/// [`joins`](Self::joins) or [`misses`](Self::misses). Clones of a client
/// share one set of counters; [`Client::clear`](crate::Client::clear)
/// empties the cache but not the counters. The counts are read one by one
/// without stopping the cache, so a snapshot taken while calls run may be a
/// few counts apart between fields.
///
/// ```no_run
/// # fn demo(client: &backrest::Client) {
/// let stats = client.stats();
/// let looked_up = stats.hits + stats.joins + stats.misses;
/// if looked_up > 0 {
///     println!("hit ratio {:.1}%", 100.0 * stats.hits as f64 / looked_up as f64);
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Fetches served from the cache: fresh, or stale within
    /// `stale_while_revalidate` (which also starts a refresh).
    pub hits: u64,
    /// Fetches that joined a request already in flight for the resource.
    pub joins: u64,
    /// Fetches that started a request: nothing cached, a value past its max
    /// age and its `stale_while_revalidate` window, or a reload. (The
    /// background refresh of a stale value is not a fetch; its request
    /// counts in `requests`.)
    pub misses: u64,
    /// HTTP requests sent: each attempt of each fetch, save and destroy,
    /// retries included.
    pub requests: u64,
    /// `304 Not Modified` answers to revalidations.
    pub not_modified: u64,
    /// Loads that failed, once per load however many callers shared it.
    pub errors: u64,
    /// Entries removed to make room under `max_cache_bytes`.
    pub evictions: u64,
    /// Entries the cache holds now.
    pub entries: u64,
    /// What the entries held now weigh: their bodies' lengths plus their
    /// keys (see [`ClientBuilder::max_cache_bytes`](crate::ClientBuilder::max_cache_bytes)).
    pub bytes: u64,
    /// Values found in a shared second-level cache; zero without one.
    pub shared_hits: u64,
    /// Failed commands to a shared second-level cache; zero without one.
    pub shared_errors: u64,
}

/// The counters of one cache, shared by every clone of its client.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    hits: Striped,
    joins: Striped,
    misses: Striped,
    pub(crate) requests: AtomicU64,
    pub(crate) not_modified: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) evictions: AtomicU64,
}

impl Stats {
    #[inline]
    pub(crate) fn hit(&self) {
        self.hits.add(1);
    }

    /// A fetch joined a load in flight: with many callers of one resource,
    /// the other count every caller makes.
    #[inline]
    pub(crate) fn joined(&self) {
        self.joins.add(1);
    }

    #[inline]
    pub(crate) fn missed(&self) {
        self.misses.add(1);
    }

    /// Adds one to a plain counter.
    #[inline]
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// The counts, with what the store holds now.
    pub(crate) fn snapshot(&self, entries: u64, bytes: u64) -> CacheStats {
        CacheStats {
            hits: self.hits.sum(),
            joins: self.joins.sum(),
            misses: self.misses.sum(),
            requests: self.requests.load(Relaxed),
            not_modified: self.not_modified.load(Relaxed),
            errors: self.errors.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            entries,
            bytes,
            shared_hits: 0,
            shared_errors: 0,
        }
    }
}

/// How many threads count hits on lines of their own.
const STRIPES: usize = 16;

/// One counter on a cache line of its own (128 bytes: two lines on x86,
/// whose prefetcher pulls lines in pairs, and one on Apple's cores).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Line(AtomicU64);

/// A counter that threads add to on lines of their own, summed when read.
///
/// Up to [`STRIPES`] live threads of the process that count (in every
/// cache) each own one line: only that thread writes it, so it adds with a
/// plain load and store, no atomic read-modify-write (a hit's costliest
/// instruction after the lock). Other threads share one more line, with
/// `fetch_add`. Readers only load, so a sum is never torn, only a few counts
/// behind.
#[derive(Debug, Default)]
struct Striped {
    owned: [Line; STRIPES],
    shared: Line,
}

impl Striped {
    #[inline]
    fn add(&self, n: u64) {
        match owned_stripe() {
            Some(index) => {
                let line = &self.owned[index].0;
                line.store(line.load(Relaxed).wrapping_add(n), Relaxed);
            }
            None => {
                self.shared.0.fetch_add(n, Relaxed);
            }
        }
    }

    fn sum(&self) -> u64 {
        let owned: u64 = self.owned.iter().map(|line| line.0.load(Relaxed)).sum();
        owned.wrapping_add(self.shared.0.load(Relaxed))
    }
}

/// The stripe this thread owns, if it holds one: a thread takes a free
/// stripe the first time it counts and gives it back when it exits, so no
/// two live threads ever write the same owned line, and threads that come
/// and go (a benchmark's, a blocking pool's) do not use them up. Beyond
/// [`STRIPES`] live counting threads, the rest share a line.
#[inline]
fn owned_stripe() -> Option<usize> {
    thread_local! {
        static STRIPE: Owned = Owned::take();
    }
    // During the thread's exit, after its stripe went back: the shared line.
    STRIPE.try_with(|owned| owned.0).ok().flatten()
}

/// A thread's hold on a stripe, given back when the thread exits.
struct Owned(Option<usize>);

/// The stripes no live thread holds.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// How many stripes have ever been handed out (at most [`STRIPES`]).
static HANDED_OUT: AtomicUsize = AtomicUsize::new(0);

impl Owned {
    fn take() -> Owned {
        let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = free.pop() {
            return Owned(Some(index));
        }
        // Only under the lock, so a plain load and store suffice.
        let handed_out = HANDED_OUT.load(Relaxed);
        if handed_out < STRIPES {
            HANDED_OUT.store(handed_out + 1, Relaxed);
            return Owned(Some(handed_out));
        }
        Owned(None)
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // The lock orders this thread's last adds to its line before the
        // next owner's first.
        if let Some(index) = self.0 {
            FREE.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Striped;

    /// More threads than owned lines, alive at once and one after another:
    /// no count is lost, whether a thread adds to a line of its own, to one
    /// a thread that exited gave back, or to the shared one.
    #[test]
    fn every_count_of_every_thread_is_summed() {
        let counter = Striped::default();
        std::thread::scope(|scope| {
            for _ in 0..64 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.add(1);
                    }
                });
            }
        });
        for _ in 0..64 {
            std::thread::scope(|scope| {
                scope.spawn(|| counter.add(1));
            });
        }
        assert_eq!(counter.sum(), 64 * 1000 + 64);
    }
}
