//! A typed fake REST server for the tests of code that uses
//! [backrest](https://docs.rs/backrest).
//!
//! [`FakeApi`] is an HTTP server on 127.0.0.1, in the test's process, whose
//! routes are derived from the same `#[derive(Model)]` structs the code under
//! test uses: `api.serve::<User>()` answers `GET /users`, `POST /users`,
//! `GET`, `PUT`, `PATCH` and `DELETE /users/{id}`, and keeps what was
//! written, so that a test reads as the story it tells:
//!
//! ```
//! use backrest::fake::FakeApi;
//! use backrest::Model;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
//! #[model(path = "/users")]
//! struct User {
//!     #[model(id)]
//!     id: Option<u64>,
//!     name: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), backrest::Error> {
//! let api = FakeApi::start().await;
//! api.serve::<User>();
//! let ada = api.insert(User { id: None, name: "Ada".into() }); // id 1
//!
//! let client = api.client();
//! let mut fetched = (*User::fetch(&client, 1).await?).clone();
//! fetched.name = "Ada Lovelace".into();
//! fetched.save(&client).await?; // PUT /users/1
//!
//! assert_eq!(api.all::<User>(()), [User { id: ada.id, name: "Ada Lovelace".into() }]);
//! # Ok(()) }
//! ```
//!
//! A model that is not one, or parameters of the wrong type, do not
//! compile: `api.all::<Repo>("acme")` for a `Repo` at `/orgs/{org_id}/repos`
//! with `org_id: u64` is a type error (it takes `(u64,)`).
//!
//! # What it serves
//!
//! - **Routes** from [`Model::PATH`]: a collection (`GET` lists, `POST`
//!   creates, `201` with `Location`) and its members (`GET`, `PUT`, `PATCH`
//!   with an RFC 7396 merge patch, `DELETE` answering `204`). Nested
//!   parameters (`/orgs/{org_id}/repos`) keep each parent's members apart.
//!   Bodies are read as the model (a body that is not one is a `422`), and
//!   members are stored as the model writes them.
//! - **Ids**: integers in sequence, from 1, for integer ids
//!   ([`serve`](FakeApi::serve)); any other kind from a function of yours
//!   ([`serve_with`](FakeApi::serve_with)). A create that brings its own id
//!   keeps it (`409` if it is taken).
//! - **ETags**: each member has a strong `ETag`, `"<revision>"`, new on
//!   each write, sent with every answer that carries it; a list's is a hash
//!   of its body. `If-None-Match` that matches is a `304`; `If-Match` that
//!   does not is a `412`, and nothing is written.
//! - **Idempotency-Key**: a write with a key already seen (same method,
//!   path and body) gets the stored answer again, with
//!   `Idempotent-Replayed: true`, and changes nothing; the key with another
//!   request is a `422`.
//! - **Pagination**: with [`page_size`](FakeApi::page_size), or a `_limit`
//!   in the query, lists are paged (`_page` from 1, json-server style) with
//!   RFC 8288 `Link` headers (`next`, `prev`, `first`, `last`) and
//!   `X-Total-Count`.
//! - **Filters**: every other query parameter is an equality filter on the
//!   field of that (JSON) name: `GET /users?name=Ada`.
//! - **Failures on demand**: [`fail`](FakeApi::fail) answers a status,
//!   [`fault`](FakeApi::fault) breaks the connection ([`Fault`]),
//!   [`delay`](FakeApi::delay) holds every answer.
//! - **Records**: [`requests`](FakeApi::requests) holds every request
//!   received, as it came.
//!
//! - **Shallow members** (`#[model(member = "/comments/{id}")]`, from
//!   [`Model::MEMBER`]): lists and creates under the collection path
//!   (`/posts/{post_id}/comments`), members at their own path; a member is
//!   found by id across its parents' collections (ids are unique across
//!   them), and a `PUT` that would move it to another parent is a `422`.
//! - **Singletons** (`#[model(singleton)]`, whose [`Model::Id`] is
//!   [`NoId`]): one member per parameters, at the path itself: `GET`,
//!   `PUT` (which creates it, `201`, or replaces it), `PATCH`, `DELETE`;
//!   no list, no `POST`.
//! - **Envelopes** (`#[model(envelope = "data")]`, from
//!   [`Model::ENVELOPE`]): request bodies are read from `{"data": ...}`
//!   (a body without it is a `422`), and members and lists are answered
//!   in it; errors and the typed API are not wrapped.
//!
//! # Compared with wiremock
//!
//! [wiremock](https://docs.rs/wiremock) answers the requests you script:
//! you say which method and path get which answer, and it checks what it
//! received against your expectations. It fits any HTTP API, and tests the
//! exact requests. The fake derives its routes from your models and keeps
//! state: a create is there for the next fetch, a save changes what `all`
//! returns, and the protocol (ETags, idempotency keys, paging) behaves as a
//! server's would, so a test says what happened rather than what each
//! answer is. Use wiremock for an API whose answers your models do not
//! describe, the fake for the REST resources they do.

mod fault;
mod protocol;
mod route;
mod store;

use std::any::TypeId;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request as HttpRequest;
use backrest_runtime::{Client, ClientBuilder, Model, NoId};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use axum::http::{HeaderMap, Method};
pub use backrest_runtime::StatusCode;
pub use fault::Fault;

use crate::fault::Injected;
use crate::protocol::Replay;
use crate::route::Routes;
use crate::store::{Codec, Member, Refusal, Resource, Typed, short_name};

/// How long [`FakeApi::wait_for`] waits before it fails the test.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// A fake REST server on 127.0.0.1 (a random port), serving the models it
/// is told to serve and keeping what is written to it.
///
/// It stops when dropped: it accepts no more connections, answers that are
/// held (by [`delay`](FakeApi::delay)) are dropped, and its task ends once
/// the connections still open have closed. [`shutdown`](FakeApi::shutdown)
/// does the same and waits for it.
///
/// Every method that names a model `M`, but `serve` and `serve_with`,
/// panics if `M` is not served (call [`serve`](FakeApi::serve) first): that
/// is a mistake in the test, and the message says so.
pub struct FakeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.shared.state);
        let served: Vec<&str> = state.resources.iter().map(|r| r.name).collect();
        f.debug_struct("FakeApi")
            .field("url", &self.shared.base)
            .field("served", &served)
            .finish_non_exhaustive()
    }
}

/// What the server's handlers and the test share.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// `true` once the [`FakeApi`] is dropped.
    pub(crate) stopped: watch::Sender<bool>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// Woken on each request's arrival.
    pub(crate) arrival: Notify,
}

/// Everything the fake holds.
#[derive(Default)]
pub(crate) struct State {
    /// The served models, in the order they were served.
    pub(crate) resources: Vec<Resource>,
    pub(crate) log: Vec<Request>,
    pub(crate) replays: HashMap<String, Replay>,
    /// The last revision given to a write, across models.
    pub(crate) revision: u64,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request {
    /// The method, such as `GET`.
    pub method: Method,
    /// The path as sent, percent-encoding and query included:
    /// `/users?name=Ada`.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body (empty if there was none).
    pub body: Vec<u8>,
}

impl Request {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value, if it was sent and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// An id type the fake can assign in sequence: the integers, from 1; and
/// [`NoId`], a singleton's, which has none to assign.
///
/// Models with other ids are served with
/// [`serve_with`](FakeApi::serve_with) and a function that makes each new
/// id.
#[diagnostic::on_unimplemented(
    message = "the fake cannot assign `{Self}` ids in sequence",
    label = "not an integer id",
    note = "serve this model with `api.serve_with::<M>(|n| ...)`, a function that makes the \
            n-th new id, such as `|n| format!(\"key-{{n}}\")` for `String` ids"
)]
pub trait SequentialId: Sized {
    /// The `n`-th id (`n` from 1) as the JSON of the id field, or `None`
    /// if it is out of range.
    fn nth(n: u64) -> Option<Value>;
}

macro_rules! sequential {
    ($($ty:ty),*) => {$(
        impl SequentialId for $ty {
            fn nth(n: u64) -> Option<Value> {
                serde_json::to_value(<$ty>::try_from(n).ok()?).ok()
            }
        }
    )*};
}

/// A singleton has no ids: the fake never asks for one.
impl SequentialId for NoId {
    fn nth(_: u64) -> Option<Value> {
        None
    }
}

sequential!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

impl FakeApi {
    /// Starts a fake on a random port of 127.0.0.1, serving nothing yet.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound, or outside a Tokio runtime.
    pub async fn start() -> FakeApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port of 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stopped: watch::Sender::new(false),
            base: format!("http://{addr}"),
            arrival: Notify::new(),
        });
        let state = Arc::clone(&shared);
        let app = Router::new().fallback(move |request: HttpRequest<Body>| {
            protocol::handle(Arc::clone(&state), request)
        });
        let mut stopped = shared.stopped.subscribe();
        let task = tokio::spawn(async move {
            let signal = async move {
                let _ = stopped.wait_for(|stopped| *stopped).await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await;
        });
        FakeApi {
            addr,
            shared,
            task: Some(task),
        }
    }

    /// The fake's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.shared.base
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A new [`Client`] on the fake, with backrest's defaults (its own
    /// cache: clone it to share one).
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("the fake's URL is a valid base")
    }

    /// A [`ClientBuilder`] on the fake, to set options such as
    /// [`retry`](ClientBuilder::retry) before building.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder(self.url())
    }

    /// Serves `M`'s routes, assigning integer ids in sequence from 1.
    /// Serving a model again keeps what it holds.
    ///
    /// A model whose id is not an integer does not compile here: see
    /// [`serve_with`](FakeApi::serve_with).
    ///
    /// # Panics
    ///
    /// If `M`'s path template has two placeholders in one segment.
    pub fn serve<M>(&self)
    where
        M: Model,
        M::Id: SequentialId,
    {
        self.serve_ids::<M>(Box::new(|n| {
            M::Id::nth(n).ok_or_else(|| format!("the id {n} is out of range"))
        }));
    }

    /// Serves `M`'s routes, making the id of each new member with
    /// `next_id(n)`, `n` counting creates from 1 (an id already taken is
    /// skipped: `next_id` is called again with the next `n`).
    ///
    /// ```
    /// # use backrest::fake::FakeApi;
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Debug, Clone, Serialize, Deserialize, backrest::Model)]
    /// #[model(path = "/keys")]
    /// struct Key {
    ///     #[model(id)]
    ///     id: Option<String>,
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let api = FakeApi::start().await;
    /// api.serve_with::<Key>(|n| format!("key-{n}"));
    /// assert_eq!(api.insert(Key { id: None }).id.as_deref(), Some("key-1"));
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If `M`'s path template has two placeholders in one segment.
    pub fn serve_with<M>(&self, mut next_id: impl FnMut(u64) -> M::Id + Send + 'static)
    where
        M: Model,
        M::Id: Serialize,
    {
        self.serve_ids::<M>(Box::new(move |n| {
            serde_json::to_value(next_id(n)).map_err(|error| error.to_string())
        }));
    }

    fn serve_ids<M: Model>(&self, ids: store::IdMaker) {
        let mut state = self.lock();
        let type_id = TypeId::of::<M>();
        if let Some(resource) = state.resources.iter_mut().find(|r| r.type_id == type_id) {
            resource.ids = ids;
            return;
        }
        // A singleton's id is `NoId` (E5): its one member is at its path.
        let singleton = TypeId::of::<M::Id>() == TypeId::of::<NoId>();
        let routes = Routes::new(M::PATH, M::MEMBER, singleton)
            .unwrap_or_else(|why| panic!("FakeApi cannot serve `{}`: {why}", short_name::<M>()));
        state.resources.push(Resource {
            type_id,
            name: short_name::<M>(),
            routes,
            id_field: M::ID_FIELD,
            envelope: M::ENVELOPE,
            codec: Box::new(Typed::<M> {
                validator: None,
                model: PhantomData,
            }),
            ids,
            next: 0,
            collections: HashMap::new(),
            injected: Default::default(),
            delay: Duration::ZERO,
            page_size: None,
        });
    }

    /// Refuses, with `422` and `{"error": why}`, every create or update of
    /// `M` for which `check` returns `Err(why)`, as a server's validation
    /// does. ([`insert`](FakeApi::insert) is checked too.)
    pub fn validate<M: Model>(
        &self,
        check: impl Fn(&M) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.with::<M, _>(|resource| {
            resource.codec = Box::new(Typed::<M> {
                validator: Some(Box::new(check)),
                model: PhantomData,
            }) as Box<dyn Codec>;
        });
    }

    /// Stores `value` as a create would (an id assigned if it has none,
    /// none sent over HTTP) and returns it as stored, its
    /// [`etag`](Model::etag) set.
    ///
    /// # Panics
    ///
    /// If the fake refuses it: its id is taken, it fails
    /// [`validate`](FakeApi::validate), or it does not serialize.
    pub fn insert<M: Model>(&self, value: M) -> M {
        self.store("insert", value, |resource, json, revision| {
            resource.create(json, None, revision)
        })
    }

    /// Stores `value` in place of the member with its id, as a `PUT` would
    /// (a new revision, so a new `ETag`), and returns it as stored: how a
    /// test plays someone else's write.
    ///
    /// # Panics
    ///
    /// If `value` has no id, the fake holds no member with it, or refuses
    /// the value (see [`insert`](FakeApi::insert)).
    pub fn replace<M: Model>(&self, value: M) -> M {
        self.store("replace", value, |resource, json, revision| {
            let decoded = resource.codec.decode(&resource.routes, json.clone())?;
            let id = decoded.id.ok_or_else(|| {
                Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "the value has no id")
            })?;
            resource.replace(&decoded.params, &id, json, revision)
        })
    }

    /// What the fake holds in `M`'s collection under these parameters
    /// (`()` for a top-level model), in the order it was created, each
    /// with its [`etag`](Model::etag) set; for a singleton, the one, if it
    /// exists.
    #[allow(
        clippy::needless_pass_by_value,
        reason = "`api.all::<User>(())` reads best"
    )]
    pub fn all<M: Model>(&self, params: M::Params) -> Vec<M> {
        self.with::<M, _>(|resource| match collection_key::<M>(resource, &params) {
            Some(key) => resource.members(&key).iter().map(typed).collect(),
            None => Vec::new(),
        })
    }

    /// The member of `M` the fake holds at these parameters and id, if any
    /// (a singleton's id is [`NoId`]; a shallow member's parameters are
    /// its collection's, all of them).
    #[allow(
        clippy::needless_pass_by_value,
        reason = "taken as `M::fetch` takes them"
    )]
    pub fn get<M: Model>(&self, params: M::Params, id: M::Id) -> Option<M> {
        self.with::<M, _>(|resource| {
            let key = collection_key::<M>(resource, &params)?;
            let mut segment = String::new();
            backrest_runtime::push_param(&mut segment, &id);
            let id = route::decode(&segment)?;
            resource.member(&key, &id).map(typed)
        })
    }

    /// Answers the next `times` requests to `M`'s routes with `status` and
    /// `{"error": ...}`, without handling them (nothing is written).
    /// Failures queue up after those asked for before.
    pub fn fail<M: Model>(&self, status: StatusCode, times: usize) {
        self.with::<M, _>(|resource| {
            resource
                .injected
                .extend(std::iter::repeat_n(Injected::Status(status), times));
        });
    }

    /// Handles the next `times` requests to `M`'s routes, then delivers
    /// their answers with `fault` (see [`Fault`]). Queued after the
    /// failures asked for before.
    pub fn fault<M: Model>(&self, fault: Fault, times: usize) {
        self.with::<M, _>(|resource| {
            resource
                .injected
                .extend(std::iter::repeat_n(Injected::Fault(fault), times));
        });
    }

    /// Holds every answer to `M`'s routes for `delay` after its request
    /// arrived (`Duration::ZERO` to stop). Tokio's paused clock applies.
    pub fn delay<M: Model>(&self, delay: Duration) {
        self.with::<M, _>(|resource| resource.delay = delay);
    }

    /// Pages `M`'s lists, `size` members a page (`_page` from 1, with `Link`
    /// headers); `0` turns paging off. A request's own `_limit` wins.
    pub fn page_size<M: Model>(&self, size: usize) {
        self.with::<M, _>(|resource| resource.page_size = (size > 0).then_some(size));
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().log.clone()
    }

    /// How many requests with this method and path (query included, as in
    /// [`Request::path`]) were received.
    #[allow(clippy::needless_pass_by_value, reason = "`Method::GET` reads best")]
    pub fn count(&self, method: Method, path: &str) -> usize {
        let state = self.lock();
        state
            .log
            .iter()
            .filter(|request| request.method == method && request.path == path)
            .count()
    }

    /// Waits until at least `n` requests have arrived (their answers may
    /// still be held by a [`delay`](FakeApi::delay)): how a test knows that
    /// a request is in flight.
    ///
    /// # Panics
    ///
    /// After [`WAIT_LIMIT`], so that a broken test fails instead of hanging.
    pub async fn wait_for(&self, n: usize) {
        let arrived = async {
            loop {
                let notified = self.shared.arrival.notified();
                if self.lock().log.len() >= n {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(WAIT_LIMIT, arrived).await.is_err() {
            let seen = self.lock().log.len();
            panic!("FakeApi waited {WAIT_LIMIT:?} for {n} requests, and {seen} arrived");
        }
    }

    /// Stops the fake, as dropping it does, and waits until its server task
    /// has ended (every connection closed).
    pub async fn shutdown(mut self) {
        self.shared.stopped.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// `value`, as JSON, stored by `write` into `M`'s resource with the
    /// fake's revision counter, and returned as stored; what `insert` and
    /// `replace` share. Panics, naming `verb`, if the value does not
    /// serialize or the fake refuses it.
    fn store<M: Model>(
        &self,
        verb: &str,
        value: M,
        write: impl FnOnce(&mut Resource, Value, &mut u64) -> Result<Member, Refusal>,
    ) -> M {
        let json = serde_json::to_value(value).unwrap_or_else(|error| {
            panic!("FakeApi::{verb}: the value does not serialize: {error}")
        });
        let mut state = self.lock();
        let State {
            resources,
            revision,
            ..
        } = &mut *state;
        let resource = find::<M>(resources);
        match write(resource, json, revision) {
            Ok(member) => typed(&member),
            Err(refusal) => panic!(
                "FakeApi::{verb}::<{}> refused the value: {}",
                resource.name, refusal.message
            ),
        }
    }

    fn with<M: Model, T>(&self, f: impl FnOnce(&mut Resource) -> T) -> T {
        let mut state = self.lock();
        f(find::<M>(&mut state.resources))
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.shared.stopped.send_replace(true);
    }
}

fn find<M: Model>(resources: &mut [Resource]) -> &mut Resource {
    let type_id = TypeId::of::<M>();
    match resources.iter_mut().find(|r| r.type_id == type_id) {
        Some(resource) => resource,
        None => {
            let name = short_name::<M>();
            panic!("FakeApi does not serve `{name}`: call `api.serve::<{name}>()` first")
        }
    }
}

/// The decoded key of `M`'s collection under `params`.
fn collection_key<M: Model>(resource: &Resource, params: &M::Params) -> Option<Vec<String>> {
    resource.routes.collection_key(&M::collection_path(params))
}

/// A stored member as the model, its etag set.
fn typed<M: Model>(member: &Member) -> M {
    let mut value: M = serde_json::from_value(member.value.clone())
        .expect("the fake stores only what the model wrote");
    value.set_etag(Some(member.etag()));
    value
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
