//! The [`Model`] trait: what a type tells backrest about its resource, and the
//! operations written once, generically, on top of it.

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Key, Kind};
use crate::{Client, Error, Fetch, PathParam, SaveAllError, ops};

/// A type that is a REST resource: `#[derive(Model)]` implements it.
///
/// The derive fills in the description (paths, id, parameters); the
/// operations ([`fetch`](Model::fetch), [`save`](Model::save), ...) are
/// provided here, once, for every model. The derive also adds inherent
/// methods of the same names that take the path parameters one by one, so
/// application code writes `User::fetch(&client, 7)`, while generic code
/// bounded by `M: Model` passes them as the tuple [`Model::Params`].
///
/// A resource lives at a *collection path* (`/orgs/{org_id}/repos`), built
/// from its parent parameters, and each member at the collection path plus
/// `/{id}`.
pub trait Model: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The type of the id, the `K` of the `#[model(id)]` field `Option<K>`.
    type Id: PathParam + Clone + Send + Sync + 'static;

    /// The parameters of the collection path, in template order, as a tuple
    /// (`()` for a top-level resource such as `/users`).
    type Params: Send + Sync + 'static;

    /// The model's stable name in a shared cache's keys and invalidations
    /// (F1, F2): `#[model(name = "billing.Invoice")]`, else the type's path
    /// (`my_crate::billing::Invoice`), which the derive fills in. Keep it
    /// when a type moves, so that the fleet's processes, old and new, agree.
    /// Empty (a hand-written impl): `std::any::type_name`.
    const NAME: &'static str = "";

    /// Whether every fetch of this type is a reload (`#[model(reload)]`):
    /// such fetches never read the cache and never join another request.
    const RELOAD: bool = false;

    /// How long a cached value of this type stays fresh
    /// (`#[model(max_age = "30s")]`): a plain fetch of an older one is a
    /// miss, conditional if it has validators. `None`: fresh until this
    /// client writes it or it is invalidated. [`Fetch::max_age`] overrides
    /// it per call.
    const MAX_AGE: Option<Duration> = None;

    /// How long after its max age a cached value is still served
    /// (`#[model(stale_while_revalidate = "5m")]`): a plain fetch returns it
    /// at once and starts one refresh in the background. Past it, the value
    /// is a miss.
    const STALE_WHILE_REVALIDATE: Option<Duration> = None;

    /// The collection path for these parameters, with each parameter
    /// percent-encoded as one segment (see [`push_param`](crate::push_param)).
    fn collection_path(params: &Self::Params) -> String;

    /// The member path: the collection path, `/`, and the encoded id.
    fn member_path(params: &Self::Params, id: &Self::Id) -> String {
        let mut path = Self::collection_path(params);
        path.push('/');
        crate::path::push_id(&mut path, id);
        path
    }

    /// This value's path parameters, read from its own fields.
    fn params(&self) -> Self::Params;

    /// This value's id, `None` while it has not been created on the server.
    fn id(&self) -> Option<&Self::Id>;

    /// Whether this value is new: [`save`](Model::save) POSTs it to the
    /// collection rather than PUT it to its member path.
    fn is_new(&self) -> bool {
        self.id().is_none()
    }

    /// The `ETag` this value came with, verbatim (quotes and `W/`
    /// included), held in its `#[model(etag)]` field; `None` for a model
    /// without one. [`save`](Model::save) (of a value with an id) and
    /// [`destroy`](Model::destroy) send it back as `If-Match`, so that a
    /// write based on an old version is refused (`412`,
    /// [`Error::is_conflict`]) instead of overwriting a newer one.
    fn etag(&self) -> Option<&str> {
        None
    }

    /// Sets the `#[model(etag)]` field, if the model has one; otherwise does
    /// nothing. A fetched member gets its answer's `ETag`, a saved value the
    /// `ETag` of the save's answer (or `None` if that answer has none).
    fn set_etag(&mut self, etag: Option<String>) {
        let _ = etag;
    }

    /// Fetches one member: shared with concurrent fetches of it and cached.
    ///
    /// `GET {collection}/{id}`. See [`Fetch`] and the crate's cache contract.
    fn fetch(
        client: &Client,
        params: Self::Params,
        id: Self::Id,
    ) -> impl Future<Output = Result<Arc<Self>, Error>> + Send {
        ops::fetch::<Self>(client, Self::member_path(&params, &id), Fetch::new())
    }

    /// Fetches one member with options, such as [`Fetch::reload`].
    fn fetch_with(
        client: &Client,
        params: Self::Params,
        id: Self::Id,
        options: Fetch,
    ) -> impl Future<Output = Result<Arc<Self>, Error>> + Send {
        ops::fetch::<Self>(client, Self::member_path(&params, &id), options)
    }

    /// Fetches the whole collection: shared and cached like
    /// [`fetch`](Model::fetch), and invalidated by every successful save or
    /// destroy of this type.
    fn fetch_all(
        client: &Client,
        params: Self::Params,
    ) -> impl Future<Output = Result<Arc<Vec<Self>>, Error>> + Send {
        ops::fetch_all::<Self>(client, Self::collection_path(&params), Fetch::new())
    }

    /// Fetches the whole collection with options, such as [`Fetch::reload`].
    fn fetch_all_with(
        client: &Client,
        params: Self::Params,
        options: Fetch,
    ) -> impl Future<Output = Result<Arc<Vec<Self>>, Error>> + Send {
        ops::fetch_all::<Self>(client, Self::collection_path(&params), options)
    }

    /// Saves this value: POST to the collection when it is new, otherwise PUT
    /// to its member path. Returns the server's representation (with the id
    /// it assigned), or the value sent when the server answers 204 or an
    /// empty body.
    ///
    /// A PUT of a value whose [`etag`](Model::etag) is `Some` carries
    /// `If-Match` with it; a `412` is an error with
    /// [`is_conflict`](Error::is_conflict), the server's value is left as it
    /// was, and the member is dropped from the cache so that the next fetch
    /// reads the server's. The value returned holds the `ETag` of the
    /// save's answer as its etag, `None` if the answer has none (send the
    /// next write after a fetch, then).
    fn save(&self, client: &Client) -> impl Future<Output = Result<Self, Error>> + Send {
        ops::save(client, self)
    }

    /// Saves every item concurrently (at most
    /// [`ClientBuilder::save_all_concurrency`](crate::ClientBuilder::save_all_concurrency)
    /// at a time), all or fail: `Ok` with the saved values in input order, or
    /// a [`SaveAllError`] telling which were saved and handing back the rest.
    fn save_all<I>(
        client: &Client,
        items: I,
    ) -> impl Future<Output = Result<Vec<Self>, SaveAllError<Self>>> + Send
    where
        I: IntoIterator<Item = Self>,
        I::IntoIter: Send,
    {
        ops::save_all(client, items.into_iter())
    }

    /// Drops one member from `client`'s cache, without a request: the next
    /// plain fetch of it sends one, and no request in flight from before
    /// this call is cached or joined. The type's collections are left as
    /// they are.
    fn invalidate(client: &Client, params: Self::Params, id: Self::Id) {
        let path = Self::member_path(&params, &id);
        client
            .cache()
            .invalidated(&Key::new(TypeId::of::<Self>(), Kind::Member, path));
    }

    /// Drops every member and every collection of this type from
    /// `client`'s cache, as [`invalidate`](Model::invalidate) drops one.
    fn invalidate_all(client: &Client) {
        client.cache().invalidated_type(TypeId::of::<Self>());
    }

    /// Deletes this value on the server (`DELETE` to its member path) and
    /// evicts it from the cache. A new value has nothing to delete: `Ok(())`
    /// without a request. With an [`etag`](Model::etag), the DELETE carries
    /// `If-Match`, and a `412` is handled as for [`save`](Model::save).
    fn destroy(&self, client: &Client) -> impl Future<Output = Result<(), Error>> + Send {
        ops::destroy(client, self)
    }
}
