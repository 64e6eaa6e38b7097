//! One HTTP attempt: send, receive within budget, read at most
//! `max_body_bytes`, parse JSON, and classify what went wrong.
//!
//! The agent is shared by every source (clones share one connection pool)
//! so that one `shutdown()` cuts every in-flight request on Ctrl-C. Status
//! codes never become errors inside ureq: the fetcher needs the headers of
//! a 429 (`Retry-After`) and of a failed page (`Link`). Headers come
//! from the source's [`HeaderHook`] on every request (redirect hops
//! included), which sends secret ones only to the origin of the source's
//! configured URL, never to another host a next link points to.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};
use ureq::Agent;

use crate::config::SourceConfig;
use crate::control::{lock, saturating_add};
use crate::error::{AttemptError, TimeoutPhase};
use crate::fetch::headers::Headers;
use crate::fetch::page;
use crate::fetch::quota::Quota;
use crate::fetch::request::{ConfiguredHeaders, HeaderHook, Method, Request};
use crate::redact::Redactor;
use crate::url;

/// Bytes of an error answer's body kept to show what the server said.
const ERROR_BODY_SHOWN: usize = 200;

/// Bytes read from an error answer, so that its connection can be reused
/// and an `on_response` rule can look into it (`body_contains`, `path`).
pub const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// Redirects followed within one attempt; a 3xx after that many is "left
/// after redirects", a client error.
pub const MAX_REDIRECTS: usize = 10;

/// Statuses that redirect a GET when they carry a `Location`.
const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// The agent every source's client clones.
pub fn agent() -> Agent {
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("ingest/", env!("CARGO_PKG_VERSION")))
        .build();
    Agent::with_parts(
        config,
        CountingConnector::default(),
        CachingResolver::default(),
    )
}

thread_local! {
    /// Connections this thread opened (requests are sent on the caller's
    /// thread, so each fetcher sees its own count).
    static CONNECTS: Cell<u64> = const { Cell::new(0) };
}

/// The connections opened by the current thread so far.
fn connects() -> u64 {
    CONNECTS.with(Cell::get)
}

/// ureq's connector, counting the connections it opens: a request that
/// failed without one went out on a pooled connection.
#[derive(Debug, Default)]
struct CountingConnector {
    inner: DefaultConnector,
}

impl Connector<()> for CountingConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let out = self.inner.connect(details, chained)?;
        if out.is_some() {
            CONNECTS.with(|c| c.set(c.get() + 1));
        }
        Ok(out)
    }
}

/// Whether `e` is a pooled keep-alive connection the server had already
/// closed: it failed before any byte of an answer arrived.
fn is_stale(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(e, ureq::Error::Io(io) if matches!(
        io.kind(),
        K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
    ))
}

/// How long a host's resolved addresses are reused.
const RESOLVE_TTL: Duration = Duration::from_secs(60);

/// ureq's resolver, remembering each host's addresses for [`RESOLVE_TTL`].
///
/// ureq resolves the host of every request, even one sent on a pooled
/// connection, and with a time budget set its default resolver runs each
/// lookup on a new thread so it can give up in time: one thread spawned per
/// request. Remembering the answer for a minute keeps the timeout for the
/// lookups that happen and spares the thread for the rest.
#[derive(Debug, Default)]
struct CachingResolver {
    inner: DefaultResolver,
    /// `scheme://authority` → when resolved, and the addresses.
    cache: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority().map_or("", |a| a.as_str())
        );
        if let Some((at, addrs)) = lock(&self.cache).get(&key) {
            if at.elapsed() < RESOLVE_TTL {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        lock(&self.cache).insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

/// What one attempt produced.
#[derive(Debug)]
pub struct Exchange {
    /// The status, when an answer arrived.
    pub status: Option<u16>,
    /// Send to end of body (or of the part read), when an answer arrived.
    pub latency: Option<Duration>,
    /// The answer's `Retry-After` value, if any.
    pub retry_after: Option<String>,
    /// The item total of an `X-Total-Count` header, if any.
    pub total_count: Option<u64>,
    /// The start of an error answer's body (what a 422 objected to).
    pub error_body: Option<String>,
    /// An error answer's body as drained, at most [`ERROR_BODY_LIMIT`]
    /// bytes (invalid UTF-8 replaced): what `on_response` rules read.
    pub drained: Option<String>,
    /// The answer's response headers, names lowercased (empty when no
    /// answer arrived).
    pub headers: Headers,
    /// The quota the answer announced, if any.
    pub quota: Option<Quota>,
    /// Requests sent once more because a pooled connection was stale.
    pub resends: u32,
    /// The answer's `Link` rel="next" target, if any, resolved against
    /// `final_url`.
    pub link_next: Option<String>,
    /// Whether the answer carried a `Link` header at all (a `link_header`
    /// source whose server sends none is misconfigured, not at its end).
    pub link_header: bool,
    /// The URL that gave the answer, after redirects: relative next links
    /// in the body resolve against it.
    pub final_url: String,
    /// The body's text (`None` for 204 No Content), or why there is none.
    pub body: Result<Option<String>, AttemptError>,
}

/// Sends one source's requests.
#[derive(Debug, Clone)]
pub struct Client {
    agent: Agent,
    /// Asked for the headers of every request.
    headers: Arc<dyn HeaderHook>,
    connect: Duration,
    read: Duration,
    max_body_bytes: u64,
    /// Hides secrets in the URLs that error details quote.
    redactor: Arc<Redactor>,
}

impl Client {
    /// A client for `source` under its own timeouts and body limit.
    pub fn new(agent: Agent, source: &SourceConfig, redactor: Arc<Redactor>) -> Self {
        Self {
            agent,
            headers: Arc::new(ConfiguredHeaders::for_source(source)),
            connect: source.policies.timeouts.connect,
            read: source.policies.timeouts.read,
            max_body_bytes: source.policies.max_body_bytes,
            redactor,
        }
    }

    /// The same client, its headers from `hook` (an OAuth2 source's
    /// bearer token, or a token endpoint's client credentials).
    pub fn with_headers(mut self, hook: Arc<dyn HeaderHook>) -> Self {
        self.headers = hook;
        self
    }

    /// Sends `request`, following up to [`MAX_REDIRECTS`] redirects, spending
    /// at most `time_left`: connecting within `connect_ms`, headers within
    /// `read_ms` of sending, the body within `read_ms` of the headers, and
    /// the whole attempt within `connect_ms + read_ms`. Every request after
    /// the attempt's first — a redirect hop, a resend on a new connection —
    /// first calls `take_token`, which takes a token (waiting for one if
    /// needed) and says whether the run may go on; that wait is not the
    /// server's time and extends the attempt's allowance (never past
    /// `time_left`).
    pub fn send(
        &self,
        request: &Request,
        time_left: Duration,
        mut take_token: impl FnMut() -> bool,
    ) -> Exchange {
        let sent = Instant::now();
        let mut budget = Budget::new(sent, time_left, self.connect, self.read);
        let mut target = request.url.clone();
        // What goes to `target`: the request, or what a redirect made of it.
        let mut current = request.clone();
        let mut resends = 0;
        for hop in 0..=MAX_REDIRECTS {
            if hop > 0 && !budget.wait_for_token(&mut take_token) {
                let cut = AttemptError::Timeout(TimeoutPhase::Budget);
                return Exchange::failed(cut, target).resent(resends);
            }
            let mut response = match self.call(
                &current,
                &target,
                &mut budget,
                &mut take_token,
                &mut resends,
            ) {
                Ok(r) => r,
                Err(e) => return Exchange::failed(e, target).resent(resends),
            };
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .filter(|_| REDIRECTS.contains(&status) && hop < MAX_REDIRECTS)
                .map(|v| url::resolve(&target, &url::from_server(v.as_bytes())));
            match location {
                Some(next) if !url::is_http_url(&next) => {
                    let shown = self.redactor.shown_url(&next);
                    let detail = format!("Location is not an http(s) URL: {shown}");
                    return Exchange::failed(AttemptError::Redirect(detail), target)
                        .resent(resends);
                }
                Some(next) => {
                    // Drain a little so the connection can be reused.
                    let _ = response
                        .body_mut()
                        .with_config()
                        .limit(ERROR_BODY_LIMIT)
                        .read_to_vec();
                    // 307 and 308 repeat the request as it was (a POST
                    // with its body); 301, 302 and 303 are a GET of the
                    // target, as browsers and RFC 9110 §15.4 have it.
                    current = match status {
                        307 | 308 => Request {
                            url: next.clone(),
                            ..current
                        },
                        _ => Request::get(next.clone()).at(current.position.clone()),
                    };
                    target = next;
                }
                None => return self.receive(response, sent, target).resent(resends),
            }
        }
        unreachable!("the last hop never follows a redirect")
    }

    /// Sends one request of an attempt within what is left of `budget`.
    /// One that went out on a pooled connection the server had closed is
    /// sent once more at once, on a new connection (once per attempt):
    /// not an attempt and not a retry, but the server may have received
    /// the first one, so the resend takes a token like every request —
    /// else what the server sees would outrun `burst + per_second × t`.
    fn call(
        &self,
        request: &Request,
        target: &str,
        budget: &mut Budget,
        take_token: &mut impl FnMut() -> bool,
        resends: &mut u32,
    ) -> Result<ureq::http::Response<ureq::Body>, AttemptError> {
        let opened = connects();
        match self.request(request, target, budget.left()?) {
            Ok(r) => Ok(r),
            Err(e) if *resends == 0 && connects() == opened && is_stale(&e) => {
                if !budget.wait_for_token(take_token) {
                    return Err(AttemptError::Timeout(TimeoutPhase::Budget));
                }
                *resends += 1;
                let resent = self.request(request, target, budget.left()?);
                resent.map_err(|e| self.classify(e))
            }
            Err(e) => Err(self.classify(e)),
        }
    }

    /// One request of an attempt to `target` (the request's URL, or a
    /// redirect's), with `budget` left for it. Redirects are followed by
    /// [`send`](Self::send), not by ureq, so that the header hook is asked
    /// on every hop: credentials go only to the origin they were
    /// configured for.
    fn request(
        &self,
        request: &Request,
        target: &str,
        budget: Duration,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        match request.method {
            Method::Post => {
                let post = self.configured(self.agent.post(target), target, budget);
                let content_type = match request.form {
                    true => "application/x-www-form-urlencoded",
                    false => "application/json",
                };
                match &request.body {
                    Some(body) => post
                        .header("content-type", content_type)
                        .send(body.as_bytes()),
                    None => post.send_empty(),
                }
            }
            _ => self
                .configured(self.agent.get(target), target, budget)
                .call(),
        }
    }

    /// `builder` with the attempt's timeouts, no redirects of ureq's own,
    /// the proxy rule, and the hook's headers for `target`.
    fn configured<B>(
        &self,
        builder: ureq::RequestBuilder<B>,
        target: &str,
        budget: Duration,
    ) -> ureq::RequestBuilder<B> {
        let mut config = builder
            .config()
            .max_redirects(0)
            .timeout_global(Some(budget))
            .timeout_connect(Some(self.connect.min(budget)))
            .timeout_recv_response(Some(self.read.min(budget)))
            .timeout_recv_body(Some(self.read.min(budget)));
        // A proxy from the environment (`HTTP_PROXY`, minus `NO_PROXY`) is
        // used, except for loopback: a proxy can only reach its own.
        if self.agent.config().proxy().is_some() && url::is_loopback(target) {
            config = config.proxy(None);
        }
        let mut out = Some(config.build());
        self.headers.headers(target, &mut |name, value| {
            out = out.take().map(|r| r.header(name, value));
        });
        out.expect("the builder is put back after every header")
    }

    /// Reads and parses the final answer of an attempt.
    fn receive(
        &self,
        mut response: ureq::http::Response<ureq::Body>,
        sent: Instant,
        target: String,
    ) -> Exchange {
        let status = response.status().as_u16();
        let headers = response.headers();
        let kept = Headers::from_lines(headers.iter().map(|(name, value)| {
            (
                name.as_str(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        }));
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Every line of each header: a second `RateLimit` line counts too.
        let quota = Quota::read(
            |name| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()),
            std::time::SystemTime::now(),
        );
        let total_count = headers
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::fetch::paginate::count(&serde_json::Value::from(v)));
        // Link values may carry non-ASCII bytes (a `title`, an IRI target):
        // percent-encode them rather than drop the header, or the next
        // page would be silently lost.
        let links: Vec<String> = headers
            .get_all("link")
            .iter()
            .map(|v| url::encode_non_ascii(v.as_bytes()))
            .collect();
        let link_next = page::next_link(links.iter().map(String::as_str))
            .map(|link| url::resolve(&target, &link));
        let ok = (200..300).contains(&status);
        let limit = if ok {
            self.max_body_bytes
        } else {
            ERROR_BODY_LIMIT
        };
        let body = match ok {
            true => read_body(&mut response, limit),
            // Drained a little, so that the connection can be reused.
            false => response.body_mut().with_config().limit(limit).read_to_vec(),
        };
        let latency = Some(sent.elapsed());
        let error_body = match (&body, ok) {
            (Ok(bytes), false) => Some(
                String::from_utf8_lossy(&bytes[..bytes.len().min(ERROR_BODY_SHOWN)]).into_owned(),
            ),
            _ => None,
        };
        let drained = match (&body, ok) {
            (Ok(bytes), false) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        };
        let body = match body {
            _ if !ok => Err(AttemptError::Status(status)),
            Ok(_) if status == 204 => Ok(None),
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|e| AttemptError::MalformedJson(format!("the body is not UTF-8: {e}"))),
            Err(e) => Err(self.classify(e)),
        };
        Exchange {
            status: Some(status),
            latency,
            retry_after,
            total_count,
            error_body,
            drained,
            headers: kept,
            quota,
            resends: 0,
            link_header: !links.is_empty(),
            link_next,
            final_url: target,
            body,
        }
    }
}

/// The time one attempt may take: `connect_ms + read_ms` from its start,
/// never past the run's deadline. Every sum saturates: `time_left`,
/// `connect_ms` and `read_ms` may each be as large as a `Duration` gets
/// (a run without a deadline, u64::MAX ms), which no `Instant` can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    /// When the attempt must be over.
    end: Instant,
    /// When the run must be over: no extension goes past it.
    run_end: Instant,
}

impl Budget {
    fn new(sent: Instant, time_left: Duration, connect: Duration, read: Duration) -> Self {
        let run_end = saturating_add(sent, time_left);
        let end = saturating_add(sent, connect.saturating_add(read)).min(run_end);
        Self { end, run_end }
    }

    /// Takes a token with `take_token`; the time spent waiting for it is
    /// the rate limit's, not the server's, so it extends the attempt.
    /// False when the run may not go on.
    fn wait_for_token(&mut self, take_token: &mut impl FnMut() -> bool) -> bool {
        let asked = Instant::now();
        if !take_token() {
            return false;
        }
        self.end = saturating_add(self.end, asked.elapsed()).min(self.run_end);
        true
    }

    /// What is left of it, or a budget timeout when nothing is.
    fn left(&self) -> Result<Duration, AttemptError> {
        let left = self.end.saturating_duration_since(Instant::now());
        match left.is_zero() {
            true => Err(AttemptError::Timeout(TimeoutPhase::Budget)),
            false => Ok(left),
        }
    }
}

impl Exchange {
    /// This exchange, with `resends` requests sent once more on the way.
    fn resent(mut self, resends: u32) -> Self {
        self.resends = resends;
        self
    }

    fn failed(error: AttemptError, final_url: String) -> Self {
        Self {
            status: None,
            latency: None,
            retry_after: None,
            total_count: None,
            error_body: None,
            drained: None,
            headers: Headers::default(),
            quota: None,
            resends: 0,
            link_next: None,
            link_header: false,
            final_url,
            body: Err(error),
        }
    }
}

/// Reads a body whole into one buffer, sized from `Content-Length` when
/// the server sent one (so it never grows step by step), and at most
/// `limit` bytes of it, counted after decompression: a small gzip body
/// cannot inflate past the limit.
fn read_body(
    response: &mut ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<Vec<u8>, ureq::Error> {
    use std::io::Read;
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut buf = Vec::with_capacity(announced.min(limit) as usize);
    let reader = response.body_mut().with_config().limit(limit).reader();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(ureq::Error::from)?;
    if buf.len() as u64 > limit {
        return Err(ureq::Error::BodyExceedsLimit(limit));
    }
    Ok(buf)
}

impl Client {
    /// Maps ureq's errors onto the taxonomy.
    fn classify(&self, e: ureq::Error) -> AttemptError {
        use ureq::Error as E;
        match e {
            E::Timeout(t) => AttemptError::Timeout(match t {
                ureq::Timeout::Connect | ureq::Timeout::Resolve => TimeoutPhase::Connect,
                ureq::Timeout::Global => TimeoutPhase::Budget,
                _ => TimeoutPhase::Read,
            }),
            E::BodyExceedsLimit(n) => AttemptError::BodyTooLarge(n),
            e @ (E::TooManyRedirects | E::RedirectFailed) => AttemptError::Redirect(e.to_string()),
            // The detail may quote the URL: never let a secret through.
            E::BadUri(detail) => AttemptError::BadUrl(self.redactor.redact_url(&detail)),
            E::Http(detail) => AttemptError::BadUrl(self.redactor.redact_url(&detail.to_string())),
            E::StatusCode(code) => AttemptError::Status(code),
            // No such host: resolved to nothing, or the resolver says so.
            E::HostNotFound => AttemptError::Dns("host not found".to_string()),
            E::Io(e) if crate::error::is_no_such_host(&e) => AttemptError::Dns(e.to_string()),
            // Retrying cannot help a build without TLS.
            E::TlsRequired => AttemptError::BadUrl(
                "an https URL, and this ingest was built without TLS (make run builds \
                 without it; use make build or cargo build --release)"
                    .into(),
            ),
            other => AttemptError::Transport(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest values every input can take — a run without a
    /// deadline, u64::MAX ms timeouts, a token wait of any length — give
    /// an attempt budget without a panic (`sent + time_left` once
    /// overflowed).
    #[test]
    fn a_budget_of_any_size_is_not_a_panic() {
        let sent = Instant::now();
        let huge = Duration::from_millis(u64::MAX);
        for (time_left, timeout) in [
            (Duration::MAX, huge),
            (Duration::MAX, Duration::from_secs(1)),
            (Duration::from_secs(1), huge),
        ] {
            let mut budget = Budget::new(sent, time_left, timeout, timeout);
            assert!(budget.end <= budget.run_end, "{time_left:?}, {timeout:?}");
            assert!(budget.left().is_ok());
            let took = budget.wait_for_token(&mut || true);
            assert!(took && budget.end <= budget.run_end);
        }
        // An extension is never past the run's end.
        let mut budget = Budget::new(sent, Duration::MAX, huge, huge);
        budget.end = budget.run_end;
        assert!(budget.wait_for_token(&mut || true));
        assert_eq!(budget.end, budget.run_end);
    }

    /// A token wait extends the attempt by its length, up to the run's end.
    #[test]
    fn a_token_wait_extends_the_budget_up_to_the_run_end() {
        let sent = Instant::now();
        let ms = Duration::from_millis;
        let mut budget = Budget::new(sent, ms(10_000), ms(100), ms(200));
        assert_eq!(budget.end, sent + ms(300));
        assert!(budget.wait_for_token(&mut || {
            std::thread::sleep(ms(20));
            true
        }));
        assert!(budget.end >= sent + ms(320), "{:?}", budget.end - sent);
        let mut short = Budget::new(sent, ms(310), ms(100), ms(200));
        assert!(short.wait_for_token(&mut || {
            std::thread::sleep(ms(20));
            true
        }));
        assert_eq!(short.end, sent + ms(310));
        assert!(
            !short.wait_for_token(&mut || false),
            "the run may not go on"
        );
        let spent = Budget::new(sent, Duration::ZERO, ms(100), ms(100));
        assert_eq!(
            spent.left(),
            Err(AttemptError::Timeout(TimeoutPhase::Budget))
        );
    }
}
