//! One load in flight, shared by its waiters: who drives it ([`Driver`]),
//! the waiters' wakers, and the outcome they all get.
//!
//! A reader who wants "what happens when two callers miss" reads this file;
//! what the cache stores when the load ends is in the parent module and the
//! store.

use std::future::Future;
use std::mem;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use super::{Cache, Key, Load, Value, lock};
use crate::Error;

/// A waiter's place among its flight's: an index into its slots. A
/// `u32`, so that a fetch's future stays small (see ops/fetch.rs).
pub(super) type Slot = u32;

/// The slot of a flight's first caller, the one that started it.
pub(super) const FIRST_SLOT: Slot = 0;

/// One load in flight, shared by its waiters.
pub(super) struct Flight {
    /// The cache the flight is in: its waiters and its task reach it
    /// through here, so that a waiter holds one `Arc`, not two
    /// (ARCHITECTURE.md, "The fetch's future"). That is a cycle while the
    /// cache holds the flight, as the newest of its key in
    /// `State::entries`, and it ends with the flight: the flight leaves
    /// `entries` when its load ends (`Cache::finish`, `State::ended`, also
    /// when its task is aborted or its runtime stops, through
    /// `Unfinished`) or when its last waiter leaves (`Waiter::drop`,
    /// `Cache::abandon`), and a flight a reload superseded is no longer
    /// held.
    pub(super) cache: Arc<Cache>,
    pub(super) key: Key,
    /// The load's start number.
    pub(super) start: u64,
    /// The first caller's runtime: where the load moves when it must leave
    /// its first caller and the caller at hand is in no runtime.
    runtime: Handle,
    /// The outcome, once the load is done (set with the flight locked, just
    /// before its waiters are woken): a waiter woken by it reads it without
    /// the lock. A flight that is done takes no more joins, and nothing
    /// reads a slot or the count of live waiters any more.
    done: OnceLock<Outcome>,
    state: Mutex<FlightState>,
}

/// Who drives a load, and how far it has got: one variant for every state
/// a flight can be in.
enum Driver {
    /// The first caller is building the load (calling the closure given to
    /// [`Cache::slow_get`]), so nobody can run it yet. Callers may join: if one
    /// has when it is built, it goes straight to a task.
    Building,
    /// Held for its only caller, who polls it inline when it polls its
    /// waiter; nobody is polling it now. A caller that joins takes it to a
    /// task.
    Inline(Load),
    /// Its only caller is polling it inline right now, with the flight
    /// unlocked. `spawn_requested`: a caller joined during this poll, so if
    /// the poll is pending the load moves to a task.
    Polling { spawn_requested: bool },
    /// Taken from its caller and being handed to a task: spawned or about to
    /// be, its abort handle not yet recorded.
    Spawning,
    /// Running on a task of its own, which the handle aborts.
    Task(AbortHandle),
    /// The load is done and its outcome is being worked out and stored;
    /// callers may still join, and get that outcome.
    Finishing,
    /// The outcome every waiter gets; nobody joins any more.
    Done(Outcome),
    /// Every waiter left before the load was done: the load was dropped
    /// where it was (held inline, or on its task, which is aborted) and the
    /// key forgets it; nobody joins any more.
    Cancelled,
}

impl Driver {
    /// The load has not ended, nor been given up.
    fn is_running(&self) -> bool {
        match self {
            Driver::Building
            | Driver::Inline(_)
            | Driver::Polling { .. }
            | Driver::Spawning
            | Driver::Task(_) => true,
            Driver::Finishing | Driver::Done(_) | Driver::Cancelled => false,
        }
    }
}

struct FlightState {
    driver: Driver,
    /// The parked waker of the first caller (slot 0), inline: most loads
    /// have no other caller, and a vector of one slot was an allocation of
    /// every miss.
    first: Option<Waker>,
    /// The parked wakers of the callers that joined, by slot - 1.
    slots: Vec<Option<Waker>>,
    /// Slots of waiters that left, to reuse.
    free: Vec<Slot>,
    /// How many waiters have not left (nor taken the outcome).
    live: usize,
}

/// What the waiters of a finished load get.
#[derive(Clone)]
pub(super) struct Outcome {
    pub(super) result: Result<Value, Error>,
    /// The number of the value in `result`: the load's own, or a newer one.
    pub(super) number: u64,
    /// [`Cache::stores`] when the outcome was worked out.
    pub(super) stores: u64,
}

impl Flight {
    /// A flight whose first caller (in [`FIRST_SLOT`]) is building its load.
    pub(super) fn new(cache: Arc<Cache>, key: Key, start: u64, runtime: Handle) -> Self {
        Flight {
            cache,
            key,
            start,
            runtime,
            done: OnceLock::new(),
            state: Mutex::new(FlightState {
                driver: Driver::Building,
                first: None,
                slots: Vec::new(),
                free: Vec::new(),
                live: 1,
            }),
        }
    }

    /// Registers one more waiter, unless the load is over. With a second
    /// waiter the load must leave its first caller: returns it to spawn, or
    /// asks that caller to spawn it after the poll or build it is in.
    ///
    /// Called with the cache locked (the one place both locks are held), so
    /// that the key's newest flight and its taking waiters are one fact.
    /// The joiner's `waker` is parked in its slot at once: the end of the
    /// load wakes it, and the joiner need not poll its waiter first.
    pub(super) fn join(&self, waker: &Waker) -> Option<(Slot, Option<Load>)> {
        let mut state = lock(&self.state);
        match &mut state.driver {
            Driver::Done(_) | Driver::Cancelled => return None,
            Driver::Polling { .. }
            | Driver::Building
            | Driver::Inline(_)
            | Driver::Spawning
            | Driver::Task(_)
            | Driver::Finishing => {}
        }
        let slot = match state.free.pop() {
            Some(slot) => slot,
            None => {
                // A new slot needs an index, and 4 billion waiters at once
                // cannot fit in memory; failing that, the caller starts a
                // load of its own.
                let Ok(slot) = Slot::try_from(state.slots.len() + 1) else {
                    return None;
                };
                state.slots.push(None);
                slot
            }
        };
        if let Driver::Polling { spawn_requested } = &mut state.driver {
            *spawn_requested = true;
        }
        state.live += 1;
        let inline = state.take_inline(Driver::Spawning);
        state.park(slot, waker);
        Some((slot, inline))
    }

    /// The first caller has built its load: it keeps it to run inline,
    /// unless someone joined meanwhile; then the load is returned, to move
    /// to a task.
    pub(super) fn built(&self, load: Load) -> Option<Load> {
        let mut state = lock(&self.state);
        if state.live > 1 {
            state.driver = Driver::Spawning;
            Some(load)
        } else {
            state.driver = Driver::Inline(load);
            None
        }
    }

    /// Claims the end of the load (it is `Finishing` from now on): true for
    /// whoever ends it first, false once it has ended or every waiter left.
    pub(super) fn claim_end(&self) -> bool {
        let mut state = lock(&self.state);
        if !state.driver.is_running() {
            return false;
        }
        let driver = mem::replace(&mut state.driver, Driver::Finishing);
        drop(state);
        drop(driver);
        true
    }

    /// Sets the outcome and takes every parked waker but `caller`'s, to wake
    /// once unlocked.
    pub(super) fn set_outcome(&self, outcome: Outcome, caller: Option<Slot>) -> Vec<Waker> {
        let mut state = lock(&self.state);
        // Set once: this runs once per flight, from `Cache::finish`.
        let _ = self.done.set(outcome.clone());
        state.driver = Driver::Done(outcome);
        if let Some(caller) = caller {
            *state.slot(caller) = None;
        }
        let FlightState { first, slots, .. } = &mut *state;
        first
            .take()
            .into_iter()
            .chain(slots.iter_mut().filter_map(Option::take))
            .collect()
    }

    /// Moves a load to a task of its own, where no caller can stall it: on
    /// the runtime the caller at hand is in, else on the first caller's.
    /// The flight is `Spawning`, and no lock is held.
    pub(super) fn spawn(self: &Arc<Self>, load: Load) {
        let unfinished = Unfinished {
            flight: Arc::clone(self),
            armed: true,
        };
        let runtime = Handle::try_current().unwrap_or_else(|_| self.runtime.clone());
        let task = runtime.spawn(run(unfinished, load));
        let mut state = lock(&self.state);
        match state.driver {
            Driver::Spawning => state.driver = Driver::Task(task.abort_handle()),
            // Every waiter left while the load was being handed over.
            Driver::Cancelled => {
                drop(state);
                task.abort();
            }
            // The task has already ended the load.
            Driver::Finishing | Driver::Done(_) => {}
            // Not reached: a load is spawned once, from `Spawning`.
            Driver::Building | Driver::Inline(_) | Driver::Polling { .. } | Driver::Task(_) => {}
        }
    }
}

impl FlightState {
    /// Takes the load its only caller holds inline, if it does, and leaves
    /// the flight in `then`.
    /// The waker parked in `slot`, or room for one.
    fn slot(&mut self, slot: Slot) -> &mut Option<Waker> {
        match slot.checked_sub(1) {
            None => &mut self.first,
            Some(joined) => &mut self.slots[joined as usize],
        }
    }

    fn take_inline(&mut self, then: Driver) -> Option<Load> {
        // Looked at before anything moves: every joiner but the first finds
        // no inline load, and swapping the driver out and back (and dropping
        // the placeholder) was a fifth of its join.
        if !matches!(self.driver, Driver::Inline(_)) {
            return None;
        }
        match mem::replace(&mut self.driver, then) {
            Driver::Inline(load) => Some(load),
            other => {
                self.driver = other;
                None
            }
        }
    }

    fn release(&mut self, slot: Slot) {
        *self.slot(slot) = None;
        // A slot is reused only by a caller that joins, and none joins a
        // load that is over.
        if !matches!(self.driver, Driver::Done(_) | Driver::Cancelled) {
            self.free.push(slot);
        }
        self.live -= 1;
    }

    fn park(&mut self, slot: Slot, waker: &Waker) {
        match self.slot(slot) {
            Some(parked) if parked.will_wake(waker) => {}
            parked => *parked = Some(waker.clone()),
        }
    }
}

/// Runs a load on its own task and ends its flight, whatever happens.
///
/// `unfinished` is an argument, not a local, so that it is dropped (and
/// ends the flight) even if the task is dropped before its first poll.
async fn run(mut unfinished: Unfinished, load: Load) {
    let result = AssertUnwindSafe(load).catch_unwind().await;
    unfinished.armed = false;
    let flight = &unfinished.flight;
    let cache = &flight.cache;
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
    flight: Arc<Flight>,
    armed: bool,
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if self.armed {
            self.flight
                .cache
                .finish(&self.flight, Err(Error::interrupted()), None);
        }
    }
}

/// One caller's wait for a load: a future of the load's value.
pub(crate) struct Waiter {
    flight: Arc<Flight>,
    slot: Slot,
    done: bool,
}

impl Waiter {
    pub(super) fn new(flight: Arc<Flight>, slot: Slot) -> Self {
        Waiter {
            flight,
            slot,
            done: false,
        }
    }

    pub(super) fn flight(&self) -> &Arc<Flight> {
        &self.flight
    }

    /// Polls the load inline, as its only caller; called with the flight
    /// unlocked and `Polling`.
    fn run_inline(&mut self, mut load: Load, cx: &mut Context<'_>) -> Poll<Result<Value, Error>> {
        match catch_unwind(AssertUnwindSafe(|| load.as_mut().poll(cx))) {
            Ok(Poll::Pending) => {
                let mut state = lock(&self.flight.state);
                state.park(self.slot, cx.waker());
                let joined = matches!(
                    state.driver,
                    Driver::Polling {
                        spawn_requested: true
                    }
                );
                if joined || state.live > 1 {
                    state.driver = Driver::Spawning;
                    drop(state);
                    self.flight.spawn(load);
                } else {
                    state.driver = Driver::Inline(load);
                }
                Poll::Pending
            }
            // The flight ends before the load is dropped: a load that panics
            // when dropped must not leave other waiters pending.
            Ok(Poll::Ready(result)) => {
                self.flight
                    .cache
                    .finish(&self.flight, result, Some(self.slot));
                let outcome = self.take_outcome();
                drop(load);
                outcome
            }
            Err(panic) => {
                self.flight
                    .cache
                    .finish(&self.flight, Err(Error::panicked()), Some(self.slot));
                self.done = true;
                lock(&self.flight.state).release(self.slot);
                drop(load);
                resume_unwind(panic);
            }
        }
    }

    fn take_outcome(&mut self) -> Poll<Result<Value, Error>> {
        let outcome = outcome_for(lock(&self.flight.state), self.slot);
        self.resolve(outcome)
    }

    fn resolve(&mut self, outcome: Option<Outcome>) -> Poll<Result<Value, Error>> {
        let Some(outcome) = outcome else {
            return Poll::Ready(Err(Error::internal("a finished load has no outcome")));
        };
        self.done = true;
        Poll::Ready(self.flight.cache.resolve(&self.flight, outcome))
    }
}

/// The outcome of a finished load for the waiter in `slot`, which leaves
/// it, with the flight locked by the caller: a poll that finds the outcome
/// locks once.
fn outcome_for(mut state: MutexGuard<'_, FlightState>, slot: Slot) -> Option<Outcome> {
    let Driver::Done(outcome) = &state.driver else {
        return None;
    };
    let outcome = outcome.clone();
    state.release(slot);
    Some(outcome)
}

impl Future for Waiter {
    type Output = Result<Value, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(Err(Error::internal("a fetch was polled after it resolved")));
        }
        // Woken by the end of the load: its outcome, without the lock.
        if let Some(outcome) = this.flight.done.get() {
            return this.resolve(Some(outcome.clone()));
        }
        let mut state = lock(&this.flight.state);
        if let Driver::Done(_) = state.driver {
            let outcome = outcome_for(state, this.slot);
            return this.resolve(outcome);
        }
        if let Some(load) = state.take_inline(Driver::Polling {
            spawn_requested: false,
        }) {
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
        if !state.driver.is_running() {
            return;
        }
        if state.live > 0 {
            // Others still wait, so a joiner has already taken the load from
            // its first caller and this finds none; kept so that a first
            // caller leaving could never strand the others.
            let inline = state.take_inline(Driver::Spawning);
            drop(state);
            if let Some(load) = inline {
                self.flight.spawn(load);
            }
            return;
        }
        let driver = mem::replace(&mut state.driver, Driver::Cancelled);
        drop(state);
        // Forget the load first, so that the key is consistent whatever
        // dropping the load does.
        self.flight.cache.abandon(&self.flight);
        match driver {
            Driver::Task(task) => task.abort(),
            // An inline load is dropped here.
            other => drop(other),
        }
    }
}
