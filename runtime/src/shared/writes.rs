//! The fleet's side of a successful write (F2): the hooks that save,
//! create, update, patch and destroy call once they have told the local
//! cache. They replace or delete the shared entries and publish an
//! invalidation for the other processes.

use std::time::Duration;

use super::{Entry, Invalidation, WriteKind, name};
use crate::cache::Validators;
use crate::{Client, Model};

/// What a write did, for [`wrote`].
enum Write<'a, M> {
    /// `M` was saved as this value, which came with these validators.
    Saved(&'a M, Option<&'a Validators>),
    /// The member was deleted, or written with an answer that could not be
    /// read (R9): the shared entry is deleted.
    Destroyed,
}

/// The fleet's side of a successful save of `value` (F2), whose answer came
/// with `validators`: the hook every write that stores a value (save, and
/// later patch, create, update) calls once it has told the local cache.
/// Does nothing without a shared cache.
pub(crate) async fn saved<M: Model>(client: &Client, value: &M, validators: Option<&Validators>) {
    if client.shared().is_some() {
        let params = value.params();
        let collection = M::collection_path(&params);
        let path = match value.id() {
            Some(id) => M::member_path(&params, id),
            None => collection.clone(),
        };
        // Boxed, like every round trip to the fleet: a save's future stays
        // small without one (see `Http::send`).
        Box::pin(wrote(
            client,
            &path,
            &collection,
            Write::Saved(value, validators),
        ))
        .await;
    }
}

/// The fleet's side of a successful delete of `value` (F2).
pub(crate) async fn destroyed<M: Model>(client: &Client, value: &M) {
    if client.shared().is_some()
        && let Some(id) = value.id()
    {
        let params = value.params();
        let path = M::member_path(&params, id);
        let collection = M::collection_path(&params);
        Box::pin(wrote::<M>(client, &path, &collection, Write::Destroyed)).await;
    }
}

/// The fleet's side of a successful write of `M`'s member at `path` (F2):
/// the shared entry is replaced by the saved value (or deleted), the
/// collection's entry is deleted, and an invalidation is published for the
/// other processes.
async fn wrote<M: Model>(client: &Client, path: &str, collection: &str, write: Write<'_, M>) {
    let Some(shared) = client.shared() else {
        return;
    };
    shared.subscribe(client.cache(), shared).await;
    let key = shared.key::<M>(path);
    let collection = shared.key::<M>(collection);
    let kind = match write {
        Write::Saved(value, validators) if key != collection => {
            let entry = serde_json::to_vec(value).ok().map(|body| Entry {
                body: body.into(),
                etag: validators.and_then(|v| v.etag.clone()),
                last_modified: validators.and_then(|v| v.last_modified.clone()),
                age: Duration::ZERO,
            });
            let _ = shared
                .run(shared.store.write(&key, entry, M::MAX_AGE))
                .await;
            let _ = shared
                .run(shared.store.write(&collection, None, None))
                .await;
            WriteKind::Saved
        }
        Write::Saved(..) => {
            let _ = shared
                .run(shared.store.write(&collection, None, None))
                .await;
            WriteKind::Saved
        }
        Write::Destroyed => {
            let _ = shared.run(shared.store.write(&key, None, None)).await;
            let _ = shared
                .run(shared.store.write(&collection, None, None))
                .await;
            WriteKind::Destroyed
        }
    };
    let invalidation = Invalidation {
        origin: shared.origin,
        model: name::<M>().to_owned(),
        path: path.to_owned(),
        kind,
    };
    let _ = shared.run(shared.store.publish(invalidation)).await;
}
