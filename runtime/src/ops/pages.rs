//! `pages` and `stream_all` (ARCHITECTURE.md, E2): a collection walked one
//! page at a time, as a `Stream`, strictly lazily: nothing is requested
//! before the first poll, and page n+1 only when page n has been consumed.
//! How the next page is found is a [`Paging`]: the RFC 8288 `Link` header
//! by default, or a cursor or a page number for APIs that put paging in the
//! body or the query.
//!
//! Pages are not cached: each is one GET (retried per R3), its answer
//! handed to the stream and forgotten, so a walk over a long list holds
//! one page, and reads the list as it is while it is walked.

use futures_core::Stream;
use futures_util::{TryStreamExt, stream};
use reqwest::header::LINK;
use reqwest::{Method, Url};
use serde_json::Value;

use super::envelope;
use crate::http::Call;
use crate::{Client, Error, Fetch, Model};

/// How [`Model::pages`] finds the page after each page: one of the schemes
/// APIs use, set with [`Fetch::paging`].
///
/// - [`Paging::link`] (the default): the answer's `Link` header, its
///   `rel="next"` target (RFC 8288: GitHub, json-server's `_page`, most
///   Rails and Django APIs). No such link: that was the last page. Each
///   page's body is the list (inside the envelope of an
///   `#[model(envelope = "..")]`).
/// - [`Paging::cursor`]: the body is an object holding the list and the
///   next page's cursor, sent back as a query parameter. A missing, `null`
///   or empty cursor (or an empty page) ends it.
/// - [`Paging::page_number`]: pages are numbered in a query parameter
///   (`?page=1`, `?page=2`, ...); the first empty page ends it.
///
/// A next page's URL may be relative (resolved against the URL of the page
/// that named it) but must stay on the client's base origin: one elsewhere
/// ends the stream with an [`is_builder`](Error::is_builder) error, so that
/// a server cannot send the client's credentials to another host.
///
/// ```
/// use backrest::{Fetch, Paging};
/// // {"data": [..], "meta": {"next": "c2"}} and `?after=c2` for the next page.
/// let cursor = Fetch::new().paging(Paging::cursor("/data", "/meta/next", "after"));
/// // ?_page=1, ?_page=2, ... until an empty page.
/// let numbered = Fetch::new().paging(Paging::page_number("_page", 1));
/// # let _ = (cursor, numbered);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging(Scheme);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Scheme {
    #[default]
    Link,
    Cursor {
        items: &'static str,
        cursor: &'static str,
        param: &'static str,
    },
    Number {
        param: &'static str,
        first: u64,
    },
}

impl Paging {
    /// The next page is the `Link` header's `rel="next"` target (the
    /// default).
    pub const fn link() -> Paging {
        Paging(Scheme::Link)
    }

    /// The body is a JSON object with the page's list at the JSON pointer
    /// `items` (RFC 6901, `""` for a body that is the list) and the next
    /// cursor at the pointer `cursor`, a string or a number, sent back as
    /// the query parameter `param` (added to the fetch's own query).
    pub const fn cursor(items: &'static str, cursor: &'static str, param: &'static str) -> Paging {
        Paging(Scheme::Cursor {
            items,
            cursor,
            param,
        })
    }

    /// Pages are numbered in the query parameter `param`, from `first`; the
    /// first empty page ends the walk.
    pub const fn page_number(param: &'static str, first: u64) -> Paging {
        Paging(Scheme::Number { param, first })
    }
}

/// Where the walk is.
enum Walk {
    /// The URL of the next page to request, and its number for
    /// [`Paging::page_number`].
    Next(String, u64),
    /// An error to yield next: the page before it was fine, but where it
    /// leads is not (or the first request could not be made).
    Fail(Error),
    /// After the last page, or after an error was yielded.
    Done,
}

pub(crate) fn pages<M: Model>(
    client: &Client,
    collection: String,
    options: &Fetch,
) -> impl Stream<Item = Result<Vec<M>, Error>> + Send + use<M> {
    let client = client.clone();
    let paging = options.paging_scheme();
    let start = options.with_query(collection).map(|path| {
        let first = match paging.0 {
            Scheme::Number { first, .. } => first,
            _ => 0,
        };
        let url = client.http().url(&path);
        (url, first)
    });
    let walk = match start {
        Ok((url, first)) => Walk::Next(with_param(url, &paging, first), first),
        Err(error) => Walk::Fail(error),
    };
    // `unfold` runs nothing until polled: the first request waits for the
    // first poll, each next one for the poll after a page.
    stream::unfold(walk, move |walk| {
        let client = client.clone();
        let paging = paging.clone();
        async move {
            let (url, number) = match walk {
                Walk::Next(url, number) => (url, number),
                // An error ends the stream after it is yielded.
                Walk::Fail(error) => return Some((Err(error), Walk::Done)),
                Walk::Done => return None,
            };
            match page::<M>(&client, &paging, url, number).await {
                Ok((items, next)) => Some((Ok(items), next)),
                Err(error) => Some((Err(error), Walk::Done)),
            }
        }
    })
}

pub(crate) fn stream_all<M: Model>(
    client: &Client,
    collection: String,
    options: &Fetch,
) -> impl Stream<Item = Result<M, Error>> + Send + use<M> {
    // `try_flatten` polls for the next page only once the items of the
    // current one are all taken: one page in memory.
    pages::<M>(client, collection, options)
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
}

/// Requests one page: its items and where the walk goes next.
async fn page<M: Model>(
    client: &Client,
    paging: &Paging,
    url: String,
    number: u64,
) -> Result<(Vec<M>, Walk), Error> {
    let http = client.http();
    let call = Call::new(Method::GET, url);
    let answer = http.send(&call).await?;
    match paging.0 {
        Scheme::Link => {
            let items = envelope::decode::<M, Vec<M>>(http, &call, &answer, false)?;
            let next = answer
                .headers
                .get_all(LINK)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .find_map(next_link);
            let Some(next) = next else {
                return Ok((items, Walk::Done));
            };
            // This page is good; a bad link is the error of the next one.
            let next = match Url::parse(&call.url).and_then(|base| base.join(&next)) {
                Ok(next) if http.on_base_origin(&next) => Walk::Next(next.into(), number),
                Ok(next) => Walk::Fail(Error::builder(format!(
                    "the next page's link leads off the client's base origin (to {}), so it is \
                     not followed",
                    next.origin().ascii_serialization()
                ))),
                Err(e) => Walk::Fail(Error::builder_with(
                    format!("invalid next page link `{next}`"),
                    e,
                )),
            };
            Ok((items, next))
        }
        Scheme::Cursor { items, cursor, .. } => {
            let mut body: Value = http.decode(&call, &answer, false)?;
            let next = body.pointer(cursor).and_then(|cursor| match cursor {
                Value::String(text) if !text.is_empty() => Some(text.clone()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            });
            let list = body.pointer_mut(items).map(Value::take).ok_or_else(|| {
                Error::builder(format!(
                    "a page's body has nothing at `{items}`, where `Paging::cursor` looks for \
                     its items"
                ))
            })?;
            let list: Vec<M> = serde_json::from_value(list).map_err(|e| {
                Error::decode::<Vec<M>>(&call.method, &http.shown_url(&call.url), e, None)
            })?;
            let walk = match next {
                Some(next) if !list.is_empty() => {
                    let url = strip_param(&call.url, paging);
                    Walk::Next(with_text_param(url, paging, &next), number)
                }
                _ => Walk::Done,
            };
            Ok((list, walk))
        }
        Scheme::Number { .. } => {
            let items = envelope::decode::<M, Vec<M>>(http, &call, &answer, false)?;
            if items.is_empty() {
                return Ok((items, Walk::Done));
            }
            let url = strip_param(&call.url, paging);
            Ok((
                items,
                Walk::Next(with_param(url, paging, number + 1), number + 1),
            ))
        }
    }
}

/// The first page's URL, with its page number for [`Paging::page_number`].
fn with_param(url: String, paging: &Paging, number: u64) -> String {
    match paging.0 {
        Scheme::Number { .. } => with_text_param(url, paging, itoa::Buffer::new().format(number)),
        _ => url,
    }
}

/// `url` with `param=value` added to its query, for the schemes that have a
/// parameter.
fn with_text_param(mut url: String, paging: &Paging, value: &str) -> String {
    let param = match paging.0 {
        Scheme::Cursor { param, .. } | Scheme::Number { param, .. } => param,
        Scheme::Link => return url,
    };
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&serde_urlencoded::to_string([(param, value)]).unwrap_or_default());
    url
}

/// `url` without the scheme's parameter, which is added again with the next
/// page's value (the last pair of the query, as [`with_text_param`] put it).
fn strip_param(url: &str, paging: &Paging) -> String {
    let param = match paging.0 {
        Scheme::Cursor { param, .. } | Scheme::Number { param, .. } => param,
        Scheme::Link => return url.to_owned(),
    };
    let prefix = serde_urlencoded::to_string([(param, "")]).unwrap_or_default();
    match url.rfind(['?', '&']) {
        Some(at) if url[at + 1..].starts_with(&prefix) => url[..at].to_owned(),
        _ => url.to_owned(),
    }
}

/// The target of the first link with relation `next` in one `Link` header
/// value (RFC 8288): links separated by commas, each `<target>` followed by
/// `;`-separated parameters whose values may be tokens or quoted strings
/// (with `\` escapes, and commas or semicolons inside); `rel` may list
/// several relations, compared without case.
pub(crate) fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(after) = rest.strip_prefix('<') else {
            // Not a link: skip to the next one.
            let next = rest.find(',')?;
            rest = &rest[next..];
            continue;
        };
        let end = after.find('>')?;
        let target = &after[..end];
        rest = &after[end + 1..];
        let mut is_next = false;
        // The link's parameters, up to the comma that ends it.
        loop {
            rest = rest.trim_start_matches([' ', '\t']);
            let Some(after) = rest.strip_prefix(';') else {
                break;
            };
            let after = after.trim_start_matches([' ', '\t']);
            let name_end = after.find(['=', ';', ',']).unwrap_or(after.len());
            let name = after[..name_end].trim();
            rest = &after[name_end..];
            let mut value = String::new();
            if let Some(after) = rest.strip_prefix('=') {
                let after = after.trim_start_matches([' ', '\t']);
                (value, rest) = param_value(after);
            }
            if name.eq_ignore_ascii_case("rel")
                && value
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
            {
                is_next = true;
            }
        }
        if is_next {
            return Some(target.to_owned());
        }
        // Skip anything unparsable up to the next link.
        let next = rest.find(',')?;
        rest = &rest[next..];
    }
}

/// A parameter's value, a token or a quoted string, and what follows it.
fn param_value(text: &str) -> (String, &str) {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find([';', ',']).unwrap_or(text.len());
        return (text[..end].trim().to_owned(), &text[end..]);
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &quoted[at + 1..]),
            c => value.push(c),
        }
    }
    (value, "")
}

#[cfg(test)]
mod tests {
    use super::{Paging, next_link, strip_param, with_text_param};

    #[test]
    fn e2_the_next_link_among_several_with_quoted_params() {
        let header = r#"<https://h/u?page=1>; rel="first", <https://h/u?page=3>; rel="next"; title="a, b; c", <https://h/u?page=9>; rel=last"#;
        assert_eq!(next_link(header).as_deref(), Some("https://h/u?page=3"));
        assert_eq!(
            next_link(r#"</u?p=2>; title="rel=\"next\"", </u?p=3>; REL="prev Next""#).as_deref(),
            Some("/u?p=3")
        );
        assert_eq!(next_link("</u?p=2>; rel=next").as_deref(), Some("/u?p=2"));
        assert_eq!(next_link(r#"</u?p=1>; rel="prev""#), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage, </x>; rel=next").as_deref(), Some("/x"));
        assert_eq!(next_link("</a>; x, </b>; rel=next").as_deref(), Some("/b"));
    }

    #[test]
    fn e2_page_parameters_are_added_and_replaced() {
        let paging = Paging::page_number("page", 1);
        let url = with_text_param("http://h/u?q=a".to_owned(), &paging, "1");
        assert_eq!(url, "http://h/u?q=a&page=1");
        assert_eq!(strip_param(&url, &paging), "http://h/u?q=a");
        let cursor = Paging::cursor("/data", "/next", "after");
        let url = with_text_param("http://h/u".to_owned(), &cursor, "a b&c");
        assert_eq!(url, "http://h/u?after=a+b%26c");
        assert_eq!(strip_param(&url, &cursor), "http://h/u");
    }
}
