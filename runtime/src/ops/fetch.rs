//! `fetch` and `fetch_all`, and their options, [`Fetch`]; the load that a
//! miss or a reload runs, conditional when there is a value to revalidate
//! (R7), filling a member's etag (R8).

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use tracing::{Instrument, Span};

use super::conditions;
use crate::cache::{Key, Kind, Load, Loaded, Lookup, Policy, Revalidate, Stats, Validators, Value};
use crate::http::Call;
use crate::shared::{Entry, Shared, Source};
use crate::trace::{self, outcome};
use crate::{Client, Error, Model};

/// How a fetch uses the cache.
///
/// `Fetch::default()` (or [`Fetch::new`]) is a plain fetch: it returns the
/// cached value if there is one that is fresh, joins the newest request in
/// flight for the same resource if there is one, and otherwise sends a
/// request. [`Fetch::reload`] always sends a new request;
/// [`Fetch::max_age`] says how old a cached value may be.
///
/// ```no_run
/// # async fn demo(client: backrest::Client) -> Result<(), backrest::Error> {
/// # use backrest::{Fetch, Model};
/// # use std::time::Duration;
/// # #[derive(Clone, serde::Serialize, serde::Deserialize, Model)]
/// # #[model(path = "/users")]
/// # struct User { #[model(id)] id: Option<u64> }
/// let fresh = User::fetch_with(&client, 7, Fetch::reload()).await?;
/// let recent = User::fetch_with(&client, 7, Fetch::new().max_age(Duration::from_secs(5))).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetch {
    reload: bool,
    max_age: Option<Duration>,
}

impl Fetch {
    /// A plain fetch: cached and shared.
    pub const fn new() -> Self {
        Fetch {
            reload: false,
            max_age: None,
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
        Fetch {
            reload: true,
            max_age: None,
        }
    }

    /// Serves a cached value only while its age (from when its answer
    /// arrived) is at most `max_age`; an older one is a miss, which joins or
    /// sends a request, conditional if the value has validators. Overrides
    /// the model's `#[model(max_age = "..")]` for this call; the model's
    /// `stale_while_revalidate` still applies after it.
    /// `max_age(Duration::ZERO)` accepts only a value that arrived this
    /// very instant.
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Whether this fetch is a reload.
    pub const fn is_reload(&self) -> bool {
        self.reload
    }

    /// How the cache may serve this fetch of an `M`.
    fn policy<M: Model>(&self) -> Policy {
        Policy {
            reload: self.reload || M::RELOAD,
            max_age: self.max_age.or(M::MAX_AGE),
            stale_while_revalidate: M::STALE_WHILE_REVALIDATE,
        }
    }
}

pub(crate) async fn fetch<M: Model>(
    client: &Client,
    path: String,
    options: Fetch,
) -> Result<Arc<M>, Error> {
    let span = trace::span!("backrest.fetch", M, path.as_str());
    cached::<M, M>(client, Kind::Member, path, options, fill_etag::<M>, span).await
}

pub(crate) async fn fetch_all<M: Model>(
    client: &Client,
    path: String,
    options: Fetch,
) -> Result<Arc<Vec<M>>, Error> {
    let span = trace::span!("backrest.fetch_all", M, path.as_str());
    // A collection's items have no `ETag` of their own.
    cached::<M, Vec<M>>(client, Kind::Collection, path, options, |_, _| {}, span).await
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
    span: Span,
) -> Result<Arc<T>, Error>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let key = Key::new(TypeId::of::<M>(), kind, path);
    let policy = options.policy::<M>();
    let lookup = client.cache().get(key, policy, |key, revalidate| {
        let started = match policy.reload {
            true => outcome::RELOAD,
            false => outcome::MISS,
        };
        // The fleet's cache, on the miss path only (F1).
        let fleet = client.shared().map(|shared| Fleet {
            shared: Arc::clone(shared),
            key: shared.key::<M>(key.path()),
            ttl: M::MAX_AGE,
            reload: policy.reload,
        });
        load::<T>(
            client,
            key.path(),
            revalidate,
            fill,
            span.clone(),
            started,
            fleet,
        )
    });
    let value = match lookup {
        Lookup::Hit(value) => {
            span.record("outcome", outcome::HIT);
            value
        }
        Lookup::Stale(value) => {
            span.record("outcome", outcome::STALE);
            value
        }
        Lookup::Wait(waiter, joined) => {
            if joined {
                span.record("outcome", outcome::JOIN);
            }
            waiter.instrument(span).await?
        }
        Lookup::Fail(error) => {
            trace::failed(&span, &error);
            return Err(error);
        }
    };
    downcast(value)
}

/// A load's view of the fleet's shared cache: the key's shared name, how
/// long what the origin answers stays there, and whether the shared copy
/// may be read (not for a reload).
struct Fleet {
    shared: Arc<Shared>,
    key: String,
    ttl: Option<Duration>,
    reload: bool,
}

/// The load of one key: a GET, conditional when the cache handed it a value
/// to revalidate (R7). A `304` ends it with that value, the same `Arc`, and
/// its validators; any other answer with the value it decodes to and the
/// answer's own validators. It records on the span of the fetch that
/// started it. With a shared cache, the shared copy is read first (F1) and
/// the origin asked under the key's lease (F3); what the origin answers is
/// shared.
fn load<T>(
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
            return origin::<T>(&client, &call, revalidate, fill, &span, started)
                .await
                .map(|(loaded, _)| loaded);
        };
        let (mut version, mut leased) = (None, false);
        if !fleet.reload {
            match fleet.shared.before_origin(client.cache(), &fleet.key).await {
                Source::Shared(entry) => match shared_hit(entry, revalidate.as_ref(), fill) {
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
        let answered = origin::<T>(&client, &call, revalidate, fill, &span, started).await;
        let entry = match &answered {
            Ok((_, entry)) => entry.clone(),
            Err(_) => None,
        };
        fleet
            .shared
            .after_origin(&fleet.key, entry, fleet.ttl, version, leased)
            .await;
        answered.map(|(loaded, _)| loaded)
    };
    Box::pin(load.instrument(traced))
}

/// Asks the origin: the value loaded, and what the shared cache stores of
/// it (the body as it came, or the revalidated value encoded again).
async fn origin<T>(
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
                    let body = serde_json::to_vec(value).ok()?;
                    Some(entry(body.into(), Some(&revalidate.validators)))
                });
                Ok((revalidate.not_modified(), entry))
            }
            None => Err(Error::internal("a 304 answered an unconditional GET")),
        };
    }
    let mut value: T = match http.decode(call, &answer, false) {
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
fn shared_hit<T>(
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
    let mut value: T = serde_json::from_slice(&entry.body).ok()?;
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

fn downcast<T: Any + Send + Sync>(value: Value) -> Result<Arc<T>, Error> {
    value
        .downcast::<T>()
        .map_err(|_| Error::internal("a cached value has another type than its key"))
}
