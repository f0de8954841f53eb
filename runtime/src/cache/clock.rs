//! When a value arrived, on the clocks its freshness is judged on
//! (ARCHITECTURE.md, P1).
//!
//! Ages are measured on tokio's clock, so that tests with paused time see
//! values go stale without sleeping. Reading it is a `clock_gettime` of
//! `CLOCK_MONOTONIC`, 23 to 25 ns here, a third of a whole hit. So on
//! Linux, in a build whose tokio clock cannot be paused (no `test-util`
//! anywhere in the build), an [`Arrival`] also carries a stamp on
//! `CLOCK_MONOTONIC_COARSE` (through `coarsetime`, 4 to 5 ns to read): the
//! same clock as the precise one, as it stood at the kernel's last update
//! of it. A hit whose coarse age is more than [`SLACK`] below its max age is
//! fresh and reads no other clock; any other hit (the last [`SLACK`] of its
//! freshness, a stale or expired value, any platform or build without the
//! coarse stamp) is judged on tokio's clock, exactly as before.
//!
//! Why the coarse verdict holds, and what it assumes: the stamp is read
//! before the tokio instant when the value is stored, from a clock never
//! ahead of the precise one, so it is at or before the arrival. At the hit,
//! `coarse now + SLACK < stamp + max age` then implies `precise now <
//! arrival + max age` as long as the coarse clock lags the precise one by
//! less than [`SLACK`]. The kernel updates it every tick (1 to 10 ms; the
//! worst lag seen on this project's VM, over 5 million readings, was
//! 6.7 ms); nothing bounds it formally, which is why the slack is a whole
//! second, far past any tick. A lag beyond it would serve a value that much
//! past its max age, never a value the cache may not hold.

use std::time::Duration;

use tokio::time::Instant;

/// The lag of the coarse clock behind the precise one that a coarse verdict
/// allows for: the part of a value's freshness always judged on tokio's
/// clock. (A tick is 1 to 10 ms; see the module docs.)
pub(super) const SLACK: Duration = Duration::from_secs(1);

/// When a value arrived: on tokio's clock, and on the coarse clock when a
/// hit may use it (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Arrival {
    /// What ages are measured from.
    pub(super) at: Instant,
    /// The same moment or a little before, on the coarse clock.
    coarse: Option<coarse::Stamp>,
}

impl Arrival {
    /// A value that arrived `age` ago (zero for one that arrived now).
    pub(super) fn ago(age: Duration) -> Self {
        // The coarse clock first: it is then at or before the tokio
        // instant, whatever happens between the two readings.
        let coarse = coarse::stamp(age);
        let now = Instant::now();
        Arrival {
            at: now.checked_sub(age).unwrap_or(now),
            coarse,
        }
    }

    /// Whether the value is surely younger than `max_age` now, by the
    /// coarse clock alone: `false` means "ask tokio's clock", not "stale".
    #[inline]
    pub(super) fn surely_younger_than(&self, max_age: Duration) -> bool {
        self.coarse
            .is_some_and(|stamp| coarse::surely_younger_than(stamp, max_age))
    }
}

/// Whether tokio's clock can be paused in this build: whether tokio was
/// built with `test-util` (by any crate of the build, features being
/// unified), found by whether `Builder::start_paused` exists. Where it does,
/// the inherent method is called, which returns the builder; where it does
/// not, method resolution falls back to this trait's, which returns
/// `Unpausable`.
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android")),
    allow(dead_code, reason = "only the coarse clock needs to know")
)]
fn tokio_clock_can_pause() -> bool {
    #[allow(
        dead_code,
        reason = "called only where tokio has no `start_paused` of its own"
    )]
    trait NoStartPaused {
        fn start_paused(&mut self, _: bool) -> Unpausable {
            Unpausable
        }
    }
    impl NoStartPaused for tokio::runtime::Builder {}

    #[allow(
        dead_code,
        reason = "made only where tokio has no `start_paused` of its own"
    )]
    struct Unpausable;

    trait CanPause {
        fn can_pause(&self) -> bool;
    }
    impl CanPause for Unpausable {
        fn can_pause(&self) -> bool {
            false
        }
    }
    impl CanPause for &mut tokio::runtime::Builder {
        fn can_pause(&self) -> bool {
            true
        }
    }

    tokio::runtime::Builder::new_current_thread()
        .start_paused(false)
        .can_pause()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod coarse {
    use std::num::NonZeroU64;
    use std::sync::OnceLock;
    use std::time::Duration;

    use coarsetime::Instant as Coarse;

    /// A reading of `CLOCK_MONOTONIC_COARSE`, in `coarsetime`'s ticks
    /// (2^-32 s since boot): never zero past the first nanosecond of
    /// uptime, so an `Option` of it takes no more room than it.
    pub(super) type Stamp = NonZeroU64;

    /// Whether arrivals get a coarse stamp: only where tokio's clock cannot
    /// be paused, since a paused clock is not the coarse clock's.
    fn enabled() -> bool {
        static ENABLED: OnceLock<bool> = OnceLock::new();
        *ENABLED.get_or_init(|| !super::tokio_clock_can_pause())
    }

    /// The coarse stamp of a value that arrived `age` ago, if arrivals get
    /// one.
    pub(super) fn stamp(age: Duration) -> Option<Stamp> {
        if !enabled() {
            return None;
        }
        let stamp = Coarse::now_without_cache_update().checked_sub(age.into())?;
        NonZeroU64::new(stamp.as_ticks())
    }

    /// See [`super::Arrival::surely_younger_than`].
    #[inline]
    pub(super) fn surely_younger_than(stamp: Stamp, max_age: Duration) -> bool {
        // Not `Stamp::now`: it also writes a shared cache line, which two
        // threads hitting would pass back and forth (P5).
        let now = Coarse::now_without_cache_update();
        verdict(stamp, now, max_age)
    }

    /// The coarse verdict for a value stamped `stamp`, read `now`.
    #[inline]
    pub(super) fn verdict(stamp: Stamp, now: Coarse, max_age: Duration) -> bool {
        match Coarse::from_ticks(stamp.get()).checked_add(max_age.into()) {
            Some(fresh_until) => now.saturating_add(super::SLACK.into()) < fresh_until,
            // A max age past the clock's range: never reached.
            None => true,
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod coarse {
    use std::time::Duration;

    /// No coarse clock here: every freshness is judged on tokio's clock.
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Stamp {}

    pub(super) fn stamp(_: Duration) -> Option<Stamp> {
        None
    }

    pub(super) fn surely_younger_than(stamp: Stamp, _: Duration) -> bool {
        match stamp {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_sees_that_this_build_can_pause_tokio_s_clock() {
        // The runtime's tests build tokio with `test-util`, so the probe
        // must see `start_paused`; if it did not, every arrival would get a
        // coarse stamp and paused-time tests would judge on the wrong clock.
        assert!(tokio_clock_can_pause());
        assert!(
            Arrival::ago(Duration::ZERO).coarse.is_none(),
            "no coarse stamp where tokio's clock can pause"
        );
        assert!(!Arrival::ago(Duration::ZERO).surely_younger_than(Duration::from_secs(3600)));
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_coarse_verdict_of_fresh_holds_on_the_precise_clock() {
        use coarsetime::Instant as Coarse;
        use std::num::NonZeroU64;
        let stamp_now =
            || NonZeroU64::new(Coarse::now_without_cache_update().as_ticks()).expect("past boot");
        // Stamps read now, judged a moment later, with max ages on both
        // sides of the slack (1 s).
        let mut fresh = 0;
        for round in 0..2_000_u64 {
            let precise_arrival = std::time::Instant::now();
            let stamp = stamp_now();
            let max_age = Duration::from_millis(round % 2_400);
            let now = Coarse::now_without_cache_update();
            if coarse::verdict(stamp, now, max_age) {
                fresh += 1;
                assert!(
                    precise_arrival.elapsed() < max_age,
                    "a value judged fresh by the coarse clock is fresh ({max_age:?})"
                );
            }
        }
        // Max ages up to the slack are never judged fresh by the coarse
        // clock; those well past it are, unless a tick fell between the
        // readings (it moves the coarse clock by 10 ms at most).
        assert!(fresh >= 900, "{fresh} verdicts of 2,000 were fresh");
        let (stamp, now) = (stamp_now(), Coarse::now_without_cache_update());
        assert!(!coarse::verdict(stamp, now, SLACK));
        assert!(!coarse::verdict(stamp, now, Duration::ZERO));
        assert!(coarse::verdict(stamp, now, Duration::MAX));
    }
}
