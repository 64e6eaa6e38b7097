//! OAuth2 access tokens (SPEC §11): fetched before a source's first
//! request, shared by every source with the same token endpoint, client,
//! grant and scope, refreshed before they expire, and refreshed once more
//! when a server says a token is no longer good (a 401).
//!
//! A [`TokenSource`] holds one token and decides who fetches the next: the
//! first fetcher that needs one is told to fetch it ([`Turn::Fetch`]), and
//! the others wait for it ([`Turn::Wait`]) instead of starting a refresh of
//! their own — one token request however many sources share it. The
//! request itself is sent by that fetcher, through its own token bucket
//! and within the run's deadline, like any request of its source; this
//! module only builds it ([`token_request`]) and reads the answer
//! ([`read_answer`]). The refresh token a server rotates is kept here for
//! the rest of the run and never written anywhere.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{Config, Grant, OAuth2};
use crate::control::lock;
use crate::fetch::request::{base64, HeaderHook, Method, Request};
use crate::text::shorten;
use crate::url::{encode_component, origin};

/// The longest a waiting fetcher sleeps before it looks at the deadline
/// and the interrupt again.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// The shortest a token is used before it is refreshed ahead of expiry:
/// shorter than any lifetime a real endpoint gives (so a 1 s token is
/// still refreshed a tenth ahead), long enough that pages are fetched
/// between token requests.
const MIN_TOKEN_USE: Duration = Duration::from_millis(250);

/// Characters of a token endpoint's error description quoted.
const DESCRIPTION_CHARS: usize = 160;

/// A token to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// The access token.
    pub access: String,
    /// Which token of the run it is (1, 2, …): a 401 forces a refresh
    /// only when the token it was sent with is still the current one.
    pub generation: u64,
}

impl std::fmt::Debug for Token {
    /// Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(#{}, ***)", self.generation)
    }
}

/// What a fetcher that needs a token does now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// Send this one.
    Use(Token),
    /// Fetch the next one (no one else is): `refresh` when a token was
    /// had before, `forced` when a server refused the current one.
    Fetch {
        /// Not the first token of the run.
        refresh: bool,
        /// Asked for by a 401.
        forced: bool,
    },
    /// Another fetcher is fetching it: wait, then ask again.
    Wait,
    /// The token endpoint refused for good (`invalid_client` …): no page
    /// of a source sharing it is requested; why, in one line.
    Failed(String),
}

#[derive(Debug, Default)]
struct State {
    current: Option<Current>,
    /// A fetcher is fetching the next token.
    fetching: bool,
    /// The next fetch is forced by a 401.
    forced: bool,
    /// Tokens fetched so far.
    generation: u64,
    /// A refresh token the server rotated in, used from then on.
    rotated: Option<String>,
    /// Why the endpoint refused for good.
    failed: Option<String>,
}

#[derive(Debug)]
struct Current {
    token: Token,
    /// Fetch the next one from this instant on (expiry minus the margin).
    refresh_at: Option<Instant>,
}

/// One shared token; see the module docs.
#[derive(Debug)]
pub struct TokenSource {
    settings: OAuth2,
    state: Mutex<State>,
    changed: Condvar,
}

impl TokenSource {
    /// A source of tokens by `settings`, none fetched yet.
    pub fn new(settings: OAuth2) -> Self {
        TokenSource {
            settings,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// The settings it fetches by.
    pub fn settings(&self) -> &OAuth2 {
        &self.settings
    }

    /// What to do at `now` for a request that needs a token.
    pub fn turn(&self, now: Instant) -> Turn {
        let mut state = lock(&self.state);
        if let Some(why) = &state.failed {
            return Turn::Failed(why.clone());
        }
        let fresh = state
            .current
            .as_ref()
            .filter(|c| !state.forced && c.refresh_at.is_none_or(|at| now < at));
        if let Some(current) = fresh {
            return Turn::Use(current.token.clone());
        }
        if state.fetching {
            return Turn::Wait;
        }
        state.fetching = true;
        Turn::Fetch {
            refresh: state.generation > 0,
            forced: state.forced,
        }
    }

    /// Waits until the token changes (or a slice passes, so that the
    /// caller can look at the deadline and the interrupt).
    pub fn wait(&self) {
        let state = lock(&self.state);
        if state.fetching {
            let _ = self.changed.wait_timeout(state, WAIT_SLICE);
        }
    }

    /// The current token, if any (what the header hook sends).
    pub fn current(&self) -> Option<Token> {
        lock(&self.state).current.as_ref().map(|c| c.token.clone())
    }

    /// A server answered 401 to a request sent with token `generation`:
    /// the next [`turn`](Self::turn) fetches a new one, unless another
    /// fetcher already did.
    pub fn refused(&self, generation: u64) {
        let mut state = lock(&self.state);
        if state.current.as_ref().map(|c| c.token.generation) == Some(generation) {
            state.forced = true;
        }
    }

    /// The fetcher told to fetch hands over what it got at `now`: a token
    /// (with what the endpoint said of it), or why there is none. `Ok`
    /// with the new refresh token when the server rotated it.
    pub fn publish(&self, got: Result<Answer, Refusal>, now: Instant) {
        let mut state = lock(&self.state);
        state.fetching = false;
        match got {
            Ok(answer) => {
                state.generation += 1;
                state.forced = false;
                if let Some(rotated) = answer.refresh_token {
                    state.rotated = Some(rotated);
                }
                let margin = |life: Duration| self.settings.refresh_margin.min(life / 10);
                // Every token is sent at least once, however short the
                // life it claims: a token endpoint saying 1 ns must not
                // be asked again for ever while no page is fetched.
                let ahead = |life: Duration| (life - margin(life)).max(MIN_TOKEN_USE);
                state.current = Some(Current {
                    token: Token {
                        access: answer.access_token,
                        generation: state.generation,
                    },
                    refresh_at: answer
                        .expires_in
                        .and_then(|life| now.checked_add(ahead(life))),
                });
            }
            Err(Refusal::Final(why)) => state.failed = Some(why),
            // A later turn tries again (within the fetcher's retries).
            Err(Refusal::Retryable(_)) => {}
        }
        drop(state);
        self.changed.notify_all();
    }

    /// The token request to send now (the refresh token a server rotated
    /// in replaces the configured one).
    pub fn request(&self) -> Request {
        let rotated = lock(&self.state).rotated.clone();
        token_request(&self.settings, rotated.as_deref())
    }
}

/// What a token endpoint gave.
#[derive(Clone, PartialEq, Eq)]
pub struct Answer {
    /// The access token.
    pub access_token: String,
    /// Its lifetime, when the endpoint said (`expires_in`).
    pub expires_in: Option<Duration>,
    /// A new refresh token (rotation).
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Answer {
    /// Never the tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("expires_in", &self.expires_in)
            .field("rotated", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a token endpoint gave no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Worth asking again after a backoff (429, 5xx, a timeout …).
    Retryable(String),
    /// Not worth asking again this run (`invalid_client`, a token type
    /// ingest cannot send, an answer without a token …).
    Final(String),
}

/// The token request of `settings` (RFC 6749 §4.4, §6): a form POST with
/// `grant_type`, `scope` as one space-separated parameter, `audience` and
/// `extra` when given, the refresh token for that grant, and the client
/// credentials in the form when `client_auth` is `body` (else in the
/// header the token hook adds).
pub fn token_request(settings: &OAuth2, rotated: Option<&str>) -> Request {
    let mut form: Vec<(&str, &str)> = vec![("grant_type", settings.grant.as_str())];
    if settings.grant == Grant::RefreshToken {
        if let Some(token) = rotated.or(settings.refresh_token.as_deref()) {
            form.push(("refresh_token", token));
        }
    }
    if let Some(scope) = &settings.scope {
        form.push(("scope", scope));
    }
    if let Some(audience) = &settings.audience {
        form.push(("audience", audience));
    }
    for (k, v) in &settings.extra {
        form.push((k, v));
    }
    if !settings.client_auth_basic {
        form.push(("client_id", &settings.client_id));
        if let Some(secret) = &settings.client_secret {
            form.push(("client_secret", secret));
        }
    }
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect();
    Request {
        method: Method::Post,
        url: settings.token_url.clone(),
        body: Some(body.join("&")),
        form: true,
        position: None,
    }
}

/// Reads a token endpoint's answer: `status` and `body` (the text, when
/// there was one). A 2xx must hold a bearer `access_token`; a 400 or 401
/// is a final refusal quoting the server's `error` and
/// `error_description`; 408, 425, 429 and 5xx may pass on a retry.
pub fn read_answer(status: u16, body: Option<&str>) -> Result<Answer, Refusal> {
    let json: Option<Value> = body.and_then(|b| serde_json::from_str(b).ok());
    let field = |k: &str| json.as_ref()?.get(k)?.as_str().map(str::to_string);
    if !(200..300).contains(&status) {
        let said = match (field("error"), field("error_description")) {
            (Some(e), Some(d)) => format!("{e}: {}", shorten(&d, DESCRIPTION_CHARS)),
            (Some(e), None) => e,
            _ => "no OAuth2 error in the answer".to_string(),
        };
        let why = format!("the token endpoint answered {status} ({said})");
        return match status {
            408 | 425 | 429 | 500..=599 => Err(Refusal::Retryable(why)),
            _ => Err(Refusal::Final(why)),
        };
    }
    let Some(access_token) = field("access_token").filter(|t| !t.is_empty()) else {
        return Err(Refusal::Final(
            "the token endpoint's answer holds no access_token".into(),
        ));
    };
    match field("token_type") {
        Some(t) if !t.eq_ignore_ascii_case("bearer") => {
            return Err(Refusal::Final(format!(
                "the token endpoint gave a token of type {}, ingest sends bearer tokens only",
                shorten(&t, 40)
            )))
        }
        _ => {}
    }
    let expires_in = json
        .as_ref()
        .and_then(|j| j.get("expires_in"))
        .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX));
    Ok(Answer {
        access_token,
        expires_in,
        refresh_token: field("refresh_token").filter(|t| !t.is_empty()),
    })
}

/// The token sources of a run: one per token endpoint, client, grant and
/// scope, shared by the sources that name the same.
#[derive(Debug, Default)]
pub struct Tokens {
    by_source: Vec<Option<Arc<TokenSource>>>,
}

impl Tokens {
    /// One token source per distinct OAuth2 setting of `config`.
    pub fn for_config(config: &Config) -> Self {
        let mut shared: HashMap<_, Arc<TokenSource>> = HashMap::new();
        let by_source = config
            .sources
            .iter()
            .map(|s| match &s.auth {
                Some(crate::config::Auth::OAuth2(o)) => Some(Arc::clone(
                    shared
                        .entry(o.token_key())
                        .or_insert_with(|| Arc::new(TokenSource::new(o.clone()))),
                )),
                _ => None,
            })
            .collect();
        Tokens { by_source }
    }

    /// Source `index`'s token source, if it uses OAuth2.
    pub fn of(&self, index: usize) -> Option<Arc<TokenSource>> {
        self.by_source.get(index).cloned().flatten()
    }
}

/// The headers of a source's token requests: the client's credentials in
/// HTTP Basic (RFC 6749 §2.3.1: each form-encoded first), to the token
/// endpoint's origin only.
#[derive(Debug)]
pub struct ClientCredentials {
    basic: Option<String>,
    origin: String,
}

impl ClientCredentials {
    /// The headers for `settings`' token requests.
    pub fn new(settings: &OAuth2) -> Self {
        let basic = settings.client_auth_basic.then(|| {
            let id = encode_component(&settings.client_id);
            let secret = encode_component(settings.client_secret.as_deref().unwrap_or(""));
            format!("Basic {}", base64(format!("{id}:{secret}").as_bytes()))
        });
        ClientCredentials {
            basic,
            origin: origin(&settings.token_url),
        }
    }
}

impl HeaderHook for ClientCredentials {
    fn headers(&self, target: &str, add: &mut dyn FnMut(&str, &str)) {
        add("Accept", "application/json");
        if let Some(basic) = self
            .basic
            .as_deref()
            .filter(|_| origin(target) == self.origin)
        {
            add("Authorization", basic);
        }
    }
}

/// A source's headers with the current OAuth2 token as a bearer token, to
/// the source's origin only (the rest of its headers as configured).
#[derive(Debug)]
pub struct BearerFrom {
    configured: Box<dyn HeaderHook>,
    tokens: Arc<TokenSource>,
    origin: String,
}

impl BearerFrom {
    /// `configured` headers plus the token of `tokens`, for a source whose
    /// URL is `source_url`.
    pub fn new(
        configured: Box<dyn HeaderHook>,
        tokens: Arc<TokenSource>,
        source_url: &str,
    ) -> Self {
        BearerFrom {
            configured,
            tokens,
            origin: origin(source_url),
        }
    }
}

impl HeaderHook for BearerFrom {
    fn headers(&self, target: &str, add: &mut dyn FnMut(&str, &str)) {
        self.configured.headers(target, add);
        if origin(target) != self.origin {
            return;
        }
        if let Some(token) = self.tokens.current() {
            add("Authorization", &format!("Bearer {}", token.access));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OAuth2 {
        OAuth2 {
            grant: Grant::ClientCredentials,
            token_url: "http://auth.example/token".into(),
            client_id: "ingest app".into(),
            client_secret: Some("s3cr3t:x".into()),
            refresh_token: None,
            scope: Some("read:a read:b".into()),
            audience: None,
            extra: vec![("resource".into(), "https://api".into())],
            client_auth_basic: true,
            refresh_margin: Duration::from_secs(60),
        }
    }

    fn answer(token: &str, life_s: Option<u64>) -> Answer {
        Answer {
            access_token: token.into(),
            expires_in: life_s.map(Duration::from_secs),
            refresh_token: None,
        }
    }

    #[test]
    fn one_fetcher_fetches_the_others_wait_then_share_it() {
        let tokens = TokenSource::new(settings());
        let t0 = Instant::now();
        assert_eq!(
            tokens.turn(t0),
            Turn::Fetch {
                refresh: false,
                forced: false
            }
        );
        assert_eq!(tokens.turn(t0), Turn::Wait, "a second source waits");
        tokens.publish(Ok(answer("tok-1", Some(3600))), t0);
        let first = Token {
            access: "tok-1".into(),
            generation: 1,
        };
        assert_eq!(tokens.turn(t0), Turn::Use(first.clone()));
        // Refreshed 60 s before expiry, not at it.
        let later = t0 + Duration::from_secs(3539);
        assert_eq!(tokens.turn(later), Turn::Use(first));
        let due = t0 + Duration::from_secs(3540);
        assert_eq!(
            tokens.turn(due),
            Turn::Fetch {
                refresh: true,
                forced: false
            }
        );
    }

    #[test]
    fn a_short_lifetime_refreshes_a_tenth_before_expiry() {
        let tokens = TokenSource::new(settings());
        let t0 = Instant::now();
        let _ = tokens.turn(t0);
        tokens.publish(Ok(answer("short", Some(10))), t0);
        assert!(matches!(
            tokens.turn(t0 + Duration::from_millis(8900)),
            Turn::Use(_)
        ));
        assert!(matches!(
            tokens.turn(t0 + Duration::from_secs(9)),
            Turn::Fetch { .. }
        ));
    }

    #[test]
    fn a_401_forces_one_refresh_for_the_token_it_was_sent_with_only() {
        let tokens = TokenSource::new(settings());
        let t0 = Instant::now();
        let _ = tokens.turn(t0);
        tokens.publish(Ok(answer("a", None)), t0);
        tokens.refused(1);
        assert_eq!(
            tokens.turn(t0),
            Turn::Fetch {
                refresh: true,
                forced: true
            }
        );
        tokens.publish(Ok(answer("b", None)), t0);
        // A late 401 for the old token does not throw the new one away.
        tokens.refused(1);
        assert_eq!(
            tokens.turn(t0),
            Turn::Use(Token {
                access: "b".into(),
                generation: 2
            })
        );
    }

    #[test]
    fn a_final_refusal_stops_every_sharer_a_retryable_one_lets_them_try_again() {
        let tokens = TokenSource::new(settings());
        let t0 = Instant::now();
        let _ = tokens.turn(t0);
        tokens.publish(Err(Refusal::Retryable("503".into())), t0);
        assert!(matches!(tokens.turn(t0), Turn::Fetch { .. }));
        tokens.publish(Err(Refusal::Final("invalid_client: bad secret".into())), t0);
        assert_eq!(
            tokens.turn(t0),
            Turn::Failed("invalid_client: bad secret".into())
        );
    }

    #[test]
    fn the_token_request_is_an_rfc_6749_form() {
        let r = token_request(&settings(), None);
        assert_eq!((r.method, r.form), (Method::Post, true));
        assert_eq!(
            r.body.as_deref(),
            Some("grant_type=client_credentials&scope=read%3Aa%20read%3Ab&resource=https%3A%2F%2Fapi")
        );
        let mut refresh = settings();
        refresh.grant = Grant::RefreshToken;
        refresh.refresh_token = Some("r-1".into());
        refresh.client_auth_basic = false;
        let body = token_request(&refresh, Some("r-2")).body.unwrap();
        assert!(
            body.starts_with("grant_type=refresh_token&refresh_token=r-2&"),
            "{body}"
        );
        assert!(
            body.ends_with("&client_id=ingest%20app&client_secret=s3cr3t%3Ax"),
            "{body}"
        );
        // Basic: each part form-encoded, then joined and encoded.
        let mut sent = Vec::new();
        ClientCredentials::new(&settings()).headers("http://auth.example/token", &mut |n, v| {
            sent.push(format!("{n}: {v}"))
        });
        let expected = format!(
            "Authorization: Basic {}",
            base64(b"ingest%20app:s3cr3t%3Ax")
        );
        assert_eq!(sent, ["Accept: application/json".to_string(), expected]);
    }

    #[test]
    fn answers_are_read_as_the_rfc_says() {
        let ok = read_answer(
            200,
            Some(r#"{"access_token":"t","token_type":"Bearer","expires_in":"300","refresh_token":"r2"}"#),
        )
        .unwrap();
        assert_eq!(ok.expires_in, Some(Duration::from_secs(300)));
        assert_eq!(ok.refresh_token.as_deref(), Some("r2"));
        let cases: &[(u16, &str, &str, bool)] = &[
            (
                400,
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
                "the token endpoint answered 400 (invalid_client: Client authentication failed)",
                false,
            ),
            (
                401,
                r#"{"error":"invalid_grant"}"#,
                "answered 401 (invalid_grant)",
                false,
            ),
            (
                503,
                "",
                "answered 503 (no OAuth2 error in the answer)",
                true,
            ),
            (
                200,
                r#"{"access_token":"t","token_type":"mac"}"#,
                "a token of type mac",
                false,
            ),
            (
                200,
                r#"{"token_type":"bearer"}"#,
                "holds no access_token",
                false,
            ),
        ];
        for &(status, body, gist, retryable) in cases {
            match read_answer(status, Some(body)) {
                Err(Refusal::Retryable(why)) if retryable => assert!(why.contains(gist), "{why}"),
                Err(Refusal::Final(why)) if !retryable => assert!(why.contains(gist), "{why}"),
                other => panic!("{status} {body}: {other:?}"),
            }
        }
    }

    #[test]
    fn sources_share_a_token_only_when_their_token_requests_are_the_same() {
        let auth = |refresh: &str, audience: &str| {
            serde_json::json!({"type": "oauth2", "grant": "refresh_token",
                "token_url": "http://auth/token", "client_id": "c", "client_secret": "s",
                "refresh_token": refresh, "audience": audience})
        };
        let doc = serde_json::json!({"sources": [
            {"name": "alice", "url": "http://api/", "auth": auth("rt-alice", "api")},
            {"name": "alice2", "url": "http://api/2", "auth": auth("rt-alice", "api")},
            {"name": "bob", "url": "http://api/", "auth": auth("rt-bob", "api")},
            {"name": "other", "url": "http://api/", "auth": auth("rt-alice", "api2")},
            {"name": "none", "url": "http://api/"},
        ]});
        let config = Config::parse("t", &doc.to_string()).unwrap();
        let tokens = Tokens::for_config(&config);
        let of = |i| tokens.of(i).unwrap();
        assert!(Arc::ptr_eq(&of(0), &of(1)), "the same request: one token");
        assert!(!Arc::ptr_eq(&of(0), &of(2)), "another user's refresh token");
        assert!(!Arc::ptr_eq(&of(0), &of(3)), "another audience");
        assert!(tokens.of(4).is_none());
    }

    #[test]
    fn a_token_that_claims_no_life_is_still_sent_once() {
        let tokens = TokenSource::new(settings());
        let t0 = Instant::now();
        let _ = tokens.turn(t0);
        let nanosecond = Answer {
            expires_in: Some(Duration::from_nanos(1)),
            ..answer("brief", None)
        };
        tokens.publish(Ok(nanosecond), t0);
        assert!(matches!(
            tokens.turn(t0 + Duration::from_millis(200)),
            Turn::Use(_)
        ));
        assert!(matches!(
            tokens.turn(t0 + Duration::from_millis(250)),
            Turn::Fetch { .. }
        ));
    }
}
