//! A collection's answer (T2): its members filtered by equality on the
//! query's fields, paged (`_page`, `_limit` or the fake's `page_size`) with
//! RFC 8288 `Link` headers and `X-Total-Count`, and tagged with an `ETag`
//! of its body.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::http::request::Parts;
use axum::http::{HeaderName, header};
use backrest_runtime::StatusCode;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::{Answer, matches_none, wrap};
use crate::store::Resource;

/// The total length of a paged list (json-server's header).
const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// A collection's members that match the query's filters, one page of them
/// when paging is on.
pub(super) fn answer(resource: &Resource, params: &[String], parts: &Parts, base: &str) -> Answer {
    let query = parts.uri.query().unwrap_or("");
    let pairs = query_pairs(query);
    let filters: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(key, _)| !key.starts_with('_'))
        .collect();
    let selected: Vec<&Value> = resource
        .members(params)
        .iter()
        .map(|member| &member.value)
        .filter(|value| filters.iter().all(|(key, want)| field_is(value, key, want)))
        .collect();

    let number = |name: &str| -> Result<Option<usize>, String> {
        match pairs.iter().find(|(key, _)| key == name) {
            None => Ok(None),
            Some((_, value)) => match value.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(format!("`{name}` is a number from 1, not {value:?}")),
            },
        }
    };
    let (limit, page) = match (number("_limit"), number("_page")) {
        (Ok(limit), Ok(page)) => (limit.or(resource.page_size), page.unwrap_or(1)),
        (Err(why), _) | (_, Err(why)) => return Answer::error(StatusCode::BAD_REQUEST, &why),
    };

    let mut links = Vec::new();
    let total = selected.len();
    let shown = match limit {
        None => selected,
        Some(limit) => {
            let last = total.div_ceil(limit).max(1);
            let link = |page: usize, rel: &str| {
                let mut url = format!("{base}{}?", parts.uri.path());
                for raw in query.split('&').filter(|raw| !raw.is_empty()) {
                    let key = raw.split('=').next().unwrap_or("");
                    if key != "_page" && key != "_limit" {
                        url.push_str(raw);
                        url.push('&');
                    }
                }
                format!("<{url}_page={page}&_limit={limit}>; rel=\"{rel}\"")
            };
            if page < last {
                links.push(link(page + 1, "next"));
            }
            if page > 1 {
                links.push(link(page - 1, "prev"));
            }
            links.push(link(1, "first"));
            links.push(link(last, "last"));
            let start = (page - 1).saturating_mul(limit).min(total);
            let end = start.saturating_add(limit).min(total);
            selected[start..end].to_vec()
        }
    };

    let body = serde_json::to_vec(&wrap(json!(shown), resource.envelope)).unwrap_or_default();
    let etag = list_etag(&body);
    let mut answer = if matches_none(&parts.headers, &etag) {
        Answer::new(StatusCode::NOT_MODIFIED)
    } else {
        let mut answer = Answer::new(StatusCode::OK);
        answer.body = Some(body);
        answer
    };
    answer = answer.header(header::ETAG, &etag);
    if limit.is_some() {
        answer = answer
            .header(TOTAL_COUNT, &total.to_string())
            .header(header::LINK, &links.join(", "));
    }
    answer
}

/// A list's strong `ETag`: a hash of its body, so that the same list has the
/// same one.
fn list_etag(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"list-{:016x}\"", hasher.finish())
}

/// A query string's pairs, decoded as `application/x-www-form-urlencoded`.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let text = text.replace('+', " ");
        percent_decode_str(&text).decode_utf8_lossy().into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// Whether a member's field `key` is `want`: a string equal to it, or a
/// number, boolean or null written as it.
fn field_is(value: &Value, key: &str, want: &str) -> bool {
    match value.get(key) {
        Some(Value::String(text)) => text == want,
        Some(other @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
            let text = other.to_string();
            text == want
        }
        _ => false,
    }
}
