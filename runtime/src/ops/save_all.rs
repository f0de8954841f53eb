//! `save_all` (S4–S6), and [`SaveAllError`], its failure: which inputs were
//! saved, which were not and what may have happened to each (R5), and how
//! to resume the batch safely.

use std::fmt;

use uuid::Uuid;

use crate::batch::{BatchError, all_or_fail};
use crate::error::Delivery;
use crate::{Client, Error, Model};

pub(crate) async fn save_all<M: Model>(
    client: &Client,
    items: impl Iterator<Item = M> + Send,
) -> Result<Vec<M>, SaveAllError<M>> {
    let pending = items.map(|value| Pending {
        value,
        key: None,
        delivery: Delivery::NotSent,
    });
    run(client, pending).await.map_err(SaveAllError::from_batch)
}

/// One input on its way: its idempotency key once it has one, and what its
/// failed save may have done.
struct Pending<M> {
    value: M,
    key: Option<Uuid>,
    delivery: Delivery,
}

async fn run<M: Model>(
    client: &Client,
    pending: impl Iterator<Item = Pending<M>> + Send,
) -> Result<Vec<M>, BatchError<Pending<M>, M, Error>> {
    let limit = client.inner.save_all_concurrency;
    all_or_fail(pending, limit, |item: Pending<M>| async move {
        // An input whose outcome is unknown keeps its key, so that a server
        // honouring it creates nothing twice.
        // A key from before means an earlier attempt may have written it:
        // it stays unknown (and keeps its key) until it is saved.
        let sent_before = item.key.is_some();
        let key = item
            .key
            .or_else(|| super::save::new_key(client, &item.value));
        match super::save::save_owned(client, item.value, key).await {
            Ok(saved) => Ok(saved),
            Err((value, error)) => {
                let delivery = if sent_before {
                    Delivery::Unknown
                } else {
                    error.delivery()
                };
                Err((
                    Pending {
                        value,
                        key,
                        delivery,
                    },
                    error,
                ))
            }
        }
    })
    .await
}

/// `save_all` did not save everything: which save failed first, which were
/// saved, and every value that was not, handed back with what may have
/// happened to it.
///
/// Every input index appears exactly once, in `saved` or in `unsaved`, both
/// sorted by index. Each unsaved input is in exactly one class:
///
/// - [`not_sent`](SaveAllError::not_sent): nothing reached the server (never
///   started after the first failure, a refused connection, ...);
/// - [`rejected`](SaveAllError::rejected): the server answered with an error,
///   so nothing was written;
/// - [`unknown`](SaveAllError::unknown): it was sent and no complete answer
///   came back (a timeout, a reset connection, an answer that could not be
///   read), so it may have been written.
///
/// [`retry`](SaveAllError::retry) saves the unsaved inputs again, sending
/// each unknown create with the `Idempotency-Key` it was first sent with,
/// so that a server that honours the header creates nothing twice. Saving
/// an unknown create again by other means may create a duplicate.
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
///         eprintln!("may have been written: {:?}", err.unknown());
///         // Later: resume the batch; `Ok` holds every input's saved value.
///         match err.retry(&client).await {
///             Ok(all) => println!("saved {}", all.len()),
///             Err(err) => eprintln!("still unsaved: {}", err.unsaved.len()),
///         }
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
    not_sent: Vec<usize>,
    rejected: Vec<usize>,
    unknown: Vec<usize>,
    /// The key each unknown input was sent with, by index.
    keys: Vec<(usize, Uuid)>,
}

impl<M> SaveAllError<M> {
    /// The indices of the unsaved inputs that never reached the server,
    /// sorted.
    pub fn not_sent(&self) -> &[usize] {
        &self.not_sent
    }

    /// The indices of the unsaved inputs the server answered with an error
    /// (nothing was written), sorted.
    pub fn rejected(&self) -> &[usize] {
        &self.rejected
    }

    /// The indices of the unsaved inputs that were sent without a complete
    /// answer (they may have been written), sorted.
    pub fn unknown(&self) -> &[usize] {
        &self.unknown
    }

    fn from_batch(batch: BatchError<Pending<M>, M, Error>) -> Self {
        let mut error = SaveAllError {
            index: batch.index,
            error: batch.error,
            saved: batch.done,
            unsaved: Vec::with_capacity(batch.not_done.len()),
            not_sent: Vec::new(),
            rejected: Vec::new(),
            unknown: Vec::new(),
            keys: Vec::new(),
        };
        for (index, pending) in batch.not_done {
            error.push_unsaved(index, pending);
        }
        error
    }

    fn push_unsaved(&mut self, index: usize, pending: Pending<M>) {
        match pending.delivery {
            Delivery::NotSent => self.not_sent.push(index),
            Delivery::Rejected => self.rejected.push(index),
            Delivery::Unknown => {
                self.unknown.push(index);
                if let Some(key) = pending.key {
                    self.keys.push((index, key));
                }
            }
        }
        self.unsaved.push((index, pending.value));
    }
}

impl<M: Model> SaveAllError<M> {
    /// Saves the unsaved inputs again, as if the batch were resumed: `Ok`
    /// holds every input's saved value in input order (those saved before
    /// included); an `Err` is about the original input's indices. Each
    /// unknown input is sent with its original `Idempotency-Key`; the
    /// others get new ones.
    pub async fn retry(self, client: &Client) -> Result<Vec<M>, SaveAllError<M>> {
        let SaveAllError {
            saved,
            unsaved,
            keys,
            ..
        } = self;
        let total = saved.len() + unsaved.len();
        let indices: Vec<usize> = unsaved.iter().map(|(index, _)| *index).collect();
        let pending = unsaved
            .into_iter()
            .map(|(index, value)| Pending {
                value,
                key: keys
                    .binary_search_by_key(&index, |(i, _)| *i)
                    .ok()
                    .map(|at| keys[at].1),
                delivery: Delivery::NotSent,
            })
            .map(|pending| Pending {
                // Unknown stays unknown if it is not sent again.
                delivery: if pending.key.is_some() {
                    Delivery::Unknown
                } else {
                    Delivery::NotSent
                },
                ..pending
            });
        match run(client, pending).await {
            Ok(values) => {
                let mut all: Vec<Option<M>> = std::iter::repeat_with(|| None).take(total).collect();
                let again = indices.iter().copied().zip(values);
                for (index, value) in saved.into_iter().chain(again) {
                    all[index] = Some(value);
                }
                Ok(all.into_iter().flatten().collect())
            }
            Err(batch) => {
                let mut merged = SaveAllError {
                    index: indices[batch.index],
                    error: batch.error,
                    saved,
                    unsaved: Vec::new(),
                    not_sent: Vec::new(),
                    rejected: Vec::new(),
                    unknown: Vec::new(),
                    keys: Vec::new(),
                };
                let again = batch.done.into_iter().map(|(at, v)| (indices[at], v));
                merged.saved.extend(again);
                merged.saved.sort_by_key(|(index, _)| *index);
                for (at, pending) in batch.not_done {
                    merged.push_unsaved(indices[at], pending);
                }
                Err(merged)
            }
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
            .field("not_sent", &self.not_sent)
            .field("rejected", &self.rejected)
            .field("unknown", &self.unknown)
            .finish()
    }
}

impl<M> fmt::Display for SaveAllError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "save_all: {} saved, {} not saved ({} not sent, {} rejected, {} unknown); \
             input {} failed first",
            self.saved.len(),
            self.unsaved.len(),
            self.not_sent.len(),
            self.rejected.len(),
            self.unknown.len(),
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
