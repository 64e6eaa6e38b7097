//! An OAuth2 token endpoint (RFC 6749 §4.4 client credentials, §6 refresh
//! token) at `POST /oauth/token`, and the store of the tokens it issued,
//! which sources that require [`crate::Auth::OAuth2`] check.
//!
//! Tokens go by the server's clock on purpose: an access token is valid
//! for [`OAuth2::lifetime`] from its issue, so a test that sets a short
//! lifetime sees it expire (or calls [`crate::MockServer::expire_tokens`]
//! to expire them at once, without waiting). Everything else is a function
//! of the requests and their order: the `n`-th token issued is
//! `mock-at-N-TAG` (TAG from the seed), faults go by the number of the
//! token request, and the errors follow RFC 6749 §5.2 — `invalid_request`,
//! `invalid_client` (401 with `WWW-Authenticate: Basic` when the client
//! tried Basic, else 400), `invalid_grant`, `unsupported_grant_type`,
//! `invalid_scope`.
//!
//! The raw front serves this endpoint itself (it holds the state and the
//! clock); `Tokens` decides, as a function of the request and "now".

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{Answer, Request};
use crate::auth::{basic_pair, credentials};
use crate::changes::percent_decode;
use crate::data::fnv;
use crate::fault::{Fault, FaultKind};

/// What a token answer says of the token's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpiresIn {
    /// The real lifetime, in seconds: an integer for whole seconds, with
    /// the milliseconds as a fraction otherwise (`0.5`).
    Lifetime,
    /// No `expires_in`: a client learns of the expiry from a 401.
    Omitted,
    /// This many seconds, whatever the real lifetime (a server whose
    /// tokens die before it says they will).
    Seconds(u64),
}

/// The token endpoint of a [`crate::Scenario`] (see
/// [`crate::Scenario::oauth2`]): which clients it knows, how long its
/// tokens live and what its answers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2 {
    /// Registered clients, `(client_id, client_secret)`; the first is the
    /// one [`OAuth2::config_json`] writes.
    pub clients: Vec<(String, String)>,
    /// How long an access token is valid from its issue, on the server's
    /// clock. Defaults to one hour.
    pub lifetime: Duration,
    /// What answers say of the lifetime. Defaults to
    /// [`ExpiresIn::Lifetime`].
    pub expires_in: ExpiresIn,
    /// The `token_type` of every answer. Defaults to `"Bearer"`.
    pub token_type: String,
    /// The scopes a client may ask for (`scope` is one space-separated
    /// parameter); any other gets `invalid_scope`. `None`: any scope.
    /// Defaults to `None`.
    pub scopes: Option<Vec<String>>,
    /// The refresh token valid from the start (the one a user would
    /// configure); `None`: the refresh grant only gets `invalid_grant`.
    /// Defaults to `None`.
    pub refresh_token: Option<String>,
    /// Rotation: every refresh answer carries a new `refresh_token`, and
    /// the one just used stops being valid (`invalid_grant` after).
    /// Without it, refresh answers carry none and the token stays valid.
    /// Defaults to false.
    pub rotate: bool,
    /// Faults keyed by the number of the token request (1-based, counted
    /// by the server over all token requests; [`crate::EVERY_ATTEMPT`] =
    /// all): a retryable 503 or 429, a hang for deadline tests, a closed
    /// connection, or any answer of the test's own with
    /// [`FaultKind::StatusWithBody`]. A fault that replaces the answer
    /// issues no token.
    pub faults: Vec<Fault>,
}

impl OAuth2 {
    /// Where the token endpoint is served.
    pub const PATH: &'static str = "/oauth/token";

    /// An endpoint that knows one client.
    pub fn new(client_id: &str, client_secret: &str) -> OAuth2 {
        OAuth2 {
            clients: vec![(client_id.to_string(), client_secret.to_string())],
            lifetime: Duration::from_secs(3600),
            expires_in: ExpiresIn::Lifetime,
            token_type: "Bearer".to_string(),
            scopes: None,
            refresh_token: None,
            rotate: false,
            faults: Vec::new(),
        }
    }

    /// Registers another client.
    pub fn client(mut self, client_id: &str, client_secret: &str) -> OAuth2 {
        self.clients
            .push((client_id.to_string(), client_secret.to_string()));
        self
    }

    /// Sets how long access tokens live (see [`OAuth2::lifetime`] field).
    pub fn lifetime(mut self, lifetime: Duration) -> OAuth2 {
        self.lifetime = lifetime;
        self
    }

    /// Sets what answers say of the lifetime (see [`ExpiresIn`]).
    pub fn expires_in(mut self, expires_in: ExpiresIn) -> OAuth2 {
        self.expires_in = expires_in;
        self
    }

    /// Answers with this `token_type` (e.g. `"mac"`) instead of `Bearer`.
    pub fn token_type(mut self, token_type: &str) -> OAuth2 {
        self.token_type = token_type.to_string();
        self
    }

    /// Grants only these scopes (see [`OAuth2::scopes`] field).
    pub fn scopes(mut self, scopes: &[&str]) -> OAuth2 {
        self.scopes = Some(scopes.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Accepts this refresh token from the start.
    pub fn refresh_token(mut self, token: &str) -> OAuth2 {
        self.refresh_token = Some(token.to_string());
        self
    }

    /// Rotates refresh tokens (see [`OAuth2::rotate`] field).
    pub fn rotating(mut self) -> OAuth2 {
        self.rotate = true;
        self
    }

    /// Adds a fault on the `n`-th token request (see [`OAuth2::faults`]).
    pub fn fault(mut self, n: u32, kind: FaultKind) -> OAuth2 {
        self.faults.push(Fault {
            page: 0,
            attempt: n,
            kind,
        });
        self
    }

    /// The fault that applies to the `n`-th token request, if any.
    pub fn fault_for(&self, n: u32) -> Option<&FaultKind> {
        self.faults
            .iter()
            .find(|f| f.matches(0, n))
            .map(|f| &f.kind)
    }

    /// SPEC §11's `auth` object for a server at `base_url`, with the
    /// first client's literal credentials, in HTTP Basic: the
    /// `refresh_token` grant with [`OAuth2::refresh_token`] when one is
    /// set, else `client_credentials`; `scope` = every granted scope.
    pub fn config_json(&self, base_url: &str) -> Value {
        let (id, secret) = self.clients.first().cloned().unwrap_or_default();
        let mut auth = json!({
            "type": "oauth2",
            "grant": if self.refresh_token.is_some() { "refresh_token" } else { "client_credentials" },
            "token_url": format!("{base_url}{}", OAuth2::PATH),
            "client_id": id,
            "client_secret": secret,
        });
        if let Some(token) = &self.refresh_token {
            auth["refresh_token"] = json!(token);
        }
        if let Some(scopes) = &self.scopes {
            auth["scope"] = json!(scopes.join(" "));
        }
        auth
    }
}

/// How a token request authenticated its client (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAuth {
    /// `Authorization: Basic`.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
    /// Both at once (refused: `invalid_request`).
    Both,
    /// Neither (refused: `invalid_client`).
    None,
}

/// One request to the token endpoint, as the server saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Its number among token requests, 1-based (its `attempt` in
    /// [`crate::MockServer::requests`], where its `page` is 0).
    pub n: u32,
    /// `grant_type` as sent; empty when absent.
    pub grant: String,
    /// How the client authenticated.
    pub client_auth: ClientAuth,
    /// The client id it authenticated as (Basic or body), as sent.
    pub client_id: Option<String>,
    /// Every form parameter as sent, decoded, in order — secrets
    /// included, so a test can compare them.
    pub params: Vec<(String, String)>,
    /// The status answered; `None` while pending, or when a connection
    /// fault (hang, close, reset) took the answer.
    pub status: Option<u16>,
    /// The OAuth2 `error` of a refusal (`invalid_client`, ..).
    pub error: Option<String>,
    /// The access token issued.
    pub access_token: Option<String>,
    /// The refresh token issued (rotation only).
    pub refresh_token: Option<String>,
}

impl TokenRequest {
    /// The first form parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A refusal, RFC 6749 §5.2.
struct Refused {
    status: u16,
    error: &'static str,
    description: String,
    /// The client tried HTTP Basic: a 401 must say how to authenticate.
    challenge: bool,
}

fn refused(error: &'static str, description: impl Into<String>) -> Refused {
    Refused {
        status: 400,
        error,
        description: description.into(),
        challenge: false,
    }
}

/// The tokens issued so far and the token requests seen.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    /// Tokens issued, for the next one's serial number.
    issued: u32,
    /// Access token → when it stops being valid.
    access: HashMap<String, Instant>,
    /// Refresh tokens valid now.
    refresh: HashSet<String>,
    /// Every token request, in arrival order.
    pub requests: Vec<TokenRequest>,
}

/// The form parameters of `body`, decoded, in order.
fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `d` in seconds for `expires_in`: whole seconds as an integer, else
/// with the milliseconds as a fraction (rounded down: a client that
/// trusts it is never late).
fn seconds(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        json!(d.as_secs())
    } else {
        let ms = d.as_millis() as f64;
        serde_json::Number::from_f64(ms / 1000.0).map_or(json!(0), Value::Number)
    }
}

impl Tokens {
    /// The store at server start: only the configured refresh token.
    pub fn new(cfg: &OAuth2) -> Tokens {
        Tokens {
            refresh: cfg.refresh_token.iter().cloned().collect(),
            ..Tokens::default()
        }
    }

    /// Whether `token` is a valid access token at `now`; else why not.
    pub fn check(&self, token: &str, now: Instant) -> Result<(), &'static str> {
        match self.access.get(token) {
            None => Err("the access token is not one this server issued"),
            Some(&until) if now >= until => Err("the access token expired"),
            Some(_) => Ok(()),
        }
    }

    /// Makes every access token issued so far invalid.
    pub fn expire_all(&mut self, now: Instant) {
        for until in self.access.values_mut() {
            *until = (*until).min(now);
        }
    }

    /// Records the `n`-th token request as it arrives.
    pub fn arrive(&mut self, n: u32, req: &Request) {
        let params = form(req.body);
        let in_body = params.iter().any(|(k, _)| k == "client_id");
        let basic = credentials(req, "Basic").is_some();
        let client_auth = match (basic, in_body) {
            (true, true) => ClientAuth::Both,
            (true, false) => ClientAuth::Basic,
            (false, true) => ClientAuth::Body,
            (false, false) => ClientAuth::None,
        };
        let client_id = basic_pair(req)
            .map(|(id, _)| percent_decode(&id))
            .or_else(|| {
                let id = params.iter().find(|(k, _)| k == "client_id");
                id.map(|(_, v)| v.clone())
            });
        let grant = params.iter().find(|(k, _)| k == "grant_type");
        self.requests.push(TokenRequest {
            n,
            grant: grant.map(|(_, v)| v.clone()).unwrap_or_default(),
            client_auth,
            client_id,
            params,
            status: None,
            error: None,
            access_token: None,
            refresh_token: None,
        });
    }

    /// Records the status the `n`-th token request was answered with.
    pub fn answered(&mut self, n: u32, status: u16) {
        if let Some(r) = self.requests.iter_mut().find(|r| r.n == n) {
            r.status = Some(status);
        }
    }

    /// The answer to the `n`-th token request at `now`: tokens, or a
    /// refusal; the request's record says which.
    pub fn answer(
        &mut self,
        cfg: &OAuth2,
        seed: u64,
        n: u32,
        req: &Request,
        now: Instant,
    ) -> Answer {
        let decided = self.decide(cfg, req).map(|refresh_used| {
            let (access, refresh) = self.issue(cfg, seed, refresh_used, now);
            let scope = form(req.body).into_iter().find(|(k, _)| k == "scope");
            let mut body = json!({"access_token": access, "token_type": cfg.token_type});
            match cfg.expires_in {
                ExpiresIn::Lifetime => body["expires_in"] = seconds(cfg.lifetime),
                ExpiresIn::Seconds(s) => body["expires_in"] = json!(s),
                ExpiresIn::Omitted => {}
            }
            if let Some(refresh) = &refresh {
                body["refresh_token"] = json!(refresh);
            }
            if let Some((_, scope)) = scope {
                body["scope"] = json!(scope);
            }
            (access, refresh, body)
        });
        let record = self.requests.iter_mut().find(|r| r.n == n);
        let mut answer = match decided {
            Ok((access, refresh, body)) => {
                if let Some(r) = record {
                    (r.access_token, r.refresh_token) = (Some(access), refresh);
                }
                Answer::json(200, body.to_string())
            }
            Err(no) => {
                if let Some(r) = record {
                    r.error = Some(no.error.to_string());
                }
                let body = json!({"error": no.error, "error_description": no.description});
                let mut a = Answer::json(no.status, body.to_string());
                if no.challenge {
                    a.headers
                        .push(("WWW-Authenticate".into(), "Basic realm=\"mock\"".into()));
                }
                a
            }
        };
        // RFC 6749 §5.1: token answers must not be cached.
        answer
            .headers
            .push(("Cache-Control".into(), "no-store".into()));
        answer
    }

    /// Checks a token request (RFC 6749 §5.2's order: the request, the
    /// client, the grant, the scope); `Ok` with the refresh token it
    /// spends, if any.
    fn decide(&self, cfg: &OAuth2, req: &Request) -> Result<Option<String>, Refused> {
        if !req.method.eq_ignore_ascii_case("POST") {
            return Err(refused("invalid_request", "the token endpoint takes POST"));
        }
        let content_type = req.header("content-type").unwrap_or("");
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            let why =
                format!("the body must be application/x-www-form-urlencoded, not {content_type:?}");
            return Err(refused("invalid_request", why));
        }
        let params = form(req.body);
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        if let Some((k, _)) = params
            .iter()
            .enumerate()
            .find(|(i, (k, _))| params[..*i].iter().any(|(j, _)| j == k))
            .map(|(_, kv)| kv)
        {
            return Err(refused(
                "invalid_request",
                format!("parameter {k} sent twice"),
            ));
        }
        Self::client(cfg, req, get("client_id"), get("client_secret"))?;
        let refresh_used = match get("grant_type").map(String::as_str) {
            None => return Err(refused("invalid_request", "grant_type is missing")),
            Some("client_credentials") => None,
            Some("refresh_token") => match get("refresh_token") {
                None => return Err(refused("invalid_request", "refresh_token is missing")),
                Some(t) if self.refresh.contains(t) => Some(t.clone()),
                Some(_) => return Err(refused("invalid_grant", "the refresh token is invalid")),
            },
            Some(other) => {
                let why = format!("grant_type {other} is not supported");
                return Err(refused("unsupported_grant_type", why));
            }
        };
        if let (Some(granted), Some(asked)) = (&cfg.scopes, get("scope")) {
            if let Some(s) = asked.split(' ').find(|s| !granted.iter().any(|g| g == s)) {
                return Err(refused(
                    "invalid_scope",
                    format!("scope {s} is not granted"),
                ));
            }
        }
        Ok(refresh_used)
    }

    /// Authenticates the client of a token request.
    fn client(
        cfg: &OAuth2,
        req: &Request,
        body_id: Option<&String>,
        body_secret: Option<&String>,
    ) -> Result<(), Refused> {
        let basic = credentials(req, "Basic").is_some();
        let (id, secret) = match (basic, body_id) {
            (true, Some(_)) => {
                return Err(refused("invalid_request", "client authenticated twice"));
            }
            // RFC 6749 §2.3.1: id and secret are form-encoded inside Basic.
            (true, None) => basic_pair(req)
                .map(|(i, s)| (percent_decode(&i), percent_decode(&s)))
                .unwrap_or_default(),
            (false, Some(id)) => (id.clone(), body_secret.cloned().unwrap_or_default()),
            (false, None) => {
                return Err(refused("invalid_client", "no client authentication"));
            }
        };
        if cfg.clients.iter().any(|(i, s)| *i == id && *s == secret) {
            return Ok(());
        }
        Err(Refused {
            status: if basic { 401 } else { 400 },
            challenge: basic,
            ..refused("invalid_client", "client authentication failed")
        })
    }

    /// Issues an access token (and, rotating a spent refresh token, a new
    /// refresh token), valid from `now`.
    fn issue(
        &mut self,
        cfg: &OAuth2,
        seed: u64,
        refresh_used: Option<String>,
        now: Instant,
    ) -> (String, Option<String>) {
        self.issued += 1;
        let n = self.issued;
        let token = |kind: &str| {
            let tag = fnv(&format!("{seed}/{kind}/{n}")) as u32;
            format!("mock-{kind}-{n}-{tag:08x}")
        };
        let access = token("at");
        self.access.insert(access.clone(), now + cfg.lifetime);
        let refresh = match refresh_used {
            Some(old) if cfg.rotate => {
                self.refresh.remove(&old);
                let new = token("rt");
                self.refresh.insert(new.clone());
                Some(new)
            }
            _ => None,
        };
        (access, refresh)
    }

    /// Issues an access token directly, for other modules' unit tests.
    #[cfg(test)]
    pub fn issue_for_test(&mut self, cfg: &OAuth2, seed: u64, now: Instant) -> String {
        self.issue(cfg, seed, None, now).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64;

    /// A token request with these headers and form body.
    fn post(tokens: &mut Tokens, cfg: &OAuth2, basic: Option<&str>, body: &str) -> (u16, Value) {
        post_at(tokens, cfg, basic, body, Instant::now())
    }

    fn post_at(
        tokens: &mut Tokens,
        cfg: &OAuth2,
        basic: Option<&str>,
        body: &str,
        now: Instant,
    ) -> (u16, Value) {
        let mut headers = vec![(
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        )];
        if let Some(pair) = basic {
            let value = format!("Basic {}", base64::encode(pair.as_bytes()));
            headers.push(("Authorization".into(), value));
        }
        let req = Request {
            method: "POST",
            target: OAuth2::PATH,
            headers: &headers,
            body: body.as_bytes(),
        };
        let n = tokens.requests.len() as u32 + 1;
        tokens.arrive(n, &req);
        let a = tokens.answer(cfg, 7, n, &req, now);
        tokens.answered(n, a.status);
        (a.status, serde_json::from_slice(&a.body).unwrap())
    }

    #[test]
    fn client_credentials_in_basic_or_body_get_distinct_seeded_tokens() {
        let cfg = OAuth2::new("cid", "s&cret").scopes(&["read:a", "read:b"]);
        let mut t = Tokens::new(&cfg);
        let body = "grant_type=client_credentials&scope=read%3Aa+read%3Ab&audience=api";
        let (status, first) = post(&mut t, &cfg, Some("cid:s%26cret"), body);
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["token_type"], "Bearer");
        assert_eq!(first["expires_in"], 3600);
        assert_eq!(first["scope"], "read:a read:b");
        assert!(first.get("refresh_token").is_none());
        let in_body = "grant_type=client_credentials&client_id=cid&client_secret=s%26cret";
        let (_, second) = post(&mut t, &cfg, None, in_body);
        assert_ne!(first["access_token"], second["access_token"]);
        let r = &t.requests;
        assert_eq!(
            (r[0].client_auth, r[1].client_auth),
            (ClientAuth::Basic, ClientAuth::Body)
        );
        assert_eq!(r[0].param("audience"), Some("api"));
        assert_eq!(r[0].client_id.as_deref(), Some("cid"));
        assert_eq!(
            r[1].access_token.as_deref(),
            second["access_token"].as_str()
        );
        // The same requests in the same order give the same tokens.
        let mut again = Tokens::new(&cfg);
        let (_, replay) = post(&mut again, &cfg, Some("cid:s%26cret"), body);
        assert_eq!(replay["access_token"], first["access_token"]);
        let token = first["access_token"].as_str().unwrap();
        assert!(token.starts_with("mock-at-1-"), "{token}");
    }

    #[test]
    fn refusals_follow_rfc_6749() {
        let cfg = OAuth2::new("cid", "sec").scopes(&["read"]);
        let mut t = Tokens::new(&cfg);
        let cc = "grant_type=client_credentials";
        let cases = [
            (Some("cid:wrong"), cc.to_string(), 401, "invalid_client"),
            (
                None,
                format!("{cc}&client_id=cid&client_secret=no"),
                400,
                "invalid_client",
            ),
            (None, cc.to_string(), 400, "invalid_client"),
            (
                Some("cid:sec"),
                format!("{cc}&client_id=cid"),
                400,
                "invalid_request",
            ),
            (
                Some("cid:sec"),
                format!("{cc}&scope=read+write"),
                400,
                "invalid_scope",
            ),
            (
                Some("cid:sec"),
                format!("{cc}&scope=a&scope=b"),
                400,
                "invalid_request",
            ),
            (
                Some("cid:sec"),
                "grant_type=password".into(),
                400,
                "unsupported_grant_type",
            ),
            (Some("cid:sec"), "scope=read".into(), 400, "invalid_request"),
            (
                Some("cid:sec"),
                "grant_type=refresh_token".into(),
                400,
                "invalid_request",
            ),
            (
                Some("cid:sec"),
                "grant_type=refresh_token&refresh_token=x".into(),
                400,
                "invalid_grant",
            ),
        ];
        for (basic, body, status, error) in cases {
            let (got, answer) = post(&mut t, &cfg, basic, &body);
            assert_eq!(
                (got, answer["error"].as_str()),
                (status, Some(error)),
                "{body}"
            );
            assert!(answer["error_description"].is_string());
        }
        assert_eq!(t.requests[0].error.as_deref(), Some("invalid_client"));
        assert!(t.requests.iter().all(|r| r.access_token.is_none()));
    }

    #[test]
    fn rotation_spends_each_refresh_token_once() {
        let cfg = OAuth2::new("c", "s").refresh_token("rt-0").rotating();
        let mut t = Tokens::new(&cfg);
        let refresh = |t: &mut Tokens, token: &str| {
            post(
                t,
                &cfg,
                Some("c:s"),
                &format!("grant_type=refresh_token&refresh_token={token}"),
            )
        };
        let (status, first) = refresh(&mut t, "rt-0");
        assert_eq!(status, 200);
        let next = first["refresh_token"].as_str().unwrap().to_string();
        assert!(next.starts_with("mock-rt-1-"), "{next}");
        let (status, stale) = refresh(&mut t, "rt-0");
        assert_eq!(
            (status, stale["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(refresh(&mut t, &next).0, 200);
        // Without rotation the refresh token stays good and none is sent.
        let plain = OAuth2::new("c", "s").refresh_token("rt-0");
        let mut t = Tokens::new(&plain);
        for _ in 0..2 {
            let (status, body) = post(
                &mut t,
                &plain,
                Some("c:s"),
                "grant_type=refresh_token&refresh_token=rt-0",
            );
            assert_eq!(status, 200);
            assert!(body.get("refresh_token").is_none());
        }
    }

    #[test]
    fn lifetimes_expiry_and_what_answers_say() {
        let ms = Duration::from_millis;
        let cfg = OAuth2::new("c", "s").lifetime(ms(1500)).token_type("mac");
        let mut t = Tokens::new(&cfg);
        let t0 = Instant::now();
        let (_, body) = post_at(
            &mut t,
            &cfg,
            Some("c:s"),
            "grant_type=client_credentials",
            t0,
        );
        assert_eq!(
            (body["expires_in"].to_string(), body["token_type"].as_str()),
            ("1.5".into(), Some("mac"))
        );
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(t.check(token, t0 + ms(1499)), Ok(()));
        assert_eq!(
            t.check(token, t0 + ms(1500)),
            Err("the access token expired")
        );
        assert!(t.check("mock-at-9-00000000", t0).is_err());
        t.expire_all(t0);
        assert!(t.check(token, t0).is_err());
        for (says, expected) in [
            (ExpiresIn::Omitted, Value::Null),
            (ExpiresIn::Seconds(60), json!(60)),
        ] {
            let cfg = cfg.clone().expires_in(says);
            let (_, body) = post(&mut t, &cfg, Some("c:s"), "grant_type=client_credentials");
            assert_eq!(
                body.get("expires_in").cloned().unwrap_or(Value::Null),
                expected
            );
        }
    }

    #[test]
    fn config_object_names_the_grant_and_the_first_client() {
        let cfg = OAuth2::new("c1", "s1")
            .client("c2", "s2")
            .scopes(&["a", "b"]);
        let auth = cfg.config_json("http://h:1");
        assert_eq!(auth["token_url"], "http://h:1/oauth/token");
        assert_eq!(
            (auth["grant"].as_str(), auth["client_id"].as_str()),
            (Some("client_credentials"), Some("c1"))
        );
        assert_eq!(auth["scope"], "a b");
        let refresh = cfg.refresh_token("rt").config_json("http://h:1");
        assert_eq!(
            (refresh["grant"].as_str(), refresh["refresh_token"].as_str()),
            (Some("refresh_token"), Some("rt"))
        );
    }
}
