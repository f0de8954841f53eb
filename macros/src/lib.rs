//! `#[derive(Model)]` for [backrest](https://docs.rs/backrest): turns an
//! annotated struct into a typed, cached REST client.
//!
//! Use it through the `backrest` crate, which re-exports it next to the
//! `Model` trait it implements; this crate only generates code. The code is
//! thin glue: a `Model` impl describing the resource (its path, parameters,
//! id and etag) and inherent methods that call the trait's provided operations,
//! which live, tested once, in the runtime.
//!
//! Layout: `ast` reads the input, `attr` its `#[model(...)]` attributes,
//! `template` the path template, `check` validates them together (errors
//! gathered in `ctxt`), `methods` is the table of the generated methods,
//! which `expand` renders as the real code and `fallback` as what a failed
//! derive emits next to its errors.

mod ast;
mod attr;
mod check;
mod ctxt;
mod duration;
mod expand;
mod fallback;
mod message;
mod methods;
mod serde_name;
mod symbol;
mod template;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Derives `backrest::Model` for a struct with named fields: a REST resource
/// at a collection path, with an id.
///
/// ```ignore
/// use backrest::{Client, Model};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize, Model)]
/// #[model(path = "/orgs/{org_id}/repos")]
/// struct Repo {
///     #[model(id)]
///     id: Option<u64>,
///     org_id: u64,
///     name: String,
/// }
///
/// let repo = Repo::fetch(&client, 42, 7).await?; // GET /orgs/42/repos/7
/// let repos = Repo::fetch_all(&client, 42).await?; // GET /orgs/42/repos
/// ```
///
/// The struct gets the `Model` impl and these methods, with the struct's
/// own visibility, taking the path's parameters in template order, by value
/// and typed as their fields, then the id; their futures are `Send`:
///
/// ```text
/// Repo::fetch(&Client, org_id: u64, id: u64)           -> Result<Arc<Repo>, Error>
/// Repo::fetch_with(&Client, org_id, id, Fetch)         -> Result<Arc<Repo>, Error>
/// Repo::fetch_all(&Client, org_id: u64)                -> Result<Arc<Vec<Repo>>, Error>
/// Repo::fetch_all_with(&Client, org_id, Fetch)         -> Result<Arc<Vec<Repo>>, Error>
/// repo.save(&Client)                                   -> Result<Repo, Error>
/// Repo::save_all(&Client, impl IntoIterator<Item = Repo>) -> Result<Vec<Repo>, SaveAllError<Repo>>
/// repo.destroy(&Client)                                -> Result<(), Error>
/// ```
///
/// # On the struct
///
/// - `#[model(path = "...")]`, required: the collection's path, relative to
///   the client's base URL. It starts with `/`, does not end with `/` (a
///   member's path is the collection's followed by `/{id}`), and has no
///   query or fragment. Each `{name}` is a placeholder for the field `name`,
///   whose value is percent-encoded as one segment; a placeholder that names
///   no field is a compile error, as is one repeated or naming the id.
///
///   ```ignore
///   #[model(path = "/users")]                        // top level: User::fetch(&client, id)
///   #[model(path = "/orgs/{org_id}/teams/{team}")]   // Team::fetch(&client, org_id, team, id)
///   ```
///
/// - `#[model(reload)]`: every fetch of this type is a reload; it never
///   reads the cache and never joins a request in flight.
///
///   ```ignore
///   #[model(path = "/status", reload)]
///   ```
///
/// - `#[model(crate = "...")]`: the path to backrest, when the dependency is
///   renamed (default `::backrest`), as with serde's `#[serde(crate = "...")]`.
///
///   ```ignore
///   #[model(path = "/users", crate = "::my_backrest")]
///   ```
///
/// Keys can be combined in one `#[model(...)]` or spread over several.
///
/// # On a field
///
/// - `#[model(id)]`, on exactly one field, of type `Option<K>`: the id,
///   `None` until the server assigns one. `save` POSTs a value whose id is
///   `None` to the collection, and PUTs any other to its member path. `K`
///   must be a path parameter type (integers, strings, ...).
///
///   ```ignore
///   #[model(id)]
///   id: Option<u64>,
///   ```
///
/// - `#[model(etag)]`, on at most one field, of type `Option<String>`, which
///   must also have `#[serde(skip)]` (or both `skip_serializing` and
///   `skip_deserializing`): the `ETag` the value came with, verbatim
///   (quotes and `W/` included). It travels in headers, never in bodies.
///   `fetch` of a member fills it from the answer's `ETag` (a collection's
///   items get none); `save` fills the value it returns from the save's
///   answer, and leaves it `None` when that answer has no `ETag`. A PUT or
///   DELETE of a value whose etag is `Some` sends `If-Match` with it, so
///   that a write based on an old version is refused: a `412` is an error
///   with `is_conflict()`, the server's value is left as it was, and the
///   member is dropped from the cache, so the next `fetch` reads the
///   server's. A create (POST) is never conditional. Without this field,
///   no `If-Match` is sent.
///
///   ```ignore
///   #[model(etag)]
///   #[serde(skip)]
///   etag: Option<String>,
///   ```
///
/// # Not supported
///
/// Enums, unions, tuple and unit structs, and generic structs are rejected
/// with an error. All mistakes in one derive are reported together.
#[proc_macro_derive(Model, attributes(model))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    expand::derive(&input).into()
}
