//! A Redis second-level cache for [backrest](https://docs.rs/backrest): the
//! processes of a fleet share one cache, ask the origin once per resource,
//! and see each other's writes (README, "Running a fleet").
//!
//! ```no_run
//! # async fn demo() -> Result<(), backrest::Error> {
//! let shared = backrest_redis::RedisCache::connect("redis://127.0.0.1:6379")
//!     .await?
//!     .namespace("billing");
//! let client = backrest::Client::builder("https://api.example.com/v1")
//!     .shared_cache(shared)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! What it stores: under `{namespace}:{model name}:{resource path}`, the
//! response body with its validators, expiring after the model's max age
//! (else [`DEFAULT_TTL`]); leases under the same key plus `:lease`, and
//! the count of the resource's writes plus `:version`, against which the
//! answer of a load is stored only if no write came since the load took its
//! lease; invalidations are published on `{namespace}:invalidations`.
//!
//! Every command is bounded by [`DEFAULT_COMMAND_TIMEOUT`] (see
//! [`RedisCache::command_timeout`]); a command that fails or times out is
//! counted by the client, which goes on to the origin. The connection
//! comes back by itself (redis-rs's `ConnectionManager`), and so does the
//! subscription, after which the client forgets what it cached, since it
//! may have missed invalidations meanwhile.

mod entry;
mod listen;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use backrest_runtime::Error;
use backrest_runtime::shared::{
    self, Entry, Handler, Invalidation, Lease, SharedCache, SharedError, SharedFuture,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::listen::Listener;

/// How long an entry of a model without a max age stays in Redis unless
/// [`RedisCache::default_ttl`] says otherwise: 10 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// How long one Redis command may take unless
/// [`RedisCache::command_timeout`] says otherwise: 50 ms.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(50);

/// How long a lease lasts unless [`RedisCache::lease_ttl`] says otherwise:
/// 2 s.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(2);

/// The namespace unless [`RedisCache::namespace`] says otherwise.
pub const DEFAULT_NAMESPACE: &str = "backrest";

/// How long connecting may take, at first and on each reconnection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Releases a lease only if this process holds it. KEYS: lease; ARGV: token.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";

/// Takes a lease if it is free, and reads the key's write count, at once.
/// KEYS: lease, version; ARGV: token, lease ms.
const LEASE: &str = "local held = redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) \
                     local version = tonumber(redis.call('get', KEYS[2]) or '0') \
                     if held then return {1, version} else return {0, version} end";

/// Stores an origin's answer unless the key was written since its version
/// was read. KEYS: entry, version; ARGV: entry, ttl ms, version.
const PUT: &str = "if tonumber(redis.call('get', KEYS[2]) or '0') == tonumber(ARGV[3]) then \
                   redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0";

/// A write: one more write counted, and the entry stored (or deleted when
/// empty). KEYS: entry, version; ARGV: entry or '', ttl ms, version ms.
const WRITE: &str = "redis.call('incr', KEYS[2]) redis.call('pexpire', KEYS[2], ARGV[3]) \
                     if ARGV[1] == '' then redis.call('del', KEYS[1]) \
                     else redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) end return 1";

/// How long a key's write count outlives its last write: longer than any
/// load that could have read the version before it.
const VERSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// A shared cache on Redis, for
/// [`ClientBuilder::shared_cache`](backrest_runtime::ClientBuilder::shared_cache).
///
/// Cheap to clone: clones share one connection and one subscription.
#[derive(Clone)]
pub struct RedisCache {
    connection: ConnectionManager,
    namespace: Arc<str>,
    default_ttl: Duration,
    command_timeout: Duration,
    lease_ttl: Duration,
    /// What this process writes in the leases it holds.
    token: Arc<str>,
    listener: Arc<Listener>,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: it is not shown.
        f.debug_struct("RedisCache")
            .field("namespace", &self.namespace)
            .field("default_ttl", &self.default_ttl)
            .field("command_timeout", &self.command_timeout)
            .field("lease_ttl", &self.lease_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// Connects to the Redis at `url` (`redis://host:port/db`, with
    /// `rediss://` for TLS if redis-rs is built with it).
    ///
    /// # Errors
    ///
    /// An invalid URL, or a server that does not answer within a second
    /// ([`Error::is_builder`]). Once connected, Redis failing never fails a
    /// call of the client.
    pub async fn connect(url: &str) -> Result<RedisCache, Error> {
        let client =
            redis::Client::open(url).map_err(|e| shared::setup_error("invalid Redis URL", e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None)
            // Reconnect within milliseconds of Redis coming back: measured
            // in ARCHITECTURE.md ("Redis client").
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let connection = tokio::time::timeout(
            CONNECT_TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|e| shared::setup_error("Redis did not answer in time", e))?
        .map_err(|e| shared::setup_error("could not connect to Redis", e))?;
        let token = format!("{:016x}", fastrand::u64(..));
        Ok(RedisCache {
            connection,
            namespace: DEFAULT_NAMESPACE.into(),
            default_ttl: DEFAULT_TTL,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            lease_ttl: DEFAULT_LEASE_TTL,
            token: token.into(),
            listener: Arc::new(Listener::new(client)),
        })
    }

    /// Prefixes every key and the invalidation channel with `namespace`
    /// (`backrest` by default): fleets that share a Redis but not their data
    /// use different ones. Set it before the cache is given to a client.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into().into();
        // Its channel is the namespace's: a clone renamed stops sharing.
        self.listener = Arc::new(self.listener.fresh());
        self
    }

    /// How long an entry of a model without a max age stays in Redis (10
    /// minutes by default). A model's max age is its entries' time in Redis.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// How long one command may take (50 ms by default): one that takes
    /// longer counts as failed, and the call goes to the origin.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long a lease lasts (2 s by default): the longest a process waits
    /// for another's request to the origin before it sends its own, so a
    /// process that dies holding one stalls the others no longer.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.namespace)
    }

    fn lease_key(&self, key: &str) -> String {
        format!("{}:{key}:lease", self.namespace)
    }

    fn version_key(&self, key: &str) -> String {
        format!("{}:{key}:version", self.namespace)
    }

    fn channel(&self) -> String {
        format!("{}:invalidations", self.namespace)
    }

    /// Runs one command within the command timeout.
    async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, SharedError> {
        let mut connection = self.connection.clone();
        self.bounded(command.query_async(&mut connection)).await
    }

    /// Awaits a command within the command timeout.
    async fn bounded<T>(
        &self,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SharedError> {
        match tokio::time::timeout(self.command_timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Box::new(error)),
            Err(_) => Err(format!(
                "Redis did not answer within {} ms",
                self.command_timeout.as_millis()
            )
            .into()),
        }
    }
}

/// Milliseconds, at least 1 (Redis refuses an expiry of 0).
fn millis(duration: Duration) -> u64 {
    (duration.as_millis() as u64).max(1)
}

impl SharedCache for RedisCache {
    fn get<'a>(&'a self, key: &'a str) -> SharedFuture<'a, Option<Entry>> {
        Box::pin(async move {
            let mut command = redis::cmd("GET");
            command.arg(self.key(key));
            let value: Option<Vec<u8>> = self.query(&command).await?;
            match value {
                Some(value) => entry::decode(value, entry::now_ms()).map(Some),
                None => Ok(None),
            }
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        entry: Entry,
        ttl: Option<Duration>,
        version: u64,
    ) -> SharedFuture<'a, bool> {
        Box::pin(async move {
            let ttl = millis(ttl.unwrap_or(self.default_ttl));
            let mut command = redis::cmd("EVAL");
            command
                .arg(PUT)
                .arg(2)
                .arg(self.key(key))
                .arg(self.version_key(key))
                .arg(entry::encode(&entry, entry::now_ms(), ttl))
                .arg(ttl)
                .arg(version);
            let stored: i64 = self.query(&command).await?;
            Ok(stored == 1)
        })
    }

    fn write<'a>(
        &'a self,
        key: &'a str,
        entry: Option<Entry>,
        ttl: Option<Duration>,
    ) -> SharedFuture<'a, ()> {
        Box::pin(async move {
            let ttl = millis(ttl.unwrap_or(self.default_ttl));
            let value = match &entry {
                Some(entry) => entry::encode(entry, entry::now_ms(), ttl),
                None => Vec::new(),
            };
            let mut command = redis::cmd("EVAL");
            command
                .arg(WRITE)
                .arg(2)
                .arg(self.key(key))
                .arg(self.version_key(key))
                .arg(value)
                .arg(ttl)
                .arg(millis(VERSION_TTL));
            self.query::<()>(&command).await
        })
    }

    fn publish(&self, invalidation: Invalidation) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            let mut command = redis::cmd("PUBLISH");
            command
                .arg(self.channel())
                .arg(listen::encode(&invalidation));
            self.query::<()>(&command).await
        })
    }

    fn subscribe(&self, handler: Handler) -> SharedFuture<'_, ()> {
        Box::pin(async move {
            self.listener
                .add(
                    handler,
                    self.channel(),
                    self.command_timeout + CONNECT_TIMEOUT,
                )
                .await
        })
    }

    fn lease<'a>(&'a self, key: &'a str) -> SharedFuture<'a, Lease> {
        Box::pin(async move {
            let mut command = redis::cmd("EVAL");
            command
                .arg(LEASE)
                .arg(2)
                .arg(self.lease_key(key))
                .arg(self.version_key(key))
                .arg(&*self.token)
                .arg(millis(self.lease_ttl));
            let (held, version): (i64, u64) = self.query(&command).await?;
            Ok(Lease {
                held: held == 1,
                version,
            })
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> SharedFuture<'a, ()> {
        Box::pin(async move {
            let mut command = redis::cmd("EVAL");
            command
                .arg(RELEASE)
                .arg(1)
                .arg(self.lease_key(key))
                .arg(&*self.token);
            self.query::<()>(&command).await
        })
    }

    fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }
}

/// Locks, ignoring poison: no code path panics while holding these locks.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
