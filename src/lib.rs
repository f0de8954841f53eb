//! # backrest
//!
//! Annotated Rust structs as a typed, cached REST client.
//!
//! `#[derive(Model)]` on a struct generates [`fetch`](Model::fetch)
//! (single-flight and cached), [`fetch_all`](Model::fetch_all),
//! [`save`](Model::save) (POST when new, PUT otherwise),
//! [`save_all`](Model::save_all) (all or fail, nothing lost) and
//! [`destroy`](Model::destroy).
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use backrest::{Client, Fetch, Model};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Model)]
//! #[model(path = "/users")]
//! struct User {
//!     #[model(id)]
//!     id: Option<u64>, // None: not yet created, so save() POSTs
//!     name: String,
//! }
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Model)]
//! #[model(path = "/orgs/{org_id}/repos")] // {org_id} must be a field
//! struct Repo {
//!     #[model(id)]
//!     id: Option<u64>,
//!     org_id: u64,
//!     name: String,
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new("https://api.example.com/v1")?;
//! let user: Arc<User> = User::fetch(&client, 7).await?; // GET /v1/users/7, shared and cached
//! let fresh = User::fetch_with(&client, 7, Fetch::reload()).await?; // always a new request
//! let all: Arc<Vec<User>> = User::fetch_all(&client).await?; // GET /v1/users, cached
//! let repo = Repo::fetch(&client, 42, 7).await?; // GET /v1/orgs/42/repos/7
//! let created = User { id: None, name: "Ada".into() }.save(&client).await?; // POST, id assigned
//! let saved: Vec<User> = User::save_all(&client, vec![created.clone()]).await?; // all or fail
//! created.destroy(&client).await?; // DELETE /v1/users/{id}
//! # Ok(()) }
//! ```
//!
//! ## The cache, in short
//!
//! Each [`Client`] (and its clones) has one cache, keyed by model type and
//! resource path. However many tasks fetch a resource at once, one request is
//! made and all get the same `Arc`; after it arrives, fetches are served from
//! the cache until a save or destroy of the type changes it.
//! [`Fetch::reload`] always sends a new request. A response never overwrites
//! a newer one, whatever order responses arrive in; a fetch never resolves
//! with a value older than one already cached; failures are shared by the
//! callers of the failed request but never cached; dropping a caller never
//! cancels the request for the others.
//!
//! See the README for the full contracts, and [`Model`] for what the derive
//! generates.

pub use backrest_runtime::{
    BatchError, Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_SAVE_ALL_CONCURRENCY, DEFAULT_TIMEOUT, Error, Fetch, MAX_ERROR_BODY, Method, Model,
    NoId, Paging, PathParam, Retry, SaveAllError, StatusCode, all_or_fail, push_param,
};

/// A cache shared by the processes of a fleet: the [`SharedCache`](shared::SharedCache)
/// trait that `backrest-redis` implements (README, "Running a fleet").
pub use backrest_runtime::shared;

/// The reqwest crate backrest is built on, to configure a `reqwest::Client`
/// for [`ClientBuilder::http_client`] with the same version.
pub use backrest_runtime::reqwest;

/// Derives [`Model`](trait@Model): see the trait, and the attributes below.
pub use backrest_macros::Model;

/// A typed fake server for tests of code that uses backrest: routes derived
/// from the models, state kept, the protocol spoken, faults on demand. See
/// [`FakeApi`](fake::FakeApi). (Feature `fake`.)
#[cfg(feature = "fake")]
pub use backrest_fake as fake;

#[doc(hidden)]
pub use backrest_runtime::__private;

/// Every Rust block of README.md, compiled as a doctest so that the tour
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
