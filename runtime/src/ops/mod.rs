//! The operations of every [`Model`](crate::Model), written once, one file
//! per verb with its options or error type beside it. Generated code reaches
//! them through the trait's provided methods.
//!
//! Each operation builds its URL, sends through [`Http`](crate::http::Http)
//! and records what the cache must know ([`Cache::saved`](crate::cache::Cache::saved),
//! [`Cache::destroyed`](crate::cache::Cache::destroyed)); neither the cache nor
//! the transport knows of the other.

mod conditions;
mod destroy;
mod envelope;
mod fetch;
mod load;
mod options;
mod pages;
mod patch;
mod save;
mod save_all;

pub(crate) use destroy::destroy;
pub(crate) use fetch::{fetch, fetch_all, fetch_at};
pub use options::Fetch;
pub use pages::Paging;
pub(crate) use pages::{pages, stream_all};
pub(crate) use patch::{MERGE_PATCH, patch};
pub(crate) use save::{create, save, update};
pub use save_all::SaveAllError;
pub(crate) use save_all::save_all;
