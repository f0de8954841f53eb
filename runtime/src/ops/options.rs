//! [`Fetch`], the options of a fetch: reload, max age (P1), query string
//! (E1) and paging (E2), and the cache [`Policy`] they make for a model.

use std::fmt;
use std::time::Duration;

use super::pages::Paging;
use crate::cache::Policy;
use crate::{Error, Model};

/// How a fetch uses the cache.
///
/// `Fetch::default()` (or [`Fetch::new`]) is a plain fetch: it returns the
/// cached value if there is one that is fresh, joins the newest request in
/// flight for the same resource if there is one, and otherwise sends a
/// request. [`Fetch::reload`] always sends a new request;
/// [`Fetch::max_age`] says how old a cached value may be.
///
/// ```no_run
/// # async fn demo(client: backrest::Client) -> Result<(), backrest::Error> {
/// # use backrest::{Fetch, Model};
/// # use std::time::Duration;
/// # #[derive(Clone, serde::Serialize, serde::Deserialize, Model)]
/// # #[model(path = "/users")]
/// # struct User { #[model(id)] id: Option<u64> }
/// let fresh = User::fetch_with(&client, 7, Fetch::reload()).await?;
/// let recent = User::fetch_with(&client, 7, Fetch::new().max_age(Duration::from_secs(5))).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetch {
    reload: bool,
    max_age: MaxAge,
    // ---- E1, E2 (query strings, paging) ----
    /// What most fetches leave unset, boxed so that a fetch and its future
    /// stay small (a hit moves them): the query and the paging.
    extra: Option<Box<Extra>>,
}

/// A [`Fetch::max_age`] in nanoseconds, [`MaxAge::NONE`] for none: 8 bytes
/// where an `Option<Duration>` takes 16, since every fetch's future holds
/// its `Fetch`. An age beyond 584 years is kept as 584 years.
#[derive(Clone, Copy, PartialEq, Eq)]
struct MaxAge(u64);

impl MaxAge {
    const NONE: MaxAge = MaxAge(u64::MAX);

    const fn of(age: Duration) -> Self {
        let nanos = age.as_nanos();
        if nanos >= u64::MAX as u128 {
            MaxAge(u64::MAX - 1)
        } else {
            MaxAge(nanos as u64)
        }
    }

    const fn get(self) -> Option<Duration> {
        if self.0 == u64::MAX {
            None
        } else {
            Some(Duration::from_nanos(self.0))
        }
    }
}

impl Default for MaxAge {
    fn default() -> Self {
        MaxAge::NONE
    }
}

impl fmt::Debug for MaxAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

/// The options of a [`Fetch`] that most fetches do not set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Extra {
    /// The query string, or why it could not be made (E1).
    query: Option<Query>,
    /// How `pages` finds the next page (E2).
    paging: Paging,
}

/// A query string as [`Fetch::query`] serialized it, or the reason it could
/// not: reported when the fetch runs, since building a `Fetch` cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Query {
    Text(String),
    Invalid(String),
}
// ---- end E1, E2 ----

impl Fetch {
    /// A plain fetch: cached and shared.
    pub const fn new() -> Self {
        Fetch {
            reload: false,
            max_age: MaxAge::NONE,
            extra: None,
        }
    }

    /// A reload: never reads the cache and never joins a request in flight;
    /// it sends a new request, caches its answer (unless something newer is
    /// cached by then) and never resolves with an answer to a request that
    /// started before it.
    ///
    /// When the cached value came with an `ETag` or a `Last-Modified`, the
    /// request is conditional (`If-None-Match`, `If-Modified-Since`), and a
    /// `304 Not Modified` resolves with the cached `Arc` itself, cached
    /// again as the newest answer.
    pub const fn reload() -> Self {
        let mut fetch = Fetch::new();
        fetch.reload = true;
        fetch
    }

    /// Serves a cached value only while its age (from when its answer
    /// arrived) is at most `max_age`; an older one is a miss, which joins or
    /// sends a request, conditional if the value has validators. Overrides
    /// the model's `#[model(max_age = "..")]` for this call; the model's
    /// `stale_while_revalidate` still applies after it.
    /// `max_age(Duration::ZERO)` accepts only a value that arrived this
    /// very instant; a max age over 584 years (`u64::MAX` nanoseconds) is
    /// kept as 584 years.
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = MaxAge::of(max_age);
        self
    }

    /// Whether this fetch is a reload.
    pub const fn is_reload(&self) -> bool {
        self.reload
    }

    /// How the cache may serve this fetch of an `M`.
    pub(super) fn policy<M: Model>(&self) -> Policy {
        Policy {
            reload: self.reload || M::RELOAD,
            max_age: self.max_age.get().or(M::MAX_AGE),
            stale_while_revalidate: M::STALE_WHILE_REVALIDATE,
        }
    }
    // ---- E1, E2 (query strings, paging) ----

    /// Adds a query string, serialized from `query` as
    /// `application/x-www-form-urlencoded` (a struct, a map, or a slice of
    /// pairs: `&[("_sort", "name"), ("q", "ada")]`). Called again, it
    /// replaces the query; an empty one is no query.
    ///
    /// Each query string is cached on its own: `GET /users?role=admin` and
    /// `GET /users` are two entries, and every successful write of the type
    /// invalidates every query of its collections (C9). A member fetched
    /// with a query (`/users/7?embed=posts`) is cached like a collection:
    /// every write of the type drops it, its own save or destroy included.
    ///
    /// A value that does not serialize as a query string (a nested struct,
    /// a sequence) makes the fetch fail with an
    /// [`is_builder`](Error::is_builder) error, and nothing is sent.
    ///
    /// ```
    /// # use backrest::Fetch;
    /// #[derive(serde::Serialize)]
    /// struct Filter<'a> { role: &'a str, q: Option<&'a str> }
    /// let options = Fetch::new().query(&Filter { role: "admin", q: None });
    /// assert_eq!(options.query_string(), Some("role=admin"));
    /// ```
    #[must_use]
    pub fn query(mut self, query: &impl serde::Serialize) -> Self {
        let query = match serde_urlencoded::to_string(query) {
            Ok(text) if text.is_empty() => None,
            Ok(text) => Some(Query::Text(text)),
            Err(error) => Some(Query::Invalid(error.to_string())),
        };
        self.set(|extra| extra.query = query);
        self
    }

    /// Changes the extra options, keeping none when all are the defaults.
    fn set(&mut self, change: impl FnOnce(&mut Extra)) {
        let mut extra = self.extra.take().unwrap_or_default();
        change(&mut extra);
        if *extra != Extra::default() {
            self.extra = Some(extra);
        }
    }

    fn query_text(&self) -> Option<&Query> {
        self.extra.as_ref()?.query.as_ref()
    }

    /// How [`Model::pages`] finds the next page.
    pub(crate) fn paging_scheme(&self) -> Paging {
        self.extra
            .as_ref()
            .map_or_else(Paging::link, |extra| extra.paging.clone())
    }

    /// The query string [`query`](Fetch::query) made, if any (and if it
    /// could be made).
    pub fn query_string(&self) -> Option<&str> {
        match self.query_text() {
            Some(Query::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// How [`Model::pages`] finds the next page (E2): by default the
    /// `Link: <..>; rel="next"` header (RFC 8288); see [`Paging`].
    #[must_use]
    pub fn paging(mut self, paging: Paging) -> Self {
        self.set(|extra| extra.paging = paging);
        self
    }

    /// The query string, if any, or why it could not be made.
    pub(super) fn checked_query(&self) -> Result<Option<&str>, &str> {
        match self.query_text() {
            None => Ok(None),
            Some(Query::Text(text)) => Ok(Some(text)),
            Some(Query::Invalid(message)) => Err(message),
        }
    }

    /// `path` with this fetch's query string, or the error of a query that
    /// could not be serialized.
    pub(crate) fn with_query(&self, mut path: String) -> Result<String, Error> {
        match self.query_text() {
            None => Ok(path),
            Some(Query::Text(text)) => {
                path.push('?');
                path.push_str(text);
                Ok(path)
            }
            Some(Query::Invalid(message)) => Err(Error::builder(format!(
                "the query of a fetch of `{path}` is not a query string: {message}"
            ))),
        }
    }

    // ---- end E1, E2 ----
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Fetch, MaxAge};

    #[test]
    fn a_max_age_keeps_its_nanoseconds_and_a_huge_one_saturates() {
        assert_eq!(MaxAge::NONE.get(), None);
        assert_eq!(MaxAge::default().get(), None);
        for age in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_millis(1500),
            Duration::from_secs(3600),
        ] {
            assert_eq!(MaxAge::of(age).get(), Some(age));
        }
        let most = Duration::from_nanos(u64::MAX - 1);
        assert_eq!(MaxAge::of(Duration::MAX).get(), Some(most));
        assert_eq!(MaxAge::of(Duration::from_nanos(u64::MAX)).get(), Some(most));
        assert_eq!(
            format!("{:?}", Fetch::new().max_age(Duration::from_secs(5))),
            "Fetch { reload: false, max_age: Some(5s), extra: None }"
        );
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_fetch_is_three_words() {
        assert_eq!(size_of::<Fetch>(), 3 * size_of::<usize>());
    }
}
