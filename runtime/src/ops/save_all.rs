//! `save_all` (S4–S6), and [`SaveAllError`], its failure.

use std::fmt;

use crate::batch::{BatchError, all_or_fail};
use crate::{Client, Error, Model};

pub(crate) async fn save_all<M: Model>(
    client: &Client,
    items: impl Iterator<Item = M> + Send,
) -> Result<Vec<M>, SaveAllError<M>> {
    let limit = client.inner.save_all_concurrency;
    all_or_fail(items, limit, |item| {
        super::save::save_owned(client, item, super::save::new_key(client))
    })
    .await
    .map_err(SaveAllError::from)
}

/// `save_all` did not save everything: which save failed first, which were
/// saved, and every value that was not, handed back.
///
/// Every input index appears exactly once, in `saved` or in `unsaved`, both
/// sorted by index. Inputs after the first failure were never sent.
///
/// ```no_run
/// # use backrest::{Client, Model};
/// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Model)]
/// # #[model(path = "/users")]
/// # struct User { #[model(id)] id: Option<u64>, name: String }
/// # async fn demo(client: Client, users: Vec<User>) {
/// match User::save_all(&client, users).await {
///     Ok(saved) => println!("saved {}", saved.len()),
///     Err(err) => {
///         eprintln!("input {} failed: {}", err.index, err.error);
///         let retry: Vec<User> = err.unsaved.into_iter().map(|(_, user)| user).collect();
///         // ... try `retry` again later: nothing was lost
///     }
/// }
/// # }
/// ```
pub struct SaveAllError<M> {
    /// The input index of the first save that failed.
    pub index: usize,
    /// Why it failed.
    pub error: Error,
    /// `(input index, the server's value)` of every save that succeeded.
    pub saved: Vec<(usize, M)>,
    /// `(input index, the value given)` of every other input: the failed
    /// ones and those never sent.
    pub unsaved: Vec<(usize, M)>,
}

impl<M> From<BatchError<M, M, Error>> for SaveAllError<M> {
    fn from(batch: BatchError<M, M, Error>) -> Self {
        SaveAllError {
            index: batch.index,
            error: batch.error,
            saved: batch.done,
            unsaved: batch.not_done,
        }
    }
}

impl<M> fmt::Debug for SaveAllError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaveAllError")
            .field("index", &self.index)
            .field("error", &self.error)
            .field("saved", &self.saved.len())
            .field("unsaved", &self.unsaved.len())
            .finish()
    }
}

impl<M> fmt::Display for SaveAllError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "save_all: {} saved, {} not saved; input {} failed first",
            self.saved.len(),
            self.unsaved.len(),
            self.index,
        )
    }
}

/// The first failure is the [`source`](std::error::Error::source), not part
/// of the message, so that reporters print it once.
impl<M> std::error::Error for SaveAllError<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
