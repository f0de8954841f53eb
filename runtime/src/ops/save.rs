//! `save`: POST when new, PUT otherwise (S1, S2), each POST with an
//! idempotency key (R5), and what a save tells the cache (C9, R9).

use std::any::TypeId;
use std::sync::Arc;

use reqwest::header::{HeaderValue, LOCATION};
use reqwest::{Method, StatusCode, Url};
use uuid::Uuid;

use crate::cache::{Key, Kind, Value};
use crate::http::{Call, IDEMPOTENCY_KEY, decode};
use crate::{Client, Error, Model};

pub(crate) async fn save<M: Model>(client: &Client, value: &M) -> Result<M, Error> {
    let key = new_key(client);
    let saved = match send(client, value, key).await? {
        Some(saved) => saved,
        None => value.clone(),
    };
    record(client, &saved);
    Ok(saved)
}

/// Saves `value` with this idempotency key, handing it back with the error
/// when the save fails: what `save_all` runs for each input.
pub(super) async fn save_owned<M: Model>(
    client: &Client,
    value: M,
    key: Option<Uuid>,
) -> Result<M, (M, Error)> {
    let saved = match send(client, &value, key).await {
        Ok(Some(saved)) => saved,
        Ok(None) => value,
        Err(error) => return Err((value, error)),
    };
    record(client, &saved);
    Ok(saved)
}

/// A fresh idempotency key, unless the client sends none.
pub(super) fn new_key(client: &Client) -> Option<Uuid> {
    client.inner.idempotency_keys.then(Uuid::new_v4)
}

/// Sends a save; `None` means the server kept the value sent (204 or empty
/// body, and no `Location` to read it from).
async fn send<M: Model>(client: &Client, value: &M, key: Option<Uuid>) -> Result<Option<M>, Error> {
    let params = value.params();
    let (method, path) = match value.id() {
        None => (Method::POST, M::collection_path(&params)),
        Some(id) => (Method::PUT, M::member_path(&params, id)),
    };
    let http = client.http();
    let mut call = Call::new(method, http.url(&path));
    let body = serde_json::to_vec(value)
        .map_err(|e| Error::encode::<M>(&call.method, &http.shown_url(&call.url), e))?;
    call.body = Some(body.into());
    if call.method == Method::POST
        && let Some(key) = key
    {
        let mut text = Uuid::encode_buffer();
        let text = key.hyphenated().encode_lower(&mut text);
        if let Ok(header) = HeaderValue::from_str(text) {
            call.headers.insert(IDEMPOTENCY_KEY, header);
        }
    }
    let answer = http.send(&call).await?;
    if answer.status == StatusCode::NO_CONTENT || answer.body.iter().all(u8::is_ascii_whitespace) {
        if call.method != Method::POST {
            return Ok(None);
        }
        let Some(location) = created_at(&call.url, answer.headers.get(LOCATION)) else {
            return Ok(None);
        };
        // The create happened: a failure to read it back must not look
        // like "never sent" (R9).
        return match http.get::<M>(location).await {
            Ok(created) => Ok(Some(created)),
            Err(error) => {
                written_but_unread(client, value);
                let attempts = error.attempts();
                Err(error.with_attempts(attempts, true))
            }
        };
    }
    match decode::<M>(&call.method, &http.shown_url(&call.url), &answer.body, true) {
        Ok(saved) => Ok(Some(saved)),
        Err(error) => {
            written_but_unread(client, value);
            Err(error.with_attempts(answer.attempts, true))
        }
    }
}

/// The URL of a `Location` header if it names a member of the collection
/// at `collection` (same origin, under its path).
fn created_at(collection: &str, location: Option<&HeaderValue>) -> Option<String> {
    let base = Url::parse(collection).ok()?;
    let location = base.join(location?.to_str().ok()?).ok()?;
    let under = location.origin() == base.origin()
        && location
            .path()
            .strip_prefix(base.path())
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'));
    under.then(|| location.into())
}

/// The server accepted a write whose answer could not be read: the cache
/// forgets the member and the type's collections, so the next fetch reads
/// what the server holds (R9).
fn written_but_unread<M: Model>(client: &Client, value: &M) {
    match value.id() {
        Some(id) => {
            let path = M::member_path(&value.params(), id);
            client
                .cache()
                .destroyed(&Key::new(TypeId::of::<M>(), Kind::Member, path));
        }
        None => client.cache().saved(TypeId::of::<M>(), None),
    }
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
