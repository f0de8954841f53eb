//! `save`: POST when new, PUT otherwise (S1, S2), each POST with an
//! idempotency key (R5), each PUT of a value with an etag with `If-Match`
//! (R8), and what a save tells the cache (C9, R7, R8, R9).

use std::any::TypeId;
use std::sync::Arc;

use reqwest::header::{HeaderValue, LOCATION};
use reqwest::{Method, StatusCode, Url};
use tracing::{Instrument, Span};
use uuid::Uuid;

use super::fetch::with_path;
use super::{conditions, envelope};
use crate::cache::{Key, Kind, Validators};
use crate::error::Delivery;
use crate::http::{Call, IDEMPOTENCY_KEY};
use crate::shared;
use crate::trace::{self, outcome};
use crate::{Client, Error, Model};

pub(crate) async fn save<M: Model>(client: &Client, value: &M) -> Result<M, Error> {
    let key = new_key(client, value);
    let sent = send(client, value, key, Verb::pick(value)).await?;
    let saved = sent.value.unwrap_or_else(|| value.clone());
    Ok(recorded(client, saved, sent.validators, sent.bytes).await)
}

/// `create` (E5): always a POST to the collection, with an idempotency key
/// (R5), whether or not the value already has an id (a client-chosen one).
pub(crate) async fn create<M: Model>(client: &Client, value: &M) -> Result<M, Error> {
    let key = client.inner.idempotency_keys.then(Uuid::new_v4);
    let sent = send(client, value, key, Verb::Create).await?;
    let saved = sent.value.unwrap_or_else(|| value.clone());
    Ok(recorded(client, saved, sent.validators, sent.bytes).await)
}

/// `update` (E5): always a PUT to the member path; a value without an id
/// has no member path, so it is an `is_builder()` error and nothing is sent.
pub(crate) async fn update<M: Model>(client: &Client, value: &M) -> Result<M, Error> {
    if value.id().is_none() {
        return Err(Error::builder(format!(
            "cannot update a `{}` without an id: `update` PUTs to the member path; use \
             `create` or `save` to POST a new value",
            std::any::type_name::<M>()
        )));
    }
    let sent = send(client, value, None, Verb::Update).await?;
    let saved = sent.value.unwrap_or_else(|| value.clone());
    Ok(recorded(client, saved, sent.validators, sent.bytes).await)
}

/// Which write a save sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    /// POST to the collection.
    Create,
    /// PUT to the member path (the value has an id).
    Update,
}

impl Verb {
    /// What `save` sends: a create while the value has no id (S1).
    fn pick<M: Model>(value: &M) -> Verb {
        if value.is_new() {
            Verb::Create
        } else {
            Verb::Update
        }
    }
}

/// Saves `value` with this idempotency key, handing it back with the error
/// when the save fails: what `save_all` runs for each input.
pub(super) async fn save_owned<M: Model>(
    client: &Client,
    value: M,
    key: Option<Uuid>,
) -> Result<M, (M, Error)> {
    // Boxed: `save_all` keeps thousands of these futures, each in a task of
    // its `FuturesUnordered`, and unboxed that task was 1,456 bytes, past
    // what glibc's per-thread cache serves (1,032). Two allocations it
    // serves cost less than one it does not (ARCHITECTURE.md, "Every boxed
    // load fits the allocator's fast sizes").
    let sent = match Box::pin(send(client, &value, key, Verb::pick(&value))).await {
        Ok(sent) => sent,
        Err(error) => return Err((value, error)),
    };
    let saved = sent.value.unwrap_or(value);
    Ok(recorded(client, saved, sent.validators, sent.bytes).await)
}

/// [`record`], then the fleet's side of the save (F2): what save, create,
/// update and patch end with.
pub(super) async fn recorded<M: Model>(
    client: &Client,
    saved: M,
    validators: Option<Arc<Validators>>,
    bytes: usize,
) -> M {
    let shared = client.shared().and(validators.clone());
    let saved = record(client, saved, validators, bytes);
    shared::saved(client, &saved, shared.as_deref()).await;
    saved
}

/// A fresh idempotency key for saving `value`, if it is a create and the
/// client sends keys.
pub(super) fn new_key<M: Model>(client: &Client, value: &M) -> Option<Uuid> {
    // Only a create is sent with one (R5); a PUT is idempotent by itself.
    (client.inner.idempotency_keys && value.is_new()).then(Uuid::new_v4)
}

/// What the answer to a save said.
struct Sent<M> {
    /// The server's value; `None`: it kept the value sent (204 or empty
    /// body, and no `Location` to read it from).
    value: Option<M>,
    /// The validators of the answer the value came in (R7); its `ETag`
    /// becomes the saved value's etag (R8).
    validators: Option<Arc<Validators>>,
    /// The length of the body the value is in: the answer's, or the one
    /// sent when the server kept it (P2).
    bytes: usize,
}

/// Sends a save, in a `backrest.save` span (P4).
async fn send<M: Model>(
    client: &Client,
    value: &M,
    key: Option<Uuid>,
    verb: Verb,
) -> Result<Sent<M>, Error> {
    let params = value.params();
    let (method, path) = match (verb, value.id()) {
        (Verb::Update, Some(id)) => (Method::PUT, M::member_path(&params, id)),
        _ => (Method::POST, M::collection_path(&params)),
    };
    let span = trace::span!("backrest.save", M, path.as_str());
    let outcome = match method {
        Method::POST => outcome::CREATED,
        _ => outcome::UPDATED,
    };
    let sent = send_traced(client, value, key, method, &path, &span)
        .instrument(span.clone())
        .await;
    match &sent {
        Ok(_) => {
            span.record("outcome", outcome);
        }
        Err(error) => trace::failed(&span, error),
    }
    sent
}

/// Sends a save. A PUT refused with 412 (its `If-Match` no longer matches)
/// forgets the member, so that the next fetch reads the server's (R8).
async fn send_traced<M: Model>(
    client: &Client,
    value: &M,
    key: Option<Uuid>,
    method: Method,
    path: &str,
    span: &Span,
) -> Result<Sent<M>, Error> {
    let http = client.http();
    let mut call = Call::new(method, http.url(path));
    // A new value's etag, if it has one, is another resource's: a create
    // is not conditional.
    if call.method == Method::PUT {
        conditions::if_match(&mut call, value.etag())?;
    }
    let body = envelope::to_vec(value)
        .map_err(|e| Error::encode::<M>(&call.method, &http.shown_url(&call.url), e))?;
    let sent_bytes = body.len();
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
    let answer = match http.send(&call).await {
        Ok(answer) => answer,
        Err(error) => {
            if conditions::precondition_failed(&error) {
                refused(client, value);
            } else if error.delivery() == Delivery::Unknown {
                // Sent without a complete answer: it may have been written.
                written_but_unread(client, value);
            }
            return Err(error);
        }
    };
    trace::answered(span, answer.status, answer.attempts);
    let validators = conditions::validators(&answer.headers);
    if answer.status == StatusCode::NO_CONTENT || answer.body.iter().all(u8::is_ascii_whitespace) {
        let kept = Sent {
            value: None,
            validators,
            bytes: sent_bytes,
        };
        if call.method != Method::POST {
            return Ok(kept);
        }
        let Some(location) = created_at(&call.url, answer.headers.get(LOCATION)) else {
            return Ok(kept);
        };
        // The create happened: a failure to read it back must not look
        // like "never sent" (R9).
        return match read_back::<M>(client, location).await {
            Ok(created) => Ok(created),
            Err(error) => {
                written_but_unread(client, value);
                let attempts = error.attempts();
                Err(error.with_attempts(attempts, true))
            }
        };
    }
    match envelope::decode::<M, M>(http, &call, &answer, true) {
        Ok(saved) => Ok(Sent {
            value: Some(saved),
            validators,
            bytes: answer.body.len(),
        }),
        Err(error) => {
            written_but_unread(client, value);
            Err(error)
        }
    }
}

/// GET of a created member at its `Location`: the value and validators of
/// that answer.
async fn read_back<M: Model>(client: &Client, url: String) -> Result<Sent<M>, Error> {
    let http = client.http();
    let call = Call::new(Method::GET, url);
    let answer = http.send(&call).await?;
    let created = envelope::decode::<M, M>(http, &call, &answer, false)?;
    Ok(Sent {
        value: Some(created),
        validators: conditions::validators(&answer.headers),
        bytes: answer.body.len(),
    })
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
pub(super) fn written_but_unread<M: Model>(client: &Client, value: &M) {
    match value.id() {
        Some(id) => {
            let path = M::member_path(&value.params(), id);
            client
                .cache()
                .destroyed(&Key::new(TypeId::of::<M>(), Kind::Member, &path));
        }
        None => client.cache().saved(TypeId::of::<M>()),
    }
}

/// The server refused a conditional write (412): nothing was written, but
/// the value the write was based on is not the server's any more, so the
/// cache forgets the member (R8). Collections stay: nothing changed.
pub(super) fn refused<M: Model>(client: &Client, value: &M) {
    if let Some(id) = value.id() {
        let path = M::member_path(&value.params(), id);
        client
            .cache()
            .invalidated(&Key::new(TypeId::of::<M>(), Kind::Member, &path));
    }
}

/// Gives the saved value the etag of the answer it came in (`None` if the
/// answer had no `ETag`: R8), caches it as the newest for its id with that
/// answer's validators (R7), and invalidates the type's collections (C9).
pub(super) fn record<M: Model>(
    client: &Client,
    mut saved: M,
    validators: Option<Arc<Validators>>,
    bytes: usize,
) -> M {
    saved.set_etag(validators.as_ref().and_then(|v| v.etag.clone()));
    match saved.id() {
        Some(id) => {
            let key = with_path(
                |path| M::write_member_path(&saved.params(), id, path),
                |path| Key::new(TypeId::of::<M>(), Kind::Member, path),
            );
            client
                .cache()
                .saved_value(TypeId::of::<M>(), key, saved.clone(), validators, bytes);
        }
        None => client.cache().saved(TypeId::of::<M>()),
    }
    saved
}
