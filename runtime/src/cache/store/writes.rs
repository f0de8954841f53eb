//! What changes the store besides loads, each under the cache lock: a
//! write stores its member and invalidates the type's collections (C9), a
//! destroy or an invalidation takes values out and raises floors (P3, R8),
//! priming stores a value without a request, a clear forgets everything.
//! What each takes out comes back as [`Garbage`].

use std::any::TypeId;

use super::{Garbage, State, Stored, Values};
use crate::cache::{Key, Kind, Loaded};

impl State {
    /// A successful write of a member of `type_id`: `member`, if given (a
    /// member key), becomes the newest value of its key, with its
    /// validators, and every collection of the type is invalidated.
    pub(in crate::cache) fn saved(
        &mut self,
        values: &Values,
        type_id: TypeId,
        member: Option<(Key, Loaded)>,
    ) -> Garbage {
        let number = self.next_number();
        let mut garbage = Garbage::default();
        self.invalidate_collections(values, type_id, number, &mut garbage);
        if let Some((key, loaded)) = member {
            self.raise_floor(key.borrowed(), number);
            let stored = Stored::new(&key, number, loaded);
            self.insert(values, key, stored, &mut garbage);
        }
        garbage
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
        let number = self.next_number();
        let mut garbage = Garbage::default();
        self.invalidate_collections(values, key.type_id, number, &mut garbage);
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
