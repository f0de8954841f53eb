//! The HTTP transport: URLs, JSON requests, and turning responses into values
//! or [`Error`]s. It knows nothing of caching.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::error::{MAX_ERROR_BODY, floor_char_boundary};

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

    fn request(&self, method: &Method, url: &str, path: &str) -> Result<RequestBuilder, Error> {
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
        Ok(request)
    }

    async fn send(
        &self,
        method: &Method,
        url: &str,
        request: RequestBuilder,
    ) -> Result<Response, Error> {
        let response = request
            .send()
            .await
            .map_err(|e| Error::transport(method, url, e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(status_error(method, url, response).await)
        }
    }

    /// GET `url` (made by [`Http::url`]) and decode its JSON body as a `T`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, url: &str) -> Result<T, Error> {
        let method = Method::GET;
        let path = url.get(self.base.len()..).unwrap_or_default();
        let request = self.request(&method, url, path)?;
        let response = self.send(&method, url, request).await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::transport(&method, url, e))?;
        serde_json::from_slice(&body).map_err(|e| Error::decode::<T>(&method, url, e))
    }

    /// Sends `value` as JSON and decodes the answer: `None` when the server
    /// answered 204 or an empty body, meaning the value sent was saved.
    pub(crate) async fn send_json<T: Serialize + DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        value: &T,
    ) -> Result<Option<T>, Error> {
        let url = self.url(path);
        let body = serde_json::to_vec(value).map_err(|e| Error::encode::<T>(&method, &url, e))?;
        let request = self
            .request(&method, &url, path)?
            .header(CONTENT_TYPE, JSON)
            .body(body);
        let response = self.send(&method, &url, request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::transport(&method, &url, e))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| Error::decode::<T>(&method, &url, e))
    }

    /// DELETE `path`; any 2xx answer is success, its body is ignored.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), Error> {
        let method = Method::DELETE;
        let url = self.url(path);
        let request = self.request(&method, &url, path)?;
        self.send(&method, &url, request).await.map(drop)
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

/// Reads at most [`MAX_ERROR_BODY`] bytes of an error response's body.
async fn status_error(method: &Method, url: &str, mut response: Response) -> Error {
    let status = response.status();
    let mut bytes = Vec::new();
    // A body that fails midway still leaves the status to report.
    while let Ok(Some(chunk)) = response.chunk().await {
        bytes.extend_from_slice(&chunk);
        if bytes.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    let mut body = String::from_utf8_lossy(&bytes).into_owned();
    body.truncate(floor_char_boundary(&body, MAX_ERROR_BODY));
    Error::from_status(method, url, status, body)
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
