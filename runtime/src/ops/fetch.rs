//! `fetch` and `fetch_all`, and their options, [`Fetch`]; the load that a
//! miss or a reload runs, conditional when there is a value to revalidate
//! (R7), filling a member's etag (R8).

use std::any::{Any, TypeId};
use std::sync::Arc;

use reqwest::Method;

use super::conditions;
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetch {
    reload: bool,
}

impl Fetch {
    /// A plain fetch: cached and shared.
    pub const fn new() -> Self {
        Fetch { reload: false }
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
        Fetch { reload: true }
    }

    /// Whether this fetch is a reload.
    pub const fn is_reload(&self) -> bool {
        self.reload
    }
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
    let key = Key::new(TypeId::of::<M>(), kind, path);
    let reload = options.is_reload() || M::RELOAD;
    let value = match client.cache().get(key, reload, |key, revalidate| {
        load::<T>(client, key.path(), revalidate, fill)
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
fn load<T>(
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
        let mut value: T = http.decode(&call, &answer, false)?;
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
