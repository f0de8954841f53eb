//! The [`Model`] trait: what a type tells backrest about its resource, and the
//! operations written once, generically, on top of it.

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a backrest model",
    note = "derive it: `#[derive(Model)]` with `#[model(path = \"/...\")]` on the struct and \
            `#[model(id)]` on the field holding its id"
)]
pub trait Model: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The type of the id, the `K` of the `#[model(id)]` field `Option<K>`.
    type Id: PathParam + Clone + Send + Sync + 'static;

    /// The parameters of the collection path, in template order, as a tuple
    /// (`()` for a top-level resource such as `/users`).
    type Params: Send + Sync + 'static;

    /// The collection's path template as written in `#[model(path = "...")]`,
    /// such as `/orgs/{org_id}/repos`: literal text and `{field}`
    /// placeholders, one per [`Params`](Model::Params) element, in order.
    /// What tools that serve a model's routes (`backrest-fake`) match
    /// requests with; [`collection_path`](Model::collection_path) fills it in.
    const PATH: &'static str;

    /// The name of the id field in JSON bodies: the `#[model(id)]` field's
    /// name as serde writes it, its `#[serde(rename = "...")]` or the
    /// struct's `#[serde(rename_all = "...")]` applied.
    const ID_FIELD: &'static str;

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
    // ---- E6 (envelopes) ----
    /// The member of a JSON object that answers are read from and bodies
    /// written into (`#[model(envelope = "data")]`: `{"data": ...}`);
    /// `None` for a model sent and read as it is.
    const ENVELOPE: Option<&'static str> = None;
    // ---- end E6 ----
    // ---- T1 (shallow members, for tools that serve a model's routes) ----
    /// The member path template as written in `#[model(member = "...")]`
    /// (E4), such as `/comments/{id}`: literal text, the id's placeholder
    /// once, and placeholders of [`PATH`](Model::PATH)'s parameters.
    /// `None` when members are at [`PATH`](Model::PATH) plus `/{id}`, and
    /// for a singleton (whose [`Id`](Model::Id) is [`NoId`]: its member is
    /// at [`PATH`](Model::PATH)). What `backrest-fake` serves members at;
    /// [`write_member_path`](Model::write_member_path) fills it in.
    const MEMBER: Option<&'static str> = None;
    // ---- end T1 ----

    /// The collection path for these parameters, with each parameter
    /// percent-encoded as one segment (see [`push_param`](crate::push_param)).
    fn collection_path(params: &Self::Params) -> String;

    /// Appends the collection path for these parameters to `path`. The
    /// derive writes it in place; by default it appends
    /// [`collection_path`](Model::collection_path). A cache hit builds its
    /// key with it in a buffer it reuses, and so allocates nothing.
    fn write_collection_path(params: &Self::Params, path: &mut String) {
        path.push_str(&Self::collection_path(params));
    }

    /// Appends the member path to `path`: the collection path, `/`, and the
    /// encoded id.
    fn write_member_path(params: &Self::Params, id: &Self::Id, path: &mut String) {
        Self::write_collection_path(params, path);
        path.push('/');
        crate::path::push_id(path, id);
    }

    /// The member path: what [`write_member_path`](Model::write_member_path)
    /// writes. Override that one, not this: fetches build their key with it.
    fn member_path(params: &Self::Params, id: &Self::Id) -> String {
        let mut path = String::with_capacity(48);
        Self::write_member_path(params, id, &mut path);
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
        ops::fetch::<Self>(client, params, id, Fetch::new())
    }

    /// Fetches one member with options, such as [`Fetch::reload`].
    fn fetch_with(
        client: &Client,
        params: Self::Params,
        id: Self::Id,
        options: Fetch,
    ) -> impl Future<Output = Result<Arc<Self>, Error>> + Send {
        ops::fetch::<Self>(client, params, id, options)
    }

    /// Fetches the whole collection: shared and cached like
    /// [`fetch`](Model::fetch), and invalidated by every successful save or
    /// destroy of this type.
    fn fetch_all(
        client: &Client,
        params: Self::Params,
    ) -> impl Future<Output = Result<Arc<Vec<Self>>, Error>> + Send {
        ops::fetch_all::<Self>(client, params, Fetch::new())
    }

    /// Fetches the whole collection with options, such as [`Fetch::reload`].
    fn fetch_all_with(
        client: &Client,
        params: Self::Params,
        options: Fetch,
    ) -> impl Future<Output = Result<Arc<Vec<Self>>, Error>> + Send {
        ops::fetch_all::<Self>(client, params, options)
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
    /// this call is cached or joined. So do its fetches with a query
    /// ([`Fetch::query`](crate::Fetch::query)), which are views of it; the
    /// type's collections are left as they are.
    fn invalidate(client: &Client, params: Self::Params, id: Self::Id) {
        let path = Self::member_path(&params, &id);
        client
            .cache()
            .invalidated(&Key::new(TypeId::of::<Self>(), Kind::Member, &path));
    }

    /// Drops every member and every collection of this type from
    /// `client`'s cache, as [`invalidate`](Model::invalidate) drops one.
    fn invalidate_all(client: &Client) {
        client.cache().invalidated_type(TypeId::of::<Self>());
    }

    // ---- E2, E3, E5 (pages, patch, create and update) ----

    /// Saves this value as a new member: always a POST to the collection,
    /// with an `Idempotency-Key` as a create of [`save`](Model::save) has,
    /// whether or not it already has an id (for APIs where the client
    /// chooses ids). The answer is cached as a save's is (C9).
    fn create(&self, client: &Client) -> impl Future<Output = Result<Self, Error>> + Send {
        ops::create(client, self)
    }

    /// Saves this value over its member: always a PUT of the whole value
    /// to its member path (with `If-Match` when it has an etag), cached as
    /// a save's answer is (C9). A value without an id has no member: an
    /// [`is_builder`](Error::is_builder) error, and nothing is sent.
    ///
    /// A PUT replaces the server's resource: fields the struct does not
    /// name are lost, unless the struct keeps them in a
    /// `#[serde(flatten)] extra: serde_json::Map<String, serde_json::Value>`
    /// field. [`patch`](Model::patch) sends only what changed.
    fn update(&self, client: &Client) -> impl Future<Output = Result<Self, Error>> + Send {
        ops::update(client, self)
    }

    /// Sends what differs between `original` and this value as an RFC
    /// 7396 merge patch (`PATCH` to its member path, with `If-Match` when
    /// it has an etag): the JSON of both is compared member by member,
    /// nested objects recursively; a member that is gone or became `null`
    /// is sent as `null` (which removes it); arrays are sent whole. When
    /// nothing differs, `Ok` of a clone of this value, and nothing is sent.
    ///
    /// The body's `Content-Type` is `application/merge-patch+json` unless
    /// [`ClientBuilder::patch_content_type`](crate::ClientBuilder::patch_content_type)
    /// says otherwise. A 2xx answer with a body is the saved value; 204 or
    /// an empty body means this value. It is cached as a save's answer is
    /// (C9). A PATCH is never retried: it need not be idempotent.
    ///
    /// A merge patch cannot set a member to `null` inside an object that
    /// is new in this value (RFC 7396 drops such members); nor set a JSON
    /// `null` that the server must keep as `null`.
    fn patch(
        &self,
        client: &Client,
        original: &Self,
    ) -> impl Future<Output = Result<Self, Error>> + Send {
        ops::patch(client, self, original)
    }

    /// The collection, one page at a time, as a [`Stream`] of pages: the
    /// first page is requested when the stream is first polled, each next
    /// one when it is polled after a page, so that memory holds one page
    /// however long the list. How the next page is found is
    /// [`Fetch::paging`]: by default the `Link: <..>; rel="next"` header
    /// (RFC 8288), whose target may be relative but must stay on the
    /// client's base origin. The fetch's [`query`](Fetch::query) is sent
    /// with the first page.
    ///
    /// Pages are not cached, nor shared with other callers: each is a GET
    /// of its own (retried as every GET is), so a walk sees the list as it
    /// is while it walks it. An error is yielded, then the stream ends.
    fn pages(
        client: &Client,
        params: Self::Params,
        options: Fetch,
    ) -> impl Stream<Item = Result<Vec<Self>, Error>> + Send + 'static {
        ops::pages::<Self>(client, Self::collection_path(&params), &options)
    }

    /// Every member of the collection, one at a time, over
    /// [`pages`](Model::pages): page n+1 is requested only when an item
    /// past page n is polled for. An error is yielded, then the stream
    /// ends.
    fn stream_all(
        client: &Client,
        params: Self::Params,
        options: Fetch,
    ) -> impl Stream<Item = Result<Self, Error>> + Send + 'static {
        ops::stream_all::<Self>(client, Self::collection_path(&params), &options)
    }

    // ---- end E2, E3, E5 ----

    /// Deletes this value on the server (`DELETE` to its member path) and
    /// evicts it from the cache. A new value has nothing to delete: `Ok(())`
    /// without a request. With an [`etag`](Model::etag), the DELETE carries
    /// `If-Match`, and a `412` is handled as for [`save`](Model::save).
    fn destroy(&self, client: &Client) -> impl Future<Output = Result<(), Error>> + Send {
        ops::destroy(client, self)
    }
}

// ---- E5 (singletons) ----

/// The id type of a singleton (`#[model(singleton)]`): it has none. Its
/// member path is its path, built from the path's parameters alone, and
/// it is never new, so [`save`](Model::save) PUTs to that path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoId;

impl std::fmt::Display for NoId {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// What a shallow member's `fetch` calls (E4): a fetch of a member path
/// the derive built from the member template. Not a public API.
#[doc(hidden)]
pub fn fetch_at<M: Model>(
    client: &Client,
    path: String,
    options: Fetch,
) -> impl Future<Output = Result<Arc<M>, Error>> + Send + use<'_, M> {
    ops::fetch_at::<M>(client, path, options)
}

// ---- end E5 ----
