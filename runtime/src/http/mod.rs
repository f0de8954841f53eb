//! The HTTP transport: the base URL, one [`Http::send`] for every request,
//! and (in [`response`]) reading answers into values or [`Error`]s. It knows
//! nothing of caching.

mod response;

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A reqwest client bound to a base URL.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    /// The base URL without a trailing slash, so that `base + "/users"` keeps
    /// the base's own path (H1).
    base: String,
    /// The path of `base` ("" for `http://h`, "/api" for `http://h/api/`).
    base_path: String,
    headers: HeaderMap,
    timeout: Option<Duration>,
}

impl Http {
    pub(crate) fn new(
        client: reqwest::Client,
        base: &str,
        headers: HeaderMap,
        timeout: Option<Duration>,
    ) -> Result<Self, Error> {
        let base = normalize_base(base)?;
        let base_path = Url::parse(&base)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Ok(Http {
            client,
            base,
            base_path,
            headers,
            timeout,
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The URL of `path`, which starts with `/` and is already encoded.
    pub(crate) fn url(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }

    /// The parsed URL of `path`, refused when parsing would not keep the
    /// path as built: the URL standard resolves `.` and `..` segments, even
    /// percent-encoded, so an id `..` would otherwise reach another resource.
    fn parse(&self, method: &Method, url: &str, path: &str) -> Result<Url, Error> {
        let parsed =
            Url::parse(url).map_err(|e| Error::invalid_path(method, url, path, Some(e)))?;
        let kept = parsed
            .path()
            .strip_prefix(self.base_path.as_str())
            .is_some_and(|rest| rest == path);
        if kept {
            Ok(parsed)
        } else {
            Err(Error::invalid_path(method, url, path, None))
        }
    }

    /// Sends one request, with `body` as its JSON body if given: every
    /// method goes through here. `url` is made by [`Http::url`]. A 2xx
    /// answer is returned for the caller to read; any other status is a
    /// status error carrying its (bounded) body and headers (S3).
    pub(crate) async fn send(
        &self,
        method: &Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, Error> {
        let path = url.get(self.base.len()..).unwrap_or_default();
        let parsed = self.parse(method, url, path)?;
        let mut request = self
            .client
            .request(method.clone(), parsed)
            .header(ACCEPT, JSON);
        if !self.headers.is_empty() {
            request = request.headers(self.headers.clone());
        }
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, JSON).body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::transport(method, url, e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(response::status_error(method, url, response).await)
        }
    }

    /// GET `url` and decode its JSON body as a `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, Error> {
        let method = Method::GET;
        let response = self.send(&method, url, None).await?;
        let body = response::read(&method, url, response).await?;
        response::decode(&method, url, &body)
    }

    /// Sends `value` as JSON to `url` and decodes the answer: `None` when
    /// the server answered 204 or an empty body, meaning the value sent was
    /// saved (S2).
    pub(crate) async fn send_json<T: Serialize + DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        value: &T,
    ) -> Result<Option<T>, Error> {
        let body = serde_json::to_vec(value).map_err(|e| Error::encode::<T>(&method, url, e))?;
        let response = self.send(&method, url, Some(body)).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let body = response::read(&method, url, response).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        response::decode(&method, url, &body).map(Some)
    }

    /// DELETE `url`; any 2xx answer is success, its body is ignored (S7).
    pub(crate) async fn delete(&self, url: &str) -> Result<(), Error> {
        self.send(&Method::DELETE, url, None).await.map(drop)
    }
}

/// Validates a base URL and drops its trailing slash (H1, H6).
fn normalize_base(base: &str) -> Result<String, Error> {
    let url = Url::parse(base)
        .map_err(|e| Error::builder_with(format!("invalid base URL `{base}`"), e))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::builder(format!(
            "invalid base URL `{base}`: the scheme must be http or https"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::builder(format!(
            "invalid base URL `{base}`: it must not have a query or a fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::normalize_base;

    #[test]
    fn h1_base_keeps_its_path_with_or_without_trailing_slash() {
        assert_eq!(
            normalize_base("http://h/api/v1").unwrap(),
            "http://h/api/v1"
        );
        assert_eq!(
            normalize_base("http://h/api/v1/").unwrap(),
            "http://h/api/v1"
        );
        assert_eq!(normalize_base("http://h").unwrap(), "http://h");
    }

    #[test]
    fn h6_invalid_bases_are_rejected() {
        for base in [
            "",
            "not a url",
            "ftp://h/x",
            "mailto:a@b",
            "http://h/?q=1",
            "http://h/#f",
        ] {
            let err = normalize_base(base).unwrap_err();
            assert!(err.is_builder(), "{base}: {err}");
            assert!(err.to_string().contains("invalid base URL"), "{err}");
        }
    }
}
