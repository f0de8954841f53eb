//! The store: the values a cache holds, bounded and weighed ([`Values`]),
//! and beside them, under the cache lock, the numbers that keep them moving
//! forward, the floors under them, the loads in flight and the collection
//! index ([`State`]).
//!
//! # Two halves
//!
//! [`Values`] is a [`quick_cache`] cache: sharded, each shard behind a
//! read-write lock of its own, its entries weighed (a body's length plus its
//! key, [`weigh`]) and evicted for room by its scan-resistant CLOCK policy.
//! A hit reads it alone (P5: no lock shared by every key). Everything that
//! *changes* it runs under the cache lock, in [`State`]'s methods, so a value
//! is in [`Values`] only if it is valid: every event that raises a floor (a
//! destroy, an invalidation, a write of the type for its collections, a
//! clear) takes the values under it out in the same critical section.
//!
//! [`State`] keeps what only the miss path reads: for each key with a load
//! in flight, an [`Entry`] (its newest load, which plain gets join, how many
//! are in flight and the key's floor); the floors of each type's
//! collections, of each type's members and of the whole cache; and for each
//! type the collection keys that have a value, so that a write drops them at
//! once. A key's entry lives exactly as long as it has loads in flight: a
//! floor matters only to a load that started before it, and any load
//! started later takes a higher number anyway.
//!
//! # Eviction and floors
//!
//! Eviction happens only when a value is inserted, always under the cache
//! lock; what was evicted comes back through [`Evicted`]. A value evicted
//! from a key with a load in flight raises the key's floor to the value's
//! number, so that a load from before the write that stored it can never be
//! cached in its place (C4 floors survive eviction, P2).
//!
//! Every method runs under the cache lock; those of writes, invalidations,
//! priming and clear are in [`writes`]. What an update takes out comes
//! back as [`Garbage`], for the caller to drop once unlocked: a value's drop
//! may run anything.

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use foldhash::fast::RandomState;
use quick_cache::{Lifecycle, OptionsBuilder, Weighter};

use super::clock::Arrival;
use super::flight::Flight;
use super::{Key, KeyRef, Kind, Loaded, Revalidate, Validators, Value};

mod writes;

/// The bounded map of values: what a hit reads.
pub(super) type Values = quick_cache::sync::Cache<Key, Stored, Weigh, RandomState, Evicted>;

/// What an entry weighs beyond its body at most (the pinned bound: a body's
/// length plus 1 KiB).
const MAX_KEY_WEIGHT: usize = 1024;

/// What a key weighs: its path, and the fixed part of an entry (the key,
/// the stored value's fields, the map's slot), about 96 bytes.
const ENTRY_OVERHEAD: usize = 96;

/// The least room a shard of the values has: the heaviest body the cache
/// can hold, with the default `max_cache_bytes` of 64 MiB, is about this.
pub(super) const MIN_SHARD_BYTES: usize = 4 << 20;

/// A new, empty map of values that never weighs more than `max_bytes`.
pub(super) fn values(max_bytes: usize) -> Values {
    // A shard per quarter core keeps threads apart (P5); but a body heavier
    // than about a shard's room is never cached, so a shard keeps at least
    // `MIN_SHARD_BYTES`.
    let parallelism = std::thread::available_parallelism().map_or(4, usize::from);
    let room = (max_bytes / MIN_SHARD_BYTES).max(1);
    let shards = (parallelism * 4).next_power_of_two().min(1 << room.ilog2());
    // quick_cache splits the weight evenly, rounding each shard's share up:
    // a multiple of the shard count keeps the total at most `max_bytes`.
    let max_bytes = max_bytes as u64;
    let weight = max_bytes - max_bytes % shards as u64;
    // The expected number of entries sizes the ghost list (keys evicted
    // lately, which come back hot); small JSON bodies are the common case.
    let items = usize::try_from(max_bytes / 256)
        .unwrap_or(usize::MAX)
        .max(shards * 32);
    let options = OptionsBuilder::new()
        .shards(shards)
        .estimated_items_capacity(items)
        .weight_capacity(weight)
        .build()
        .unwrap_or_else(|_| unreachable!("the options are all set"));
    Values::with_options(options, Weigh, RandomState::default(), Evicted)
}

/// What an entry of `key` holding a body of `bytes` weighs.
pub(super) fn weigh(key: &Key, bytes: usize) -> u64 {
    let key = (key.path().len() + ENTRY_OVERHEAD).min(MAX_KEY_WEIGHT);
    (bytes.saturating_add(key)) as u64
}

/// A cached value, its number, its validators (R7), when it arrived (P1)
/// and what it weighs (P2). Cloned out of the map on a hit.
#[derive(Clone)]
pub(super) struct Stored {
    pub(super) number: u64,
    pub(super) value: Value,
    pub(super) validators: Option<Arc<Validators>>,
    /// When the answer it came in arrived (or the write stored it): its age
    /// runs from here.
    pub(super) arrived: Arrival,
    /// Its weight, fixed when it is stored.
    weight: u64,
    /// Its body's length, kept for a revalidation that ends with it.
    bytes: usize,
}

impl Stored {
    /// What a load may revalidate: this value, if it has validators.
    pub(super) fn revalidate(self) -> Option<Revalidate> {
        Some(Revalidate {
            validators: self.validators?,
            value: self.value,
            bytes: self.bytes,
        })
    }

    fn new(key: &Key, number: u64, loaded: Loaded) -> Self {
        Stored {
            number,
            value: loaded.value,
            validators: loaded.validators,
            arrived: Arrival::ago(loaded.age),
            weight: weigh(key, loaded.bytes),
            bytes: loaded.bytes,
        }
    }
}

/// Weighs a stored value by the weight it was given.
#[derive(Debug, Clone, Copy)]
pub(super) struct Weigh;

impl Weighter<Key, Stored> for Weigh {
    #[inline]
    fn weight(&self, _: &Key, stored: &Stored) -> u64 {
        stored.weight
    }
}

/// Hands what an insert evicted back to the store, which fixes its floors
/// and index and drops it once unlocked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Evicted;

impl Lifecycle<Key, Stored> for Evicted {
    type RequestState = Evictions;

    fn on_evict(&self, evicted: &mut Self::RequestState, key: Key, stored: Stored) {
        evicted.push((key, stored));
    }
}

/// What inserts took out of the map: values evicted for room, and each
/// key's own value that its insert replaced (quick_cache hands those to
/// [`Evicted`] too). The first is kept inline: an insert that replaces one
/// value (every reload, every save of a cached member) is the common case,
/// and three vectors of one item were three allocations of every such
/// store.
#[derive(Default)]
pub(super) struct Evictions {
    first: Option<(Key, Stored)>,
    rest: Vec<(Key, Stored)>,
}

impl Evictions {
    fn push(&mut self, evicted: (Key, Stored)) {
        if self.first.is_none() {
            self.first = Some(evicted);
        } else {
            self.rest.push(evicted);
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn iter(&self) -> impl Iterator<Item = &(Key, Stored)> {
        self.first.iter().chain(&self.rest)
    }
}

/// Everything the cache lock guards besides the values themselves.
#[derive(Default)]
pub(super) struct State {
    /// The last number taken: by a load's start, a write, an invalidation.
    counter: u64,
    /// The keys with loads in flight. (foldhash, not SipHash: hashing a key
    /// was a third of a cache hit.)
    entries: hashbrown::HashMap<Key, Entry, RandomState>,
    /// The last invalidation of each type's collections.
    collection_floors: HashMap<TypeId, u64, RandomState>,
    /// The last invalidation of all of each type's members.
    member_floors: HashMap<TypeId, u64, RandomState>,
    /// The last clear of the whole cache.
    cleared: u64,
    /// The collection keys of each type that have a value, so that a write
    /// of the type can drop them at once.
    collections: HashMap<TypeId, HashSet<Key, RandomState>, RandomState>,
}

/// A key with loads in flight.
#[derive(Default)]
struct Entry {
    /// The key's last destroy or invalidation, or the number of a value
    /// evicted from it, whichever is newest.
    floor: u64,
    /// The newest load in flight, which plain gets join.
    newest: Option<Arc<Flight>>,
    /// How many loads are in flight (the newest and older ones).
    flights: usize,
}

/// What a store update took out, to be dropped once unlocked.
#[must_use = "drop what is removed after unlocking"]
#[derive(Default)]
pub(super) struct Garbage {
    values: Vec<Stored>,
    keys: Vec<Key>,
    /// What inserts took out of the map.
    evicted: Evictions,
    entry: Option<Entry>,
    /// How many values were evicted for room (not replaced by their own
    /// key's insert).
    pub(super) evictions: u64,
}

/// What the end of a load did to the store.
#[must_use = "drop the garbage after unlocking"]
pub(super) struct Ended {
    /// The load's value is now its key's cached value.
    pub(super) stored: bool,
    /// A cached value newer than the load's request, which its waiters get
    /// instead of its result (ARCHITECTURE.md, C5).
    pub(super) newer: Option<(u64, Value)>,
    pub(super) garbage: Garbage,
}

impl State {
    /// Takes the next number of the counter.
    pub(super) fn next_number(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// How many keys have a load in flight.
    #[cfg(test)]
    pub(super) fn in_flight(&self) -> impl Iterator<Item = &Key> {
        self.entries.keys()
    }

    /// The newest load in flight for `key`, if a plain get may join it: it
    /// started after the key's last write (a load from before a save,
    /// destroy or invalidation would answer with what the write replaced).
    pub(super) fn joinable(&self, key: KeyRef<'_>, reload: bool) -> Option<Arc<Flight>> {
        if reload {
            return None;
        }
        let entry = self.entries.get(&key)?;
        let flight = entry.newest.as_ref()?;
        (flight.start > self.floor(key, entry)).then(|| Arc::clone(flight))
    }

    /// A load started: it becomes the newest of its key, which keeps an
    /// entry until its last load ends.
    pub(super) fn started(&mut self, flight: &Arc<Flight>) {
        let entry = self.entries.entry(flight.key.clone()).or_default();
        entry.newest = Some(Arc::clone(flight));
        entry.flights += 1;
    }

    /// A load ended with `loaded` (`None`: it failed). Its value is stored,
    /// with its validators, if it is the newest (ARCHITECTURE.md, C4); a
    /// newer value is returned for its waiters (C5).
    pub(super) fn ended(
        &mut self,
        values: &Values,
        flight: &Arc<Flight>,
        loaded: Option<Loaded>,
    ) -> Ended {
        let key = &flight.key;
        let mut garbage = Garbage::default();
        let current = values
            .peek(&key.borrowed())
            .map(|stored| (stored.number, stored.value));
        let floor = match self.entries.get(&key.borrowed()) {
            Some(entry) => self.floor(key.borrowed(), entry),
            // Unreachable: a key keeps its entry while a load is in flight.
            None => u64::MAX,
        };
        let store = flight.start > floor
            && current
                .as_ref()
                .is_none_or(|(number, _)| flight.start > *number);
        // Before storing, so that what it evicts finds the entry, if others
        // are still in flight.
        self.forget(flight, &mut garbage);
        let (stored, newer) = match loaded {
            Some(loaded) if store => {
                let stored = Stored::new(key, flight.start, loaded);
                self.insert(values, key.clone(), stored, &mut garbage);
                (true, None)
            }
            _ => (false, current.filter(|(number, _)| *number > flight.start)),
        };
        Ended {
            stored,
            newer,
            garbage,
        }
    }

    /// Every waiter of a load left before it ended: the key forgets it.
    pub(super) fn abandoned(&mut self, flight: &Arc<Flight>) -> Garbage {
        let mut garbage = Garbage::default();
        self.forget(flight, &mut garbage);
        garbage
    }

    /// Stores a value (the caller has checked that it is the newest), and
    /// fixes what its insert evicted.
    fn insert(&mut self, values: &Values, key: Key, stored: Stored, garbage: &mut Garbage) {
        let inserted = key.clone();
        let before = garbage.evicted.len();
        values.insert_with_lifecycle(key, stored, &mut garbage.evicted);
        for (key, stored) in garbage.evicted.iter().skip(before) {
            // A value out of the map, for room, must not let a load from
            // before it take its place: nor must the key's own value, if it
            // was too heavy for its shard and refused (the value it
            // replaces, if any, went with it).
            if let Some(entry) = self.entries.get_mut(&key.borrowed()) {
                entry.floor = entry.floor.max(stored.number);
            }
            if *key != inserted {
                garbage.evictions += 1;
                self.unindex(key);
            }
        }
        if inserted.kind == Kind::Collection {
            if values.contains_key(&inserted.borrowed()) {
                let keys = self.collections.entry(inserted.type_id).or_default();
                keys.insert(inserted);
            } else {
                self.unindex(&inserted);
            }
        }
    }

    /// A write at `number` puts a floor under the loads of `key` in flight.
    fn raise_floor(&mut self, key: KeyRef<'_>, number: u64) {
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.floor = entry.floor.max(number);
        }
    }

    /// A collection key has no value any more: its type's index forgets it.
    fn unindex(&mut self, key: &Key) {
        if key.kind == Kind::Collection
            && let Some(keys) = self.collections.get_mut(&key.type_id)
        {
            keys.remove(key);
        }
    }

    /// The floor under `key`, which has `entry`: its own, its type's and the
    /// whole cache's.
    fn floor(&self, key: KeyRef<'_>, entry: &Entry) -> u64 {
        let floors = match key.kind {
            Kind::Member => &self.member_floors,
            Kind::Collection => &self.collection_floors,
        };
        let type_floor = floors.get(&key.type_id).copied().unwrap_or(0);
        entry.floor.max(type_floor).max(self.cleared)
    }

    /// A load of `flight`'s key ended or was abandoned; the key's entry goes
    /// with its last load.
    fn forget(&mut self, flight: &Arc<Flight>, garbage: &mut Garbage) {
        let Some(entry) = self.entries.get_mut(&flight.key.borrowed()) else {
            return;
        };
        entry.flights -= 1;
        if entry
            .newest
            .as_ref()
            .is_some_and(|newest| Arc::ptr_eq(newest, flight))
        {
            entry.newest = None;
        }
        if entry.flights == 0 {
            garbage.entry = self.entries.remove(&flight.key.borrowed());
        }
    }
}
