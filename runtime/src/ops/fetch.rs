//! `fetch` and `fetch_all`, and their options, [`Fetch`].

use std::any::{Any, TypeId};
use std::sync::Arc;

use crate::cache::{Key, Kind, Load, Lookup, Value};
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
    cached::<M, M>(client, Kind::Member, path, options).await
}

pub(crate) async fn fetch_all<M: Model>(
    client: &Client,
    path: String,
    options: Fetch,
) -> Result<Arc<Vec<M>>, Error> {
    cached::<M, Vec<M>>(client, Kind::Collection, path, options).await
}

/// A cached GET of `path`, decoded as a `T`, under the key of model `M`.
async fn cached<M: Model, T>(
    client: &Client,
    kind: Kind,
    path: String,
    options: Fetch,
) -> Result<Arc<T>, Error>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let key = Key::new(TypeId::of::<M>(), kind, path);
    let reload = options.is_reload() || M::RELOAD;
    let value = match client
        .cache()
        .get(key, reload, |key| load::<T>(client, key.path()))
    {
        Lookup::Hit(value) => value,
        Lookup::Wait(waiter) => waiter.await?,
        Lookup::Fail(error) => return Err(error),
    };
    downcast(value)
}

fn load<T>(client: &Client, path: &str) -> Load
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let url = client.http().url(path);
    let client = client.clone();
    Box::pin(async move {
        let value: T = client.http().get(url).await?;
        Ok(Arc::new(value) as Value)
    })
}

fn downcast<T: Any + Send + Sync>(value: Value) -> Result<Arc<T>, Error> {
    value
        .downcast::<T>()
        .map_err(|_| Error::internal("a cached value has another type than its key"))
}
