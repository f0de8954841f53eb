//! The shared-future cache. It knows nothing of HTTP: it stores values under
//! keys, and runs each *load* (a future that produces a value) for every
//! caller that shares it.
//!
//! Its rooms: [`key`] (what a value is stored under), [`clock`] (when a
//! value arrived, on the clocks its freshness is judged on), [`loaded`] (values,
//! validators, what a load ends with), [`store`] (entries,
//! numbers, floors, validators and the collection index), [`flight`] (one
//! load in flight and its waiters) and this module, the [`Cache`] that ties
//! them together.
//!
//! # Numbers
//!
//! Every load started takes the next number of one counter (its *start
//! number*); so do a stored write (a save), an eviction and an invalidation,
//! when they happen. A value is stored only if its number is above the cached
//! value's and above the key's last eviction or invalidation (its *floor*), so
//! the cache only moves forward whatever order loads finish in
//! (ARCHITECTURE.md, C4).
//!
//! # Revalidation
//!
//! A value may be stored with its [`Validators`] (what the server said
//! identifies its version: an `ETag`, a `Last-Modified`), beside it in its
//! entry; a hit never reads them. When a load is started, the key's valid
//! value and its validators, if it has both, are captured under the cache
//! lock and handed to the load as a [`Revalidate`]: the load may ask the
//! server whether that value is still current, and if so end with that very
//! value (the same `Arc`) and validators. Its end is then like any other: it
//! is stored with the load's start number if that is the newest (C4), and
//! its waiters get it unless something newer was cached since (C5). Because
//! what the load revalidates is what it captured, the answer is consistent
//! even if the cache changed while the request was out (ARCHITECTURE.md,
//! R7). A load that starts with no valid value captures nothing.
//!
//! # Sharing a load without `futures::future::Shared`'s traps
//!
//! A load is a `Flight`: the callers waiting on it (`Waiter`s) and, once
//! it is done, its outcome. While its first caller is its only caller, that
//! caller runs it inline, as a plain `await` would: a lone fetch costs no
//! task. As soon as a second caller joins, the load moves to a task of its
//! own (after the poll or the build its first caller is in, if any), so that:
//!
//! - a wake-up of the load wakes that one task, never the callers; they park
//!   their wakers and are woken once, when the outcome is set;
//! - no caller drives it, so a caller that is dropped, or that holds its
//!   future without polling it, cannot stall the others;
//! - a panic in the load is caught: every caller gets an error instead of
//!   hanging, the cache stays consistent, and the panic is re-raised in the
//!   task that ran the load.
//!
//! Who drives a load at each moment is one enum, `flight::Driver`. When
//! every waiter is gone before the load is done, it is dropped (inline, or
//! by aborting its task) and the key forgets it, so the next fetch sends a
//! new request.
//!
//! A flight holds its cache, and its waiters and task reach the cache
//! through it. The cache holds a flight only as its key's newest in the
//! store's in-flight entries, which the flight leaves when its load ends
//! or its last waiter leaves: the cycle ends with the flight.
//!
//! # Locks, and the order they are taken in
//!
//! There are two kinds of mutex, and no other lock:
//!
//! - the cache's `State` (`Cache::state`), one per client: the store;
//! - each `Flight`'s `FlightState`, one per load: its driver, its waiters'
//!   slots and its outcome.
//!
//! (`Cache::stores` is an atomic counter, bumped under the cache lock and
//! read without it.)
//!
//! The order is **cache, then flight**, and both are held at once in one
//! place only: [`Cache::slow_get`] calls `Flight::join` with the cache
//! locked. So the check that a flight may be joined (it is the key's newest
//! and started after the key's last write) and the join itself are atomic
//! with respect to writes, which raise floors under the cache lock, and to
//! the flight leaving its entry, which it does under the cache lock before
//! it is `Done` and after it is `Cancelled` (a join refuses both).
//! Everywhere else at most one lock is held at a time:
//!
//! - [`Cache::finish`] locks the flight to claim the end (`Finishing`),
//!   unlocks it, locks the cache in [`Cache::complete`] to store the value,
//!   unlocks it, then locks the flight again to set the outcome;
//! - a waiter unlocks its flight before it locks the cache, in
//!   [`Cache::abandon`] (its drop) or [`Cache::resolve`] (taking the
//!   outcome);
//! - `Flight::spawn` locks only its flight, and is called with no lock held.
//!
//! So the cache lock is never taken while a flight is locked (that would
//! deadlock against a join), and no two flights are ever locked at once.
//!
//! No lock is held while a load is built or polled, while a task is spawned,
//! or while wakers are woken. Values, entries, loads and abort handles that
//! an update replaces are carried out of the critical section and dropped
//! after it (the store's `Garbage`). What is dropped under a lock is small:
//! a parked `Waker` replaced or released (flight lock), a clone of a key or an `Arc` of a
//! flight that is never the last (cache lock), and the key and unused
//! closure of a get that fails for want of a runtime (cache lock).

mod clock;
mod flight;
mod key;
mod loaded;
mod policy;
mod stats;
mod store;
#[cfg(test)]
mod tests;
mod writes;

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use tokio::runtime::Handle;

pub(crate) use self::flight::Waiter;
use self::flight::{FIRST_SLOT, Flight, Outcome, Slot};
pub(crate) use self::key::{Key, KeyRef, Kind};
pub(crate) use self::loaded::{Load, Loaded, Revalidate, Validators, Value};
use self::policy::Freshness;
pub(crate) use self::policy::Policy;
pub use self::stats::CacheStats;
pub(crate) use self::stats::Stats;
use self::store::{State, Stored, Values};
use crate::Error;

/// The cache of one client (and of all its clones).
pub(crate) struct Cache {
    state: Mutex<State>,
    /// The values, bounded and weighed; read by hits without `state`.
    values: Values,
    /// How many values have been stored so far: a waiter whose outcome was
    /// computed at the same count cannot have missed a newer value.
    stores: AtomicU64,
    stats: Arc<Stats>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new(crate::client::DEFAULT_MAX_CACHE_BYTES)
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.values.len())
            .field("bytes", &self.values.weight())
            .field("max_bytes", &self.values.capacity())
            .finish_non_exhaustive()
    }
}

/// What [`Cache::hit`] saw of a key it could not serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// No value.
    Nothing,
    /// A value it may not serve (past its max age, or a reload).
    Value,
}

/// The answer of [`Cache::slow_get`] (and of `Cache::get`, in tests).
pub(crate) enum Lookup {
    /// The cached value, fresh.
    Hit(Value),
    /// The cached value, stale: one refresh is in flight for it.
    Stale(Value),
    /// A load to wait for: joined (`true`: the waker given to `slow_get`
    /// is parked, and the end of the load wakes it, so the waiter need not
    /// be polled before then) or started (`false`: poll it, it may run the
    /// load).
    Wait(Waiter, bool),
    /// A load was needed but cannot run: no Tokio runtime.
    Fail(Error),
}

impl Cache {
    /// An empty cache that never holds more than `max_bytes` of entries.
    pub(crate) fn new(max_bytes: usize) -> Self {
        Cache {
            state: Mutex::default(),
            values: store::values(max_bytes),
            stores: AtomicU64::new(0),
            stats: Arc::default(),
        }
    }

    /// The counters, which the HTTP layer adds its requests to.
    pub(crate) fn counters(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// The counters, and what is held now.
    pub(crate) fn stats(&self) -> CacheStats {
        self.stats
            .snapshot(self.values.len() as u64, self.values.weight())
    }

    /// Looks `key` up. A plain get returns the cached value if it is fresh
    /// (or stale within `stale_while_revalidate`, starting one refresh), or
    /// joins the newest load in flight that started after the key's last
    /// write, or starts `load(&key, revalidate, refresh)`; a reload always
    /// starts one. `refresh` is true for the background refresh of a stale
    /// value, which no caller waits for. `revalidate` is the key's value with its validators, if it has
    /// both when the load starts (R7). A load started here runs inline in
    /// its caller's await while that caller is its only one, and moves to a
    /// task of its own when a second caller joins.
    ///
    /// The fetches call its two halves, [`Cache::hit`] and
    /// [`Cache::slow_get`], themselves.
    #[cfg(test)]
    pub(crate) fn get(
        self: &Arc<Self>,
        key: KeyRef<'_>,
        policy: Policy,
        load: impl FnOnce(&Key, Option<Revalidate>, bool) -> Load,
    ) -> Lookup {
        let mut seen = Seen::Nothing;
        match self.hit(key, policy, &mut seen) {
            Some(value) => Lookup::Hit(value),
            None => self.slow_get(key, policy, seen, Waker::noop(), load),
        }
    }

    /// The hit path of a plain get: the key's value if it is cached and
    /// fresh, read without the cache lock, and counted as a hit. Otherwise
    /// (a reload, a miss, a value past its max age) `None`, and what it saw
    /// in `seen`, for [`Cache::slow_get`], which looks again under the
    /// lock. (`Option<Value>` is a pointer pair, returned in registers.)
    #[inline]
    pub(crate) fn hit(&self, key: KeyRef<'_>, policy: Policy, seen: &mut Seen) -> Option<Value> {
        if policy.reload {
            *seen = Seen::Value;
            return None;
        }
        let Some(stored) = self.values.get(&key) else {
            *seen = Seen::Nothing;
            return None;
        };
        if policy.judge(&stored.arrived) != Freshness::Fresh {
            *seen = Seen::Value;
            return None;
        }
        self.stats.hit();
        Some(stored.value)
    }

    /// The rest of a get, kept out of the hit path, for a key that
    /// [`Cache::hit`] has just looked at and `seen`: under the cache lock, a
    /// key that had no value joins the load in flight if it may; otherwise
    /// the value is looked at again (a load may have stored one since), then
    /// a load is joined or started. A caller that joins a load parks
    /// `waker`, its task's, as it joins.
    #[cold]
    #[inline(never)]
    pub(crate) fn slow_get(
        self: &Arc<Self>,
        key: KeyRef<'_>,
        policy: Policy,
        seen: Seen,
        waker: &Waker,
        load: impl FnOnce(&Key, Option<Revalidate>, bool) -> Load,
    ) -> Lookup {
        let state = lock(&self.state);
        let joinable = state.joinable(key, policy.reload);
        // The common case of coalescing: no value a moment ago, and a load
        // to join. Nothing newer can have been stored since: a write raises
        // the key's floor, and a flight started before it is not joinable;
        // a load that ended since left the entry, so the joinable flight is
        // the newest started, and its answer is newer than that load's. (If
        // such a value is fresh, this caller waits for the joined load
        // instead of taking it: newer, a round trip later.)
        if seen == Seen::Nothing
            && let Some(flight) = &joinable
            && let Some((slot, inline)) = flight.join(waker)
        {
            // Both locks held: see "Locks" in the module docs.
            drop(state);
            return self.joined(Arc::clone(flight), slot, inline);
        }
        // One look at the value: what a plain get may serve, and what a
        // load starting now may revalidate (R7), stale or not.
        let cached = self.values.peek(&key);
        let freshness = match (&cached, policy.reload) {
            (Some(stored), false) => Some(policy.judge(&stored.arrived)),
            _ => None,
        };
        match (cached, freshness) {
            (Some(stored), Some(Freshness::Fresh)) => {
                self.stats.hit();
                Lookup::Hit(stored.value)
            }
            (Some(stored), Some(Freshness::Stale)) => {
                self.stats.hit();
                let value = Arc::clone(&stored.value);
                // One refresh at a time: a load in flight is one.
                if joinable.is_none()
                    && let Ok(runtime) = Handle::try_current()
                    && let Ok(waiter) = self.start(state, key, stored.revalidate(), true, load)
                {
                    runtime.spawn(async move {
                        // Its outcome is in the cache; its errors, in the
                        // stats.
                        let _ = waiter.await;
                    });
                }
                Lookup::Stale(value)
            }
            (cached, _) => {
                if let Some(flight) = joinable {
                    // Both locks held: see "Locks" in the module docs.
                    if let Some((slot, inline)) = flight.join(waker) {
                        drop(state);
                        return self.joined(flight, slot, inline);
                    }
                }
                let revalidate = cached.and_then(Stored::revalidate);
                self.stats.missed();
                match self.start(state, key, revalidate, false, load) {
                    Ok(waiter) => Lookup::Wait(waiter, false),
                    Err(error) => Lookup::Fail(error),
                }
            }
        }
    }

    /// A get joined `flight` in `slot` (with the cache lock, now released):
    /// its waiter. `inline` is the load its first caller was to run, which
    /// now moves to a task of its own.
    fn joined(self: &Arc<Self>, flight: Arc<Flight>, slot: Slot, inline: Option<Load>) -> Lookup {
        self.stats.joined();
        if let Some(load) = inline {
            flight.spawn(load);
        }
        Lookup::Wait(Waiter::new(flight, slot), true)
    }

    /// Starts a load of `key` and returns its first waiter. Takes the cache
    /// lock, and releases it before the load is built.
    fn start(
        self: &Arc<Self>,
        mut state: MutexGuard<'_, State>,
        key: KeyRef<'_>,
        revalidate: Option<Revalidate>,
        refresh: bool,
        load: impl FnOnce(&Key, Option<Revalidate>, bool) -> Load,
    ) -> Result<Waiter, Error> {
        let Ok(runtime) = Handle::try_current() else {
            return Err(Error::no_runtime());
        };
        let start = state.next_number();
        let flight = Arc::new(Flight::new(Arc::clone(self), key.to_key(), start, runtime));
        state.started(&flight);
        drop(state);

        // The waiter exists before the load is built, so that a panic while
        // building it still ends the flight.
        let waiter = Waiter::new(flight, FIRST_SLOT);
        let flight = waiter.flight();
        let load = match catch_unwind(AssertUnwindSafe(|| load(&flight.key, revalidate, refresh))) {
            Ok(load) => load,
            Err(panic) => {
                self.finish(flight, Err(Error::panicked()), Some(FIRST_SLOT));
                drop(waiter);
                resume_unwind(panic);
            }
        };
        // The first caller runs the load itself, unless someone joined
        // while it was being built.
        if let Some(load) = flight.built(load) {
            flight.spawn(load);
        }
        Ok(waiter)
    }

    /// A load finished: stores its value (and validators) if it is the
    /// newest, and works out what its waiters get (a newer cached value
    /// wins: ARCHITECTURE.md, C5).
    fn complete(&self, flight: &Arc<Flight>, result: Result<Loaded, Error>) -> Outcome {
        let (loaded, result) = match result {
            Ok(loaded) => {
                let value = Arc::clone(&loaded.value);
                (Some(loaded), Ok(value))
            }
            Err(error) => {
                Stats::count(&self.stats.errors);
                (None, Err(error))
            }
        };
        let mut state = lock(&self.state);
        let ended = state.ended(&self.values, flight, loaded);
        if ended.stored {
            self.stores.fetch_add(1, Ordering::Release);
        }
        let stores = self.stores.load(Ordering::Acquire);
        drop(state);
        self.collect(ended.garbage);
        match ended.newer {
            Some((number, value)) => Outcome {
                result: Ok(value),
                number,
                stores,
            },
            None => Outcome {
                result,
                number: flight.start,
                stores,
            },
        }
    }

    /// Every waiter of a load is gone before it finished: the key forgets it.
    fn abandon(&self, flight: &Arc<Flight>) {
        let mut state = lock(&self.state);
        let garbage = state.abandoned(flight);
        drop(state);
        self.collect(garbage);
    }

    /// Ends a load: unless its waiters all left first, stores its result,
    /// hands the outcome to every waiter and wakes them. Runs once per load.
    /// `caller` is the waiter that ran the load inline, if one did: it needs
    /// no wake-up.
    fn finish(&self, flight: &Arc<Flight>, result: Result<Loaded, Error>, caller: Option<Slot>) {
        if !flight.claim_end() {
            return;
        }
        let outcome = self.complete(flight, result);
        let wakers = flight.set_outcome(outcome, caller);
        for waker in wakers {
            waker.wake();
        }
    }

    /// The value a waiter of `flight` resolves with: its outcome, unless a
    /// value newer than its request has been cached since (ARCHITECTURE.md,
    /// C5).
    fn resolve(&self, flight: &Flight, outcome: Outcome) -> Result<Value, Error> {
        if self.stores.load(Ordering::Acquire) == outcome.stores {
            return outcome.result;
        }
        let newer = self
            .values
            .peek(&flight.key.borrowed())
            .filter(|stored| stored.number > flight.start.max(outcome.number));
        match newer {
            Some(stored) => Ok(stored.value),
            None => outcome.result,
        }
    }

    /// How many keys have a value or a load in flight.
    #[cfg(test)]
    fn entry_count(&self) -> usize {
        let state = lock(&self.state);
        let loading = state
            .in_flight()
            .filter(|key| !self.values.contains_key(&key.borrowed()))
            .count();
        self.values.len() + loading
    }
}

/// Locks, ignoring poison: no code path panics while holding these locks,
/// and a poisoned lock must not turn into a panic of every later caller.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
