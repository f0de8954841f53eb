use std::future::{Future, pending, ready};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use std::any::TypeId;

use super::*;

fn key(path: &str) -> Key {
    Key::new(TypeId::of::<u32>(), Kind::Member, path)
}

/// A load's value, without validators.
fn loaded(n: u32) -> Loaded {
    Loaded {
        value: Arc::new(n),
        validators: None,
        bytes: 4,
        age: Duration::ZERO,
    }
}

fn waiter(lookup: Lookup) -> Pin<Box<Waiter>> {
    match lookup {
        Lookup::Wait(waiter, _) => Box::pin(waiter),
        Lookup::Hit(_) | Lookup::Stale(_) => panic!("expected a load, got a hit"),
        Lookup::Fail(err) => panic!("expected a load: {err}"),
    }
}

fn hit(cache: &Arc<Cache>, path: &str) -> Option<u32> {
    match cache.get(key(path).borrowed(), Policy::PLAIN, |_, _, _| {
        panic!("expected a hit")
    }) {
        Lookup::Hit(value) => value.downcast_ref::<u32>().copied(),
        _ => None,
    }
}

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Lets the spawned loads run (a current-thread runtime runs them when
/// the test task yields).
async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn an_abandoned_load_leaves_no_entry_behind() {
    let cache = Arc::new(Cache::default());
    let mut first = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(pending())
    }));
    let mut second = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        panic!("a plain get joins the load in flight")
    }));
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    assert_eq!(cache.entry_count(), 1);
    drop(first);
    assert_eq!(cache.entry_count(), 1, "the second waiter still needs it");
    drop(second);
    assert_eq!(cache.entry_count(), 0);
    settle().await;
    assert_eq!(
        cache.entry_count(),
        0,
        "the aborted task ends nothing twice"
    );
}

#[tokio::test]
async fn a_failed_load_leaves_no_entry_and_a_success_stays() {
    let cache = Arc::new(Cache::default());
    let fail = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(ready(Err(Error::internal("test"))))
    }));
    assert!(fail.await.is_err());
    assert_eq!(cache.entry_count(), 0);

    let load = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(ready(Ok(loaded(5))))
    }));
    assert!(load.await.is_ok());
    assert_eq!(hit(&cache, "/a"), Some(5));
}

#[tokio::test]
async fn a_held_but_unpolled_caller_does_not_stall_the_others() {
    let cache = Arc::new(Cache::default());
    let (send, receive) = tokio::sync::oneshot::channel::<()>();
    let mut first = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(async move {
            let _ = receive.await;
            Ok(loaded(1))
        })
    }));
    assert!(poll_once(first.as_mut()).is_pending());
    let second = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        panic!("joins")
    }));
    let _ = send.send(());
    // `first` is never polled again; `second` still resolves.
    let got = second.await.unwrap();
    assert_eq!(got.downcast_ref::<u32>(), Some(&1));
    drop(first);
}

#[tokio::test]
async fn destroying_a_key_with_nothing_in_flight_removes_its_entry() {
    let cache = Arc::new(Cache::default());
    cache.saved_value(TypeId::of::<u32>(), key("/a"), 1_u32, None, 4);
    assert_eq!(cache.entry_count(), 1);
    cache.destroyed(&key("/a"));
    assert_eq!(cache.entry_count(), 0);
}

#[tokio::test]
async fn a_get_after_a_write_does_not_join_a_load_from_before_it() {
    let cache = Arc::new(Cache::default());
    let mut old = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(pending())
    }));
    assert!(poll_once(old.as_mut()).is_pending());
    cache.destroyed(&key("/a"));
    let mut started = false;
    let fresh = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        started = true;
        Box::pin(ready(Ok(loaded(2))))
    }));
    assert!(started, "a new load, not the one from before the destroy");
    assert_eq!(fresh.await.unwrap().downcast_ref::<u32>(), Some(&2));
    drop(old);
}

#[tokio::test]
async fn numbers_only_move_forward() {
    let cache = Arc::new(Cache::default());
    let mut old = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(pending())
    }));
    assert!(poll_once(old.as_mut()).is_pending());
    let reload = waiter(cache.get(key("/a").borrowed(), Policy::RELOAD, |_, _, _| {
        Box::pin(ready(Ok(loaded(2))))
    }));
    assert_eq!(reload.await.unwrap().downcast_ref::<u32>(), Some(&2));
    // The old load is still pending; the key serves the newer value.
    assert_eq!(hit(&cache, "/a"), Some(2));
    drop(old);
}

#[tokio::test]
async fn c5_a_waiter_resolving_after_a_newer_write_gets_the_newer_value() {
    let cache = Arc::new(Cache::default());
    let mut early = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(ready(Ok(loaded(1))))
    }));
    let late = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        panic!("joins")
    }));
    assert!(poll_once(early.as_mut()).is_pending());
    // The load finishes; `late` resolves with its value...
    assert_eq!(late.await.unwrap().downcast_ref::<u32>(), Some(&1));
    // ...then a write stores a newer value before `early` is polled again.
    cache.saved_value(TypeId::of::<u32>(), key("/a"), 9_u32, None, 4);
    let Poll::Ready(Ok(got)) = poll_once(early.as_mut()) else {
        panic!("the outcome is set");
    };
    assert_eq!(got.downcast_ref::<u32>(), Some(&9));
}

#[test]
fn without_a_tokio_runtime_a_load_is_an_error_not_a_panic() {
    let cache = Arc::new(Cache::default());
    match cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(pending())
    }) {
        Lookup::Fail(err) => assert!(err.to_string().contains("Tokio"), "{err}"),
        _ => panic!("expected an error"),
    }
    assert_eq!(cache.entry_count(), 0);
}

/// A waker that counts its wake-ups.
struct Count(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
    (Arc::clone(&count), Waker::from(count))
}

#[tokio::test]
async fn a_caller_joining_while_the_first_builds_its_load_is_woken() {
    let cache = Arc::new(Cache::default());
    let (count, waker) = counting();
    let mut joined = None;
    let first = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        // Another caller joins after the flight is published but before
        // its load is stored, and parks.
        let mut second = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
            panic!("joins")
        }));
        assert!(
            second
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        joined = Some(second);
        Box::pin(ready(Ok(loaded(1))))
    }));
    let mut second = joined.expect("joined while the load was built");
    // `first` is held but never polled: `second` must not depend on it.
    settle().await;
    assert!(
        count.0.load(Ordering::SeqCst) > 0,
        "the parked joiner was woken"
    );
    let Poll::Ready(Ok(got)) = poll_once(second.as_mut()) else {
        panic!("the joiner resolves");
    };
    assert_eq!(got.downcast_ref::<u32>(), Some(&1));
    drop(first);
}

#[test]
fn a_load_whose_task_never_runs_still_ends_its_flight() {
    let cache = Arc::new(Cache::default());
    let gone = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let first = {
        let _enter = gone.enter();
        waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
            Box::pin(ready(Ok(loaded(1))))
        }))
    };
    drop(gone);
    // A caller outside any runtime joins: the load moves to a task on
    // the first caller's runtime, which is gone, so the task never runs.
    let second = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        panic!("joins")
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let got = tokio::time::timeout(Duration::from_secs(5), second).await;
        let err = got.expect("the joiner resolves").expect_err("interrupted");
        assert!(err.to_string().contains("stopped"), "{err}");
        // And the key is not stuck on that flight for later callers.
        let third = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
            Box::pin(ready(Ok(loaded(3))))
        }));
        let got = tokio::time::timeout(Duration::from_secs(5), third).await;
        assert_eq!(got.unwrap().unwrap().downcast_ref::<u32>(), Some(&3));
    });
    drop(first);
}

#[test]
fn a_load_is_not_moved_to_a_runtime_nobody_drives() {
    let cache = Arc::new(Cache::default());
    // The first caller's runtime exists but is not being driven (a
    // current-thread runtime between two `block_on` calls).
    let idle = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _first = {
        let _enter = idle.enter();
        waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
            Box::pin(ready(Ok(loaded(1))))
        }))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let second = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
            panic!("joins")
        }));
        let got = tokio::time::timeout(Duration::from_secs(5), second).await;
        assert_eq!(got.unwrap().unwrap().downcast_ref::<u32>(), Some(&1));
    });
}

#[tokio::test]
async fn a_panic_while_building_a_load_does_not_poison_the_key() {
    let cache = Arc::new(Cache::default());
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
            panic!("building the load panics")
        })
    }));
    assert!(panicked.is_err());
    let next = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(ready(Ok(loaded(2))))
    }));
    let got = tokio::time::timeout(Duration::from_secs(5), next).await;
    assert_eq!(got.unwrap().unwrap().downcast_ref::<u32>(), Some(&2));
}

/// A load that lets a second caller join while it is polled inline, is
/// ready, and panics when dropped.
struct JoinThenReady {
    cache: Arc<Cache>,
    joined: Arc<Mutex<Option<Pin<Box<Waiter>>>>>,
}

impl Future for JoinThenReady {
    type Output = Result<Loaded, Error>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let joiner = waiter(
            self.cache
                .get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
                    panic!("joins")
                }),
        );
        *lock(&self.joined) = Some(joiner);
        Poll::Ready(Ok(loaded(1)))
    }
}

impl Drop for JoinThenReady {
    fn drop(&mut self) {
        panic!("the load panics when dropped");
    }
}

#[tokio::test]
async fn a_load_that_panics_when_dropped_does_not_hang_a_joiner() {
    let cache = Arc::new(Cache::default());
    let joined = Arc::new(Mutex::new(None));
    let load = JoinThenReady {
        cache: Arc::clone(&cache),
        joined: Arc::clone(&joined),
    };
    let mut first = waiter(
        cache.get(key("/a").borrowed(), Policy::PLAIN, move |_, _, _| {
            Box::pin(load)
        }),
    );
    let polled = catch_unwind(AssertUnwindSafe(|| poll_once(first.as_mut())));
    assert!(polled.is_err());
    drop(first);
    let second = lock(&joined).take().expect("joined during the poll");
    let got = tokio::time::timeout(Duration::from_secs(5), second).await;
    assert_eq!(got.unwrap().unwrap().downcast_ref::<u32>(), Some(&1));
}

#[test]
fn when_the_last_two_waiters_leave_together_the_load_is_dropped() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let _enter = runtime.enter();
    let mut orphans = 0;
    for _ in 0..2_000 {
        let cache = Arc::new(Cache::default());
        let token = Arc::new(());
        let held = Arc::clone(&token);
        let mut joined = None;
        // A second caller joins while the first builds the load, so the
        // load goes to a task as soon as it is built; then both leave at
        // once, from two threads.
        let first = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
            joined = Some(waiter(cache.get(
                key("/a").borrowed(),
                Policy::PLAIN,
                |_, _, _| panic!("joins"),
            )));
            Box::pin(async move {
                let _held = held;
                pending::<Result<Loaded, Error>>().await
            })
        }));
        let second = joined.expect("joined while the load was built");
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                drop(first);
            });
            barrier.wait();
            drop(second);
        });
        // Every waiter is gone: the task is aborted, and the load dropped.
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while Arc::strong_count(&token) > 1 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        if Arc::strong_count(&token) > 1 {
            orphans += 1;
        }
        assert_eq!(cache.entry_count(), 0);
    }
    assert_eq!(orphans, 0, "loads left running for nobody");
}

/// A flight holds its cache (its waiters reach the cache through it), and
/// the cache holds its flights in flight: the cycle ends with the flight,
/// so a cache outlives its clients only while something waits.
#[tokio::test]
async fn a_cache_is_freed_once_nothing_waits_on_its_flights() {
    let cache = Arc::new(Cache::default());
    let freed = Arc::downgrade(&cache);
    let mut first = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(pending())
    }));
    assert!(poll_once(first.as_mut()).is_pending(), "runs inline");
    let mut second = waiter(cache.get(key("/a").borrowed(), Policy::PLAIN, |_, _, _| {
        panic!("a plain get joins the load in flight")
    }));
    assert!(poll_once(second.as_mut()).is_pending(), "moved to a task");
    let done = waiter(cache.get(key("/b").borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(ready(Ok(loaded(1))))
    }));
    assert_eq!(done.await.unwrap().downcast_ref::<u32>(), Some(&1));
    drop(cache);
    settle().await;
    assert!(freed.upgrade().is_some(), "held while two wait");
    drop(first);
    drop(second);
    // The load's task is aborted, and drops its hold when the runtime
    // next runs it.
    settle().await;
    assert!(
        freed.upgrade().is_none(),
        "nothing waits: the cache is freed"
    );
}

#[tokio::test]
async fn an_invalidated_collection_does_not_keep_its_value() {
    let cache = Arc::new(Cache::default());
    let list = Key::new(TypeId::of::<u32>(), Kind::Collection, "/a");
    let big: Value = Arc::new(vec![0_u8; 1 << 20]);
    let held = Arc::clone(&big);
    let big = Loaded {
        value: big,
        validators: None,
        bytes: 1 << 20,
        age: Duration::ZERO,
    };
    let load = waiter(cache.get(list.borrowed(), Policy::PLAIN, move |_, _, _| {
        Box::pin(ready(Ok(big)))
    }));
    drop(load.await.unwrap());
    assert_eq!(cache.entry_count(), 1);
    cache.saved(TypeId::of::<u32>()); // invalidates every u32 collection
    assert_eq!(Arc::strong_count(&held), 1, "the value is dropped");
    assert_eq!(cache.entry_count(), 0, "and its entry removed");
}

/// Validators of just an `ETag`.
fn tag(etag: &str) -> Option<Arc<Validators>> {
    Some(Arc::new(Validators {
        etag: Some(etag.to_owned()),
        last_modified: None,
    }))
}

/// What a get hands its load to revalidate: the value's `Arc` and its
/// validators' `ETag`.
fn captured(cache: &Arc<Cache>, reload: bool) -> Option<(Value, Option<String>)> {
    let mut seen = None;
    let policy = if reload {
        Policy::RELOAD
    } else {
        Policy::PLAIN
    };
    drop(cache.get(key("/a").borrowed(), policy, |_, revalidate, _| {
        seen = revalidate.map(|r| (r.value, r.validators.etag.clone()));
        Box::pin(pending())
    }));
    seen
}

#[tokio::test]
async fn r7_a_load_captures_the_valid_value_and_its_validators_only() {
    let cache = Arc::new(Cache::default());
    assert!(captured(&cache, true).is_none(), "nothing cached");
    cache.saved_value(TypeId::of::<u32>(), key("/a"), 1_u32, None, 4);
    assert!(
        captured(&cache, true).is_none(),
        "a value without validators"
    );
    cache.saved_value(TypeId::of::<u32>(), key("/a"), 2_u32, tag("\"v2\""), 4);
    let held = value_of(&cache, "/a");
    let (revalidated, etag) = captured(&cache, true).expect("a value to revalidate");
    assert!(Arc::ptr_eq(&revalidated, &held));
    assert_eq!(etag.as_deref(), Some("\"v2\""));
    cache.invalidated(&key("/a"));
    assert!(captured(&cache, true).is_none(), "an invalidated value");
    assert!(captured(&cache, false).is_none(), "a plain miss");
}

#[tokio::test]
async fn r7_a_not_modified_load_stores_the_captured_arc_as_the_newest() {
    let cache = Arc::new(Cache::default());
    cache.saved_value(TypeId::of::<u32>(), key("/a"), 1_u32, tag("\"v1\""), 4);
    let held = value_of(&cache, "/a");
    let reload = waiter(
        cache.get(key("/a").borrowed(), Policy::RELOAD, |_, revalidate, _| {
            let revalidate = revalidate.expect("a value to revalidate");
            Box::pin(ready(Ok(revalidate.not_modified())))
        }),
    );
    assert!(Arc::ptr_eq(&reload.await.unwrap(), &held));
    // Stored again, validators included: a next reload revalidates it too.
    let (again, etag) = captured(&cache, true).expect("still revalidatable");
    assert!(Arc::ptr_eq(&again, &held));
    assert_eq!(etag.as_deref(), Some("\"v1\""));
}

#[tokio::test]
async fn r7_a_not_modified_answer_loses_to_a_write_after_its_start() {
    let cache = Arc::new(Cache::default());
    cache.saved_value(TypeId::of::<u32>(), key("/a"), 1_u32, tag("\"v1\""), 4);
    let (answer, answered) = tokio::sync::oneshot::channel::<()>();
    let mut reload = waiter(cache.get(
        key("/a").borrowed(),
        Policy::RELOAD,
        move |_, revalidate, _| {
            let revalidate = revalidate.expect("a value to revalidate");
            Box::pin(async move {
                let _ = answered.await;
                Ok(revalidate.not_modified())
            })
        },
    ));
    assert!(poll_once(reload.as_mut()).is_pending());
    cache.saved_value(TypeId::of::<u32>(), key("/a"), 2_u32, tag("\"v2\""), 4);
    answer.send(()).unwrap();
    let got = reload.await.unwrap();
    assert_eq!(got.downcast_ref::<u32>(), Some(&2), "C5: the newer write");
    assert_eq!(hit(&cache, "/a"), Some(2), "C4: the write stays cached");
}

/// The value cached for `key`, if any, without a load staying behind.
fn peek(cache: &Arc<Cache>, key: &Key) -> Option<u32> {
    match cache.get(key.borrowed(), Policy::PLAIN, |_, _, _| Box::pin(pending())) {
        Lookup::Hit(value) => value.downcast_ref::<u32>().copied(),
        _ => None,
    }
}

#[tokio::test]
async fn invalidating_a_member_leaves_collections_and_refuses_older_loads() {
    let cache = Arc::new(Cache::default());
    let list = Key::new(TypeId::of::<u32>(), Kind::Collection, "/");
    cache.saved_value(TypeId::of::<u32>(), key("/a"), 1_u32, None, 4);
    let load = waiter(cache.get(list.borrowed(), Policy::PLAIN, |_, _, _| {
        Box::pin(ready(Ok(loaded(10))))
    }));
    load.await.unwrap();
    let mut old = waiter(cache.get(key("/a").borrowed(), Policy::RELOAD, |_, _, _| {
        Box::pin(ready(Ok(loaded(3))))
    }));
    cache.invalidated(&key("/a"));
    assert_eq!(peek(&cache, &key("/a")), None, "the member is gone");
    assert_eq!(
        old.as_mut().await.unwrap().downcast_ref::<u32>(),
        Some(&3),
        "its caller still gets its answer"
    );
    assert_eq!(
        peek(&cache, &key("/a")),
        None,
        "not cached: it started before"
    );
    assert_eq!(peek(&cache, &list), Some(10), "collections stay");
    assert_eq!(cache.entry_count(), 1, "the member's entry is gone");
}

/// The cached value of `path`, as a hit hands it out.
fn value_of(cache: &Arc<Cache>, path: &str) -> Value {
    match cache.get(key(path).borrowed(), Policy::PLAIN, |_, _, _| {
        panic!("expected a hit")
    }) {
        Lookup::Hit(value) => value,
        _ => panic!("expected a hit"),
    }
}

#[tokio::test]
async fn a_save_writes_into_a_cached_value_that_nothing_else_holds() {
    let cache = Arc::new(Cache::default());
    let ty = TypeId::of::<u32>();
    cache.saved_value(ty, key("/a"), 1_u32, None, 4);
    // The cache's allocation, looked at and let go.
    let first = Arc::as_ptr(&value_of(&cache, "/a")).cast::<()>();
    cache.saved_value(ty, key("/a"), 2_u32, None, 4);
    let second = value_of(&cache, "/a");
    assert_eq!(second.downcast_ref::<u32>(), Some(&2));
    assert_eq!(
        Arc::as_ptr(&second).cast::<()>(),
        first,
        "the same allocation"
    );
    assert_eq!(cache.entry_count(), 1);
    assert_eq!(cache.stats().evictions, 0);
}

#[tokio::test]
async fn a_save_never_changes_a_value_someone_holds() {
    let cache = Arc::new(Cache::default());
    let ty = TypeId::of::<u32>();
    cache.saved_value(ty, key("/a"), 1_u32, None, 4);
    let held = value_of(&cache, "/a");
    cache.saved_value(ty, key("/a"), 2_u32, None, 4);
    assert_eq!(
        held.downcast_ref::<u32>(),
        Some(&1),
        "a value handed out never changes"
    );
    let now = value_of(&cache, "/a");
    assert_eq!(now.downcast_ref::<u32>(), Some(&2));
    assert!(!Arc::ptr_eq(&held, &now));
}

#[tokio::test]
async fn a_heavier_save_is_inserted_and_the_store_stays_within_its_bytes() {
    // One shard of 1,000 bytes; "/a" and "/b" weigh 4 + 2 + 96 each.
    let cache = Arc::new(Cache::new(1_000));
    let ty = TypeId::of::<u32>();
    cache.saved_value(ty, key("/a"), 1_u32, None, 4);
    cache.saved_value(ty, key("/b"), 1_u32, None, 4);
    assert_eq!(cache.stats().bytes, 204);
    // 850 + 98: written in place, "/a" and "/b" would weigh 1,050.
    cache.saved_value(ty, key("/a"), 2_u32, None, 850);
    let stats = cache.stats();
    assert!(stats.bytes <= 1_000, "{} bytes", stats.bytes);
    assert!(stats.evictions >= 1, "room was made by evicting");
    // And a lighter one, written in place: the weight follows it down.
    cache.saved_value(ty, key("/b"), 3_u32, None, 4);
    cache.saved_value(ty, key("/b"), 4_u32, None, 2);
    assert_eq!(hit(&cache, "/b"), Some(4));
    let light = cache.stats().bytes;
    cache.saved_value(ty, key("/b"), 5_u32, None, 1);
    assert_eq!(cache.stats().bytes, light - 1);
}

#[tokio::test(start_paused = true)]
async fn a_save_in_place_replaces_the_validators_and_the_arrival() {
    let cache = Arc::new(Cache::default());
    let ty = TypeId::of::<u32>();
    let address = |cache: &Arc<Cache>| Arc::as_ptr(&value_of(cache, "/a")).cast::<()>();
    cache.saved_value(ty, key("/a"), 1_u32, tag("\"v1\""), 4);
    let first = address(&cache);
    cache.saved_value(ty, key("/a"), 2_u32, tag("\"v2\""), 4);
    let (value, etag) = captured(&cache, true).expect("revalidatable");
    assert_eq!(Arc::as_ptr(&value).cast::<()>(), first, "written in place");
    assert_eq!(value.downcast_ref::<u32>(), Some(&2));
    assert_eq!(etag.as_deref(), Some("\"v2\""));
    drop(value);
    // Its arrival is the save's, however old the allocation it went into:
    // 70 s after the first save, 20 s after this one, fresh for 60 s.
    tokio::time::advance(Duration::from_secs(50)).await;
    cache.saved_value(ty, key("/a"), 3_u32, None, 4);
    assert_eq!(address(&cache), first, "written in place");
    assert!(captured(&cache, true).is_none(), "no validators any more");
    tokio::time::advance(Duration::from_secs(20)).await;
    let max_age = Policy {
        max_age: Some(Duration::from_secs(60)),
        ..Policy::PLAIN
    };
    let mut seen = Seen::Nothing;
    let fresh = cache.hit(key("/a").borrowed(), max_age, &mut seen);
    assert_eq!(
        fresh.and_then(|v| v.downcast_ref::<u32>().copied()),
        Some(3)
    );
}

#[tokio::test]
async fn a_save_in_place_is_newer_than_a_load_that_started_before_it() {
    let cache = Arc::new(Cache::default());
    let ty = TypeId::of::<u32>();
    cache.saved_value(ty, key("/a"), 1_u32, None, 4);
    let (send, receive) = tokio::sync::oneshot::channel::<()>();
    let mut reload = waiter(cache.get(key("/a").borrowed(), Policy::RELOAD, |_, _, _| {
        Box::pin(async move {
            let _ = receive.await;
            Ok(loaded(7))
        })
    }));
    assert!(poll_once(reload.as_mut()).is_pending());
    let before = Arc::as_ptr(&value_of(&cache, "/a")).cast::<()>();
    cache.saved_value(ty, key("/a"), 2_u32, None, 4);
    assert_eq!(
        Arc::as_ptr(&value_of(&cache, "/a")).cast::<()>(),
        before,
        "written in place"
    );
    let _ = send.send(());
    // The load's answer is older than the write: its waiter gets the
    // write (C5), and the cache keeps it (C4).
    let got = reload.await.unwrap();
    assert_eq!(got.downcast_ref::<u32>(), Some(&2));
    assert_eq!(hit(&cache, "/a"), Some(2));
}
