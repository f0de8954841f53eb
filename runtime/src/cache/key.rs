//! What the cache stores values under, and the borrowed form a lookup
//! uses ([`KeyRef`]), so that a hit allocates nothing.

use std::any::TypeId;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use equivalent::Equivalent;

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
///
/// One allocation, the path's, shared by every clone: the store, the
/// flight of the key and the in-flight entries all hold the same key, and
/// a clone is a reference count. Its `Hash` is [`KeyRef`]'s, field by
/// field, so that either finds it.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(super) type_id: TypeId,
    pub(super) kind: Kind,
    path: Arc<str>,
}

impl Key {
    pub(crate) fn new(type_id: TypeId, kind: Kind, path: &str) -> Self {
        Key {
            type_id,
            kind,
            path: Arc::from(path),
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        // Clones of one key share their path: equal without reading it.
        self.type_id == other.type_id
            && self.kind == other.kind
            && (Arc::ptr_eq(&self.path, &other.path) || self.path == other.path)
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.borrowed().hash(state);
    }
}

/// A [`Key`] whose path is borrowed: what a lookup hashes and compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct KeyRef<'a> {
    pub(crate) type_id: TypeId,
    pub(crate) kind: Kind,
    pub(crate) path: &'a str,
}

impl Key {
    pub(crate) fn borrowed(&self) -> KeyRef<'_> {
        KeyRef {
            type_id: self.type_id,
            kind: self.kind,
            path: &self.path,
        }
    }
}

impl KeyRef<'_> {
    /// The owned key, for an entry or a flight.
    pub(crate) fn to_key(self) -> Key {
        Key::new(self.type_id, self.kind, self.path)
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    #[inline]
    fn equivalent(&self, key: &Key) -> bool {
        *self == key.borrowed()
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_key_and_its_borrowed_form_hash_and_compare_alike() {
        let hasher = foldhash::fast::RandomState::default();
        for path in ["/users/7", "/users/7/posts/12345?page=2&per_page=50"] {
            let key = Key::new(TypeId::of::<u8>(), Kind::Member, path);
            let clone = key.clone();
            assert_eq!(key.path(), path);
            assert!(
                Arc::ptr_eq(&key.path, &clone.path),
                "a clone shares its path"
            );
            assert_eq!(clone, key);
            assert!(key.borrowed().equivalent(&clone));
            assert_eq!(
                hasher.hash_one(&key),
                hasher.hash_one(key.borrowed()),
                "{path}"
            );
            let other = KeyRef {
                kind: Kind::Collection,
                ..key.borrowed()
            };
            assert!(!other.equivalent(&key));
            assert_ne!(other.to_key(), key);
            assert_eq!(Key::new(TypeId::of::<u8>(), Kind::Member, path), key);
        }
    }
}
