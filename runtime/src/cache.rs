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
//! A load is a [`Flight`]: the callers waiting on it ([`Waiter`]s) and, once
//! it is done, its outcome. While its first caller is its only caller, that
//! caller runs it inline, as a plain `await` would: a lone fetch costs no
//! task. As soon as a second caller joins (or the first is dropped while
//! others wait), the load moves to a task of its own, so that:
//!
//! - a wake-up of the load wakes that one task, never the callers; they park
//!   their wakers and are woken once, when the outcome is set;
//! - no caller drives it, so a caller that is dropped, or that holds its
//!   future without polling it, cannot stall the others;
//! - a panic in the load is caught: every caller gets an error instead of
//!   hanging, the cache stays consistent, and the panic is re-raised in the
//!   task that ran the load.
//!
//! When every waiter is gone before the load is done, it is dropped (its
//! task aborted) and the key forgets it, so the next fetch sends a new
//! request. The load
//! runs outside every lock; locks are held only for map and list updates,
//! and values they replace are dropped after unlocking.

use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use foldhash::fast::RandomState;
use futures_util::FutureExt;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

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
    // foldhash, not SipHash: hashing a key was a third of a cache hit.
    /// Keys are shared with the flights that load them.
    entries: HashMap<Arc<Key>, Entry, RandomState>,
    /// The last invalidation of each type's collections.
    collection_floors: HashMap<TypeId, u64, RandomState>,
    /// The collection keys of each type that have an entry, so that an
    /// invalidation can drop their values at once.
    collection_keys: HashMap<TypeId, HashSet<Arc<Key>, RandomState>, RandomState>,
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

    /// Removes an entry that holds neither a valid value nor a load in
    /// flight: any load started from now on takes a number above its floor
    /// anyway. Returns it, to be dropped once unlocked.
    #[must_use = "drop what is removed after unlocking"]
    fn tidy(&mut self, key: &Key) -> Option<Entry> {
        let entry = self.entries.get(key)?;
        if entry.flights > 0 || self.valid(key, entry).is_some() {
            return None;
        }
        if key.kind == Kind::Collection {
            if let Some(keys) = self.collection_keys.get_mut(&key.type_id) {
                keys.remove(key);
            }
        }
        self.entries.remove(key)
    }

    /// Invalidates every collection of a type: raises its floor, takes the
    /// values cached for them and removes the entries no load needs, into
    /// `garbage`, to be dropped once unlocked.
    fn invalidate_collections(&mut self, type_id: TypeId, number: u64, garbage: &mut Vec<Entry>) {
        self.collection_floors.insert(type_id, number);
        let State {
            entries,
            collection_keys,
            ..
        } = self;
        let Some(keys) = collection_keys.get_mut(&type_id) else {
            return;
        };
        keys.retain(|key| {
            let Some(entry) = entries.get_mut(key) else {
                return false;
            };
            if entry.flights > 0 {
                garbage.push(Entry {
                    value: entry.value.take(),
                    ..Entry::default()
                });
                return true;
            }
            garbage.extend(entries.remove(key));
            false
        });
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
pub(crate) enum Lookup {
    /// The cached value.
    Hit(Value),
    /// A load to wait for, shared or new.
    Wait(Waiter),
    /// A load was needed but cannot run: no Tokio runtime.
    Fail(Error),
}

impl Cache {
    /// Looks `key` up. A plain get returns the cached value, or joins the
    /// newest load in flight that started after the key's last write, or
    /// starts `load(&key)` on a task of its own; a reload always starts one.
    pub(crate) fn get(
        self: &Arc<Self>,
        key: Key,
        reload: bool,
        load: impl FnOnce(&Key) -> Load,
    ) -> Lookup {
        let state = lock(&self.state);
        if !reload {
            if let Some(entry) = state.entries.get(&key) {
                if let Some((_, value)) = entry.valid(state.type_floor(&key)) {
                    return Lookup::Hit(value);
                }
            }
        }
        self.join_or_start(state, key, reload, load)
    }

    /// The miss path of [`Cache::get`], kept out of the hit path.
    #[cold]
    #[inline(never)]
    fn join_or_start(
        self: &Arc<Self>,
        mut state: MutexGuard<'_, State>,
        key: Key,
        reload: bool,
        load: impl FnOnce(&Key) -> Load,
    ) -> Lookup {
        if !reload {
            if let Some(entry) = state.entries.get(&key) {
                let type_floor = state.type_floor(&key);
                // A load that started before a save, destroy or invalidation
                // of this key would answer with what the write replaced.
                if let Some(flight) = entry
                    .newest
                    .as_ref()
                    .filter(|flight| flight.start > entry.floor(type_floor))
                {
                    if let Some((slot, inline)) = flight.join() {
                        let flight = Arc::clone(flight);
                        drop(state);
                        if let Some(load) = inline {
                            self.spawn(&flight, load);
                        }
                        return Lookup::Wait(Waiter::new(Arc::clone(self), flight, slot));
                    }
                }
            }
        }
        let Ok(runtime) = Handle::try_current() else {
            return Lookup::Fail(Error::no_runtime());
        };
        let start = state.next_number();
        let key = Arc::new(key);
        let flight = Arc::new(Flight::new(Arc::clone(&key), start, runtime));
        if key.kind == Kind::Collection && !state.entries.contains_key(&key) {
            state
                .collection_keys
                .entry(key.type_id)
                .or_default()
                .insert(Arc::clone(&key));
        }
        let entry = state.entries.entry(key).or_default();
        entry.newest = Some(Arc::clone(&flight));
        entry.flights += 1;
        drop(state);

        // The waiter exists before the load is built, so that a panic while
        // building it still ends the flight.
        let waiter = Waiter::new(Arc::clone(self), flight, FIRST_SLOT);
        let load = match catch_unwind(AssertUnwindSafe(|| load(&waiter.flight.key))) {
            Ok(load) => load,
            Err(panic) => {
                self.finish(&waiter.flight, Err(Error::panicked()), Some(FIRST_SLOT));
                drop(waiter);
                resume_unwind(panic);
            }
        };
        // The first caller runs the load itself, unless someone joined
        // while it was being built.
        let mut state = lock(&waiter.flight.state);
        if state.live > 1 {
            drop(state);
            self.spawn(&waiter.flight, load);
        } else {
            state.inline = Some(load);
            drop(state);
        }
        Lookup::Wait(waiter)
    }

    /// Moves a load to a task of its own, where no caller can stall it: on
    /// the runtime of the caller at hand (one that is running), else on the
    /// first caller's.
    fn spawn(self: &Arc<Self>, flight: &Arc<Flight>, load: Load) {
        let unfinished = Unfinished {
            cache: Arc::clone(self),
            flight: Arc::clone(flight),
            armed: true,
        };
        let runtime = Handle::try_current().unwrap_or_else(|_| flight.runtime.clone());
        let task = runtime.spawn(run(unfinished, load));
        let mut state = lock(&flight.state);
        match state.phase {
            Phase::Running => state.task = Some(task.abort_handle()),
            // Every waiter left while the load was being handed over.
            Phase::Cancelled => {
                drop(state);
                task.abort();
            }
            Phase::Finishing | Phase::Done => {}
        }
    }

    /// Records a successful write of a member: `member`, if given, becomes
    /// the newest value of its key, and every collection of the type is
    /// invalidated.
    pub(crate) fn saved(&self, type_id: TypeId, member: Option<(Key, Value)>) {
        let mut state = lock(&self.state);
        let number = state.next_number();
        let mut garbage = Vec::new();
        state.invalidate_collections(type_id, number, &mut garbage);
        let replaced = member.and_then(|(key, value)| {
            self.stores.fetch_add(1, Ordering::Release);
            match state.entries.get_mut(&key) {
                Some(entry) => entry.value.replace((number, value)),
                None => {
                    let entry = Entry {
                        value: Some((number, value)),
                        ..Entry::default()
                    };
                    state.entries.insert(Arc::new(key), entry);
                    None
                }
            }
        });
        drop(state);
        drop((replaced, garbage));
    }

    /// Records a successful delete: the member is evicted (no load that
    /// started before now will be cached for it, or joined) and every
    /// collection of the type is invalidated.
    pub(crate) fn destroyed(&self, key: &Key) {
        let mut state = lock(&self.state);
        let number = state.next_number();
        let mut garbage = Vec::new();
        state.invalidate_collections(key.type_id, number, &mut garbage);
        let mut evicted = None;
        let mut removed = None;
        if let Some(entry) = state.entries.get_mut(key) {
            evicted = entry.value.take();
            entry.floor = number;
            removed = state.tidy(key);
        }
        drop(state);
        drop((evicted, removed, garbage));
    }

    /// A load finished: stores its value if it is the newest, and works out
    /// what its waiters get (a newer cached value wins, C5).
    fn complete(&self, flight: &Arc<Flight>, result: Result<Value, Error>) -> Outcome {
        let mut state = lock(&self.state);
        let key = &flight.key;
        let type_floor = state.type_floor(key);
        let mut replaced = None;
        let newer = match state.entries.get_mut(key) {
            Some(entry) => {
                let current = entry.valid(type_floor);
                let store = flight.start > entry.floor(type_floor)
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
                        replaced = entry.value.replace((flight.start, Arc::clone(value)));
                        self.stores.fetch_add(1, Ordering::Release);
                        None
                    }
                    _ => current.filter(|(number, _)| *number > flight.start),
                }
            }
            // Unreachable: a key keeps its entry while a load is in flight.
            None => None,
        };
        let removed = state.tidy(key);
        let stores = self.stores.load(Ordering::Acquire);
        drop(state);
        drop((replaced, removed));
        match newer {
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
        let mut removed = None;
        if let Some(entry) = state.entries.get_mut(&flight.key) {
            entry.flights -= 1;
            if entry
                .newest
                .as_ref()
                .is_some_and(|n| Arc::ptr_eq(n, flight))
            {
                entry.newest = None;
            }
            removed = state.tidy(&flight.key);
        }
        drop(state);
        drop(removed);
    }

    /// Ends a load: unless its waiters all left first, stores its result,
    /// hands the outcome to every waiter and wakes them. Runs once per load.
    /// `caller` is the waiter that ran the load inline, if one did: it needs
    /// no wake-up.
    fn finish(&self, flight: &Arc<Flight>, result: Result<Value, Error>, caller: Option<usize>) {
        {
            let mut state = lock(&flight.state);
            if state.phase != Phase::Running {
                return;
            }
            state.phase = Phase::Finishing;
        }
        let outcome = self.complete(flight, result);
        let wakers = lock(&flight.state).finish(outcome, caller);
        for waker in wakers {
            waker.wake();
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
        drop(state);
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

/// Runs a load on its own task and ends its flight, whatever happens.
///
/// `unfinished` is an argument, not a local, so that it is dropped (and
/// ends the flight) even if the task is dropped before its first poll.
async fn run(mut unfinished: Unfinished, load: Load) {
    let result = AssertUnwindSafe(load).catch_unwind().await;
    unfinished.armed = false;
    let (cache, flight) = (&unfinished.cache, &unfinished.flight);
    match result {
        Ok(result) => cache.finish(flight, result, None),
        Err(panic) => {
            cache.finish(flight, Err(Error::panicked()), None);
            resume_unwind(panic);
        }
    }
}

/// Ends a flight whose task is dropped before its load finished (aborted
/// because every waiter left, or stopped with its runtime, perhaps before
/// it ever ran).
struct Unfinished {
    cache: Arc<Cache>,
    flight: Arc<Flight>,
    armed: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if self.armed {
            self.cache
                .finish(&self.flight, Err(Error::interrupted()), None);
        }
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
    key: Arc<Key>,
    start: u64,
    /// Where the load moves when a second caller joins.
    runtime: Handle,
    state: Mutex<FlightState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The load runs; waiters may join.
    Running,
    /// The load is done and its outcome is being stored; waiters may join.
    Finishing,
    /// The outcome is set.
    Done,
    /// Every waiter left first; the task was aborted.
    Cancelled,
}

struct FlightState {
    phase: Phase,
    /// The load, while its only caller runs it inline and is not polling it.
    inline: Option<Load>,
    /// The first caller is polling the inline load right now.
    polling: bool,
    /// A caller joined during that poll: the load moves to a task after it.
    spawn_requested: bool,
    /// The load's task, once it has one.
    task: Option<AbortHandle>,
    outcome: Option<Outcome>,
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
    live: usize,
}

impl Flight {
    fn new(key: Arc<Key>, start: u64, runtime: Handle) -> Self {
        Flight {
            key,
            start,
            runtime,
            state: Mutex::new(FlightState {
                phase: Phase::Running,
                inline: None,
                polling: false,
                spawn_requested: false,
                task: None,
                outcome: None,
                slots: vec![None],
                free: Vec::new(),
                live: 1,
            }),
        }
    }

    /// Registers one more waiter, unless the load is over. With a second
    /// waiter the load must leave its first caller: returns it to spawn, or
    /// asks that caller to spawn it after the poll it is in.
    fn join(&self) -> Option<(usize, Option<Load>)> {
        let mut state = lock(&self.state);
        if !matches!(state.phase, Phase::Running | Phase::Finishing) {
            return None;
        }
        state.live += 1;
        let inline = state.inline.take();
        if state.polling {
            state.spawn_requested = true;
        }
        let slot = match state.free.pop() {
            Some(slot) => slot,
            None => {
                state.slots.push(None);
                state.slots.len() - 1
            }
        };
        Some((slot, inline))
    }
}

impl FlightState {
    fn release(&mut self, slot: usize) {
        self.slots[slot] = None;
        self.free.push(slot);
        self.live -= 1;
    }

    /// Sets the outcome and takes every parked waker but `caller`'s, to wake
    /// once unlocked.
    fn finish(&mut self, outcome: Outcome, caller: Option<usize>) -> Vec<Waker> {
        self.phase = Phase::Done;
        self.outcome = Some(outcome);
        self.task = None;
        if let Some(caller) = caller {
            self.slots[caller] = None;
        }
        self.slots.iter_mut().filter_map(Option::take).collect()
    }

    fn park(&mut self, slot: usize, waker: &Waker) {
        match &mut self.slots[slot] {
            Some(parked) if parked.will_wake(waker) => {}
            parked => *parked = Some(waker.clone()),
        }
    }
}

/// One caller's wait for a load: a future of the load's value.
pub(crate) struct Waiter {
    cache: Arc<Cache>,
    flight: Arc<Flight>,
    slot: usize,
    done: bool,
}

impl Waiter {
    fn new(cache: Arc<Cache>, flight: Arc<Flight>, slot: usize) -> Self {
        Waiter {
            cache,
            flight,
            slot,
            done: false,
        }
    }
}

impl Waiter {
    /// Polls the load inline, as its only caller; called with the flight
    /// unlocked and `polling` set.
    fn run_inline(&mut self, mut load: Load, cx: &mut Context<'_>) -> Poll<Result<Value, Error>> {
        match catch_unwind(AssertUnwindSafe(|| load.as_mut().poll(cx))) {
            Ok(Poll::Pending) => {
                let mut state = lock(&self.flight.state);
                state.polling = false;
                state.park(self.slot, cx.waker());
                if state.spawn_requested || state.live > 1 {
                    drop(state);
                    self.cache.spawn(&self.flight, load);
                } else {
                    state.inline = Some(load);
                }
                Poll::Pending
            }
            // The flight ends before the load is dropped: a load that panics
            // when dropped must not leave other waiters pending.
            Ok(Poll::Ready(result)) => {
                self.cache.finish(&self.flight, result, Some(self.slot));
                let outcome = self.take_outcome();
                drop(load);
                outcome
            }
            Err(panic) => {
                self.cache
                    .finish(&self.flight, Err(Error::panicked()), Some(self.slot));
                self.done = true;
                lock(&self.flight.state).release(self.slot);
                drop(load);
                resume_unwind(panic);
            }
        }
    }

    fn take_outcome(&mut self) -> Poll<Result<Value, Error>> {
        let mut state = lock(&self.flight.state);
        let Some(outcome) = state.outcome.clone() else {
            return Poll::Ready(Err(Error::internal("a finished load has no outcome")));
        };
        state.release(self.slot);
        drop(state);
        self.done = true;
        Poll::Ready(self.cache.resolve(&self.flight, outcome))
    }
}

impl Future for Waiter {
    type Output = Result<Value, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(Err(Error::internal("a fetch was polled after it resolved")));
        }
        let mut state = lock(&this.flight.state);
        if state.outcome.is_some() {
            drop(state);
            return this.take_outcome();
        }
        if let Some(load) = state.inline.take() {
            state.polling = true;
            drop(state);
            return this.run_inline(load, cx);
        }
        state.park(this.slot, cx.waker());
        Poll::Pending
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = lock(&self.flight.state);
        state.release(self.slot);
        if state.phase != Phase::Running {
            return;
        }
        if state.live > 0 {
            // The first caller leaves while others wait: its load moves on.
            let inline = state.inline.take();
            drop(state);
            if let Some(load) = inline {
                self.cache.spawn(&self.flight, load);
            }
            return;
        }
        state.phase = Phase::Cancelled;
        let task = state.task.take();
        let inline = state.inline.take();
        drop(state);
        // Forget the load first, so that the key is consistent whatever
        // dropping the load does.
        self.cache.abandon(&self.flight);
        drop(inline);
        if let Some(task) = task {
            task.abort();
        }
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
    use std::time::Duration;

    use super::*;

    fn key(path: &str) -> Key {
        Key::new(TypeId::of::<u32>(), Kind::Member, path.to_owned())
    }

    fn value(n: u32) -> Value {
        Arc::new(n)
    }

    fn waiter(lookup: Lookup) -> Pin<Box<Waiter>> {
        match lookup {
            Lookup::Wait(waiter) => Box::pin(waiter),
            Lookup::Hit(_) => panic!("expected a load, got a hit"),
            Lookup::Fail(err) => panic!("expected a load: {err}"),
        }
    }

    fn hit(cache: &Arc<Cache>, path: &str) -> Option<u32> {
        match cache.get(key(path), false, |_| panic!("expected a hit")) {
            Lookup::Hit(value) => value.downcast_ref::<u32>().copied(),
            _ => None,
        }
    }

    fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Lets the spawned loads run (a current-thread runtime runs them when
    /// the test task yields).
    async fn settle() {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn an_abandoned_load_leaves_no_entry_behind() {
        let cache = Arc::new(Cache::default());
        let mut first = waiter(cache.get(key("/a"), false, |_| Box::pin(pending())));
        let mut second = waiter(cache.get(key("/a"), false, |_| {
            panic!("a plain get joins the load in flight")
        }));
        assert!(poll_once(first.as_mut()).is_pending());
        assert!(poll_once(second.as_mut()).is_pending());
        assert_eq!(cache.entry_count(), 1);
        drop(first);
        assert_eq!(cache.entry_count(), 1, "the second waiter still needs it");
        drop(second);
        assert_eq!(cache.entry_count(), 0);
        settle().await;
        assert_eq!(
            cache.entry_count(),
            0,
            "the aborted task ends nothing twice"
        );
    }

    #[tokio::test]
    async fn a_failed_load_leaves_no_entry_and_a_success_stays() {
        let cache = Arc::new(Cache::default());
        let fail = waiter(cache.get(key("/a"), false, |_| {
            Box::pin(ready(Err(Error::internal("test"))))
        }));
        assert!(fail.await.is_err());
        assert_eq!(cache.entry_count(), 0);

        let load = waiter(cache.get(key("/a"), false, |_| Box::pin(ready(Ok(value(5))))));
        assert!(load.await.is_ok());
        assert_eq!(hit(&cache, "/a"), Some(5));
    }

    #[tokio::test]
    async fn a_held_but_unpolled_caller_does_not_stall_the_others() {
        let cache = Arc::new(Cache::default());
        let (send, receive) = tokio::sync::oneshot::channel::<()>();
        let mut first = waiter(cache.get(key("/a"), false, |_| {
            Box::pin(async move {
                let _ = receive.await;
                Ok(value(1))
            })
        }));
        assert!(poll_once(first.as_mut()).is_pending());
        let second = waiter(cache.get(key("/a"), false, |_| panic!("joins")));
        let _ = send.send(());
        // `first` is never polled again; `second` still resolves.
        let got = second.await.unwrap();
        assert_eq!(got.downcast_ref::<u32>(), Some(&1));
        drop(first);
    }

    #[tokio::test]
    async fn destroying_a_key_with_nothing_in_flight_removes_its_entry() {
        let cache = Arc::new(Cache::default());
        cache.saved(TypeId::of::<u32>(), Some((key("/a"), value(1))));
        assert_eq!(cache.entry_count(), 1);
        cache.destroyed(&key("/a"));
        assert_eq!(cache.entry_count(), 0);
    }

    #[tokio::test]
    async fn a_get_after_a_write_does_not_join_a_load_from_before_it() {
        let cache = Arc::new(Cache::default());
        let mut old = waiter(cache.get(key("/a"), false, |_| Box::pin(pending())));
        assert!(poll_once(old.as_mut()).is_pending());
        cache.destroyed(&key("/a"));
        let mut started = false;
        let fresh = waiter(cache.get(key("/a"), false, |_| {
            started = true;
            Box::pin(ready(Ok(value(2))))
        }));
        assert!(started, "a new load, not the one from before the destroy");
        assert_eq!(fresh.await.unwrap().downcast_ref::<u32>(), Some(&2));
        drop(old);
    }

    #[tokio::test]
    async fn numbers_only_move_forward() {
        let cache = Arc::new(Cache::default());
        let mut old = waiter(cache.get(key("/a"), false, |_| Box::pin(pending())));
        assert!(poll_once(old.as_mut()).is_pending());
        let reload = waiter(cache.get(key("/a"), true, |_| Box::pin(ready(Ok(value(2))))));
        assert_eq!(reload.await.unwrap().downcast_ref::<u32>(), Some(&2));
        // The old load is still pending; the key serves the newer value.
        assert_eq!(hit(&cache, "/a"), Some(2));
        drop(old);
    }

    #[tokio::test]
    async fn c5_a_waiter_resolving_after_a_newer_write_gets_the_newer_value() {
        let cache = Arc::new(Cache::default());
        let mut early = waiter(cache.get(key("/a"), false, |_| Box::pin(ready(Ok(value(1))))));
        let late = waiter(cache.get(key("/a"), false, |_| panic!("joins")));
        assert!(poll_once(early.as_mut()).is_pending());
        // The load finishes; `late` resolves with its value...
        assert_eq!(late.await.unwrap().downcast_ref::<u32>(), Some(&1));
        // ...then a write stores a newer value before `early` is polled again.
        cache.saved(TypeId::of::<u32>(), Some((key("/a"), value(9))));
        let Poll::Ready(Ok(got)) = poll_once(early.as_mut()) else {
            panic!("the outcome is set");
        };
        assert_eq!(got.downcast_ref::<u32>(), Some(&9));
    }

    #[test]
    fn without_a_tokio_runtime_a_load_is_an_error_not_a_panic() {
        let cache = Arc::new(Cache::default());
        match cache.get(key("/a"), false, |_| Box::pin(pending())) {
            Lookup::Fail(err) => assert!(err.to_string().contains("Tokio"), "{err}"),
            _ => panic!("expected an error"),
        }
        assert_eq!(cache.entry_count(), 0);
    }

    /// A waker that counts its wake-ups.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        (Arc::clone(&count), Waker::from(count))
    }

    #[tokio::test]
    async fn a_caller_joining_while_the_first_builds_its_load_is_woken() {
        let cache = Arc::new(Cache::default());
        let (count, waker) = counting();
        let mut joined = None;
        let first = waiter(cache.get(key("/a"), false, |_| {
            // Another caller joins after the flight is published but before
            // its load is stored, and parks.
            let mut second = waiter(cache.get(key("/a"), false, |_| panic!("joins")));
            assert!(
                second
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            joined = Some(second);
            Box::pin(ready(Ok(value(1))))
        }));
        let mut second = joined.expect("joined while the load was built");
        // `first` is held but never polled: `second` must not depend on it.
        settle().await;
        assert!(
            count.0.load(Ordering::SeqCst) > 0,
            "the parked joiner was woken"
        );
        let Poll::Ready(Ok(got)) = poll_once(second.as_mut()) else {
            panic!("the joiner resolves");
        };
        assert_eq!(got.downcast_ref::<u32>(), Some(&1));
        drop(first);
    }

    #[test]
    fn a_load_whose_task_never_runs_still_ends_its_flight() {
        let cache = Arc::new(Cache::default());
        let gone = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let first = {
            let _enter = gone.enter();
            waiter(cache.get(key("/a"), false, |_| Box::pin(ready(Ok(value(1))))))
        };
        drop(gone);
        // A caller outside any runtime joins: the load moves to a task on
        // the first caller's runtime, which is gone, so the task never runs.
        let second = waiter(cache.get(key("/a"), false, |_| panic!("joins")));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let got = tokio::time::timeout(Duration::from_secs(5), second).await;
            let err = got.expect("the joiner resolves").expect_err("interrupted");
            assert!(err.to_string().contains("stopped"), "{err}");
            // And the key is not stuck on that flight for later callers.
            let third = waiter(cache.get(key("/a"), false, |_| Box::pin(ready(Ok(value(3))))));
            let got = tokio::time::timeout(Duration::from_secs(5), third).await;
            assert_eq!(got.unwrap().unwrap().downcast_ref::<u32>(), Some(&3));
        });
        drop(first);
    }

    #[test]
    fn a_load_is_not_moved_to_a_runtime_nobody_drives() {
        let cache = Arc::new(Cache::default());
        // The first caller's runtime exists but is not being driven (a
        // current-thread runtime between two `block_on` calls).
        let idle = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let _first = {
            let _enter = idle.enter();
            waiter(cache.get(key("/a"), false, |_| Box::pin(ready(Ok(value(1))))))
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let second = waiter(cache.get(key("/a"), false, |_| panic!("joins")));
            let got = tokio::time::timeout(Duration::from_secs(5), second).await;
            assert_eq!(got.unwrap().unwrap().downcast_ref::<u32>(), Some(&1));
        });
    }

    #[tokio::test]
    async fn a_panic_while_building_a_load_does_not_poison_the_key() {
        let cache = Arc::new(Cache::default());
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            cache.get(key("/a"), false, |_| panic!("building the load panics"))
        }));
        assert!(panicked.is_err());
        let next = waiter(cache.get(key("/a"), false, |_| Box::pin(ready(Ok(value(2))))));
        let got = tokio::time::timeout(Duration::from_secs(5), next).await;
        assert_eq!(got.unwrap().unwrap().downcast_ref::<u32>(), Some(&2));
    }

    /// A load that lets a second caller join while it is polled inline, is
    /// ready, and panics when dropped.
    struct JoinThenReady {
        cache: Arc<Cache>,
        joined: Arc<Mutex<Option<Pin<Box<Waiter>>>>>,
    }

    impl Future for JoinThenReady {
        type Output = Result<Value, Error>;

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
            let joiner = waiter(self.cache.get(key("/a"), false, |_| panic!("joins")));
            *lock(&self.joined) = Some(joiner);
            Poll::Ready(Ok(value(1)))
        }
    }

    impl Drop for JoinThenReady {
        fn drop(&mut self) {
            panic!("the load panics when dropped");
        }
    }

    #[tokio::test]
    async fn a_load_that_panics_when_dropped_does_not_hang_a_joiner() {
        let cache = Arc::new(Cache::default());
        let joined = Arc::new(Mutex::new(None));
        let load = JoinThenReady {
            cache: Arc::clone(&cache),
            joined: Arc::clone(&joined),
        };
        let mut first = waiter(cache.get(key("/a"), false, move |_| Box::pin(load)));
        let polled = catch_unwind(AssertUnwindSafe(|| poll_once(first.as_mut())));
        assert!(polled.is_err());
        drop(first);
        let second = lock(&joined).take().expect("joined during the poll");
        let got = tokio::time::timeout(Duration::from_secs(5), second).await;
        assert_eq!(got.unwrap().unwrap().downcast_ref::<u32>(), Some(&1));
    }

    #[test]
    fn when_the_last_two_waiters_leave_together_the_load_is_dropped() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let _enter = runtime.enter();
        let mut orphans = 0;
        for _ in 0..2_000 {
            let cache = Arc::new(Cache::default());
            let token = Arc::new(());
            let held = Arc::clone(&token);
            let mut joined = None;
            // The first caller still holds the load inline while a second
            // (which joined while it was built) waits.
            let first = waiter(cache.get(key("/a"), false, |_| {
                joined = Some(waiter(cache.get(key("/a"), false, |_| panic!("joins"))));
                Box::pin(async move {
                    let _held = held;
                    pending::<Result<Value, Error>>().await
                })
            }));
            let second = joined.expect("joined while the load was built");
            let barrier = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                s.spawn(|| {
                    barrier.wait();
                    drop(first);
                });
                barrier.wait();
                drop(second);
            });
            // Every waiter is gone: the load is dropped, inline or by abort.
            let deadline = std::time::Instant::now() + Duration::from_millis(500);
            while Arc::strong_count(&token) > 1 && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            if Arc::strong_count(&token) > 1 {
                orphans += 1;
            }
            assert_eq!(cache.entry_count(), 0);
        }
        assert_eq!(orphans, 0, "loads left running for nobody");
    }

    #[tokio::test]
    async fn an_invalidated_collection_does_not_keep_its_value() {
        let cache = Arc::new(Cache::default());
        let list = Key::new(TypeId::of::<u32>(), Kind::Collection, "/a".to_owned());
        let big: Value = Arc::new(vec![0_u8; 1 << 20]);
        let held = Arc::clone(&big);
        let load = waiter(cache.get(list, false, move |_| Box::pin(ready(Ok(big)))));
        drop(load.await.unwrap());
        assert_eq!(cache.entry_count(), 1);
        cache.saved(TypeId::of::<u32>(), None); // invalidates every u32 collection
        assert_eq!(Arc::strong_count(&held), 1, "the value is dropped");
        assert_eq!(cache.entry_count(), 0, "and its entry removed");
    }
}
