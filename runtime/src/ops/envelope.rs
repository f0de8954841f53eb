//! Envelopes (ARCHITECTURE.md, E6): with `#[model(envelope = "data")]`,
//! every answer is read from, and every body written into, the `data`
//! member of a JSON object (`{"data": {...}}`), as many APIs wrap their
//! resources.

use serde::de::{DeserializeOwned, Error as _};
use serde_json::{Map, Value};

use crate::http::{Answer, Call, Http};
use crate::{Error, Model};

/// `body` inside the envelope of `M`, if it has one.
pub(crate) fn wrap<M: Model>(body: Value) -> Value {
    match M::ENVELOPE {
        None => body,
        Some(name) => {
            let mut object = Map::with_capacity(1);
            object.insert(name.to_owned(), body);
            Value::Object(object)
        }
    }
}

/// The JSON body of `value` inside the envelope of `M`.
pub(crate) fn to_vec<M: Model>(value: &M) -> Result<Vec<u8>, serde_json::Error> {
    match M::ENVELOPE {
        None => serde_json::to_vec(value),
        Some(_) => serde_json::to_vec(&wrap::<M>(serde_json::to_value(value)?)),
    }
}

/// `answer`'s body decoded as a `T`, read from the envelope of `M` if it has
/// one: a body that is not an object with that member is a decode error
/// naming it (H5).
pub(crate) fn decode<M: Model, T: DeserializeOwned>(
    http: &Http,
    call: &Call,
    answer: &Answer,
    accepted_write: bool,
) -> Result<T, Error> {
    let Some(name) = M::ENVELOPE else {
        return http.decode(call, answer, accepted_write);
    };
    let mut body: Value = http.decode(call, answer, accepted_write)?;
    let inner = match body.get_mut(name) {
        Some(inner) => Ok(inner.take()),
        None => Err(serde_json::Error::custom(format!(
            "the answer is not an object with a `{name}` member (the model's envelope)"
        ))),
    };
    inner
        .and_then(serde_json::from_value)
        .map_err(|e| http.decode_error::<T>(call, answer, e, accepted_write))
}
