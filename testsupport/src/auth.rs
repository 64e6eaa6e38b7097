//! Credentials a mock source can require (SPEC §11's `auth`), and the
//! check the raw front makes before anything else answers.
//!
//! A source with an [`Auth`] refuses every request that lacks its
//! credentials with a 401, before quotas and faults (an API checks who is
//! asking first): the request is logged as an attempt of its page, and
//! nothing else happens to it. Only [`Auth::OAuth2`] depends on time: its
//! tokens expire on the server's clock (see `oauth.rs`).

use std::time::Instant;

use serde_json::{json, Value};

use crate::api::{Answer, Request};
use crate::base64;
use crate::oauth::Tokens;

/// Where an API key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyIn {
    /// A request header (its name compared case-insensitively).
    Header,
    /// A query parameter of the request target.
    Query,
}

/// What a protected source requires of every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer T`, where `T` is an access token the
    /// scenario's token endpoint ([`crate::OAuth2`]) issued, not expired
    /// on the server's clock and not expired by
    /// [`crate::MockServer::expire_tokens`]. A missing token gets
    /// `401` with `WWW-Authenticate: Bearer realm="mock"`; an unknown or
    /// expired one `401` with `WWW-Authenticate: Bearer
    /// error="invalid_token", error_description=".."` (RFC 6750 §3).
    OAuth2,
    /// `Authorization: Bearer T` with this fixed token (SPEC's
    /// `{"type":"bearer"}`); it never expires. Refused as `OAuth2`.
    Bearer(String),
    /// `Authorization: Basic` with these credentials (RFC 7617); refused
    /// with `WWW-Authenticate: Basic realm="mock"`.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An API key: a header or a query parameter `name` with `value`;
    /// refused with a 401 and a JSON body.
    ApiKey {
        /// Header or parameter name.
        name: String,
        /// The key.
        value: String,
        /// Header or query.
        placement: KeyIn,
    },
}

/// The body of every 401 the gate writes.
fn refusal(error: &str, description: &str, challenge: Option<String>) -> Answer {
    let body = json!({"error": error, "error_description": description});
    let mut answer = Answer::json(401, body.to_string());
    if let Some(challenge) = challenge {
        answer.headers.push(("WWW-Authenticate".into(), challenge));
    }
    answer
}

/// The credentials of an `Authorization` header with this scheme
/// (compared case-insensitively, as RFC 9110 §11.1 says).
pub(crate) fn credentials<'a>(req: &Request<'a>, scheme: &str) -> Option<&'a str> {
    let value = req.header("authorization")?;
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// The user and password of a Basic `Authorization` header, as sent.
pub(crate) fn basic_pair(req: &Request) -> Option<(String, String)> {
    let decoded = base64::decode(credentials(req, "Basic")?)?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

impl Auth {
    /// A source that wants HTTP Basic with these credentials.
    pub fn basic(username: &str, password: &str) -> Auth {
        Auth::Basic {
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    /// A source that wants the API key `value` in header `name`.
    pub fn api_key_header(name: &str, value: &str) -> Auth {
        Auth::ApiKey {
            name: name.to_string(),
            value: value.to_string(),
            placement: KeyIn::Header,
        }
    }

    /// A source that wants the API key `value` in query parameter `name`.
    pub fn api_key_query(name: &str, value: &str) -> Auth {
        Auth::ApiKey {
            name: name.to_string(),
            value: value.to_string(),
            placement: KeyIn::Query,
        }
    }

    /// SPEC §11's `auth` object for this requirement (literal values, no
    /// `env:`); `None` for [`Auth::OAuth2`], whose client is the
    /// scenario's ([`crate::OAuth2::config_json`]).
    pub fn config_json(&self) -> Option<Value> {
        Some(match self {
            Auth::OAuth2 => return None,
            Auth::Bearer(token) => json!({"type": "bearer", "token": token}),
            Auth::Basic { username, password } => {
                json!({"type": "basic", "username": username, "password": password})
            }
            Auth::ApiKey {
                name,
                value,
                placement,
            } => json!({
                "type": "api_key", "name": name, "value": value,
                "in": match placement { KeyIn::Header => "header", KeyIn::Query => "query" },
            }),
        })
    }

    /// `None` when `req` carries what this requires at `now`; else the
    /// 401 to answer.
    pub(crate) fn refusal(&self, req: &Request, tokens: &Tokens, now: Instant) -> Option<Answer> {
        match self {
            Auth::OAuth2 | Auth::Bearer(_) => {
                let Some(token) = credentials(req, "Bearer") else {
                    let challenge = "Bearer realm=\"mock\"".to_string();
                    return Some(refusal("unauthorized", "no bearer token", Some(challenge)));
                };
                let checked = match self {
                    Auth::Bearer(fixed) if fixed == token => Ok(()),
                    Auth::Bearer(_) => Err("the access token is not valid"),
                    _ => tokens.check(token, now),
                };
                let why = checked.err()?;
                let challenge =
                    format!("Bearer error=\"invalid_token\", error_description=\"{why}\"");
                Some(refusal("invalid_token", why, Some(challenge)))
            }
            Auth::Basic { username, password } => {
                let ok = basic_pair(req).is_some_and(|(u, p)| &u == username && &p == password);
                let challenge = "Basic realm=\"mock\"".to_string();
                (!ok).then(|| refusal("unauthorized", "bad credentials", Some(challenge)))
            }
            Auth::ApiKey {
                name,
                value,
                placement,
            } => {
                let sent = match placement {
                    KeyIn::Header => req.header(name).map(str::to_string),
                    KeyIn::Query => req.query(name),
                };
                let ok = sent.as_deref() == Some(value.as_str());
                (!ok).then(|| refusal("unauthorized", "missing or wrong API key", None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::OAuth2;
    use std::time::Duration;

    fn with(headers: &[(&str, &str)], target: &str, auth: &Auth) -> Option<(u16, String)> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let req = Request {
            method: "GET",
            target,
            headers: &headers,
            body: b"",
        };
        let tokens = Tokens::new(&OAuth2::new("c", "s"));
        auth.refusal(&req, &tokens, Instant::now()).map(|a| {
            let challenge = a.header("WWW-Authenticate").unwrap_or("").to_string();
            (a.status, challenge)
        })
    }

    #[test]
    fn each_kind_lets_its_credentials_through_and_refuses_the_rest() {
        let bearer = Auth::Bearer("t0k".into());
        assert_eq!(with(&[("Authorization", "Bearer t0k")], "/", &bearer), None);
        assert_eq!(with(&[("authorization", "bearer t0k")], "/", &bearer), None);
        let wrong = with(&[("Authorization", "Bearer nope")], "/", &bearer).unwrap();
        assert_eq!(wrong.0, 401);
        assert!(
            wrong.1.starts_with("Bearer error=\"invalid_token\""),
            "{wrong:?}"
        );
        let none = with(&[], "/", &bearer).unwrap();
        assert_eq!(none, (401, "Bearer realm=\"mock\"".into()));

        let basic = Auth::basic("ann", "pa:ss");
        let sent = format!("Basic {}", base64::encode(b"ann:pa:ss"));
        assert_eq!(with(&[("Authorization", &sent)], "/", &basic), None);
        let bad = format!("Basic {}", base64::encode(b"ann:other"));
        let refused = with(&[("Authorization", &bad)], "/", &basic).unwrap();
        assert_eq!(refused, (401, "Basic realm=\"mock\"".into()));

        let header = Auth::api_key_header("X-Api-Key", "k1");
        assert_eq!(with(&[("x-api-key", "k1")], "/", &header), None);
        assert_eq!(with(&[], "/?X-Api-Key=k1", &header).unwrap().0, 401);
        let query = Auth::api_key_query("api_key", "k 1");
        assert_eq!(with(&[], "/a?page=2&api_key=k%201", &query), None);
        assert_eq!(with(&[], "/a?api_key=k2", &query).unwrap().0, 401);
    }

    #[test]
    fn oauth2_tokens_are_good_until_they_expire() {
        let cfg = OAuth2::new("c", "s").lifetime(Duration::from_millis(100));
        let mut tokens = Tokens::new(&cfg);
        let t0 = Instant::now();
        let token = tokens.issue_for_test(&cfg, 1, t0);
        let headers = vec![("Authorization".to_string(), format!("Bearer {token}"))];
        let req = Request {
            method: "GET",
            target: "/a",
            headers: &headers,
            body: b"",
        };
        assert!(Auth::OAuth2.refusal(&req, &tokens, t0).is_none());
        let ms = Duration::from_millis;
        assert!(Auth::OAuth2.refusal(&req, &tokens, t0 + ms(99)).is_none());
        let late = Auth::OAuth2.refusal(&req, &tokens, t0 + ms(100)).unwrap();
        assert_eq!(late.status, 401);
        let challenge = late.header("WWW-Authenticate").unwrap();
        assert!(challenge.contains("expired"), "{challenge}");
    }

    #[test]
    fn config_objects_follow_spec() {
        assert_eq!(Auth::OAuth2.config_json(), None);
        let key = Auth::api_key_query("k", "v").config_json().unwrap();
        assert_eq!(
            key,
            json!({"type": "api_key", "name": "k", "value": "v", "in": "query"})
        );
        let basic = Auth::basic("u", "p").config_json().unwrap();
        assert_eq!(basic["type"], "basic");
    }
}
