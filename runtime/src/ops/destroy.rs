//! `destroy`: DELETE the member (S7), with `If-Match` when the value has an
//! etag (R8), and evict it (C9).

use std::any::TypeId;

use reqwest::Method;
use tracing::{Instrument, Span};

use super::conditions;
use crate::cache::{Key, Kind};
use crate::error::Delivery;
use crate::http::Call;
use crate::shared;
use crate::trace::{self, outcome};
use crate::{Client, Error, Model};

pub(crate) async fn destroy<M: Model>(client: &Client, value: &M) -> Result<(), Error> {
    let Some(id) = value.id() else {
        return Ok(());
    };
    let path = M::member_path(&value.params(), id);
    let span = trace::span!("backrest.destroy", M, path.as_str());
    let destroyed = send(client, value, path, &span)
        .instrument(span.clone())
        .await;
    match &destroyed {
        Ok(()) => {
            span.record("outcome", outcome::DESTROYED);
        }
        Err(error) => trace::failed(&span, error),
    }
    destroyed
}

/// Sends the DELETE of `value`, at `path`, and tells the cache.
async fn send<M: Model>(
    client: &Client,
    value: &M,
    path: String,
    span: &Span,
) -> Result<(), Error> {
    let mut call = Call::new(Method::DELETE, client.http().url(&path));
    conditions::if_match(&mut call, value.etag())?;
    let key = Key::new(TypeId::of::<M>(), Kind::Member, &path);
    match client.http().send(&call).await {
        Ok(answer) => {
            trace::answered(span, answer.status, answer.attempts);
            client.cache().destroyed(&key);
            shared::destroyed(client, value).await;
            Ok(())
        }
        // Refused: nothing was deleted, but the value it was based on is
        // not the server's any more, so the cache forgets it. Sent without
        // a complete answer: it may have been deleted.
        Err(error) => {
            if conditions::precondition_failed(&error) {
                client.cache().invalidated(&key);
            } else if error.delivery() == Delivery::Unknown {
                client.cache().destroyed(&key);
            }
            Err(error)
        }
    }
}
