//! Options of a fetch.

/// How a fetch uses the cache.
///
/// `Fetch::default()` (or [`Fetch::new`]) is a plain fetch: it returns the
/// cached value if there is one, joins the newest request in flight for the
/// same resource if there is one, and otherwise sends a request.
/// [`Fetch::reload`] always sends a new request.
///
/// ```no_run
/// # async fn demo(client: backrest::Client) -> Result<(), backrest::Error> {
/// # use backrest::{Fetch, Model};
/// # #[derive(Clone, serde::Serialize, serde::Deserialize, Model)]
/// # #[model(path = "/users")]
/// # struct User { #[model(id)] id: Option<u64> }
/// let fresh = User::fetch_with(&client, 7, Fetch::reload()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetch {
    reload: bool,
}

impl Fetch {
    /// A plain fetch: cached and shared.
    pub const fn new() -> Self {
        Fetch { reload: false }
    }

    /// A reload: never reads the cache and never joins a request in flight;
    /// it sends a new request, caches its answer (unless something newer is
    /// cached by then) and never resolves with an answer to a request that
    /// started before it.
    pub const fn reload() -> Self {
        Fetch { reload: true }
    }

    /// Whether this fetch is a reload.
    pub const fn is_reload(&self) -> bool {
        self.reload
    }
}
