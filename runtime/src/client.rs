//! [`Client`] and [`ClientBuilder`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::cache::{Cache, CacheStats, Key, Kind, Loaded};
use crate::http::{Http, Settings};
use crate::shared::{Shared, SharedCache};
use crate::{Error, Model, Retry};

/// How many saves [`save_all`](crate::Model::save_all) runs at a time unless
/// configured otherwise.
pub const DEFAULT_SAVE_ALL_CONCURRENCY: usize = 16;

/// How long one attempt of a request may take, from connecting to the end
/// of its body, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response body read unless configured otherwise: 16 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The most the cache holds unless configured otherwise: 64 MiB of entries,
/// each weighing its body's length plus its key.
pub const DEFAULT_MAX_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A REST client bound to a base URL, with its own cache.
///
/// Cheap to clone: clones share one connection pool and one cache. Separate
/// clients (each [`Client::new`]) share nothing.
///
/// ```
/// let client = backrest::Client::new("https://api.example.com/v1")?;
/// assert_eq!(client.base_url(), "https://api.example.com/v1");
/// # Ok::<(), backrest::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: Http,
    pub(crate) cache: Arc<Cache>,
    pub(crate) save_all_concurrency: usize,
    pub(crate) idempotency_keys: bool,
    /// The `Content-Type` of a PATCH (E3).
    pub(crate) patch_content_type: HeaderValue,
    /// The fleet's shared cache, if one was given (F1–F4).
    pub(crate) shared: Option<Arc<Shared>>,
}

impl Client {
    /// A client for the API at `base`, e.g. `https://api.example.com/v1`.
    /// Paths are appended to it, keeping its own path.
    ///
    /// # Errors
    ///
    /// When `base` is not an absolute `http` or `https` URL without a query or
    /// fragment.
    pub fn new(base: &str) -> Result<Client, Error> {
        Client::builder(base).build()
    }

    /// A builder, to set default headers, bearer auth, timeouts, retries,
    /// limits, the concurrency of [`save_all`](crate::Model::save_all), or a
    /// ready `reqwest::Client`.
    pub fn builder(base: &str) -> ClientBuilder {
        ClientBuilder {
            base: base.to_owned(),
            headers: HeaderMap::new(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry: Retry::default(),
            idempotency_keys: true,
            patch_content_type: crate::ops::MERGE_PATCH,
            http_client: None,
            save_all_concurrency: DEFAULT_SAVE_ALL_CONCURRENCY,
            max_cache_bytes: DEFAULT_MAX_CACHE_BYTES,
            shared: None,
            error: None,
        }
    }

    /// The base URL, without a trailing slash (and without its password,
    /// if it has one).
    pub fn base_url(&self) -> &str {
        self.inner.http.shown_base()
    }

    pub(crate) fn http(&self) -> &Http {
        &self.inner.http
    }

    pub(crate) fn cache(&self) -> &Arc<Cache> {
        &self.inner.cache
    }

    pub(crate) fn shared(&self) -> Option<&Arc<Shared>> {
        self.inner.shared.as_ref()
    }

    /// What the cache has done and holds now: hits, joins, misses, requests
    /// sent, revalidations answered `304`, failed loads, evictions, and the
    /// entries and bytes held, and with a
    /// [shared cache](ClientBuilder::shared_cache) its hits and failed
    /// commands. Shared by every clone of this client.
    pub fn stats(&self) -> CacheStats {
        let mut stats = self.inner.cache.stats();
        if let Some(shared) = &self.inner.shared {
            (stats.shared_hits, stats.shared_errors) = shared.counts();
        }
        stats
    }

    /// Empties the cache: every value of every model is dropped, and no
    /// request in flight from before this call is cached or joined (a
    /// fetch after it sends a request of its own). The counters of
    /// [`stats`](Client::stats) stay.
    pub fn clear(&self) {
        self.inner.cache.clear();
    }

    /// Caches `value` as the newest for its id, as a save's answer would be,
    /// without a request: the next plain fetch of that member returns it
    /// (until it is stale), and no request in flight from before is cached
    /// over it. The type's collections are left as they are. Returns the
    /// `Arc` that fetches will share, or `None` for a value without an id,
    /// which has no member to cache it under. (A value too heavy for the
    /// cache's room is returned but not kept, as a fetched one would not be.)
    ///
    /// For values that arrive another way than through this client: a
    /// push from a websocket, the items of a list fetched by hand.
    pub fn prime<M: Model>(&self, value: M) -> Option<Arc<M>> {
        let path = M::member_path(&value.params(), value.id()?);
        // Weighed as the body it would be; a value that cannot be encoded
        // weighs nothing beyond its key.
        let bytes = serde_json::to_vec(&value).map_or(0, |body| body.len());
        let value = Arc::new(value);
        let key = Key::new(std::any::TypeId::of::<M>(), Kind::Member, &path);
        let loaded = Loaded {
            value: Arc::clone(&value) as _,
            validators: None,
            bytes,
            age: Duration::ZERO,
        };
        self.inner.cache.primed(key, loaded);
        Some(value)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("http", &self.inner.http)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]; made by [`Client::builder`].
///
/// ```
/// use std::time::Duration;
///
/// let client = backrest::Client::builder("https://api.example.com/v1")
///     .bearer_auth("s3cr3t")
///     .header("x-app", "demo")
///     .timeout(Duration::from_secs(10))
///     .save_all_concurrency(8)
///     .build()?;
/// # Ok::<(), backrest::Error>(())
/// ```
#[must_use = "a builder does nothing until `.build()`"]
pub struct ClientBuilder {
    base: String,
    headers: HeaderMap,
    timeout: Duration,
    connect_timeout: Duration,
    max_response_bytes: usize,
    retry: Retry,
    idempotency_keys: bool,
    patch_content_type: HeaderValue,
    http_client: Option<reqwest::Client>,
    save_all_concurrency: usize,
    max_cache_bytes: usize,
    shared: Option<Arc<dyn SharedCache>>,
    error: Option<Error>,
}

impl ClientBuilder {
    /// Sends this header with every request to the base URL's origin (never
    /// to another origin a GET is redirected to). An invalid name or value is
    /// reported by [`build`](ClientBuilder::build). Values are treated as
    /// secrets: no `Debug` or error message shows them.
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: std::error::Error + Send + Sync + 'static,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: std::error::Error + Send + Sync + 'static,
    {
        if self.error.is_some() {
            return self;
        }
        let name = match HeaderName::try_from(name) {
            Ok(name) => name,
            Err(e) => return self.fail(Error::builder_with("invalid header name", e)),
        };
        match HeaderValue::try_from(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(name, value);
                self
            }
            Err(e) => self.fail(Error::builder_with(
                format!("invalid value for header `{name}`"),
                e,
            )),
        }
    }

    /// Sends `Authorization: Bearer {token}` with every request; the value is
    /// marked sensitive, so it is not logged by `Debug`.
    pub fn bearer_auth(mut self, token: impl fmt::Display) -> Self {
        if self.error.is_some() {
            return self;
        }
        match HeaderValue::try_from(format!("Bearer {token}")) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(AUTHORIZATION, value);
                self
            }
            Err(e) => self.fail(Error::builder_with("invalid bearer token", e)),
        }
    }

    /// Fails an attempt that has not completed (response body included)
    /// within `timeout` (30 s by default); [`Error::is_timeout`] tells such
    /// errors. It bounds each attempt: a call takes at most about
    /// attempts x (timeout + backoff), see [`retry`](ClientBuilder::retry).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Fails a connection that is not made within `timeout` (10 s by
    /// default). Not applied to a client given to
    /// [`http_client`](ClientBuilder::http_client), which keeps its own.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response body read, in bytes (16 MiB by default): a
    /// larger success fails with [`Error::is_too_large`], before its body is
    /// read when it announces its length, and as soon as it passes the limit
    /// otherwise. A body of exactly `limit` bytes is read.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Which failed attempts are tried again ([`Retry::attempts(3)`](Retry::attempts)
    /// by default; [`Retry::none()`] never retries). Retries of a fetch run
    /// inside the shared request: its callers share one sequence of attempts.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Whether every POST carries an `Idempotency-Key` (a random UUID v4,
    /// the same on each retry of it), which makes a create safe to retry
    /// against a server that honours the header. On by default; without
    /// it, a POST is never retried.
    pub fn idempotency_keys(mut self, enabled: bool) -> Self {
        self.idempotency_keys = enabled;
        self
    }

    /// The `Content-Type` of the body of a [`patch`](crate::Model::patch):
    /// `application/merge-patch+json` (RFC 7396) unless set here. Servers
    /// that read only `application/json` (json-server, many Express apps)
    /// need `.patch_content_type("application/json")`. A value that is not
    /// a valid header value makes [`build`](ClientBuilder::build) fail.
    pub fn patch_content_type(mut self, content_type: &str) -> Self {
        if self.error.is_some() {
            return self;
        }
        match HeaderValue::from_str(content_type) {
            Ok(value) => {
                self.patch_content_type = value;
                self
            }
            Err(e) => self.fail(Error::builder_with("invalid patch content type", e)),
        }
    }

    /// Uses a ready `reqwest::Client` (its proxy, TLS and pool settings); the
    /// headers, timeout, limits and retries set here apply on top of it.
    /// Build it with `redirect(reqwest::redirect::Policy::none())`: backrest
    /// follows the redirects of GETs itself, and refuses a redirected write
    /// that another policy followed.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// How many requests [`save_all`](crate::Model::save_all) runs at a time
    /// (16 by default; 0 counts as 1).
    pub fn save_all_concurrency(mut self, limit: usize) -> Self {
        self.save_all_concurrency = limit.max(1);
        self
    }

    /// The most the cache holds: 64 MiB by default
    /// ([`DEFAULT_MAX_CACHE_BYTES`]). Each entry weighs its body's length
    /// plus its key (at most 1 KiB more than the body); when a new entry
    /// needs room, the entries least likely to be used again are evicted
    /// (a CLOCK policy that resists scans, from `quick_cache`), and a body
    /// heavier than one shard's room is returned but not cached: shards have
    /// at least 4 MiB each (so with the default, a body of up to about 4 MiB
    /// is always cached), or all of `bytes` when it is smaller. `0` turns caching off: every fetch is a
    /// request, still shared while in flight.
    pub fn max_cache_bytes(mut self, bytes: usize) -> Self {
        self.max_cache_bytes = bytes;
        self
    }

    /// Shares a second-level cache with the other processes of a fleet,
    /// such as `backrest_redis::RedisCache` (README, "Running a fleet"): a
    /// miss of this client's own cache reads it before the origin, one
    /// process of the fleet asks the origin for a key at a time, and a
    /// successful write here invalidates the other processes' caches. A
    /// shared cache that is down or slow never fails a call: it goes to the
    /// origin, and [`CacheStats::shared_errors`] counts the failures.
    pub fn shared_cache(mut self, cache: impl SharedCache) -> Self {
        self.shared = Some(Arc::new(cache));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// An invalid base URL, header or token, or a `reqwest::Client` that
    /// cannot be built (such as a TLS backend that fails to load).
    pub fn build(self) -> Result<Client, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let client = match self.http_client {
            Some(client) => client,
            // Redirects are followed by `Http::send`, GETs only (R6).
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.connect_timeout)
                .build()
                .map_err(|e| Error::builder_with("could not build the HTTP client", e))?,
        };
        let settings = Settings {
            headers: self.headers,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
            retry: self.retry,
        };
        let cache = Arc::new(Cache::new(self.max_cache_bytes));
        let http = Http::new(client, &self.base, settings, Arc::clone(cache.counters()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                cache,
                save_all_concurrency: self.save_all_concurrency,
                idempotency_keys: self.idempotency_keys,
                patch_content_type: self.patch_content_type,
                shared: self.shared.map(|store| Arc::new(Shared::new(store))),
            }),
        })
    }

    fn fail(mut self, error: Error) -> Self {
        self.error = Some(error);
        self
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values and the base's password may be secrets (R11).
        let base = match url::Url::parse(&self.base) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(None);
                url.to_string()
            }
            Ok(_) => self.base.clone(),
            Err(_) => "<unparsed>".to_owned(),
        };
        let headers: Vec<&str> = self.headers.keys().map(HeaderName::as_str).collect();
        f.debug_struct("ClientBuilder")
            .field("base", &base)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("idempotency_keys", &self.idempotency_keys)
            .field("patch_content_type", &self.patch_content_type)
            .field("save_all_concurrency", &self.save_all_concurrency)
            .field("max_cache_bytes", &self.max_cache_bytes)
            .field("shared_cache", &self.shared)
            .finish_non_exhaustive()
    }
}
