//! `fetch` and `fetch_all`, and their options, [`Fetch`]; the load that a
//! miss or a reload runs, conditional when there is a value to revalidate
//! (R7), filling a member's etag (R8).

use std::any::{Any, TypeId};
use std::sync::Arc;

use reqwest::Method;

use super::pages::Paging;
use super::{conditions, envelope};
use crate::cache::{Key, Kind, Load, Loaded, Lookup, Revalidate, Value};
use crate::http::Call;
use crate::{Client, Error, Model};

/// How a fetch uses the cache.
///
/// `Fetch::default()` (or [`Fetch::new`]) is a plain fetch: it returns the
/// cached value if there is one, joins the newest request in flight for the
/// same resource if there is one, and otherwise sends a request.
/// [`Fetch::reload`] always sends a new request.
///
/// ```no_run
/// # async fn demo(client: backrest::Client) -> Result<(), backrest::Error> {
/// # use backrest::{Fetch, Model};
/// # #[derive(Clone, serde::Serialize, serde::Deserialize, Model)]
/// # #[model(path = "/users")]
/// # struct User { #[model(id)] id: Option<u64> }
/// let fresh = User::fetch_with(&client, 7, Fetch::reload()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetch {
    reload: bool,
    // ---- E1, E2 (query strings, paging) ----
    /// The query string, or why it could not be made (E1).
    query: Option<Query>,
    /// How `pages` finds the next page (E2).
    pub(crate) paging: Paging,
}

/// A query string as [`Fetch::query`] serialized it, or the reason it could
/// not: reported when the fetch runs, since building a `Fetch` cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Query {
    Text(String),
    Invalid(String),
}
// ---- end E1, E2 ----

impl Fetch {
    /// A plain fetch: cached and shared.
    pub const fn new() -> Self {
        Fetch {
            reload: false,
            query: None,
            paging: Paging::link(),
        }
    }

    /// A reload: never reads the cache and never joins a request in flight;
    /// it sends a new request, caches its answer (unless something newer is
    /// cached by then) and never resolves with an answer to a request that
    /// started before it.
    ///
    /// When the cached value came with an `ETag` or a `Last-Modified`, the
    /// request is conditional (`If-None-Match`, `If-Modified-Since`), and a
    /// `304 Not Modified` resolves with the cached `Arc` itself, cached
    /// again as the newest answer.
    pub const fn reload() -> Self {
        let mut fetch = Fetch::new();
        fetch.reload = true;
        fetch
    }

    /// Whether this fetch is a reload.
    pub const fn is_reload(&self) -> bool {
        self.reload
    }

    // ---- E1, E2 (query strings, paging) ----

    /// Adds a query string, serialized from `query` as
    /// `application/x-www-form-urlencoded` (a struct, a map, or a slice of
    /// pairs: `&[("_sort", "name"), ("q", "ada")]`). Called again, it
    /// replaces the query; an empty one is no query.
    ///
    /// Each query string is cached on its own: `GET /users?role=admin` and
    /// `GET /users` are two entries, and every successful write of the type
    /// invalidates every query of its collections (C9). A member fetched
    /// with a query (`/users/7?embed=posts`) is cached like a collection:
    /// every write of the type drops it, its own save or destroy included.
    ///
    /// A value that does not serialize as a query string (a nested struct,
    /// a sequence) makes the fetch fail with an
    /// [`is_builder`](Error::is_builder) error, and nothing is sent.
    ///
    /// ```
    /// # use backrest::Fetch;
    /// #[derive(serde::Serialize)]
    /// struct Filter<'a> { role: &'a str, q: Option<&'a str> }
    /// let options = Fetch::new().query(&Filter { role: "admin", q: None });
    /// assert_eq!(options.query_string(), Some("role=admin"));
    /// ```
    #[must_use]
    pub fn query(mut self, query: &impl serde::Serialize) -> Self {
        self.query = match serde_urlencoded::to_string(query) {
            Ok(text) if text.is_empty() => None,
            Ok(text) => Some(Query::Text(text)),
            Err(error) => Some(Query::Invalid(error.to_string())),
        };
        self
    }

    /// The query string [`query`](Fetch::query) made, if any (and if it
    /// could be made).
    pub fn query_string(&self) -> Option<&str> {
        match &self.query {
            Some(Query::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// How [`Model::pages`] finds the next page (E2): by default the
    /// `Link: <..>; rel="next"` header (RFC 8288); see [`Paging`].
    #[must_use]
    pub fn paging(mut self, paging: Paging) -> Self {
        self.paging = paging;
        self
    }

    /// `path` with this fetch's query string, or the error of a query that
    /// could not be serialized.
    pub(crate) fn with_query(&self, mut path: String) -> Result<String, Error> {
        match &self.query {
            None => Ok(path),
            Some(Query::Text(text)) => {
                path.push('?');
                path.push_str(text);
                Ok(path)
            }
            Some(Query::Invalid(message)) => Err(Error::builder(format!(
                "the query of a fetch of `{path}` is not a query string: {message}"
            ))),
        }
    }

    // ---- end E1, E2 ----
}

pub(crate) async fn fetch<M: Model>(
    client: &Client,
    path: String,
    options: Fetch,
) -> Result<Arc<M>, Error> {
    cached::<M, M>(client, Kind::Member, path, options, fill_etag::<M>).await
}

pub(crate) async fn fetch_all<M: Model>(
    client: &Client,
    path: String,
    options: Fetch,
) -> Result<Arc<Vec<M>>, Error> {
    // A collection's items have no `ETag` of their own.
    cached::<M, Vec<M>>(client, Kind::Collection, path, options, |_, _| {}).await
}

/// A member's `#[model(etag)]` field holds its answer's `ETag`, verbatim
/// (R8); a model without one ignores it.
fn fill_etag<M: Model>(value: &mut M, etag: Option<&str>) {
    value.set_etag(etag.map(str::to_owned));
}

/// A cached GET of `path`, decoded as a `T` and `fill`ed with its answer's
/// `ETag`, under the key of model `M`.
async fn cached<M: Model, T>(
    client: &Client,
    kind: Kind,
    path: String,
    options: Fetch,
    fill: fn(&mut T, Option<&str>),
) -> Result<Arc<T>, Error>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    // A member with a query is a view of it, invalidated like a
    // collection by every write of the type (E1).
    let kind = if options.query_string().is_some() {
        Kind::Collection
    } else {
        kind
    };
    let path = options.with_query(path)?;
    let key = Key::new(TypeId::of::<M>(), kind, path);
    let reload = options.is_reload() || M::RELOAD;
    let value = match client.cache().get(key, reload, |key, revalidate| {
        load::<M, T>(client, key.path(), revalidate, fill)
    }) {
        Lookup::Hit(value) => value,
        Lookup::Wait(waiter) => waiter.await?,
        Lookup::Fail(error) => return Err(error),
    };
    downcast(value)
}

/// The load of one key: a GET, conditional when the cache handed it a value
/// to revalidate (R7). A `304` ends it with that value, the same `Arc`, and
/// its validators; any other answer with the value it decodes to and the
/// answer's own validators.
fn load<M: Model, T>(
    client: &Client,
    path: &str,
    revalidate: Option<Revalidate>,
    fill: fn(&mut T, Option<&str>),
) -> Load
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let mut call = Call::new(Method::GET, client.http().url(path));
    if let Some(revalidate) = &revalidate {
        conditions::revalidate(&mut call, &revalidate.validators);
    }
    let client = client.clone();
    Box::pin(async move {
        let http = client.http();
        let answer = http.send(&call).await?;
        if conditions::not_modified(answer.status) {
            return match revalidate {
                Some(revalidate) => Ok(revalidate.not_modified()),
                None => Err(Error::internal("a 304 answered an unconditional GET")),
            };
        }
        let mut value: T = envelope::decode::<M, T>(http, &call, &answer, false)?;
        let validators = conditions::validators(&answer.headers);
        fill(
            &mut value,
            validators.as_ref().and_then(|v| v.etag.as_deref()),
        );
        let value: Value = Arc::new(value);
        Ok(Loaded { value, validators })
    })
}

fn downcast<T: Any + Send + Sync>(value: Value) -> Result<Arc<T>, Error> {
    value
        .downcast::<T>()
        .map_err(|_| Error::internal("a cached value has another type than its key"))
}
