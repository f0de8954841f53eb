//! The store: the entries a cache holds, the numbers that keep them moving
//! forward, the floors under them and the collection index.
//!
//! It knows nothing of how a load runs. It answers what is cached
//! ([`State::valid`]) and which load a plain get may join
//! ([`State::joinable`]), and hears of the events that change it: a load
//! [started](State::started), [ended](State::ended) or was
//! [abandoned](State::abandoned), a member was [saved](State::saved),
//! [destroyed](State::destroyed) or [invalidated](State::invalidated). A
//! value's validators live beside it ([`Stored`]), read only when a load
//! starts ([`State::revalidate`]), never on a hit. Capacity will live here.
//!
//! Every method runs under the cache lock. What an update takes out of the
//! map comes back as [`Garbage`], for the caller to drop once unlocked: a
//! value's drop may run anything.

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::flight::Flight;
use super::{Key, Kind, Loaded, Revalidate, Validators, Value};

/// Everything the cache lock guards.
#[derive(Default)]
pub(super) struct State {
    /// The last number taken: by a load's start, a save, a destroy or an
    /// invalidation.
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

#[derive(Default)]
struct Entry {
    value: Option<Stored>,
    /// The key's last eviction or invalidation (destroy, a refused write).
    floor: u64,
    /// The newest load in flight, which plain fetches join.
    newest: Option<Arc<Flight>>,
    /// How many loads are in flight for this key (the newest and older ones).
    flights: usize,
}

/// A cached value, its number, and its validators (R7).
struct Stored {
    number: u64,
    value: Value,
    validators: Option<Arc<Validators>>,
}

impl Stored {
    fn new(number: u64, loaded: &Loaded) -> Self {
        Stored {
            number,
            value: Arc::clone(&loaded.value),
            validators: loaded.validators.clone(),
        }
    }
}

/// What [`State::miss`] finds.
#[derive(Default)]
pub(super) struct Miss {
    pub(super) joinable: Option<Arc<Flight>>,
    pub(super) revalidate: Option<Revalidate>,
}

/// What a store update took out of the map, to be dropped once unlocked.
#[must_use = "drop what is removed after unlocking"]
#[derive(Default)]
pub(super) struct Garbage {
    value: Option<Stored>,
    entry: Option<Entry>,
    collections: Vec<Entry>,
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

    /// How many keys have an entry.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value cached for `key`, if it is still valid (above its floor).
    /// The hit path: one hash lookup (and one more for a collection's
    /// floor).
    #[inline]
    pub(super) fn valid(&self, key: &Key) -> Option<(u64, Value)> {
        let entry = self.entries.get(key)?;
        entry.valid(self.type_floor(key))
    }

    /// What a get that is not a hit finds for `key`, in one lookup: the
    /// newest load in flight, if a plain get may join it (it started after
    /// the key's last write: a load from before a save, destroy or
    /// invalidation would answer with what the write replaced), and the
    /// valid value with its validators, if it has both, which a load
    /// starting now may revalidate (R7).
    pub(super) fn miss(&self, key: &Key, reload: bool) -> Miss {
        let Some(entry) = self.entries.get(key) else {
            return Miss::default();
        };
        let floor = entry.floor(self.type_floor(key));
        let joinable = match &entry.newest {
            Some(flight) if !reload && flight.start > floor => Some(Arc::clone(flight)),
            _ => None,
        };
        let revalidate = entry
            .value
            .as_ref()
            .filter(|stored| stored.number > floor)
            .and_then(|stored| {
                Some(Revalidate {
                    value: Arc::clone(&stored.value),
                    validators: Arc::clone(stored.validators.as_ref()?),
                })
            });
        Miss {
            joinable,
            revalidate,
        }
    }

    /// A load started: it becomes the newest of its key, which keeps an
    /// entry until it ends.
    pub(super) fn started(&mut self, flight: &Arc<Flight>) {
        let key = &flight.key;
        if key.kind == Kind::Collection && !self.entries.contains_key(key) {
            self.collection_keys
                .entry(key.type_id)
                .or_default()
                .insert(Arc::clone(key));
        }
        let entry = self.entries.entry(Arc::clone(key)).or_default();
        entry.newest = Some(Arc::clone(flight));
        entry.flights += 1;
    }

    /// A load ended with `loaded` (`None`: it failed). Its value is stored,
    /// with its validators, if it is the newest (ARCHITECTURE.md, C4); a
    /// newer valid value is returned for its waiters (C5).
    pub(super) fn ended(&mut self, flight: &Arc<Flight>, loaded: Option<&Loaded>) -> Ended {
        let key = &flight.key;
        let type_floor = self.type_floor(key);
        let mut garbage = Garbage::default();
        let mut stored = false;
        let newer = match self.entries.get_mut(key) {
            Some(entry) => {
                let current = entry.valid(type_floor);
                let store = flight.start > entry.floor(type_floor)
                    && current
                        .as_ref()
                        .is_none_or(|(number, _)| flight.start > *number);
                entry.forget(flight);
                match loaded {
                    Some(loaded) if store => {
                        garbage.value = entry.value.replace(Stored::new(flight.start, loaded));
                        stored = true;
                        None
                    }
                    _ => current.filter(|(number, _)| *number > flight.start),
                }
            }
            // Unreachable: a key keeps its entry while a load is in flight.
            None => None,
        };
        garbage.entry = self.tidy(key);
        Ended {
            stored,
            newer,
            garbage,
        }
    }

    /// Every waiter of a load left before it ended: the key forgets it.
    pub(super) fn abandoned(&mut self, flight: &Arc<Flight>) -> Garbage {
        let mut garbage = Garbage::default();
        if let Some(entry) = self.entries.get_mut(&flight.key) {
            entry.forget(flight);
            garbage.entry = self.tidy(&flight.key);
        }
        garbage
    }

    /// A successful write of a member of `type_id`: `member`, if given (a
    /// member key), becomes the newest value of its key, with its
    /// validators, and every collection of the type is invalidated.
    pub(super) fn saved(&mut self, type_id: TypeId, member: Option<(Key, Loaded)>) -> Garbage {
        let number = self.next_number();
        let mut garbage = Garbage::default();
        self.invalidate_collections(type_id, number, &mut garbage.collections);
        if let Some((key, loaded)) = member {
            let stored = Stored {
                number,
                value: loaded.value,
                validators: loaded.validators,
            };
            match self.entries.get_mut(&key) {
                Some(entry) => garbage.value = entry.value.replace(stored),
                None => {
                    let entry = Entry {
                        value: Some(stored),
                        ..Entry::default()
                    };
                    self.entries.insert(Arc::new(key), entry);
                }
            }
        }
        garbage
    }

    /// A successful delete: the member is evicted (its floor rises, so no
    /// load that started before now is cached for it, or joined) and every
    /// collection of the type is invalidated.
    pub(super) fn destroyed(&mut self, key: &Key) -> Garbage {
        let number = self.next_number();
        let mut garbage = Garbage::default();
        self.invalidate_collections(key.type_id, number, &mut garbage.collections);
        self.evict(key, number, &mut garbage);
        garbage
    }

    /// A member is forgotten: as [`State::destroyed`], but the type's
    /// collections are left alone.
    pub(super) fn invalidated(&mut self, key: &Key) -> Garbage {
        let number = self.next_number();
        let mut garbage = Garbage::default();
        self.evict(key, number, &mut garbage);
        garbage
    }

    /// Takes the value of `key` and raises its floor to `number`.
    fn evict(&mut self, key: &Key, number: u64, garbage: &mut Garbage) {
        if let Some(entry) = self.entries.get_mut(key) {
            garbage.value = entry.value.take();
            entry.floor = number;
            garbage.entry = self.tidy(key);
        }
    }

    /// The floor that a key's type puts under it: the last invalidation of
    /// the type's collections, for a collection key.
    #[inline]
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

    /// Removes an entry that holds neither a valid value nor a load in
    /// flight: any load started from now on takes a number above its floor
    /// anyway. Returns it, to be dropped once unlocked.
    #[must_use = "drop what is removed after unlocking"]
    fn tidy(&mut self, key: &Key) -> Option<Entry> {
        let entry = self.entries.get(key)?;
        if entry.flights > 0 || entry.valid(self.type_floor(key)).is_some() {
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

impl Entry {
    #[inline]
    fn floor(&self, type_floor: u64) -> u64 {
        self.floor.max(type_floor)
    }

    /// The value and its number, if it is above the floor: its validators
    /// are not read.
    #[inline]
    fn valid(&self, type_floor: u64) -> Option<(u64, Value)> {
        match &self.value {
            Some(stored) if stored.number > self.floor(type_floor) => {
                Some((stored.number, Arc::clone(&stored.value)))
            }
            _ => None,
        }
    }

    /// A load of this key ended or was abandoned.
    fn forget(&mut self, flight: &Arc<Flight>) {
        self.flights -= 1;
        if self
            .newest
            .as_ref()
            .is_some_and(|newest| Arc::ptr_eq(newest, flight))
        {
            self.newest = None;
        }
    }
}
