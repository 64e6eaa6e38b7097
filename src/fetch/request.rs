//! One page request: what is sent (method, URL, body) and the position in
//! the source's pagination it stands for.
//!
//! The paginator produces the next [`Request`], the client sends it, the
//! loop guard compares requests (two pages are the same page when URL and
//! body are the same), the state saves its position, and logs and
//! `failed_page_urls` show it. Headers are not part of the value: they
//! are asked of the source's [`HeaderHook`] every time a request goes out
//! (a redirect hop included), so a credential that changes during a run
//! (an expiring token) is read fresh, and a secret goes only to the origin
//! it was configured for.

use std::fmt;

pub use crate::config::Method;
use crate::config::{Auth, Header, SourceConfig};
use crate::state::Position;
pub use crate::text::base64;
use crate::url;

/// One page's request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Request {
    /// GET, unless the source says otherwise.
    pub method: Method,
    /// The URL as requested (secrets included: whoever shows it redacts).
    pub url: String,
    /// The body: JSON (`Content-Type: application/json`), or a form when
    /// `form` says so; `None` for a GET.
    pub body: Option<String>,
    /// The body is `application/x-www-form-urlencoded` (a token request).
    pub form: bool,
    /// Where this page is in the source's pagination; `None` for a start
    /// that has no number for it (a cursor style's first page, a start
    /// URL).
    pub position: Option<Position>,
}

impl Request {
    /// A GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            url: url.into(),
            ..Request::default()
        }
    }

    /// This request at `position`.
    pub fn at(mut self, position: Option<Position>) -> Self {
        self.position = position;
        self
    }

    /// Whether this is the same page as `other`: the same method, URL and
    /// body (the position is what the paginator thinks of it, not what is
    /// sent).
    pub fn same_page(&self, other: &Request) -> bool {
        (self.method, &self.url, &self.body) == (other.method, &other.url, &other.body)
    }

    /// The request as a person reads it in a log line or the summary,
    /// with `show` hiding secrets in the URL: a GET is its URL (as it
    /// always was); another method says itself and where it stands
    /// (`POST https://api/graphql after=Y3Vy`).
    pub fn shown(&self, show: impl Fn(&str) -> String) -> String {
        let url = show(&self.url);
        match (self.method, &self.position) {
            (Method::Get, _) => url,
            (method, Some(position)) => format!("{} {url} {position}", method.as_str()),
            (method, None) => format!("{} {url}", method.as_str()),
        }
    }
}

/// Where a request's headers come from: asked every time a request of the
/// source goes out, with the URL it goes to.
pub trait HeaderHook: fmt::Debug + Send + Sync {
    /// Calls `add` with each header to send to `target`.
    fn headers(&self, target: &str, add: &mut dyn FnMut(&str, &str));
}

/// A source's configured headers: the same on every request, secret ones
/// only to the origin of the source's URL (never to a host a next link or
/// a redirect points to).
#[derive(Debug, Clone, Default)]
pub struct ConfiguredHeaders {
    headers: Vec<Header>,
    /// `scheme://authority` of the source's URL.
    origin: String,
}

impl ConfiguredHeaders {
    /// The `headers` of a source whose URL is `source_url`.
    pub fn new(headers: &[Header], source_url: &str) -> Self {
        ConfiguredHeaders {
            headers: headers.to_vec(),
            origin: url::origin(source_url),
        }
    }

    /// A source's headers with what its static `auth` adds (a bearer
    /// token, HTTP Basic, an API key in a header), all secret.
    pub fn for_source(source: &SourceConfig) -> Self {
        Self::for_source_with(source, &source.headers)
    }

    /// [`for_source`](Self::for_source), with `headers` instead of the
    /// configured ones (a partition's, placeholders filled).
    pub fn for_source_with(source: &SourceConfig, headers: &[Header]) -> Self {
        let mut hook = Self::new(headers, &source.url);
        let secret = |name: &str, value: String| Header {
            name: name.to_string(),
            value,
            secret: true,
        };
        match &source.auth {
            Some(Auth::Bearer { token }) => hook
                .headers
                .push(secret("Authorization", format!("Bearer {token}"))),
            Some(Auth::Basic { username, password }) => {
                let pair = format!("{username}:{password}");
                let value = format!("Basic {}", base64(pair.as_bytes()));
                hook.headers.push(secret("Authorization", value));
            }
            Some(Auth::ApiKey {
                name,
                value,
                in_query: false,
            }) => hook.headers.push(secret(name, value.clone())),
            // In the query (already in the URL), or fetched at run time.
            Some(Auth::ApiKey { .. } | Auth::OAuth2(_)) | None => {}
        }
        hook
    }
}

impl HeaderHook for ConfiguredHeaders {
    fn headers(&self, target: &str, add: &mut dyn FnMut(&str, &str)) {
        let same_origin = url::origin(target) == self.origin;
        for h in &self.headers {
            if same_origin || !h.secret {
                add(&h.name, &h.value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str, secret: bool) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
            secret,
        }
    }

    #[test]
    fn secret_headers_go_only_to_the_sources_origin() {
        let hook = ConfiguredHeaders::new(
            &[
                header("Accept", "application/json", false),
                header("Authorization", "Bearer t0k3n", true),
            ],
            "http://api.example:8080/items?page=1",
        );
        let sent = |target: &str| {
            let mut out = Vec::new();
            hook.headers(target, &mut |n, v| out.push(format!("{n}: {v}")));
            out
        };
        assert_eq!(
            sent("http://API.example:8080/items?page=2"),
            ["Accept: application/json", "Authorization: Bearer t0k3n"]
        );
        assert_eq!(
            sent("http://cdn.example/items"),
            ["Accept: application/json"]
        );
        assert_eq!(
            sent("https://api.example:8080/items"),
            ["Accept: application/json"]
        );
    }

    #[test]
    fn a_page_is_its_method_url_and_body_and_shows_as_its_url_for_a_get() {
        let a = Request::get("http://h/p?page=2").at(Some(Position::Page(2)));
        let b = Request::get("http://h/p?page=2");
        assert!(a.same_page(&b), "the position is not sent");
        let post = Request {
            method: Method::Post,
            body: Some(r#"{"after":"x"}"#.into()),
            ..b.clone()
        };
        assert!(!post.same_page(&b));
        assert_eq!(a.shown(str::to_string), "http://h/p?page=2");
        let cursor = Request {
            position: Some(Position::Cursor("Y3Vy".into())),
            ..post
        };
        assert_eq!(
            cursor.shown(|u| u.replace("//h/", "//H/")),
            "POST http://H/p?page=2 cursor=Y3Vy"
        );
    }
}
