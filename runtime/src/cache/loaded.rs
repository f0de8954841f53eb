//! What the cache holds and what a load ends with: a type-erased value, the
//! validators it came with (R7), and what a load may revalidate.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;

/// A cached value, type-erased; the key's type id says what it is.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// The future that produces a value for a key.
pub(crate) type Load = Pin<Box<dyn Future<Output = Result<Loaded, Error>> + Send>>;

/// What identifies the version of a value, as the server said it (R7): sent
/// back to ask whether the value is still current. The cache only keeps
/// them; what they mean on the wire is for the operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    /// The `ETag`, verbatim (quotes and `W/` included).
    pub(crate) etag: Option<String>,
    /// The `Last-Modified` date, verbatim.
    pub(crate) last_modified: Option<String>,
}

/// A value as the server sent it, with its validators, if it sent any: what
/// a load ends with, and what a write stores.
pub(crate) struct Loaded {
    pub(crate) value: Value,
    pub(crate) validators: Option<Arc<Validators>>,
    /// The length of the body it was decoded from (or encoded to): what it
    /// weighs in the cache, with its key (P2).
    pub(crate) bytes: usize,
    /// How old the answer already was when it arrived here: zero from the
    /// origin; a shared cache's entry's age (F1, F4), so that its max age
    /// runs from the origin's answer, not from the read.
    pub(crate) age: Duration,
}

/// The valid value of a key and its validators, captured when a load of the
/// key started: what the load may revalidate (see "Revalidation" above).
pub(crate) struct Revalidate {
    pub(crate) value: Value,
    pub(crate) validators: Arc<Validators>,
    /// The length of the body the value came in.
    pub(crate) bytes: usize,
}

impl Revalidate {
    /// The server says the value is still current: the load ends with it,
    /// the very same `Arc`, and its validators.
    pub(crate) fn not_modified(self) -> Loaded {
        Loaded {
            value: self.value,
            validators: Some(self.validators),
            bytes: self.bytes,
            age: Duration::ZERO,
        }
    }
}
