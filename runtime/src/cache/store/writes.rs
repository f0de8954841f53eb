//! What changes the store besides loads, each under the cache lock: a
//! write stores its member and invalidates the type's collections (C9), a
//! destroy or an invalidation takes values out and raises floors (P3, R8),
//! priming stores a value without a request, a clear forgets everything.
//! What each takes out comes back as [`Garbage`].

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::{EntryAction, EntryResult};

use super::{Garbage, State, Stored, Values, weigh};
use crate::cache::clock::Arrival;
use crate::cache::{Key, Kind, Loaded, Validators, Value};

/// What a save that rewrote a cached entry took out of it, to drop once
/// unlocked: the old value (moved out of its allocation, or that allocation
/// itself when someone else still holds it), its validators, and the key
/// the save looked the entry up with (the entry keeps its own).
pub(in crate::cache) struct Replaced<V> {
    _moved: Option<V>,
    _held: Option<Value>,
    _validators: Option<Arc<Validators>>,
    _key: Key,
}

impl State {
    /// A successful write of a member of `type_id` with no value to cache
    /// (a create answered without an id, a write whose answer could not be
    /// read, another process's save): every collection of the type is
    /// invalidated.
    pub(in crate::cache) fn saved(&mut self, values: &Values, type_id: TypeId) -> Garbage {
        let mut garbage = Garbage::default();
        self.wrote(values, type_id, &mut garbage);
        garbage
    }

    /// What every write of a member of `type_id` does first: takes the next
    /// number, and invalidates the type's collections with it.
    fn wrote(&mut self, values: &Values, type_id: TypeId, garbage: &mut Garbage) -> u64 {
        let number = self.next_number();
        self.invalidate_collections(values, type_id, number, garbage);
        number
    }

    /// A successful write of the member `key` of `type_id`, whose answer is
    /// `value`: the type's collections are invalidated ([`State::saved`]),
    /// and `value` becomes the newest of its key, rewriting the key's entry
    /// where it can rather than replacing it. If the key has a
    /// value and `value` weighs no more, the entry is rewritten in place,
    /// under the store's shard write lock (no hit reads it meanwhile): its
    /// key and its place in the eviction order stay, and `value` moves into
    /// the cached value's own allocation when that `Arc` is unique (no
    /// caller, flight or revalidation holds it), or into a new `Arc` when
    /// it is not, so that a value anyone holds never changes. What the
    /// entry held comes back to be dropped unlocked. A key with no value,
    /// and a heavier value (whose insert may have to evict), are inserted
    /// as a load's answer is; the heavier one so counts as two accesses
    /// in the eviction policy, the entry's and the insert's.
    ///
    /// A save of a cached member so keeps no new allocation and frees none
    /// the store kept (ARCHITECTURE.md, "A save writes into the value it
    /// replaces"); its lookup key is allocated and freed, unlocked.
    pub(in crate::cache) fn saved_value<V: Any + Send + Sync>(
        &mut self,
        values: &Values,
        type_id: TypeId,
        key: Key,
        value: V,
        validators: Option<Arc<Validators>>,
        bytes: usize,
    ) -> (Garbage, Option<Replaced<V>>) {
        let mut garbage = Garbage::default();
        let number = self.wrote(values, type_id, &mut garbage);
        self.raise_floor(key.borrowed(), number);
        let weight = weigh(&key, bytes);
        let mut new = Some((value, validators));
        // Membership changes only under the cache lock, held here: a key
        // found now is found by `entry`, which then never makes a
        // placeholder (a vacant key is one extra allocation and lock).
        let rewritten = if values.contains_key(&key.borrowed()) {
            let entry = values.entry(&key, Some(Duration::ZERO), |_, stored| {
                if weight > stored.weight {
                    return EntryAction::Retain(None);
                }
                let Some((value, validators)) = new.take() else {
                    return EntryAction::Retain(None);
                };
                let (moved, held) =
                    match Arc::get_mut(&mut stored.value).and_then(|v| v.downcast_mut::<V>()) {
                        Some(slot) => (Some(std::mem::replace(slot, value)), None),
                        None => {
                            let fresh: Value = Arc::new(value);
                            (None, Some(std::mem::replace(&mut stored.value, fresh)))
                        }
                    };
                let old_validators = std::mem::replace(&mut stored.validators, validators);
                stored.number = number;
                stored.arrived = Arrival::ago(Duration::ZERO);
                stored.weight = weight;
                stored.bytes = bytes;
                EntryAction::Retain(Some((moved, held, old_validators)))
            });
            match entry {
                EntryResult::Retained(rewritten) => rewritten,
                // Not reached (see above); the guard of a vacant key is
                // dropped unfilled before the insert below.
                EntryResult::Vacant(guard) => {
                    drop(guard);
                    None
                }
                EntryResult::Replaced(..) | EntryResult::Removed(..) | EntryResult::Timeout => None,
            }
        } else {
            None
        };
        match (rewritten, new) {
            (Some((moved, held, validators)), _) => {
                let replaced = Replaced {
                    _moved: moved,
                    _held: held,
                    _validators: validators,
                    _key: key,
                };
                (garbage, Some(replaced))
            }
            (None, Some((value, validators))) => {
                let loaded = Loaded {
                    value: Arc::new(value),
                    validators,
                    bytes,
                    age: Duration::ZERO,
                };
                let stored = Stored::new(&key, number, loaded);
                self.insert(values, key, stored, &mut garbage);
                (garbage, None)
            }
            // The value went into the entry, which then reported nothing:
            // not reached, `Retain` hands back what it took out.
            (None, None) => (garbage, None),
        }
    }

    /// A value is cached as the newest of its member key, with no request
    /// and without touching the type's collections.
    pub(in crate::cache) fn primed(
        &mut self,
        values: &Values,
        key: Key,
        loaded: Loaded,
    ) -> Garbage {
        let number = self.next_number();
        let mut garbage = Garbage::default();
        self.raise_floor(key.borrowed(), number);
        let stored = Stored::new(&key, number, loaded);
        self.insert(values, key, stored, &mut garbage);
        garbage
    }

    /// A successful delete: the member is evicted (its floor rises, so no
    /// load that started before now is cached for it, or joined) and every
    /// collection of the type is invalidated.
    pub(in crate::cache) fn destroyed(&mut self, values: &Values, key: &Key) -> Garbage {
        let mut garbage = Garbage::default();
        let number = self.wrote(values, key.type_id, &mut garbage);
        self.evict(values, key, number, &mut garbage);
        garbage
    }

    /// A member is forgotten: as [`State::destroyed`], but of the type's
    /// collections only the member's views (the member with a query, E1,
    /// keyed as collections) go with it.
    pub(in crate::cache) fn invalidated(&mut self, values: &Values, key: &Key) -> Garbage {
        let number = self.next_number();
        let mut garbage = Garbage::default();
        self.evict(values, key, number, &mut garbage);
        self.evict_views(values, key, number, &mut garbage);
        garbage
    }

    /// Takes the values of `member`'s views and raises the floors of those
    /// with loads in flight to `number`.
    fn evict_views(&mut self, values: &Values, member: &Key, number: u64, garbage: &mut Garbage) {
        let is_view = |key: &Key| {
            key.type_id == member.type_id
                && key.kind == Kind::Collection
                && key
                    .path()
                    .strip_prefix(member.path())
                    .is_some_and(|query| query.starts_with('?'))
        };
        // One pass over the keys in flight and the type's collections with
        // a value: an invalidation is rare, a store is not.
        for (key, entry) in &mut self.entries {
            if is_view(key) {
                entry.floor = number;
            }
        }
        if let Some(keys) = self.collections.get_mut(&member.type_id) {
            keys.retain(|key| {
                if !is_view(key) {
                    return true;
                }
                if let Some((key, stored)) = values.remove(&key.borrowed()) {
                    garbage.keys.push(key);
                    garbage.values.push(stored);
                }
                garbage.keys.push(key.clone());
                false
            });
        }
    }

    /// Every member and collection of a type is forgotten.
    pub(in crate::cache) fn invalidated_type(
        &mut self,
        values: &Values,
        type_id: TypeId,
    ) -> Garbage {
        let number = self.next_number();
        let mut garbage = Garbage::default();
        self.invalidate_collections(values, type_id, number, &mut garbage);
        self.member_floors.insert(type_id, number);
        // A rare, explicit call: one pass over the keys, rather than an
        // index of every member on the hot path of every store.
        for (key, _) in values.iter() {
            if key.type_id == type_id {
                garbage
                    .values
                    .extend(values.remove(&key.borrowed()).map(|(_, stored)| stored));
                garbage.keys.push(key);
            }
        }
        garbage
    }

    /// Everything is forgotten.
    pub(in crate::cache) fn cleared(&mut self, values: &Values) -> Garbage {
        let number = self.next_number();
        self.cleared = number;
        let mut garbage = Garbage::default();
        for (key, stored) in values.drain() {
            garbage.keys.push(key);
            garbage.values.push(stored);
        }
        garbage
            .keys
            .extend(self.collections.drain().flat_map(|(_, keys)| keys));
        garbage
    }

    /// Takes the value of `key` and raises its floor to `number`.
    fn evict(&mut self, values: &Values, key: &Key, number: u64, garbage: &mut Garbage) {
        let key = key.borrowed();
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.floor = number;
        }
        if let Some((key, stored)) = values.remove(&key) {
            garbage.keys.push(key);
            garbage.values.push(stored);
        }
    }

    /// Invalidates every collection of a type: raises its floor and takes
    /// the values cached for them, into `garbage`.
    fn invalidate_collections(
        &mut self,
        values: &Values,
        type_id: TypeId,
        number: u64,
        garbage: &mut Garbage,
    ) {
        self.collection_floors.insert(type_id, number);
        let Some(keys) = self.collections.get_mut(&type_id) else {
            return;
        };
        for key in keys.drain() {
            if let Some((key, stored)) = values.remove(&key.borrowed()) {
                garbage.keys.push(key);
                garbage.values.push(stored);
            }
            garbage.keys.push(key);
        }
    }
}
