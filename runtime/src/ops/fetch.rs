//! `fetch` and `fetch_all` (their options, [`Fetch`], are in options.rs):
//! the fetch's future, its lookup of the key, and the span it runs in. The
//! load that a miss or a reload starts is in load.rs.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tracing::Span;

use super::load::{Fleet, load};
use super::options::Fetch;
use crate::cache::{KeyRef, Kind, Lookup, Seen, Value, Waiter};
use crate::trace::{self, outcome};
use crate::{Client, Error, Model};

// The three entry points return a `Cached`, a future written by hand: it
// holds the arguments until its first poll, then the waiter of a load, never
// both, so it stays small (a fetch is moved into `join_all`, a task, a
// `FuturesUnordered`: every byte of it is copied each time), and a hit polls
// no state machine at all.

pub(crate) fn fetch<M: Model>(
    client: &Client,
    params: M::Params,
    id: M::Id,
    options: Fetch,
) -> impl Future<Output = Result<Arc<M>, Error>> + Send + '_ {
    cached::<M, One, _>(
        client,
        move |path| M::write_member_path(&params, &id, path),
        options,
    )
}

/// A fetch of the member at `path`, which the derive built from a shallow
/// member template (E4).
pub(crate) fn fetch_at<M: Model>(
    client: &Client,
    path: String,
    options: Fetch,
) -> impl Future<Output = Result<Arc<M>, Error>> + Send + '_ {
    cached::<M, One, _>(client, move |buffer| buffer.push_str(&path), options)
}

pub(crate) fn fetch_all<M: Model>(
    client: &Client,
    params: M::Params,
    options: Fetch,
) -> impl Future<Output = Result<Arc<Vec<M>>, Error>> + Send + '_ {
    cached::<M, All, _>(
        client,
        move |path| M::write_collection_path(&params, path),
        options,
    )
}

/// What a fetch of model `M` resolves to: a member ([`One`]) or the
/// collection ([`All`]). A type, not a field, so that a fetch's future
/// carries neither its kind nor how to fill its value.
trait Shape<M>: 'static {
    /// The value fetched.
    type Value: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static;
    /// What its key is.
    const KIND: Kind;
    /// Fills the value with its answer's `ETag`.
    fn fill(value: &mut Self::Value, etag: Option<&str>);
}

/// A member.
enum One {}

/// A collection.
enum All {}

impl<M: Model> Shape<M> for One {
    type Value = M;
    const KIND: Kind = Kind::Member;

    /// A member's `#[model(etag)]` field holds its answer's `ETag`,
    /// verbatim (R8); a model without one ignores it.
    fn fill(value: &mut M, etag: Option<&str>) {
        value.set_etag(etag.map(str::to_owned));
    }
}

impl<M: Model> Shape<M> for All {
    type Value = Vec<M>;
    const KIND: Kind = Kind::Collection;

    /// A collection's items have no `ETag` of their own.
    fn fill(_: &mut Vec<M>, _: Option<&str>) {}
}

thread_local! {
    /// Where a fetch writes its path to look it up: a hit allocates nothing.
    static PATH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Calls `then` with the path `write` writes, in this thread's buffer (or a
/// new string, should `then` ever run a fetch itself): a path looked up, or
/// copied into a [`Key`](crate::cache::Key), is never a `String` of its own.
pub(super) fn with_path<R>(write: impl FnOnce(&mut String), then: impl FnOnce(&str) -> R) -> R {
    PATH.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut path) => {
            path.clear();
            write(&mut path);
            let result = then(&path);
            // A very long path is not kept for every later fetch.
            if path.capacity() > 4096 {
                *path = String::new();
            }
            result
        }
        Err(_) => {
            let mut path = String::new();
            write(&mut path);
            then(&path)
        }
    })
}

/// A cached GET of the path `write` writes, decoded as the [`Shape`] `S`
/// of model `M` and keyed as it, in a `backrest.fetch` (or `fetch_all`)
/// span.
fn cached<M: Model, S: Shape<M>, W>(
    client: &Client,
    write: W,
    options: Fetch,
) -> Cached<'_, M, S, W>
where
    W: FnOnce(&mut String) + Send,
{
    Cached {
        step: Step::Start {
            client,
            write,
            options,
        },
        shape: PhantomData,
    }
}

/// The future of a cached fetch (see [`cached`]). Nothing happens until it
/// is first polled; that poll looks the key up and either ends (a hit, a
/// stale hit, an error) or keeps the waiter of the load it joined or
/// started.
#[must_use = "futures do nothing unless you `.await` or poll them"]
struct Cached<'a, M, S, W> {
    step: Step<'a, W>,
    shape: PhantomData<fn() -> (M, S)>,
}

enum Step<'a, W> {
    /// Not polled yet: the fetch's arguments.
    Start {
        client: &'a Client,
        write: W,
        options: Fetch,
    },
    /// Waiting for a load, and the fetch's span, kept open until then. The
    /// load runs in that span itself (load.rs), so polling the waiter need
    /// not enter it; a disabled span is not kept at all, and an enabled one
    /// is boxed, so that the future stays small.
    Wait(Waiter, Option<Box<Span>>),
    /// Resolved.
    Done,
}

// No field is ever pinned: the arguments are moved out on the first poll,
// and the waiter is `Unpin` itself (polled with `Pin::new`).
impl<M, S, W> Unpin for Cached<'_, M, S, W> {}

impl<M: Model, S: Shape<M>, W> Future for Cached<'_, M, S, W>
where
    W: FnOnce(&mut String) + Send,
{
    type Output = Result<Arc<S::Value>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (mut waiter, span) = match std::mem::replace(&mut this.step, Step::Done) {
            Step::Start {
                client,
                write,
                options,
            } => {
                let mut found = None;
                if let Some(value) =
                    look_up::<M, S>(client, write, &options, cx.waker(), &mut found)
                {
                    return Poll::Ready(downcast(value));
                }
                match found {
                    Some(Found::Value(value)) => return Poll::Ready(value.and_then(downcast)),
                    // Its waker is parked: the load's end wakes this task,
                    // and nothing needs the waiter polled before then.
                    Some(Found::Joined(waiter, span)) => {
                        this.step = Step::Wait(waiter, span);
                        return Poll::Pending;
                    }
                    Some(Found::Wait(waiter, span)) => (waiter, span),
                    None => {
                        return Poll::Ready(Err(Error::internal("a fetch found nothing")));
                    }
                }
            }
            Step::Wait(waiter, span) => (waiter, span),
            Step::Done => {
                return Poll::Ready(Err(Error::internal("a fetch was polled after it resolved")));
            }
        };
        match Pin::new(&mut waiter).poll(cx) {
            Poll::Ready(value) => Poll::Ready(value.and_then(downcast)),
            Poll::Pending => {
                this.step = Step::Wait(waiter, span);
                Poll::Pending
            }
        }
    }
}

/// What the first poll of a fetch found, when it was not a fresh hit.
enum Found {
    /// Its answer: a stale hit, or an error.
    Value(Result<Value, Error>),
    /// A load it started, to wait for: polled at once, since it may run
    /// the load.
    Wait(Waiter, Option<Box<Span>>),
    /// A load it joined, its waker parked.
    Joined(Waiter, Option<Box<Span>>),
}

/// The span a waiting fetch keeps open: none if it is disabled.
fn kept(span: Span) -> Option<Box<Span>> {
    (!span.is_disabled()).then(|| Box::new(span))
}

/// The first poll of a fetch: the key looked up, in the fetch's span.
/// Returns a fresh hit; anything else is put in `found`. (A hit, the
/// common case, is a pointer pair and comes back in registers; the rest
/// is larger.)
fn look_up<M: Model, S: Shape<M>>(
    client: &Client,
    write: impl FnOnce(&mut String),
    options: &Fetch,
    waker: &Waker,
    found: &mut Option<Found>,
) -> Option<Value> {
    let policy = options.policy::<M>();
    // A member with a query is a view of it, invalidated like a
    // collection by every write of the type (E1).
    let (kind, query) = match options.checked_query() {
        Ok(Some(query)) => (Kind::Collection, Some(query)),
        Ok(None) => (S::KIND, None),
        Err(message) => {
            let mut path = String::new();
            write(&mut path);
            *found = Some(Found::Value(Err(Error::builder(format!(
                "the query of a fetch of `{path}` is not a query string: {message}"
            )))));
            return None;
        }
    };
    let write = |path: &mut String| {
        write(path);
        if let Some(query) = query {
            path.push('?');
            path.push_str(query);
        }
    };
    with_path(write, |path| {
        let key = KeyRef {
            type_id: TypeId::of::<M>(),
            kind,
            path,
        };
        // The hit path first: no span is built before it is known to be
        // a hit, and no load closure at all.
        let span = || match kind {
            Kind::Member => trace::span!("backrest.fetch", M, path),
            Kind::Collection => trace::span!("backrest.fetch_all", M, path),
        };
        let mut seen = Seen::Nothing;
        if let Some(value) = client.cache().hit(key, policy, &mut seen) {
            span().record("outcome", outcome::HIT);
            return Some(value);
        }
        let span = span();
        let lookup =
            client
                .cache()
                .slow_get(key, policy, seen, waker, |key, revalidate, refresh| {
                    let (span, started) = match (refresh, policy.reload) {
                        // The refresh of a stale value: the caller's span says
                        // `stale` and ends; the refresh is a span of its own.
                        (true, _) => (
                            trace::span!("backrest.refresh", M, key.path()),
                            outcome::MISS,
                        ),
                        (false, true) => (span.clone(), outcome::RELOAD),
                        (false, false) => (span.clone(), outcome::MISS),
                    };
                    // The fleet's cache, on the miss path only (F1).
                    let fleet = client.shared().map(|shared| Fleet {
                        shared: Arc::clone(shared),
                        key: shared.key::<M>(key.path()),
                        ttl: M::MAX_AGE,
                        reload: policy.reload,
                    });
                    load::<M, S::Value>(
                        client,
                        key.path(),
                        revalidate,
                        S::fill,
                        span,
                        started,
                        fleet,
                    )
                });
        *found = Some(match lookup {
            Lookup::Hit(value) => {
                trace::record_outcome(&span, outcome::HIT);
                Found::Value(Ok(value))
            }
            Lookup::Stale(value) => {
                trace::record_outcome(&span, outcome::STALE);
                Found::Value(Ok(value))
            }
            Lookup::Wait(waiter, true) => {
                trace::record_outcome(&span, outcome::JOIN);
                Found::Joined(waiter, kept(span))
            }
            Lookup::Wait(waiter, false) => Found::Wait(waiter, kept(span)),
            Lookup::Fail(error) => {
                trace::failed(&span, &error);
                Found::Value(Err(error))
            }
        });
        None
    })
}

fn downcast<T: Any + Send + Sync>(value: Value) -> Result<Arc<T>, Error> {
    value
        .downcast::<T>()
        .map_err(|_| Error::internal("a cached value has another type than its key"))
}
