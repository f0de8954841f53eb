//! All-or-fail aggregation of many fallible futures. It knows nothing of HTTP
//! or caching: [`save_all`](crate::Model::save_all) is built on it.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

/// Why [`all_or_fail`] did not complete every input.
///
/// Every input index appears exactly once, in [`done`](BatchError::done) or
/// in [`not_done`](BatchError::not_done).
pub struct BatchError<I, T, E> {
    /// The input index of the first failure in time.
    pub index: usize,
    /// The error of the first failure in time.
    pub error: E,
    /// `(input index, output)` of every input that succeeded, by index.
    pub done: Vec<(usize, T)>,
    /// `(input index, input)` of every other input, failed or never started,
    /// by index: handed back, nothing lost.
    pub not_done: Vec<(usize, I)>,
}

impl<I, T, E: fmt::Debug> fmt::Debug for BatchError<I, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchError")
            .field("index", &self.index)
            .field("error", &self.error)
            .field("done", &self.done.len())
            .field("not_done", &self.not_done.len())
            .finish()
    }
}

enum Step<I, T, E> {
    Done(T),
    Failed { input: I, error: E, first: bool },
    NotStarted(I),
}

/// Runs `op` on every input, at most `limit` at a time, all or fail.
///
/// `op` takes an input by value and, when it fails, hands it back with its
/// error, so that no input is ever lost. When every call succeeds the outputs
/// come back in input order. At the first failure in time no further call is
/// started; the calls already started are let finish so that every outcome is
/// known; then the [`BatchError`] tells which inputs succeeded and hands back
/// all the others. Inputs are pulled from the iterator only as calls start, so
/// the work in flight is bounded by `limit`, not by the number of inputs.
/// A `limit` of 0 counts as 1.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use backrest::all_or_fail;
///
/// let halves = all_or_fail(vec![2, 4, 6], 2, |n| async move {
///     if n % 2 == 0 { Ok(n / 2) } else { Err((n, "odd")) }
/// })
/// .await;
/// assert_eq!(halves.unwrap(), vec![1, 2, 3]);
///
/// let err = all_or_fail(vec![2, 3, 4], 1, |n| async move {
///     if n % 2 == 0 { Ok(n / 2) } else { Err((n, "odd")) }
/// })
/// .await
/// .unwrap_err();
/// assert_eq!((err.index, err.error), (1, "odd"));
/// assert_eq!(err.done, vec![(0, 1)]);
/// assert_eq!(err.not_done, vec![(1, 3), (2, 4)]); // 4 was never started
/// # });
/// ```
pub async fn all_or_fail<Inputs, T, E, F, Fut>(
    inputs: Inputs,
    limit: usize,
    op: F,
) -> Result<Vec<T>, BatchError<Inputs::Item, T, E>>
where
    Inputs: IntoIterator,
    F: Fn(Inputs::Item) -> Fut,
    Fut: Future<Output = Result<T, (Inputs::Item, E)>>,
{
    let limit = limit.max(1);
    let failed = AtomicBool::new(false);
    let (failed, op) = (&failed, &op);
    let mut inputs = inputs.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut outputs: Vec<Option<T>> = Vec::new();
    let mut first: Option<(usize, E)> = None;
    let mut not_done = Vec::new();

    loop {
        while running.len() < limit && !failed.load(Ordering::Acquire) {
            let Some((index, input)) = inputs.next() else {
                break;
            };
            outputs.push(None);
            running.push(async move {
                // A call is started only if nothing has failed yet, checked
                // at the moment it would start, not when it was queued.
                if failed.load(Ordering::Acquire) {
                    return (index, Step::NotStarted(input));
                }
                match op(input).await {
                    Ok(output) => (index, Step::Done(output)),
                    Err((input, error)) => {
                        let first = !failed.swap(true, Ordering::AcqRel);
                        (
                            index,
                            Step::Failed {
                                input,
                                error,
                                first,
                            },
                        )
                    }
                }
            });
        }
        let Some((index, step)) = running.next().await else {
            break;
        };
        match step {
            Step::Done(output) => outputs[index] = Some(output),
            Step::Failed {
                input,
                error,
                first: is_first,
            } => {
                if is_first {
                    first = Some((index, error));
                }
                not_done.push((index, input));
            }
            Step::NotStarted(input) => not_done.push((index, input)),
        }
    }

    let Some((index, error)) = first else {
        return Ok(outputs.into_iter().flatten().collect());
    };
    not_done.extend(inputs);
    not_done.sort_unstable_by_key(|(index, _)| *index);
    let done = outputs
        .into_iter()
        .enumerate()
        .filter_map(|(index, output)| output.map(|output| (index, output)))
        .collect();
    Err(BatchError {
        index,
        error,
        done,
        not_done,
    })
}
