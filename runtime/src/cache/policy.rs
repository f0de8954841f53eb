//! What a get may do with a cached value (ARCHITECTURE.md, P1): a
//! [`Policy`] (reload, max age, stale window) judges a value's age on
//! tokio's clock (most fresh hits, on a coarse clock: see clock.rs).

use std::time::Duration;

use tokio::time::Instant;

use super::clock::Arrival;

/// How a get may use what is cached: a reload never does; otherwise a value
/// is fresh up to `max_age` (forever without one), then stale for
/// `stale_while_revalidate`, then expired (P1).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Policy {
    pub(crate) reload: bool,
    pub(crate) max_age: Option<Duration>,
    pub(crate) stale_while_revalidate: Option<Duration>,
}

impl Policy {
    /// A plain get of a value that never goes stale.
    #[cfg(test)]
    pub(crate) const PLAIN: Policy = Policy {
        reload: false,
        max_age: None,
        stale_while_revalidate: None,
    };

    /// A reload.
    #[cfg(test)]
    pub(crate) const RELOAD: Policy = Policy {
        reload: true,
        max_age: None,
        stale_while_revalidate: None,
    };

    /// How usable a value that arrived then is now. Reads a clock only for
    /// a value that can go stale, and tokio's only for one that may be.
    #[inline]
    pub(super) fn judge(&self, arrival: &Arrival) -> Freshness {
        let Some(max_age) = self.max_age else {
            return Freshness::Fresh;
        };
        if arrival.surely_younger_than(max_age) {
            return Freshness::Fresh;
        }
        let arrived = arrival.at;
        let now = Instant::now();
        // Compared as instants: an addition and a comparison, where an age
        // (a subtraction of two instants) costs several times more. A
        // deadline past the clock's range is never reached.
        match arrived.checked_add(max_age) {
            Some(fresh_until) if now > fresh_until => {}
            _ => return Freshness::Fresh,
        }
        let age = now.saturating_duration_since(arrived);
        if self
            .stale_while_revalidate
            .is_some_and(|window| age - max_age <= window)
        {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }
}

/// What a cached value is good for (P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Freshness {
    /// Served as it is.
    Fresh,
    /// Past its max age but within `stale_while_revalidate`: served, and
    /// refreshed in the background.
    Stale,
    /// A miss: a request is joined or started, revalidating it (R7).
    Expired,
}
