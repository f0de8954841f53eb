//! `save`: POST when new, PUT otherwise (S1, S2), and what a save tells the
//! cache (C9).

use std::any::TypeId;
use std::sync::Arc;

use reqwest::Method;

use crate::cache::{Key, Kind, Value};
use crate::{Client, Error, Model};

pub(crate) async fn save<M: Model>(client: &Client, value: &M) -> Result<M, Error> {
    let saved = match send(client, value).await? {
        Some(saved) => saved,
        None => value.clone(),
    };
    record(client, &saved);
    Ok(saved)
}

/// Saves `value`, handing it back with the error when the save fails: what
/// `save_all` runs for each input.
pub(super) async fn save_owned<M: Model>(client: &Client, value: M) -> Result<M, (M, Error)> {
    let saved = match send(client, &value).await {
        Ok(Some(saved)) => saved,
        Ok(None) => value,
        Err(error) => return Err((value, error)),
    };
    record(client, &saved);
    Ok(saved)
}

/// Sends a save; `None` means the server kept the value sent (204 or empty).
async fn send<M: Model>(client: &Client, value: &M) -> Result<Option<M>, Error> {
    let params = value.params();
    let (method, path) = match value.id() {
        None => (Method::POST, M::collection_path(&params)),
        Some(id) => (Method::PUT, M::member_path(&params, id)),
    };
    let url = client.http().url(&path);
    client.http().send_json(method, &url, value).await
}

/// Caches a saved value as the newest for its id, and invalidates the type's
/// collections (C9).
fn record<M: Model>(client: &Client, saved: &M) {
    let member = saved.id().map(|id| {
        let path = M::member_path(&saved.params(), id);
        let value: Value = Arc::new(saved.clone());
        (Key::new(TypeId::of::<M>(), Kind::Member, path), value)
    });
    client.cache().saved(TypeId::of::<M>(), member);
}
