//! The shared-future cache. It knows nothing of HTTP: it stores values under
//! keys, and runs each *load* (a future that produces a value) for every
//! caller that shares it.
//!
//! # Numbers
//!
//! Every load started takes the next number of one counter (its *start
//! number*); so do a stored write (a save), an eviction and an invalidation,
//! when they happen. A value is stored only if its number is above the cached
//! value's and above the key's last eviction or invalidation (its *floor*), so
//! the cache only moves forward whatever order loads finish in.
//!
//! # Sharing a load without `futures::future::Shared`'s traps
//!
//! A load is a [`Flight`]: the boxed future, the callers waiting on it
//! ([`Waiter`]s) and, once it is done, its outcome. Exactly one waiter, the
//! *driver*, polls the load, with its own waker; the others only park their
//! wakers and are woken once, when the outcome is set. So a wake-up of the
//! load wakes one task, not every caller. When the driver is dropped, one
//! parked waiter is woken to take over, so a dropped caller never strands the
//! others; when every waiter is gone, the load is dropped (cancelled) and the
//! key forgets it, so the next fetch sends a new request. A panic while
//! polling the load is caught: the other waiters get an error instead of
//! hanging, the cache is left consistent, and the panic goes on in the
//! driver's task. The load is polled outside every lock; locks are held only
//! for map and list updates.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::Error;

/// A cached value, type-erased; the key's type id says what it is.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// The future that produces a value for a key.
pub(crate) type Load = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>;

/// Whether a key names one member or a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Member,
    Collection,
}

/// What a cache entry is for: (model type, kind, resource path).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    type_id: TypeId,
    kind: Kind,
    path: String,
}

impl Key {
    pub(crate) fn new(type_id: TypeId, kind: Kind, path: String) -> Self {
        Key {
            type_id,
            kind,
            path,
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

/// The cache of one client (and of all its clones).
#[derive(Default)]
pub(crate) struct Cache {
    state: Mutex<State>,
    /// How many values have been stored so far: a waiter whose outcome was
    /// computed at the same count cannot have missed a newer value.
    stores: AtomicU64,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Cache")
            .field("entries", &state.entries.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    counter: u64,
    entries: HashMap<Key, Entry>,
    /// The last invalidation of each type's collections.
    collection_floors: HashMap<TypeId, u64>,
}

impl State {
    fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// The floor that a key's type puts under it: the last invalidation of
    /// the type's collections, for a collection key.
    fn type_floor(&self, key: &Key) -> u64 {
        match key.kind {
            Kind::Member => 0,
            Kind::Collection => self
                .collection_floors
                .get(&key.type_id)
                .copied()
                .unwrap_or(0),
        }
    }

    /// The entry's value if it is still valid (above its floor).
    fn valid(&self, key: &Key, entry: &Entry) -> Option<(u64, Value)> {
        entry.valid(self.type_floor(key))
    }

    /// Drops an entry that holds neither a value nor a load in flight: any
    /// load started from now on takes a number above its floor anyway.
    fn tidy(&mut self, key: &Key) {
        if let Some(entry) = self.entries.get(key) {
            if entry.flights == 0 && self.valid(key, entry).is_none() {
                self.entries.remove(key);
            }
        }
    }
}

#[derive(Default)]
struct Entry {
    value: Option<(u64, Value)>,
    floor: u64,
    /// The newest load in flight, which plain fetches join.
    newest: Option<Arc<Flight>>,
    /// How many loads are in flight for this key (the newest and older ones).
    flights: usize,
}

impl Entry {
    fn floor(&self, type_floor: u64) -> u64 {
        self.floor.max(type_floor)
    }

    fn valid(&self, type_floor: u64) -> Option<(u64, Value)> {
        match &self.value {
            Some((number, value)) if *number > self.floor(type_floor) => {
                Some((*number, Arc::clone(value)))
            }
            _ => None,
        }
    }
}

/// The answer of [`Cache::get`].
pub(crate) enum Lookup<'c> {
    /// The cached value.
    Hit(Value),
    /// A load to wait for, shared or new.
    Wait(Waiter<'c>),
}

impl Cache {
    /// Looks `key` up. A plain get returns the cached value, or joins the
    /// newest load in flight, or starts `load(&key)`; a reload always starts
    /// `load(&key)`. `load` only builds the future: it is called under the lock.
    pub(crate) fn get<'c>(
        &'c self,
        key: Key,
        reload: bool,
        load: impl FnOnce(&Key) -> Load,
    ) -> Lookup<'c> {
        let mut state = lock(&self.state);
        if !reload {
            if let Some(entry) = state.entries.get(&key) {
                if let Some((_, value)) = state.valid(&key, entry) {
                    return Lookup::Hit(value);
                }
                if let Some(flight) = &entry.newest {
                    if let Some(slot) = flight.join() {
                        let flight = Arc::clone(flight);
                        drop(state);
                        return Lookup::Wait(Waiter::new(self, flight, slot));
                    }
                }
            }
        }
        let start = state.next_number();
        let flight = Arc::new(Flight::new(key.clone(), start, load(&key)));
        let entry = state.entries.entry(key).or_default();
        entry.newest = Some(Arc::clone(&flight));
        entry.flights += 1;
        drop(state);
        Lookup::Wait(Waiter::new(self, flight, FIRST_SLOT))
    }

    /// Records a successful write of a member: `member`, if given, becomes
    /// the newest value of its key, and every collection of the type is
    /// invalidated.
    pub(crate) fn saved(&self, type_id: TypeId, member: Option<(Key, Value)>) {
        let mut state = lock(&self.state);
        let number = state.next_number();
        if let Some((key, value)) = member {
            state.entries.entry(key).or_default().value = Some((number, value));
            self.stores.fetch_add(1, Ordering::Release);
        }
        state.collection_floors.insert(type_id, number);
    }

    /// Records a successful delete: the member is evicted (no load that
    /// started before now will be cached for it) and every collection of the
    /// type is invalidated.
    pub(crate) fn destroyed(&self, key: &Key) {
        let mut state = lock(&self.state);
        let number = state.next_number();
        state.collection_floors.insert(key.type_id, number);
        if let Some(entry) = state.entries.get_mut(key) {
            entry.value = None;
            entry.floor = number;
            state.tidy(key);
        }
    }

    /// A load finished: stores its value if it is the newest, and works out
    /// what its waiters get (a newer cached value wins, C5).
    fn complete(&self, flight: &Arc<Flight>, result: Result<Value, Error>) -> Outcome {
        let mut state = lock(&self.state);
        let key = &flight.key;
        let stores = &self.stores;
        let type_floor = state.type_floor(key);
        let newer = match state.entries.get_mut(key) {
            Some(entry) => {
                let current = entry.valid(type_floor);
                let store = result.is_ok()
                    && flight.start > entry.floor(type_floor)
                    && current
                        .as_ref()
                        .is_none_or(|(number, _)| flight.start > *number);
                entry.flights -= 1;
                if entry
                    .newest
                    .as_ref()
                    .is_some_and(|n| Arc::ptr_eq(n, flight))
                {
                    entry.newest = None;
                }
                match &result {
                    Ok(value) if store => {
                        entry.value = Some((flight.start, Arc::clone(value)));
                        stores.fetch_add(1, Ordering::Release);
                        None
                    }
                    _ => current.filter(|(number, _)| *number > flight.start),
                }
            }
            // Unreachable: a key keeps its entry while a load is in flight.
            None => None,
        };
        state.tidy(key);
        let stores_now = stores.load(Ordering::Acquire);
        drop(state);
        match newer {
            Some((number, value)) => Outcome {
                result: Ok(value),
                number,
                stores: stores_now,
            },
            None => Outcome {
                result,
                number: flight.start,
                stores: stores_now,
            },
        }
    }

    /// Every waiter of a load is gone before it finished: the key forgets it.
    fn abandon(&self, flight: &Arc<Flight>) {
        let mut state = lock(&self.state);
        if let Some(entry) = state.entries.get_mut(&flight.key) {
            entry.flights -= 1;
            if entry
                .newest
                .as_ref()
                .is_some_and(|n| Arc::ptr_eq(n, flight))
            {
                entry.newest = None;
            }
            state.tidy(&flight.key);
        }
    }

    /// The value a waiter of `flight` resolves with: its outcome, unless a
    /// value newer than its request has been cached since (C5).
    fn resolve(&self, flight: &Flight, outcome: Outcome) -> Result<Value, Error> {
        if self.stores.load(Ordering::Acquire) == outcome.stores {
            return outcome.result;
        }
        let state = lock(&self.state);
        let newer = state
            .entries
            .get(&flight.key)
            .and_then(|entry| state.valid(&flight.key, entry))
            .filter(|(number, _)| *number > flight.start.max(outcome.number));
        match newer {
            Some((_, value)) => Ok(value),
            None => outcome.result,
        }
    }

    #[cfg(test)]
    fn entry_count(&self) -> usize {
        lock(&self.state).entries.len()
    }
}

/// What the waiters of a finished load get.
#[derive(Clone)]
struct Outcome {
    result: Result<Value, Error>,
    /// The number of the value in `result`: the load's own, or a newer one.
    number: u64,
    /// [`Cache::stores`] when the outcome was worked out.
    stores: u64,
}

const FIRST_SLOT: usize = 0;

/// One load in flight, shared by its waiters.
struct Flight {
    key: Key,
    start: u64,
    state: Mutex<FlightState>,
}

struct FlightState {
    /// The load; `None` while the driver polls it, and once it is done or
    /// cancelled.
    load: Option<Load>,
    /// Whether the driver is polling the load right now.
    polling: bool,
    /// The slot of the waiter whose waker the load holds.
    driver: Option<usize>,
    outcome: Option<Outcome>,
    cancelled: bool,
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
}

enum Slot {
    Free,
    Waiting(Option<Waker>),
}

impl Flight {
    fn new(key: Key, start: u64, load: Load) -> Self {
        Flight {
            key,
            start,
            state: Mutex::new(FlightState {
                load: Some(load),
                polling: false,
                driver: None,
                outcome: None,
                cancelled: false,
                slots: vec![Slot::Waiting(None)],
                free: Vec::new(),
                live: 1,
            }),
        }
    }

    /// Registers one more waiter, unless the load is already over.
    fn join(&self) -> Option<usize> {
        let mut state = lock(&self.state);
        if state.cancelled || state.outcome.is_some() {
            return None;
        }
        state.live += 1;
        Some(match state.free.pop() {
            Some(slot) => {
                state.slots[slot] = Slot::Waiting(None);
                slot
            }
            None => {
                state.slots.push(Slot::Waiting(None));
                state.slots.len() - 1
            }
        })
    }
}

impl FlightState {
    fn release(&mut self, slot: usize) {
        self.slots[slot] = Slot::Free;
        self.free.push(slot);
        self.live -= 1;
        if self.driver == Some(slot) {
            self.driver = None;
        }
    }

    fn park(&mut self, slot: usize, waker: &Waker) {
        match &mut self.slots[slot] {
            Slot::Waiting(Some(parked)) if parked.will_wake(waker) => {}
            parked => *parked = Slot::Waiting(Some(waker.clone())),
        }
    }

    /// Sets the outcome and takes every parked waker, to wake once unlocked.
    fn finish(&mut self, outcome: Outcome) -> Vec<Waker> {
        self.outcome = Some(outcome);
        self.polling = false;
        self.driver = None;
        self.slots
            .iter_mut()
            .filter_map(|slot| match slot {
                Slot::Waiting(waker) => waker.take(),
                Slot::Free => None,
            })
            .collect()
    }

    /// With no driver, wakes one parked waiter so that it polls the load.
    fn hand_over(&mut self) -> Option<Waker> {
        if self.driver.is_some() || self.polling || self.outcome.is_some() {
            return None;
        }
        self.slots.iter_mut().find_map(|slot| match slot {
            Slot::Waiting(waker) => waker.take(),
            Slot::Free => None,
        })
    }
}

/// One caller's wait for a load: a future of the load's value.
pub(crate) struct Waiter<'c> {
    cache: &'c Cache,
    flight: Arc<Flight>,
    slot: usize,
    done: bool,
}

impl<'c> Waiter<'c> {
    fn new(cache: &'c Cache, flight: Arc<Flight>, slot: usize) -> Self {
        Waiter {
            cache,
            flight,
            slot,
            done: false,
        }
    }

    /// Polls the load as its driver; called with the flight unlocked.
    fn drive(&mut self, mut load: Load, cx: &mut Context<'_>) -> Poll<Result<Value, Error>> {
        let polled = catch_unwind(AssertUnwindSafe(|| load.as_mut().poll(cx)));
        let result = match polled {
            Ok(Poll::Pending) => {
                let mut state = lock(&self.flight.state);
                state.load = Some(load);
                state.polling = false;
                return Poll::Pending;
            }
            Ok(Poll::Ready(result)) => result,
            Err(panic) => {
                drop(load);
                self.finish(Err(Error::panicked()));
                resume_unwind(panic);
            }
        };
        drop(load);
        let outcome = self.finish(result);
        Poll::Ready(self.cache.resolve(&self.flight, outcome))
    }

    /// Stores the load's result, hands the outcome to every waiter and wakes
    /// them; returns this waiter's own copy.
    fn finish(&mut self, result: Result<Value, Error>) -> Outcome {
        let outcome = self.cache.complete(&self.flight, result);
        let wakers = {
            let mut state = lock(&self.flight.state);
            state.release(self.slot);
            state.finish(outcome.clone())
        };
        self.done = true;
        for waker in wakers {
            waker.wake();
        }
        outcome
    }
}

impl Future for Waiter<'_> {
    type Output = Result<Value, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(Err(Error::internal("a fetch was polled after it resolved")));
        }
        let mut state = lock(&this.flight.state);
        if let Some(outcome) = state.outcome.clone() {
            state.release(this.slot);
            drop(state);
            this.done = true;
            return Poll::Ready(this.cache.resolve(&this.flight, outcome));
        }
        let may_drive = !state.polling && state.driver.is_none_or(|d| d == this.slot);
        if may_drive {
            if let Some(load) = state.load.take() {
                state.polling = true;
                state.driver = Some(this.slot);
                if let Slot::Waiting(parked) = &mut state.slots[this.slot] {
                    *parked = None;
                }
                drop(state);
                return this.drive(load, cx);
            }
        }
        state.park(this.slot, cx.waker());
        Poll::Pending
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = lock(&self.flight.state);
        state.release(self.slot);
        if state.outcome.is_some() {
            return;
        }
        if state.live > 0 {
            let next = state.hand_over();
            drop(state);
            if let Some(waker) = next {
                waker.wake();
            }
            return;
        }
        state.cancelled = true;
        let load = state.load.take();
        drop(state);
        // Dropping the load cancels its request, outside every lock.
        drop(load);
        self.cache.abandon(&self.flight);
    }
}

/// Locks, ignoring poison: no code path panics while holding these locks,
/// and a poisoned lock must not turn into a panic of every later caller.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::future::{pending, ready};
    use std::pin::pin;

    use super::*;

    fn key(path: &str) -> Key {
        Key::new(TypeId::of::<u32>(), Kind::Member, path.to_owned())
    }

    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn waiter(lookup: Lookup<'_>) -> Waiter<'_> {
        match lookup {
            Lookup::Wait(waiter) => waiter,
            Lookup::Hit(_) => panic!("expected a load"),
        }
    }

    #[test]
    fn an_abandoned_load_leaves_no_entry_behind() {
        let cache = Cache::default();
        let mut first = Box::pin(waiter(cache.get(key("/a"), false, |_| Box::pin(pending()))));
        assert!(poll_once(first.as_mut()).is_pending());
        let mut second = Box::pin(waiter(cache.get(key("/a"), false, |_| {
            panic!("a plain get joins the load in flight")
        })));
        assert!(poll_once(second.as_mut()).is_pending());
        assert_eq!(cache.entry_count(), 1);
        drop(first);
        assert_eq!(cache.entry_count(), 1, "the second waiter still needs it");
        drop(second);
        assert_eq!(cache.entry_count(), 0);
    }

    #[test]
    fn a_failed_load_leaves_no_entry_and_a_success_stays() {
        let cache = Cache::default();
        let fail = waiter(cache.get(key("/a"), false, |_| {
            Box::pin(ready(Err(Error::internal("test"))))
        }));
        assert!(matches!(poll_once(pin!(fail)), Poll::Ready(Err(_))));
        assert_eq!(cache.entry_count(), 0);

        let value: Value = Arc::new(5_u32);
        let load = waiter(cache.get(key("/a"), false, |_| Box::pin(ready(Ok(value)))));
        assert!(matches!(poll_once(pin!(load)), Poll::Ready(Ok(_))));
        assert!(matches!(
            cache.get(key("/a"), false, |_| panic!("cached")),
            Lookup::Hit(_)
        ));
    }

    #[test]
    fn destroying_a_key_with_nothing_in_flight_removes_its_entry() {
        let cache = Cache::default();
        cache.saved(TypeId::of::<u32>(), Some((key("/a"), Arc::new(1_u32))));
        assert_eq!(cache.entry_count(), 1);
        cache.destroyed(&key("/a"));
        assert_eq!(cache.entry_count(), 0);
    }

    #[test]
    fn numbers_only_move_forward() {
        let cache = Cache::default();
        let mut old = pin!(waiter(cache.get(key("/a"), false, |_| Box::pin(pending()))));
        assert!(poll_once(old.as_mut()).is_pending());
        let new: Value = Arc::new(2_u32);
        let reload = waiter(cache.get(key("/a"), true, |_| Box::pin(ready(Ok(new)))));
        let Poll::Ready(Ok(got)) = poll_once(pin!(reload)) else {
            panic!("the reload resolves at once");
        };
        assert_eq!(got.downcast_ref::<u32>(), Some(&2));
        // The old load is still pending; the key serves the newer value.
        let Lookup::Hit(hit) = cache.get(key("/a"), false, |_| panic!("cached")) else {
            panic!("expected a hit");
        };
        assert_eq!(hit.downcast_ref::<u32>(), Some(&2));
    }
}
