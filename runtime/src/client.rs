//! [`Client`] and [`ClientBuilder`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::Error;
use crate::cache::Cache;
use crate::http::Http;

/// How many saves [`save_all`](crate::Model::save_all) runs at a time unless
/// configured otherwise.
pub const DEFAULT_SAVE_ALL_CONCURRENCY: usize = 16;

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

    /// A builder, to set default headers, bearer auth, a timeout, the
    /// concurrency of [`save_all`](crate::Model::save_all), or a ready
    /// `reqwest::Client`.
    pub fn builder(base: &str) -> ClientBuilder {
        ClientBuilder {
            base: base.to_owned(),
            headers: HeaderMap::new(),
            timeout: None,
            http_client: None,
            save_all_concurrency: DEFAULT_SAVE_ALL_CONCURRENCY,
            error: None,
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.inner.http.base()
    }

    pub(crate) fn http(&self) -> &Http {
        &self.inner.http
    }

    pub(crate) fn cache(&self) -> &Arc<Cache> {
        &self.inner.cache
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
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
    timeout: Option<Duration>,
    http_client: Option<reqwest::Client>,
    save_all_concurrency: usize,
    error: Option<Error>,
}

impl ClientBuilder {
    /// Sends this header with every request. An invalid name or value is
    /// reported by [`build`](ClientBuilder::build).
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
            Ok(value) => {
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

    /// Fails a request that has not completed (response body included)
    /// within `timeout`; [`Error::is_timeout`] tells such errors.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Uses a ready `reqwest::Client` (its proxy, TLS and pool settings); the
    /// headers and timeout set here apply on top of it.
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
            None => reqwest::Client::builder()
                .build()
                .map_err(|e| Error::builder_with("could not build the HTTP client", e))?,
        };
        let http = Http::new(client, &self.base, self.headers, self.timeout)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                cache: Arc::default(),
                save_all_concurrency: self.save_all_concurrency,
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
        f.debug_struct("ClientBuilder")
            .field("base", &self.base)
            .field("headers", &self.headers)
            .field("timeout", &self.timeout)
            .field("save_all_concurrency", &self.save_all_concurrency)
            .finish_non_exhaustive()
    }
}
