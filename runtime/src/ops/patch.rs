//! `patch` (ARCHITECTURE.md, E3): an RFC 7396 merge patch of what differs
//! between a value and the original it was edited from, sent with `PATCH`
//! to its member path (`If-Match` when it has an etag, R8), its answer
//! cached as a save's is (C9). A PATCH is never retried (R3): it need not
//! be idempotent.

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use tracing::{Instrument, Span};

use super::{conditions, envelope, save};
use crate::error::Delivery;
use crate::http::Call;
use crate::trace;
use crate::{Client, Error, Model};

/// The default `Content-Type` of a patch (RFC 7396).
pub(crate) const MERGE_PATCH: HeaderValue =
    HeaderValue::from_static("application/merge-patch+json");

pub(crate) async fn patch<M: Model>(client: &Client, value: &M, original: &M) -> Result<M, Error> {
    let Some(id) = value.id() else {
        return Err(Error::builder(format!(
            "cannot patch a `{}` without an id: `patch` sends PATCH to the member path; use \
             `create` or `save` to POST a new value",
            std::any::type_name::<M>()
        )));
    };
    let path = M::member_path(&value.params(), id);
    let span = trace::span!("backrest.patch", M, path.as_str());
    let patched = send(client, value, original, &path, &span)
        .instrument(span.clone())
        .await;
    match &patched {
        Ok(_) => {
            span.record("outcome", trace::outcome::UPDATED);
        }
        Err(error) => trace::failed(&span, error),
    }
    patched
}

/// Sends the merge patch of `value` over `original` to `path`.
async fn send<M: Model>(
    client: &Client,
    value: &M,
    original: &M,
    path: &str,
    span: &Span,
) -> Result<M, Error> {
    let http = client.http();
    let mut call = Call::new(Method::PATCH, http.url(path));
    let encode = |e| Error::encode::<M>(&call.method, &http.shown_url(&call.url), e);
    let (new, old) = match (serde_json::to_value(value), serde_json::to_value(original)) {
        (Ok(new), Ok(old)) => (new, old),
        (Err(e), _) | (_, Err(e)) => return Err(encode(e)),
    };
    let Some(difference) = merge_patch(&old, &new) else {
        // Nothing differs: nothing to send (E3).
        return Ok(value.clone());
    };
    let body = serde_json::to_vec(&envelope::wrap::<M>(difference)).map_err(encode)?;
    conditions::if_match(&mut call, value.etag())?;
    call.headers
        .insert(CONTENT_TYPE, client.inner.patch_content_type.clone());
    call.body = Some(body.into());
    let answer = match http.send(&call).await {
        Ok(answer) => answer,
        Err(error) => {
            if conditions::precondition_failed(&error) {
                save::refused(client, value);
            } else if error.delivery() == Delivery::Unknown {
                save::written_but_unread(client, value);
            }
            return Err(error);
        }
    };
    trace::answered(span, answer.status, answer.attempts);
    let validators = conditions::validators(&answer.headers);
    let (saved, bytes) = if answer.status == StatusCode::NO_CONTENT
        || answer.body.iter().all(u8::is_ascii_whitespace)
    {
        // The server applied the patch and kept quiet: its value is ours,
        // weighed as the body it would be (P2).
        let bytes = serde_json::to_vec(value).map_or(0, |body| body.len());
        (value.clone(), bytes)
    } else {
        match envelope::decode::<M, M>(http, &call, &answer, true) {
            Ok(saved) => (saved, answer.body.len()),
            Err(error) => {
                save::written_but_unread(client, value);
                return Err(error);
            }
        }
    };
    Ok(save::recorded(client, saved, validators, bytes).await)
}

/// The RFC 7396 merge patch that turns `original` into `value`, `None` when
/// they are equal: objects are compared member by member, recursively; a
/// member `value` lacks (or holds `null`) is `null`, which removes it; any
/// other difference (arrays included) is the new value whole.
pub(crate) fn merge_patch(original: &Value, value: &Value) -> Option<Value> {
    match (original, value) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = Map::new();
            for (name, new_member) in new {
                let change = match old.get(name) {
                    Some(old_member) => merge_patch(old_member, new_member),
                    None if new_member.is_null() => None,
                    None => Some(new_member.clone()),
                };
                if let Some(change) = change {
                    patch.insert(name.clone(), change);
                }
            }
            for name in old.keys() {
                if !new.contains_key(name) {
                    patch.insert(name.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (old, new) if old == new => None,
        (_, new) => Some(new.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    #[test]
    fn e3_equal_values_have_no_patch() {
        let value = json!({"a": 1, "b": {"c": [1, 2]}, "d": null});
        assert_eq!(merge_patch(&value, &value), None);
    }

    #[test]
    fn e3_only_what_differs_nested_objects_recurse_arrays_are_whole() {
        let original = json!({"a": 1, "b": {"c": 1, "d": 2}, "e": [1, 2], "f": "x", "g": 5});
        let value = json!({"a": 1, "b": {"c": 1, "d": 3}, "e": [1], "f": null, "h": true});
        assert_eq!(
            merge_patch(&original, &value),
            Some(json!({"b": {"d": 3}, "e": [1], "f": null, "g": null, "h": true}))
        );
    }

    #[test]
    fn e3_a_value_that_is_not_an_object_replaces_whole() {
        assert_eq!(merge_patch(&json!({"a": 1}), &json!([1])), Some(json!([1])));
        assert_eq!(
            merge_patch(&json!(1), &json!({"a": 1})),
            Some(json!({"a": 1}))
        );
    }
}
