//! The `tracing` spans of fetch, save and destroy (P4).
//!
//! Every operation is a span at `DEBUG` level, named `backrest.fetch`,
//! `backrest.fetch_all`, `backrest.save`, `backrest.patch` or
//! `backrest.destroy` (and `backrest.refresh` for the background refresh a
//! stale hit starts), with the fields `model` (the type's name), `path` (the resource path, without the
//! base URL, so without its credentials), `outcome`, `status` (of the last
//! answer, if there was one) and `attempts`. A fetch's outcome is `hit`,
//! `stale`, `join`, `miss`, `reload` or `not_modified`; a write's is
//! `created`, `updated` or `destroyed`; a failure's is `error`. No span
//! or event carries a body, a header or the base URL: bodies may hold
//! personal data, headers and the base's userinfo hold secrets (R11).
//!
//! When no subscriber listens at `DEBUG` for `backrest`, a span costs one
//! check of a cached flag, so the hit path stays a hit.

use tracing::Span;

use crate::Error;

/// The field values of `outcome`.
pub(crate) mod outcome {
    pub(crate) const HIT: &str = "hit";
    pub(crate) const STALE: &str = "stale";
    pub(crate) const JOIN: &str = "join";
    pub(crate) const MISS: &str = "miss";
    pub(crate) const RELOAD: &str = "reload";
    pub(crate) const NOT_MODIFIED: &str = "not_modified";
    /// Loaded from the fleet's shared cache (F1).
    pub(crate) const SHARED: &str = "shared";
    pub(crate) const CREATED: &str = "created";
    pub(crate) const UPDATED: &str = "updated";
    pub(crate) const DESTROYED: &str = "destroyed";
    pub(crate) const ERROR: &str = "error";
}

/// The span of one operation on a resource of model `M`.
macro_rules! span {
    ($name:literal, $model:ty, $path:expr) => {
        tracing::debug_span!(
            target: "backrest",
            $name,
            model = std::any::type_name::<$model>(),
            path = $path,
            outcome = tracing::field::Empty,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
        )
    };
}
pub(crate) use span;

/// Records a fetch's outcome, at the cost of one check when the span is
/// disabled (a call of `Span::record` was a percent of a joiner's cost).
#[inline]
pub(crate) fn record_outcome(span: &Span, outcome: &'static str) {
    if !span.is_disabled() {
        span.record("outcome", outcome);
    }
}

/// Records what an answer said: its status and how many attempts it took.
pub(crate) fn answered(span: &Span, status: reqwest::StatusCode, attempts: u32) {
    span.record("status", status.as_u16());
    span.record("attempts", attempts);
}

/// Records a failure: `outcome = "error"`, and the status and attempts the
/// error knows.
pub(crate) fn failed(span: &Span, error: &Error) {
    span.record("outcome", outcome::ERROR);
    if let Some(status) = error.status() {
        span.record("status", status.as_u16());
    }
    span.record("attempts", error.attempts());
}
