//! The load that a fetch's miss or reload starts: a GET, conditional when
//! there is a value to revalidate (R7), filling a member's etag (R8),
//! through the fleet's shared cache when there is one (F1, F3).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use tracing::{Instrument, Span};

use super::{conditions, envelope};
use crate::cache::{Load, Loaded, Revalidate, Stats, Validators, Value};
use crate::http::Call;
use crate::shared::{Entry, Shared, Source};
use crate::trace::{self, outcome};
use crate::{Client, Error, Model};

/// A load's view of the fleet's shared cache: the key's shared name, how
/// long what the origin answers stays there, and whether the shared copy
/// may be read (not for a reload).
pub(super) struct Fleet {
    pub(super) shared: Arc<Shared>,
    pub(super) key: String,
    pub(super) ttl: Option<Duration>,
    pub(super) reload: bool,
}

/// The load of one key: a GET, conditional when the cache handed it a value
/// to revalidate (R7). A `304` ends it with that value, the same `Arc`, and
/// its validators; any other answer with the value it decodes to and the
/// answer's own validators. It records on the span of the fetch that
/// started it. With a shared cache, the shared copy is read first (F1) and
/// the origin asked under the key's lease (F3); what the origin answers is
/// shared.
pub(super) fn load<M: Model, T>(
    client: &Client,
    path: &str,
    revalidate: Option<Revalidate>,
    fill: fn(&mut T, Option<&str>),
    span: Span,
    started: &'static str,
    fleet: Option<Fleet>,
) -> Load
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let mut call = Call::new(Method::GET, client.http().url(path));
    if let Some(revalidate) = &revalidate {
        conditions::revalidate(&mut call, &revalidate.validators);
    }
    let client = client.clone();
    let traced = span.clone();
    let load = async move {
        let Some(fleet) = fleet else {
            return origin::<M, T>(&client, &call, revalidate, fill, &span, started)
                .await
                .map(|(loaded, _)| loaded);
        };
        let (mut version, mut leased) = (None, false);
        if !fleet.reload {
            // The fleet's futures are boxed, to keep every load small (see
            // `origin`); a round trip to the shared cache costs far more.
            match Box::pin(fleet.shared.before_origin(client.cache(), &fleet.key)).await {
                Source::Shared(entry) => match shared_hit::<M, T>(entry, revalidate.as_ref(), fill)
                {
                    Some(loaded) => {
                        fleet.shared.hit();
                        span.record("outcome", outcome::SHARED);
                        return Ok(loaded);
                    }
                    None => fleet.shared.undecodable(),
                },
                Source::Origin {
                    version: read,
                    leased: held,
                } => (version, leased) = (read, held),
            }
        }
        let answered = origin::<M, T>(&client, &call, revalidate, fill, &span, started).await;
        let entry = match &answered {
            Ok((_, entry)) => entry.clone(),
            Err(_) => None,
        };
        Box::pin(
            fleet
                .shared
                .after_origin(&fleet.key, entry, fleet.ttl, version, leased),
        )
        .await;
        answered.map(|(loaded, _)| loaded)
    };
    Box::pin(load.instrument(traced))
}

/// Asks the origin: the value loaded, and what the shared cache stores of
/// it (the body as it came, or the revalidated value encoded again).
async fn origin<M: Model, T>(
    client: &Client,
    call: &Call,
    revalidate: Option<Revalidate>,
    fill: fn(&mut T, Option<&str>),
    span: &Span,
    started: &'static str,
) -> Result<(Loaded, Option<Entry>), Error>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let http = client.http();
    // `send` boxes the request: a load holding it inline would weigh over
    // a kilobyte (see `Http::send`).
    let answer = match http.send(call).await {
        Ok(answer) => answer,
        Err(error) => {
            trace::failed(span, &error);
            return Err(error);
        }
    };
    trace::answered(span, answer.status, answer.attempts);
    if conditions::not_modified(answer.status) {
        return match revalidate {
            Some(revalidate) => {
                span.record("outcome", outcome::NOT_MODIFIED);
                Stats::count(&client.cache().counters().not_modified);
                let entry = client.shared().and_then(|_| {
                    let value = revalidate.value.downcast_ref::<T>()?;
                    // Stored as the origin sends it: in the envelope, if any.
                    let body = serde_json::to_value(value).ok()?;
                    let body = serde_json::to_vec(&envelope::wrap::<M>(body)).ok()?;
                    Some(entry(body.into(), Some(&revalidate.validators)))
                });
                Ok((revalidate.not_modified(), entry))
            }
            None => Err(Error::internal("a 304 answered an unconditional GET")),
        };
    }
    let mut value: T = match envelope::decode::<M, T>(http, call, &answer, false) {
        Ok(value) => value,
        Err(error) => {
            span.record("outcome", outcome::ERROR);
            return Err(error);
        }
    };
    span.record("outcome", started);
    let validators = conditions::validators(&answer.headers);
    fill(
        &mut value,
        validators.as_ref().and_then(|v| v.etag.as_deref()),
    );
    let entry = client
        .shared()
        .map(|_| entry(answer.body.clone(), validators.as_deref()));
    let value: Value = Arc::new(value);
    Ok((
        Loaded {
            value,
            validators,
            bytes: answer.body.len(),
            age: Duration::ZERO,
        },
        entry,
    ))
}

fn entry(body: bytes::Bytes, validators: Option<&Validators>) -> Entry {
    Entry {
        body,
        etag: validators.and_then(|v| v.etag.clone()),
        last_modified: validators.and_then(|v| v.last_modified.clone()),
        age: Duration::ZERO,
    }
}

/// A value another process stored (F1), decoded, with its validators; if
/// they are those of the value this load would revalidate, that very value.
/// `None`: the entry does not decode as a `T`.
fn shared_hit<M: Model, T>(
    entry: Entry,
    revalidate: Option<&Revalidate>,
    fill: fn(&mut T, Option<&str>),
) -> Option<Loaded>
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let validators = (entry.etag.is_some() || entry.last_modified.is_some()).then(|| {
        Arc::new(Validators {
            etag: entry.etag,
            last_modified: entry.last_modified,
        })
    });
    if let (Some(revalidate), Some(validators)) = (revalidate, &validators)
        && *revalidate.validators == **validators
    {
        return Some(Loaded {
            value: Arc::clone(&revalidate.value),
            validators: Some(Arc::clone(&revalidate.validators)),
            bytes: revalidate.bytes,
            age: entry.age,
        });
    }
    let mut value: T = match M::ENVELOPE {
        None => serde_json::from_slice(&entry.body).ok()?,
        Some(name) => {
            let mut body: serde_json::Value = serde_json::from_slice(&entry.body).ok()?;
            serde_json::from_value(body.get_mut(name)?.take()).ok()?
        }
    };
    fill(
        &mut value,
        validators.as_ref().and_then(|v| v.etag.as_deref()),
    );
    Some(Loaded {
        value: Arc::new(value),
        validators,
        bytes: entry.body.len(),
        age: entry.age,
    })
}
