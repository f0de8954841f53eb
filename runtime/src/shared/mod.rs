//! A shared second-level cache for fleets of processes (F1–F4): the
//! object-safe [`SharedCache`] trait that a store such as `backrest-redis`
//! implements, and what the runtime does with it. The runtime does not
//! depend on any store: it hands keys, bodies and validators to the trait
//! and counts what fails.
//!
//! Where the runtime calls it (ARCHITECTURE.md, "F — Fleets"):
//!
//! - on a miss of the process's own cache, the load reads the shared cache
//!   before the origin (F1), and, when that misses too, takes a lease so
//!   that one process of the fleet asks the origin (F3);
//! - after a successful write, the write hook (`saved`, `destroyed`)
//!   updates or deletes the shared entry and publishes an [`Invalidation`]
//!   that every other client applies to its own cache (F2);
//! - every shared command that fails is counted in
//!   [`CacheStats::shared_errors`](crate::CacheStats::shared_errors), pauses
//!   the shared cache for [`PAUSE`], and the call goes on to the origin as
//!   without a shared cache (F4).
//!
//! Nothing here is on the local hit path: a client without a shared cache
//! pays one `Option` check per miss.

use std::any::TypeId;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::cache::{Cache, Key, Kind};
use crate::{Error, Model};

mod writes;

pub(crate) use self::writes::{destroyed, saved};

/// What a command to a shared cache fails with.
pub type SharedError = Box<dyn StdError + Send + Sync>;

/// The future of one command to a shared cache.
pub type SharedFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SharedError>> + Send + 'a>>;

/// What a subscription hands each [`Notice`] to; it returns `false` when it
/// wants no more (its client is gone).
pub type Handler = Arc<dyn Fn(Notice) -> bool + Send + Sync>;

/// A response body as the origin sent it, with its validators: what the
/// shared cache stores under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The JSON body.
    pub body: Bytes,
    /// The `ETag`, verbatim.
    pub etag: Option<String>,
    /// The `Last-Modified` date, verbatim.
    pub last_modified: Option<String>,
    /// How long ago it was stored (zero when put): a value read from the
    /// shared cache is as old locally as it is there, so that its max age
    /// runs from the origin's answer (F4).
    pub age: Duration,
}

/// What a write did to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// Saved (created or replaced): the member and its type's collections
    /// are stale.
    Saved,
    /// Deleted: the member is gone and its type's collections are stale.
    Destroyed,
}

/// A write published to the fleet (F2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    /// The random id of the client that wrote, so that it can skip its own.
    pub origin: u64,
    /// The model's stable name ([`Model::NAME`]).
    pub model: String,
    /// The member's path (the collection's, for a create the server
    /// answered without an id).
    pub path: String,
    /// What the write did.
    pub kind: WriteKind,
}

/// What a subscription delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Another client wrote.
    Invalidation(Invalidation),
    /// The subscription was lost and is back: invalidations may have been
    /// missed in between, so the client forgets what it cached.
    Gap,
}

/// A cache shared by the processes of a fleet, such as
/// `backrest_redis::RedisCache`; given to
/// [`ClientBuilder::shared_cache`](crate::ClientBuilder::shared_cache).
///
/// Keys are `{model name}:{resource path}` (the store may prefix its own
/// namespace). Every method is one command or two, bounded in time by the
/// store; a failure is never a failure of the call that made it: the
/// runtime counts it and goes to the origin.
pub trait SharedCache: Send + Sync + fmt::Debug + 'static {
    /// The entry under `key`, if there is one.
    fn get<'a>(&'a self, key: &'a str) -> SharedFuture<'a, Option<Entry>>;

    /// Stores an answer of the origin under `key`, expiring after `ttl`
    /// (the model's max age, or the store's default when `None`), unless
    /// `key` has been [written](SharedCache::write) since its
    /// [`Lease::version`] was `version`: then the answer may be from before
    /// that write, and is dropped. `true` if stored.
    fn put<'a>(
        &'a self,
        key: &'a str,
        entry: Entry,
        ttl: Option<Duration>,
        version: u64,
    ) -> SharedFuture<'a, bool>;

    /// A write of the resource under `key`: counts one more write of it (so
    /// that a [`put`](SharedCache::put) of an answer from before is
    /// dropped), and stores `entry` as [`put`](SharedCache::put) would, or
    /// deletes the key when `None`.
    fn write<'a>(
        &'a self,
        key: &'a str,
        entry: Option<Entry>,
        ttl: Option<Duration>,
    ) -> SharedFuture<'a, ()>;

    /// Tells every subscriber (this process's included) of a write.
    fn publish(&self, invalidation: Invalidation) -> SharedFuture<'_, ()>;

    /// Hands every later [`Notice`] to `handler`, until it returns `false`;
    /// resolves once the subscription is in place (or failed: the store keeps
    /// trying, and says [`Notice::Gap`] when it is back).
    fn subscribe(&self, handler: Handler) -> SharedFuture<'_, ()>;

    /// Takes the lease of `key` for [`lease_ttl`](SharedCache::lease_ttl)
    /// if nobody holds it, and reads how many times it was written, in one
    /// step.
    fn lease<'a>(&'a self, key: &'a str) -> SharedFuture<'a, Lease>;

    /// Gives back a lease this process took.
    fn release<'a>(&'a self, key: &'a str) -> SharedFuture<'a, ()>;

    /// How long a lease lasts: the longest a process waits for another's
    /// load before it asks the origin itself.
    fn lease_ttl(&self) -> Duration;
}

/// What [`SharedCache::lease`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Whether this call took the lease.
    pub held: bool,
    /// How many times the key was [written](SharedCache::write) so far: what
    /// a [`put`](SharedCache::put) of the answer is checked against.
    pub version: u64,
}

/// How long the shared cache is left alone after a command failed: calls
/// go straight to the origin meanwhile, so a Redis that is down or slow
/// costs at most one timeout per pause, not one per call.
pub const PAUSE: Duration = Duration::from_millis(250);

/// The first and the longest pause between two looks at a key another
/// process holds the lease of.
const POLL_FIRST: Duration = Duration::from_millis(2);
const POLL_MAX: Duration = Duration::from_millis(25);

/// An error for a store that cannot be set up (an invalid URL, a server
/// that does not answer): [`Error::is_builder`] is true of it.
pub fn setup_error(
    message: impl Into<String>,
    source: impl StdError + Send + Sync + 'static,
) -> Error {
    Error::builder_with(message, source)
}

/// The stable name of `M` in shared keys and invalidations.
pub(crate) fn name<M: Model>() -> &'static str {
    match M::NAME {
        "" => std::any::type_name::<M>(),
        name => name,
    }
}

/// A client's side of a shared cache.
pub(crate) struct Shared {
    store: Arc<dyn SharedCache>,
    /// This client's random id, carried by what it publishes.
    origin: u64,
    /// The models this client has used, by name: what an invalidation from
    /// another process is applied to.
    names: Mutex<HashMap<&'static str, TypeId>>,
    subscribed: OnceCell<()>,
    /// Until when commands are skipped, in milliseconds since `epoch` (0:
    /// not paused).
    paused_until: AtomicU64,
    epoch: Instant,
    hits: AtomicU64,
    errors: AtomicU64,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("store", &self.store)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(store: Arc<dyn SharedCache>) -> Self {
        Shared {
            store,
            origin: fastrand::u64(..),
            names: Mutex::default(),
            subscribed: OnceCell::new(),
            paused_until: AtomicU64::new(0),
            epoch: Instant::now(),
            hits: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// `(shared_hits, shared_errors)`.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.hits.load(Relaxed), self.errors.load(Relaxed))
    }

    /// The shared key of `M`'s resource at `path`, remembering the model's
    /// name for the invalidations of other processes.
    pub(crate) fn key<M: Model>(&self, path: &str) -> String {
        let name = name::<M>();
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        names.entry(name).or_insert_with(TypeId::of::<M>);
        drop(names);
        format!("{name}:{path}")
    }

    /// Runs one command unless the store is paused: `None` when skipped or
    /// failed (counted, and the store paused).
    async fn run<T>(&self, command: SharedFuture<'_, T>) -> Option<T> {
        let now = self.millis();
        if now < self.paused_until.load(Relaxed) {
            return None;
        }
        match command.await {
            Ok(value) => Some(value),
            Err(error) => {
                self.errors.fetch_add(1, Relaxed);
                tracing::debug!(error = %error, "backrest: shared cache command failed");
                let resume = self.millis() + PAUSE.as_millis() as u64;
                self.paused_until.fetch_max(resume, Relaxed);
                None
            }
        }
    }

    fn millis(&self) -> u64 {
        // At least 1, so that 0 means "never paused".
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Subscribes this client to the fleet's invalidations, once; later
    /// calls return at once.
    async fn subscribe(&self, cache: &Arc<Cache>, shared: &Arc<Shared>) {
        self.subscribed
            .get_or_init(|| async {
                let handler = handler(Arc::downgrade(cache), Arc::downgrade(shared));
                let _ = self.run(self.store.subscribe(handler)).await;
            })
            .await;
    }

    /// What to load from, after the process's own cache missed: an entry
    /// another process stored (F1), or the origin, holding the key's lease
    /// if this process took it (F3). Waits for another process's load at
    /// most the lease's time.
    pub(crate) async fn before_origin(self: &Arc<Self>, cache: &Arc<Cache>, key: &str) -> Source {
        self.subscribe(cache, self).await;
        // Without a lease, nothing is put: an answer with no version to
        // check could overwrite a newer write's.
        const ALONE: Source = Source::Origin {
            version: None,
            leased: false,
        };
        match self.run(self.store.get(key)).await {
            Some(Some(entry)) => return Source::Shared(entry),
            Some(None) => {}
            None => return ALONE,
        }
        let deadline = Instant::now() + self.store.lease_ttl();
        let mut pause = POLL_FIRST;
        loop {
            match self.run(self.store.lease(key)).await {
                // The holder before may have stored the value and let go
                // between the look and the lease: one more look.
                Some(Lease {
                    held: true,
                    version,
                }) => {
                    return match self.run(self.store.get(key)).await {
                        Some(Some(entry)) => {
                            let _ = self.run(self.store.release(key)).await;
                            Source::Shared(entry)
                        }
                        _ => Source::Origin {
                            version: Some(version),
                            leased: true,
                        },
                    };
                }
                Some(Lease { held: false, .. }) => {}
                None => return ALONE,
            }
            // Another process holds the lease: wait for its value, or for
            // the lease to end without one.
            let now = Instant::now();
            if now >= deadline {
                return ALONE;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(POLL_MAX);
            match self.run(self.store.get(key)).await {
                Some(Some(entry)) => return Source::Shared(entry),
                Some(None) => {}
                None => return ALONE,
            }
        }
    }

    /// A value decoded from the shared cache was used.
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Relaxed);
    }

    /// An entry could not be decoded: counted as an error of the shared
    /// cache, and the origin asked.
    pub(crate) fn undecodable(&self) {
        self.errors.fetch_add(1, Relaxed);
    }

    /// Stores what the origin answered, expiring after `ttl` (else the
    /// store's default), unless the key was written since `version` was
    /// read (or there is no version), and gives back the lease if this load
    /// held it.
    pub(crate) async fn after_origin(
        &self,
        key: &str,
        entry: Option<Entry>,
        ttl: Option<Duration>,
        version: Option<u64>,
        leased: bool,
    ) {
        if let (Some(entry), Some(version)) = (entry, version) {
            let _ = self.run(self.store.put(key, entry, ttl, version)).await;
        }
        if leased {
            let _ = self.run(self.store.release(key)).await;
        }
    }
}

/// Where a load after a local miss gets its value.
pub(crate) enum Source {
    /// From the shared cache.
    Shared(Entry),
    /// From the origin; `version`: how many writes the key had seen when
    /// its lease was taken, if it was; `leased`: this process holds it.
    Origin { version: Option<u64>, leased: bool },
}

/// Applies the fleet's invalidations to one client's cache, while the
/// client lives.
fn handler(cache: Weak<Cache>, shared: Weak<Shared>) -> Handler {
    Arc::new(move |notice| {
        let (Some(cache), Some(shared)) = (cache.upgrade(), shared.upgrade()) else {
            return false;
        };
        match notice {
            Notice::Gap => cache.clear(),
            Notice::Invalidation(invalidation) => {
                if invalidation.origin == shared.origin {
                    return true;
                }
                let names = shared.names.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(&type_id) = names.get(invalidation.model.as_str()) else {
                    // A model this client never used holds nothing here.
                    return true;
                };
                drop(names);
                let key = Key::new(type_id, Kind::Member, &invalidation.path);
                match invalidation.kind {
                    WriteKind::Saved => {
                        cache.invalidated(&key);
                        cache.saved(type_id);
                    }
                    WriteKind::Destroyed => cache.destroyed(&key),
                }
            }
        }
        true
    })
}
