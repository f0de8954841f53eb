//! The subscription to the fleet's invalidations: one pub/sub connection
//! per [`RedisCache`](crate::RedisCache) (and its clones), on a task of its
//! own that reconnects and resubscribes by itself, handing each message to
//! every client's handler; after a lost subscription comes back, a
//! [`Notice::Gap`] tells the clients they may have missed some.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use backrest_runtime::shared::{Handler, Invalidation, Notice, SharedError, WriteKind};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::{CONNECT_TIMEOUT, lock};

/// The first and the longest pause between two attempts to subscribe.
const RETRY_FIRST: Duration = Duration::from_millis(10);
const RETRY_MAX: Duration = Duration::from_millis(500);

/// An invalidation on the wire.
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    o: u64,
    m: &'a str,
    p: &'a str,
    /// `true`: destroyed; `false`: saved.
    d: bool,
}

pub(crate) fn encode(invalidation: &Invalidation) -> Vec<u8> {
    let wire = Wire {
        o: invalidation.origin,
        m: &invalidation.model,
        p: &invalidation.path,
        d: invalidation.kind == WriteKind::Destroyed,
    };
    serde_json::to_vec(&wire).unwrap_or_default()
}

fn decode(payload: &[u8]) -> Option<Invalidation> {
    let wire: Wire<'_> = serde_json::from_slice(payload).ok()?;
    Some(Invalidation {
        origin: wire.o,
        model: wire.m.to_owned(),
        path: wire.p.to_owned(),
        kind: match wire.d {
            true => WriteKind::Destroyed,
            false => WriteKind::Saved,
        },
    })
}

type Handlers = Mutex<Vec<Handler>>;

/// The handlers, and the task that feeds them once the first is added.
pub(crate) struct Listener {
    client: redis::Client,
    handlers: Arc<Handlers>,
    /// Whether the subscription is in place (`None` until the first
    /// attempt ends), from the task; set when the task starts, and replaced
    /// with a new task if the runtime the last one ran on is gone.
    state: Mutex<Option<watch::Receiver<Option<bool>>>>,
    /// Dropped with the listener, which ends the task.
    stop: watch::Sender<()>,
}

impl Listener {
    pub(crate) fn new(client: redis::Client) -> Self {
        Listener {
            client,
            handlers: Arc::default(),
            state: Mutex::new(None),
            stop: watch::Sender::new(()),
        }
    }

    /// A listener of the same server with no handlers yet (for another
    /// namespace).
    pub(crate) fn fresh(&self) -> Self {
        Listener::new(self.client.clone())
    }

    /// Adds `handler`, starting the task on the current runtime if this is
    /// the first; resolves once the subscription is in place, or with an
    /// error if it is not within `bound` (the task keeps trying).
    pub(crate) async fn add(
        &self,
        handler: Handler,
        channel: String,
        bound: Duration,
    ) -> Result<(), SharedError> {
        lock(&self.handlers).push(handler);
        let mut state = {
            let mut slot = lock(&self.state);
            match &*slot {
                // The task's sender is alive: it runs.
                Some(state) if state.has_changed().is_ok() => state.clone(),
                _ => {
                    let (sender, receiver) = watch::channel(None);
                    let task = run(
                        self.client.clone(),
                        channel,
                        Arc::downgrade(&self.handlers),
                        sender,
                        self.stop.subscribe(),
                    );
                    tokio::spawn(task);
                    *slot = Some(receiver.clone());
                    receiver
                }
            }
        };
        match tokio::time::timeout(bound, state.wait_for(Option::is_some)).await {
            Ok(Ok(ready)) if *ready == Some(true) => Ok(()),
            Ok(_) => Err("could not subscribe to the fleet's invalidations".into()),
            Err(_) => Err("subscribing to the fleet's invalidations timed out".into()),
        }
    }
}

/// Hands `notice` to every handler, dropping those that want no more;
/// `false` when none is left.
fn dispatch(handlers: &Handlers, notice: &Notice) -> bool {
    let mut handlers = lock(handlers);
    handlers.retain(|handler| handler(notice.clone()));
    !handlers.is_empty()
}

/// Subscribes, hands every message on, and subscribes again when the
/// connection is lost, until the listener is dropped or has no handler.
async fn run(
    client: redis::Client,
    channel: String,
    handlers: Weak<Handlers>,
    state: watch::Sender<Option<bool>>,
    mut stop: watch::Receiver<()>,
) {
    let mut missed = false;
    let mut pause = RETRY_FIRST;
    loop {
        let subscribe = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let subscribed = tokio::select! {
            subscribed = tokio::time::timeout(CONNECT_TIMEOUT, subscribe) => subscribed,
            _ = stop.changed() => return,
        };
        if let Ok(Ok(pubsub)) = subscribed {
            pause = RETRY_FIRST;
            state.send_replace(Some(true));
            if missed {
                let Some(handlers) = handlers.upgrade() else {
                    return;
                };
                if !dispatch(&handlers, &Notice::Gap) {
                    return;
                }
            }
            let mut messages = pubsub.into_on_message();
            loop {
                let message = tokio::select! {
                    message = messages.next() => message,
                    _ = stop.changed() => return,
                };
                let Some(message) = message else {
                    break;
                };
                let Some(invalidation) = decode(message.get_payload_bytes()) else {
                    tracing::debug!("backrest-redis: an invalidation that does not decode");
                    continue;
                };
                let Some(handlers) = handlers.upgrade() else {
                    return;
                };
                if !dispatch(&handlers, &Notice::Invalidation(invalidation)) {
                    return;
                }
            }
            tracing::debug!("backrest-redis: the subscription was lost; subscribing again");
        }
        state.send_replace(Some(false));
        missed = true;
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}
