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
    // One slot per input started, reserved up front when the input's length
    // is known, so that the returned Vec is this very buffer (see below).
    let mut outputs: Vec<Option<T>> = Vec::with_capacity(inputs.size_hint().0);
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
        // `filter_map` collects in place, reusing the buffer of `outputs`;
        // `flatten` would allocate a second buffer as long as the input.
        #[allow(
            clippy::filter_map_identity,
            reason = "flatten does not collect in place"
        )]
        return Ok(outputs.into_iter().filter_map(|output| output).collect());
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn s4_runs_at_most_limit_at_once_and_keeps_input_order() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let result = all_or_fail(0..50, 3, |n| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                for _ in 0..(n % 4) {
                    tokio::task::yield_now().await;
                }
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, (u32, ())>(n * 10)
            }
        })
        .await;
        assert_eq!(result.unwrap(), (0..50).map(|n| n * 10).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn s4_the_output_is_one_buffer_as_long_as_the_input() {
        // Memory grows with the concurrency: no second output-sized buffer,
        // no spare capacity from doubling.
        let outputs = all_or_fail((0..1_000_u64).map(|n| n.to_string()), 4, |s| async move {
            Ok::<_, (String, ())>(s)
        })
        .await
        .unwrap();
        assert_eq!(outputs.len(), 1_000);
        assert_eq!(outputs.capacity(), 1_000);
    }

    #[tokio::test(start_paused = true)]
    async fn s5_the_first_failure_is_first_in_time_not_by_index() {
        // Input n finishes after 20 - n ms; 3 and 7 fail, 7 first.
        let err = all_or_fail(0..10_u64, 10, |n| async move {
            tokio::time::sleep(Duration::from_millis(20 - n)).await;
            if n == 3 || n == 7 { Err((n, n)) } else { Ok(n) }
        })
        .await
        .unwrap_err();
        assert_eq!((err.index, err.error), (7, 7));
        // Everything had started: the others were let finish.
        let done: Vec<usize> = err.done.iter().map(|(i, _)| *i).collect();
        assert_eq!(done, [0, 1, 2, 4, 5, 6, 8, 9]);
        assert_eq!(err.not_done, [(3, 3), (7, 7)]);
    }

    #[tokio::test]
    async fn s5_nothing_starts_after_the_first_failure_and_nothing_is_lost() {
        let started = AtomicUsize::new(0);
        let err = all_or_fail(0..100_usize, 4, |n| {
            let started = &started;
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                if n == 10 { Err((n, "no")) } else { Ok(n) }
            }
        })
        .await
        .unwrap_err();
        let started = started.load(Ordering::SeqCst);
        assert_eq!(err.index, 10);
        assert!(started <= 10 + 4, "{started} started");
        let mut indexes: Vec<usize> = err.done.iter().map(|(i, _)| *i).collect();
        indexes.extend(err.not_done.iter().map(|(i, _)| *i));
        indexes.sort_unstable();
        assert_eq!(
            indexes,
            (0..100).collect::<Vec<_>>(),
            "every index exactly once"
        );
        assert!(
            err.not_done.iter().all(|(i, input)| i == input),
            "inputs handed back"
        );
        assert_eq!(
            err.done.len() + 1,
            started,
            "every started call but the failure succeeded"
        );
    }

    #[tokio::test]
    async fn s6_empty_input_succeeds_without_a_call() {
        let result = all_or_fail(Vec::<u8>::new(), 16, |_| async {
            unreachable!("no input, no call");
            #[allow(unreachable_code)]
            Ok::<u8, (u8, ())>(0)
        })
        .await;
        assert_eq!(result.unwrap(), Vec::<u8>::new());
    }
}
