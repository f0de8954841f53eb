//! The names `#[model(...)]` understands, each written once.

/// The attribute itself: `#[model(...)]`.
pub(crate) const MODEL: &str = "model";

/// Struct: `path = "/orgs/{org_id}/repos"`, the collection's path template.
pub(crate) const PATH: &str = "path";

/// Struct: `reload`, every fetch of the type is a reload.
pub(crate) const RELOAD: &str = "reload";

/// Struct: `crate = "path"`, where backrest is when it is renamed.
pub(crate) const CRATE: &str = "crate";

/// Field: `id`, the field holding the id.
pub(crate) const ID: &str = "id";

/// The keys accepted on the struct, in the order error messages list them.
pub(crate) const STRUCT_KEYS: &[&str] = &[PATH, RELOAD, CRATE];

/// The keys accepted on a field.
pub(crate) const FIELD_KEYS: &[&str] = &[ID];
