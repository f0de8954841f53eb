//! The names `#[model(...)]` understands, each written once.

/// The attribute itself: `#[model(...)]`.
pub(crate) const MODEL: &str = "model";

/// Struct: `path = "/orgs/{org_id}/repos"`, the collection's path template.
pub(crate) const PATH: &str = "path";

/// Struct: `reload`, every fetch of the type is a reload.
pub(crate) const RELOAD: &str = "reload";

/// Struct: `max_age = "30s"`, how long a cached value stays fresh.
pub(crate) const MAX_AGE: &str = "max_age";

/// Struct: `stale_while_revalidate = "5m"`, how long after that a stale
/// value is still served while it is refreshed.
pub(crate) const STALE_WHILE_REVALIDATE: &str = "stale_while_revalidate";
/// Struct: `member = "/comments/{id}"`, a shallow member's own path
/// template (E4).
pub(crate) const MEMBER: &str = "member";

/// Struct: `singleton`, one resource at the path, without an id (E5).
pub(crate) const SINGLETON: &str = "singleton";

/// Struct: `envelope = "data"`, the member of a JSON object that bodies
/// travel in (E6).
pub(crate) const ENVELOPE: &str = "envelope";

/// Struct: `name = "billing.Invoice"`, the model's stable name in a shared
/// cache's keys (F1).
pub(crate) const NAME: &str = "name";

/// Struct: `crate = "path"`, where backrest is when it is renamed.
pub(crate) const CRATE: &str = "crate";

/// Field: `id`, the field holding the id.
pub(crate) const ID: &str = "id";

/// Field: `etag`, the field holding the `ETag` a value came with.
pub(crate) const ETAG: &str = "etag";

/// serde's attribute, read (never written) to check that the etag field is
/// kept out of bodies: `#[serde(skip)]`.
pub(crate) const SERDE: &str = "serde";

/// `#[serde(skip)]`, or both of the two after it.
pub(crate) const SERDE_SKIP: &str = "skip";
pub(crate) const SERDE_SKIP_SERIALIZING: &str = "skip_serializing";
pub(crate) const SERDE_SKIP_DESERIALIZING: &str = "skip_deserializing";

/// The keys accepted on the struct, in the order error messages list them.
pub(crate) const STRUCT_KEYS: &[&str] = &[
    PATH,
    MEMBER,
    SINGLETON,
    ENVELOPE,
    RELOAD,
    MAX_AGE,
    STALE_WHILE_REVALIDATE,
    NAME,
    CRATE,
];

/// The keys accepted on a field.
pub(crate) const FIELD_KEYS: &[&str] = &[ID, ETAG];
