//! The `auth` key of a source (SPEC §11): how its requests prove who
//! sends them — a bearer token, HTTP Basic, an API key in a header or the
//! query, or OAuth2 tokens fetched (and refreshed) from a token endpoint.
//!
//! Every credential read here is a secret: the config's redactor hides it
//! wherever it turns up, and the fetcher sends it only to the origin of
//! the source's URL (the token request only to `token_url`).

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::json::{child, quoted, Obj, Walker};
use super::ConfigError;
use crate::redact::Redactor;
use crate::text::base64;
use crate::url::{encode_component, is_http_url};

type Result<T> = std::result::Result<T, ConfigError>;

/// How a source authenticates.
#[derive(Clone, PartialEq)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// `Authorization: Basic base64(username:password)` (RFC 7617); also
    /// what `user:password@` in a source's URL means.
    Basic {
        /// The user name (not a secret).
        username: String,
        /// The password.
        password: String,
    },
    /// An API key in a header or a query parameter.
    ApiKey {
        /// The header or parameter name.
        name: String,
        /// The key.
        value: String,
        /// In the query instead of a header.
        in_query: bool,
    },
    /// OAuth2 access tokens from a token endpoint.
    OAuth2(OAuth2),
}

impl fmt::Debug for Auth {
    /// Never the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Bearer { .. } => f.write_str("Bearer(***)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}:***)"),
            Auth::ApiKey { name, in_query, .. } => {
                write!(f, "ApiKey({name}=***, in_query: {in_query})")
            }
            Auth::OAuth2(o) => write!(f, "{o:?}"),
        }
    }
}

/// An OAuth2 grant ingest can use without a person present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §6.
    RefreshToken,
}

impl Grant {
    /// The `grant_type` sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken => "refresh_token",
        }
    }
}

/// OAuth2 settings of a source.
#[derive(Clone, PartialEq)]
pub struct OAuth2 {
    /// Which grant.
    pub grant: Grant,
    /// The token endpoint (http or https).
    pub token_url: String,
    /// The client id (not a secret).
    pub client_id: String,
    /// The client secret, if the client has one.
    pub client_secret: Option<String>,
    /// The refresh token (`refresh_token` grant).
    pub refresh_token: Option<String>,
    /// `scope`, one space-separated parameter (RFC 6749 §3.3).
    pub scope: Option<String>,
    /// `audience`, for the endpoints that want one.
    pub audience: Option<String>,
    /// Other form parameters, in file order.
    pub extra: Vec<(String, String)>,
    /// Client credentials in HTTP Basic (default) or in the form.
    pub client_auth_basic: bool,
    /// How long before expiry a token is refreshed. Defaults to 60 s, or
    /// a tenth of the token's lifetime when that is shorter.
    pub refresh_margin: Duration,
}

impl fmt::Debug for OAuth2 {
    /// Never the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuth2")
            .field("grant", &self.grant)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl OAuth2 {
    /// What identifies one token that sources may share: everything the
    /// token request sends — the endpoint, the client and its secret, the
    /// grant and its refresh token, the scope, the audience and the extra
    /// parameters. Two sources that differ in any of them (two users'
    /// refresh tokens, two audiences) get tokens of their own. Held in
    /// memory only: it holds secrets.
    pub fn token_key(&self) -> impl std::hash::Hash + Eq + use<> {
        (
            self.token_url.clone(),
            self.client_id.clone(),
            self.client_secret.clone(),
            self.grant,
            self.refresh_token.clone(),
            self.scope.clone(),
            self.audience.clone(),
            self.extra.clone(),
            self.client_auth_basic,
        )
    }
}

impl Auth {
    /// Every secret value it holds (for the redactor), with the forms
    /// they go on the wire in: the base64 of HTTP Basic credentials (a
    /// server that echoes the `Authorization` header must not show them).
    pub fn secrets(&self) -> Vec<String> {
        let basic = |user: &str, password: &str| base64(format!("{user}:{password}").as_bytes());
        match self {
            Auth::Bearer { token } => vec![token.clone()],
            Auth::Basic { username, password } => {
                vec![password.clone(), basic(username, password)]
            }
            Auth::ApiKey { value, .. } => vec![value.clone()],
            Auth::OAuth2(o) => {
                let mut out: Vec<String> = o
                    .client_secret
                    .iter()
                    .chain(&o.refresh_token)
                    .cloned()
                    .collect();
                if let Some(secret) = &o.client_secret {
                    // How the token request sends them in Basic.
                    out.push(basic(
                        &encode_component(&o.client_id),
                        &encode_component(secret),
                    ));
                }
                out
            }
        }
    }

    /// The config's JSON for it, every secret shown as `***`.
    pub fn to_redacted_json(&self) -> Value {
        let hidden = Value::from("***");
        match self {
            Auth::Bearer { .. } => serde_json::json!({"type": "bearer", "token": hidden}),
            Auth::Basic { username, .. } => {
                serde_json::json!({"type": "basic", "username": username, "password": hidden})
            }
            Auth::ApiKey { name, in_query, .. } => serde_json::json!({
                "type": "api_key", "name": name, "value": hidden,
                "in": if *in_query { "query" } else { "header" },
            }),
            Auth::OAuth2(o) => {
                let mut out = serde_json::json!({
                    "type": "oauth2",
                    "grant": o.grant.as_str(),
                    "token_url": Redactor::default().redact_url(&o.token_url),
                    "client_id": o.client_id,
                    "client_auth": if o.client_auth_basic { "basic" } else { "body" },
                    "refresh_margin_ms": o.refresh_margin.as_millis() as u64,
                });
                let optional = [
                    (
                        "client_secret",
                        o.client_secret.as_ref().map(|_| hidden.clone()),
                    ),
                    (
                        "refresh_token",
                        o.refresh_token.as_ref().map(|_| hidden.clone()),
                    ),
                    ("scope", o.scope.clone().map(Value::from)),
                    ("audience", o.audience.clone().map(Value::from)),
                ];
                for (key, value) in optional {
                    if let Some(value) = value {
                        out[key] = value;
                    }
                }
                if !o.extra.is_empty() {
                    out["extra"] = o
                        .extra
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                }
                out
            }
        }
    }
}

/// The keys of each auth type (besides `type`).
const TYPES: &[(&str, &[&str])] = &[
    ("bearer", &["token"]),
    ("basic", &["username", "password"]),
    ("api_key", &["name", "value", "in"]),
    (
        "oauth2",
        &[
            "grant",
            "token_url",
            "client_id",
            "client_secret",
            "refresh_token",
            "scope",
            "audience",
            "extra",
            "client_auth",
            "refresh_margin_ms",
        ],
    ),
];

impl Walker<'_> {
    /// The `auth` object at `path`. `secret` reads a credential (literal
    /// or `env:NAME`) at a key path.
    pub(super) fn auth(
        &self,
        path: &str,
        v: &Value,
        secret: &dyn Fn(&str, &Value) -> Result<String>,
    ) -> Result<Auth> {
        let map = v
            .as_object()
            .ok_or_else(|| self.mismatch(path, "an object with a \"type\"", v))?;
        let names: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
        let type_path = child(path, "type");
        let kind = match map.get("type") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(self.mismatch(
                    &type_path,
                    &format!("one of {}", names.join(", ")),
                    other,
                ))
            }
            None => {
                return Err(self.error(
                    &type_path,
                    format_args!(
                        "expected one of {}, found nothing (the key is required)",
                        names.join(", ")
                    ),
                ))
            }
        };
        let Some((kind, keys)) = TYPES.iter().find(|(t, _)| *t == kind) else {
            return Err(self.error(
                &type_path,
                format_args!(
                    "unknown auth type {} (expected one of {})",
                    quoted(kind),
                    names.join(", ")
                ),
            ));
        };
        let o = self.object_of(path, v, &[&["type"], keys])?;
        let needed = |key: &str| -> Result<(String, &Value)> { self.required(&o, key, "a string") };
        let text = |key: &str| -> Result<Option<String>> {
            o.get(key)
                .map(|(p, v)| self.non_empty(&p, v).map(str::to_string))
                .transpose()
        };
        let credential = |key: &str| -> Result<String> {
            let (p, v) = needed(key)?;
            secret(&p, v)
        };
        Ok(match *kind {
            "bearer" => Auth::Bearer {
                token: credential("token")?,
            },
            "basic" => {
                let (p, v) = needed("username")?;
                let username = self.non_empty(&p, v)?.to_string();
                if username.contains(':') {
                    return Err(self.error(&p, "expected a user name without ':' (RFC 7617)"));
                }
                Auth::Basic {
                    username,
                    password: credential("password")?,
                }
            }
            "api_key" => {
                let (p, v) = needed("name")?;
                let name = self.non_empty(&p, v)?.to_string();
                let in_query = match o.get("in") {
                    None => false,
                    Some((_, Value::String(s))) if s == "header" => false,
                    Some((_, Value::String(s))) if s == "query" => true,
                    Some((p, v)) => return Err(self.mismatch(&p, "\"header\" or \"query\"", v)),
                };
                if !in_query && !super::validate::is_header_name(&name) {
                    return Err(self.error(
                        &p,
                        "expected a header name (letters, digits and !#$%&'*+-.^_`|~)",
                    ));
                }
                let value = credential("value")?;
                if value.chars().any(char::is_control) {
                    return Err(self.error(
                        &child(path, "value"),
                        "expected a key without control characters (a line break in the variable?)",
                    ));
                }
                Auth::ApiKey {
                    name,
                    value,
                    in_query,
                }
            }
            _ => Auth::OAuth2(self.oauth2(&o, path, &text, secret)?),
        })
    }

    fn oauth2(
        &self,
        o: &Obj<'_>,
        path: &str,
        text: &dyn Fn(&str) -> Result<Option<String>>,
        secret: &dyn Fn(&str, &Value) -> Result<String>,
    ) -> Result<OAuth2> {
        let grant = match o.get("grant") {
            None => Grant::ClientCredentials,
            Some((_, Value::String(s))) if s == "client_credentials" => Grant::ClientCredentials,
            Some((_, Value::String(s))) if s == "refresh_token" => Grant::RefreshToken,
            Some((p, v)) => {
                return Err(self.mismatch(&p, "\"client_credentials\" or \"refresh_token\"", v))
            }
        };
        let (p, v) = self.required(o, "token_url", "the token endpoint's http(s) URL")?;
        let token_url = match v.as_str() {
            Some(u) if is_http_url(u) => u.to_string(),
            _ => return Err(self.mismatch(&p, "the token endpoint's http(s) URL", v)),
        };
        let (p, v) = self.required(o, "client_id", "a string")?;
        let client_id = self.non_empty(&p, v)?.to_string();
        let optional_secret = |key: &str| -> Result<Option<String>> {
            o.get(key).map(|(p, v)| secret(&p, v)).transpose()
        };
        let client_secret = optional_secret("client_secret")?;
        let refresh_token = optional_secret("refresh_token")?;
        if grant == Grant::RefreshToken && refresh_token.is_none() {
            return Err(self.error(
                &child(path, "refresh_token"),
                "expected a refresh token (grant refresh_token sends one), found nothing",
            ));
        }
        let client_auth_basic = match o.get("client_auth") {
            None => true,
            Some((_, Value::String(s))) if s == "basic" => true,
            Some((_, Value::String(s))) if s == "body" => false,
            Some((p, v)) => return Err(self.mismatch(&p, "\"basic\" or \"body\"", v)),
        };
        let extra = match o.get("extra") {
            None => Vec::new(),
            Some((p, v)) => {
                let map = v
                    .as_object()
                    .ok_or_else(|| self.mismatch(&p, "an object of form parameters", v))?;
                let mut extra = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let value = self.non_empty(&child(&p, k), v)?;
                    extra.push((k.clone(), value.to_string()));
                }
                extra
            }
        };
        Ok(OAuth2 {
            grant,
            token_url,
            client_id,
            client_secret,
            refresh_token,
            scope: text("scope")?,
            audience: text("audience")?,
            extra,
            client_auth_basic,
            refresh_margin: self
                .ms(o, "refresh_margin_ms")?
                .unwrap_or(Duration::from_secs(60)),
        })
    }
}
