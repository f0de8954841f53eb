//! The operations of every [`Model`], written once. Generated code reaches
//! them through the trait's provided methods.

use std::any::{Any, TypeId};
use std::sync::Arc;

use reqwest::Method;

use crate::batch::all_or_fail;
use crate::cache::{Key, Kind, Load, Lookup, Value};
use crate::{Client, Error, Fetch, Model, SaveAllError};

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
        let value: T = client.http().get(&url).await?;
        Ok(Arc::new(value) as Value)
    })
}

fn downcast<T: Any + Send + Sync>(value: Value) -> Result<Arc<T>, Error> {
    value
        .downcast::<T>()
        .map_err(|_| Error::internal("a cached value has another type than its key"))
}

/// Sends a save; `None` means the server kept the value sent (204 or empty).
async fn send_save<M: Model>(client: &Client, value: &M) -> Result<Option<M>, Error> {
    let params = value.params();
    let (method, path) = match value.id() {
        None => (Method::POST, M::collection_path(&params)),
        Some(id) => (Method::PUT, M::member_path(&params, id)),
    };
    client.http().send_json(method, &path, value).await
}

/// Caches a saved value as the newest for its id, and invalidates the type's
/// collections (C9).
fn record_save<M: Model>(client: &Client, saved: &M) {
    let member = saved.id().map(|id| {
        let path = M::member_path(&saved.params(), id);
        let value: Value = Arc::new(saved.clone());
        (Key::new(TypeId::of::<M>(), Kind::Member, path), value)
    });
    client.cache().saved(TypeId::of::<M>(), member);
}

pub(crate) async fn save<M: Model>(client: &Client, value: &M) -> Result<M, Error> {
    let saved = match send_save(client, value).await? {
        Some(saved) => saved,
        None => value.clone(),
    };
    record_save(client, &saved);
    Ok(saved)
}

/// Saves `value`, handing it back with the error when the save fails.
async fn save_owned<M: Model>(client: &Client, value: M) -> Result<M, (M, Error)> {
    let saved = match send_save(client, &value).await {
        Ok(Some(saved)) => saved,
        Ok(None) => value,
        Err(error) => return Err((value, error)),
    };
    record_save(client, &saved);
    Ok(saved)
}

pub(crate) async fn save_all<M: Model>(
    client: &Client,
    items: impl Iterator<Item = M> + Send,
) -> Result<Vec<M>, SaveAllError<M>> {
    let limit = client.inner.save_all_concurrency;
    all_or_fail(items, limit, |item| save_owned(client, item))
        .await
        .map_err(SaveAllError::from)
}

pub(crate) async fn destroy<M: Model>(client: &Client, value: &M) -> Result<(), Error> {
    let Some(id) = value.id() else {
        return Ok(());
    };
    let path = M::member_path(&value.params(), id);
    client.http().delete(&path).await?;
    client
        .cache()
        .destroyed(&Key::new(TypeId::of::<M>(), Kind::Member, path));
    Ok(())
}
