//! The runtime of [backrest](https://docs.rs/backrest): the [`Client`], the
//! single-flight cache, all-or-fail aggregation and the [`Model`] trait that
//! `#[derive(Model)]` implements.
//!
//! Depend on `backrest`, which re-exports all of this with the derive; this
//! crate is what the generated code calls.

mod batch;
mod cache;
mod client;
mod error;
mod http;
mod model;
mod ops;
mod path;
pub mod shared;
mod trace;

pub use batch::{BatchError, all_or_fail};
pub use cache::CacheStats;
pub use client::{
    Client, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CACHE_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_SAVE_ALL_CONCURRENCY, DEFAULT_TIMEOUT,
};
pub use error::{Error, MAX_ERROR_BODY};
pub use http::Retry;
pub use model::{Model, NoId};
pub use ops::{Fetch, Paging, SaveAllError};
pub use path::{PathParam, push_param};
pub use reqwest::{Method, StatusCode};
pub use shared::SharedCache;

/// The reqwest crate backrest is built on, to configure a `reqwest::Client`
/// for [`ClientBuilder::http_client`] with the same version.
pub use reqwest;

/// What generated code names, by absolute path, so that user types called
/// `Result` or `Option` cannot capture it. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::model::fetch_at;
    pub use crate::{Client, Error, Fetch, Model, NoId, SaveAllError, push_param};
    pub use futures_core::Stream;
    pub use futures_util::stream::pending as pending_stream;
    pub use serde::de::DeserializeOwned;
    pub use serde::{Deserialize, Serialize};
    pub use std::clone::Clone;
    pub use std::future::{Future, pending};
    pub use std::iter::IntoIterator;
    pub use std::marker::Send;
    pub use std::marker::Sync;
    pub use std::option::Option;
    pub use std::primitive::{bool, str};
    pub use std::result::Result;
    pub use std::string::String;
    pub use std::sync::Arc;
    pub use std::time::Duration;
    pub use std::vec::Vec;
    pub use std::{concat, module_path};
}
