//! One request, answered: routed to a served model, delayed or failed as
//! asked, replayed for a known `Idempotency-Key`, then handled by its verb
//! with the protocol backrest relies on (`ETag`s, `If-None-Match`,
//! `If-Match`, `Link` pagination, equality filters, merge patches).
//!
//! Every answer is made under the state's lock, in one step, so that two
//! requests never see half of each other's write.

mod list;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::request::Parts;
use axum::http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request as HttpRequest, Response, header,
};
use backrest_runtime::StatusCode;
use serde_json::{Map, Value, json};

use crate::fault::{Injected, aborted};
use crate::route::Target;
use crate::store::{Member, Refusal, Resource, not_found};
use crate::{Request, Shared, State, lock};

/// The largest request body read: 16 MiB.
const MAX_BODY: usize = 16 << 20;

/// The header a create carries to be made at most once.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set on an answer replayed for a known `Idempotency-Key`.
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// An answer, before it is a response: kept as is for replays.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

impl Answer {
    fn new(status: StatusCode) -> Answer {
        Answer {
            status,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    fn json(status: StatusCode, body: &impl serde::Serialize) -> Answer {
        let mut answer = Answer::new(status);
        answer.body = Some(serde_json::to_vec(body).unwrap_or_default());
        answer
    }

    fn refused(refusal: &Refusal) -> Answer {
        Answer::json(refusal.status, &json!({ "error": refusal.message }))
    }

    fn error(status: StatusCode, message: &str) -> Answer {
        Answer::json(status, &json!({ "error": message }))
    }

    fn header(mut self, name: HeaderName, value: &str) -> Answer {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.append(name, value);
        }
        self
    }

    /// A member's JSON (in the model's envelope, if it has one) with its
    /// `ETag`.
    fn member(status: StatusCode, member: &Member, envelope: Option<&str>) -> Answer {
        Answer::json(status, &wrap(member.value.clone(), envelope))
            .header(header::ETAG, &member.etag())
    }

    fn into_response(self) -> (Response<Body>, Vec<u8>) {
        let body = self.body.unwrap_or_default();
        let mut response = Response::new(Body::from(body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        if !body.is_empty() {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        (response, body)
    }
}

/// A stored answer to a request with an `Idempotency-Key`.
#[derive(Debug)]
pub(crate) struct Replay {
    method: Method,
    path: String,
    body: Vec<u8>,
    answer: Answer,
}

/// Answers one request.
pub(crate) async fn handle(shared: Arc<Shared>, request: HttpRequest<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        let refusal = Answer::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 16 MiB, or was cut",
        );
        return refusal.into_response().0;
    };
    let body = body.to_vec();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned());

    let routed = {
        let mut state = lock(&shared.state);
        state.log.push(Request {
            method: parts.method.clone(),
            path: path.clone(),
            headers: parts.headers.clone(),
            body: body.clone(),
        });
        shared.arrival.notify_waiters();
        route(&state, parts.uri.path()).map(|(index, target)| {
            let resource = &mut state.resources[index];
            (index, target, resource.injected.pop_front(), resource.delay)
        })
    };
    let Some((index, target, injected, delay)) = routed else {
        let message = format!("no served model has a route for {}", parts.uri.path());
        return Answer::error(StatusCode::NOT_FOUND, &message)
            .into_response()
            .0;
    };

    if !delay.is_zero() && !wait(&shared, delay).await {
        return aborted();
    }
    let fault = match injected {
        Some(Injected::Status(status)) => {
            let message = format!("a failure asked for by FakeApi::fail ({status})");
            return Answer::error(status, &message).into_response().0;
        }
        Some(Injected::Fault(fault)) => Some(fault),
        None => None,
    };

    let answer = {
        let mut state = lock(&shared.state);
        idempotent(&mut state, &shared.base, index, target, &parts, &body)
    };
    let (response, body) = answer.into_response();
    match fault {
        Some(fault) => fault.deliver(response, body),
        None => response,
    }
}

/// Waits `delay`; `false` if the fake was stopped first.
async fn wait(shared: &Shared, delay: Duration) -> bool {
    let mut stopped = shared.stopped.subscribe();
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        _ = stopped.wait_for(|stopped| *stopped) => false,
    }
}

/// The served model a path reaches, and what it names there. A collection
/// wins over a member (`/users/me` as a collection of its own, not the
/// member `me`), then the model served first.
fn route(state: &State, path: &str) -> Option<(usize, Target)> {
    let targets = || {
        state
            .resources
            .iter()
            .enumerate()
            .filter_map(|(index, resource)| Some((index, resource.routes.target(path)?)))
    };
    targets()
        .find(|(_, target)| matches!(target, Target::Collection(_)))
        .or_else(|| targets().next())
}

/// The answer for a request, or the stored answer of an earlier request
/// with its `Idempotency-Key`.
fn idempotent(
    state: &mut State,
    base: &str,
    index: usize,
    target: Target,
    parts: &Parts,
    body: &[u8],
) -> Answer {
    let key = (parts.method != Method::GET)
        .then(|| parts.headers.get(IDEMPOTENCY_KEY)?.to_str().ok())
        .flatten()
        .map(str::to_owned);
    let path = parts.uri.path();
    if let Some(replay) = key.as_ref().and_then(|key| state.replays.get(key)) {
        if replay.method == parts.method && replay.path == path && replay.body == body {
            return replay.answer.clone().header(REPLAYED, "true");
        }
        return Answer::error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was sent with another request",
        );
    }
    let answer = dispatch(state, base, index, target, parts, body);
    if let Some(key) = key {
        let replay = Replay {
            method: parts.method.clone(),
            path: path.to_owned(),
            body: body.to_vec(),
            answer: answer.clone(),
        };
        state.replays.insert(key, replay);
    }
    answer
}

fn dispatch(
    state: &mut State,
    base: &str,
    index: usize,
    target: Target,
    parts: &Parts,
    body: &[u8],
) -> Answer {
    let State {
        resources,
        revision,
        ..
    } = state;
    let resource = &mut resources[index];
    let method = &parts.method;
    match target {
        // A singleton's one member is at its collection's path.
        Target::Collection(params) if resource.routes.singleton() => {
            if ![Method::GET, Method::PUT, Method::PATCH, Method::DELETE].contains(method) {
                return not_allowed("GET, PUT, PATCH, DELETE");
            }
            let found = resource
                .member(&params, "")
                .map(|member| (params.clone(), member.clone()));
            if found.is_none() && method == Method::PUT {
                return put_new(resource, &params, parts, body, revision);
            }
            member(resource, found, "", parts, body, revision)
        }
        Target::Collection(params) => {
            if method == Method::GET {
                list::answer(resource, &params, parts, base)
            } else if method == Method::POST {
                create(resource, &params, body, revision)
            } else {
                not_allowed("GET, POST")
            }
        }
        Target::Member(pattern, id) => {
            if ![Method::GET, Method::PUT, Method::PATCH, Method::DELETE].contains(method) {
                return not_allowed("GET, PUT, PATCH, DELETE");
            }
            let found = resource
                .locate(&pattern, &id)
                .map(|(params, member)| (params, member.clone()));
            member(resource, found, &id, parts, body, revision)
        }
    }
}

/// A request to a member (`found`, with its collection's parameters, if
/// it exists): `GET`, `PUT`, `PATCH` or `DELETE`, with its conditions.
fn member(
    resource: &mut Resource,
    found: Option<(Vec<String>, Member)>,
    id: &str,
    parts: &Parts,
    body: &[u8],
    revision: &mut u64,
) -> Answer {
    let headers = &parts.headers;
    let method = &parts.method;
    let envelope = resource.envelope;
    let current = found.as_ref().map(|(_, member)| member);
    if method == Method::GET {
        return match current {
            Some(member) if matches_none(headers, &member.etag()) => {
                Answer::new(StatusCode::NOT_MODIFIED).header(header::ETAG, &member.etag())
            }
            Some(member) => Answer::member(StatusCode::OK, member, envelope),
            None => Answer::refused(&not_found(resource.name, id)),
        };
    }
    if !precondition_holds(headers, current) {
        return Answer::error(
            StatusCode::PRECONDITION_FAILED,
            "If-Match does not match the current ETag",
        );
    }
    let Some((params, current)) = found else {
        return Answer::refused(&not_found(resource.name, id));
    };
    if method == Method::DELETE {
        resource.remove(&params, id);
        return Answer::new(StatusCode::NO_CONTENT);
    }
    let body = match json_body(body, envelope) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    let body = if method == Method::PATCH {
        let mut merged = current.value;
        merge_patch(&mut merged, body);
        merged
    } else {
        body
    };
    match resource.replace(&params, id, body, revision) {
        Ok(member) => Answer::member(StatusCode::OK, &member, envelope),
        Err(refusal) => Answer::refused(&refusal),
    }
}

/// A `PUT` to a singleton that does not exist yet: it creates it (`201`),
/// unless `If-Match` says it was expected to exist.
fn put_new(
    resource: &mut Resource,
    params: &[String],
    parts: &Parts,
    body: &[u8],
    revision: &mut u64,
) -> Answer {
    if !precondition_holds(&parts.headers, None) {
        return Answer::error(
            StatusCode::PRECONDITION_FAILED,
            "If-Match does not match the current ETag",
        );
    }
    let envelope = resource.envelope;
    let body = match json_body(body, envelope) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    match resource.create(body, Some(params), revision) {
        Ok(member) => Answer::member(StatusCode::CREATED, &member, envelope),
        Err(refusal) => Answer::refused(&refusal),
    }
}

fn not_allowed(allow: &str) -> Answer {
    Answer::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "this method is not served here",
    )
    .header(header::ALLOW, allow)
}

/// A request's JSON body, read from the model's envelope if it has one.
fn json_body(body: &[u8], envelope: Option<&str>) -> Result<Value, Box<Answer>> {
    let mut value: Value = serde_json::from_slice(body).map_err(|error| {
        Box::new(Answer::error(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {error}"),
        ))
    })?;
    match envelope {
        None => Ok(value),
        Some(name) => match value.get_mut(name) {
            Some(inner) => Ok(inner.take()),
            None => Err(Box::new(Answer::error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!(
                    "the body is not in the model's envelope: an object with a `{name}` member"
                ),
            ))),
        },
    }
}

/// `value` in the envelope `{name: value}`, if there is one.
fn wrap(value: Value, envelope: Option<&str>) -> Value {
    match envelope {
        None => value,
        Some(name) => {
            let mut object = Map::with_capacity(1);
            object.insert(name.to_owned(), value);
            Value::Object(object)
        }
    }
}

fn create(resource: &mut Resource, params: &[String], body: &[u8], revision: &mut u64) -> Answer {
    let envelope = resource.envelope;
    let body = match json_body(body, envelope) {
        Ok(body) => body,
        Err(answer) => return *answer,
    };
    match resource.create(body, Some(params), revision) {
        Ok(member) => {
            // Where the model itself says the member is (a shallow one at
            // its own template).
            let location = member.path.clone();
            Answer::member(StatusCode::CREATED, &member, envelope)
                .header(header::LOCATION, &location)
        }
        Err(refusal) => Answer::refused(&refusal),
    }
}

/// The entity tags of a list header such as `If-None-Match`.
fn tags(headers: &HeaderMap, name: HeaderName) -> Option<Vec<String>> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().to_owned())
        .filter(|tag| !tag.is_empty())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Whether `If-None-Match` matches `etag` (weak comparison, RFC 9110
/// 13.1.2): the answer is then a `304`.
fn matches_none(headers: &HeaderMap, etag: &str) -> bool {
    let weak = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
    tags(headers, header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.iter().any(|tag| tag == "*" || weak(tag) == weak(etag)))
}

/// Whether `If-Match`, if sent, holds for the current member (strong
/// comparison, RFC 9110 13.1.1): otherwise the write is refused with `412`.
fn precondition_holds(headers: &HeaderMap, current: Option<&Member>) -> bool {
    let Some(tags) = tags(headers, header::IF_MATCH) else {
        return true;
    };
    let Some(current) = current else {
        return false;
    };
    let etag = current.etag();
    tags.iter().any(|tag| tag == "*" || *tag == etag)
}

/// Applies an RFC 7396 merge patch: objects merge member by member, `null`
/// removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(&key);
            } else {
                merge_patch(target.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    #[test]
    fn t1_a_merge_patch_follows_rfc_7396() {
        // The examples of RFC 7396, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, patch);
            assert_eq!(target, expected);
        }
    }
}
