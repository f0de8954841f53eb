//! What the operations tell the cache besides loads: writes (C9, R8),
//! invalidations and priming (P3), each under the cache lock, what they
//! take out dropped once unlocked.

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::store::Garbage;
use super::{Cache, Key, Loaded, Validators, lock};

impl Cache {
    /// Records a successful write of a member of `type_id` with no value
    /// to cache (see `State::saved`): every collection of the type is
    /// invalidated.
    pub(crate) fn saved(&self, type_id: TypeId) {
        let mut state = lock(&self.state);
        let garbage = state.saved(&self.values, type_id);
        drop(state);
        self.collect(garbage);
    }

    /// Records a successful write of the member `key`, whose answer is
    /// `value` (with its validators, and the length of its body): the
    /// type's collections are invalidated, and `value` becomes the newest
    /// of its key, written into the cached value's own allocation when
    /// nothing else holds it (see `State::saved_value`).
    pub(crate) fn saved_value<V: Any + Send + Sync>(
        &self,
        type_id: TypeId,
        key: Key,
        value: V,
        validators: Option<Arc<Validators>>,
        bytes: usize,
    ) {
        let mut state = lock(&self.state);
        let (garbage, replaced) =
            state.saved_value(&self.values, type_id, key, value, validators, bytes);
        self.stores.fetch_add(1, Ordering::Release);
        drop(state);
        self.collect(garbage);
        drop(replaced);
    }

    /// Caches a value as the newest of its member key, without a request;
    /// the type's collections are left alone (P3).
    pub(crate) fn primed(&self, key: Key, loaded: Loaded) {
        let mut state = lock(&self.state);
        let garbage = state.primed(&self.values, key, loaded);
        self.stores.fetch_add(1, Ordering::Release);
        drop(state);
        self.collect(garbage);
    }

    /// Records a successful delete: the member is evicted (no load that
    /// started before now will be cached for it, or joined) and every
    /// collection of the type is invalidated.
    pub(crate) fn destroyed(&self, key: &Key) {
        let mut state = lock(&self.state);
        let garbage = state.destroyed(&self.values, key);
        drop(state);
        self.collect(garbage);
    }

    /// Forgets a member and its views (the member with a query, E1): their
    /// values are dropped and their floors rise, so that no load that
    /// started before now is cached for them, or joined. The type's other
    /// collections are left alone: nothing was written (a write refused
    /// with 412, R8; an invalidation, P3).
    pub(crate) fn invalidated(&self, key: &Key) {
        let mut state = lock(&self.state);
        let garbage = state.invalidated(&self.values, key);
        drop(state);
        self.collect(garbage);
    }

    /// Forgets every member and collection of a type, as
    /// [`Cache::invalidated`] forgets one member (P3).
    pub(crate) fn invalidated_type(&self, type_id: TypeId) {
        let mut state = lock(&self.state);
        let garbage = state.invalidated_type(&self.values, type_id);
        drop(state);
        self.collect(garbage);
    }

    /// Forgets everything (P3); the counters stay.
    pub(crate) fn clear(&self) {
        let mut state = lock(&self.state);
        let garbage = state.cleared(&self.values);
        drop(state);
        self.collect(garbage);
    }

    /// Drops what an update took out, unlocked, and counts its evictions.
    pub(super) fn collect(&self, garbage: Garbage) {
        if garbage.evictions > 0 {
            self.stats
                .evictions
                .fetch_add(garbage.evictions, Ordering::Relaxed);
        }
        drop(garbage);
    }
}
