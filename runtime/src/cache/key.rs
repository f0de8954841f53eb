//! What the cache stores values under.

use std::any::TypeId;

/// Whether a key names one member or a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// One resource, such as `/users/7`.
    Member,
    /// A list of resources, such as `/users`: invalidated by every write of
    /// its type.
    Collection,
}

/// What a cache entry is for: (model type, kind, resource path).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(super) type_id: TypeId,
    pub(super) kind: Kind,
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
