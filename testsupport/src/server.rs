//! [`MockServer`]: the guard that owns a running scenario, its threads, its
//! request log and its shutdown.
//!
//! Threads: one raw-front accept thread, one thread per client connection
//! (spawned by the accept thread), and two tiny_http handler threads. All
//! of them poll a shared stop flag with short timeouts or wait on the stop
//! condvar, so `Drop` can set the flag, wake the waiters and join them all
//! within a bounded time (the longest bound is the 5 s write timeout
//! towards a client that stopped reading).

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::api::{self, Answer, Endpoint, Mounted, Request, Routed};
use crate::auth::Auth;
use crate::changes::Changes;
use crate::children::id_path;
use crate::data::Truth;
use crate::oauth::{OAuth2, TokenRequest, Tokens};
use crate::quota::{Admission, Window};
use crate::raw;
use crate::scenario::Scenario;

/// What the server did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete HTTP response with this status (including malformed,
    /// oversized and itemless bodies, and delayed answers).
    Status(u16),
    /// Held without an answer until the server stopped (`FaultKind::Hang`).
    Hang,
    /// Connection closed without any response (`FaultKind::Close`, or a
    /// stop during a `Delay`).
    Closed,
    /// Head and part of the body sent, then closed (`FaultKind::Truncate`).
    Truncated,
    /// Socket closed with the request unread, so the peer gets an RST.
    Reset,
    /// Not answered yet (in flight, e.g. during a `Delay`).
    Pending,
}

/// One entry of the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// When the request head arrived.
    pub at: Instant,
    /// Source name; empty for a path no source serves, and for the token
    /// endpoint ([`crate::OAuth2::PATH`]).
    pub source: String,
    /// 1-based page index (0 when the target is unknown or malformed, and
    /// for the token endpoint). For a [`crate::Style::Graphql`] source,
    /// the page its `after` variable asks for.
    pub page: usize,
    /// 1-based attempt number of this `(source, page)` (within its
    /// `partition`, if any); for the token endpoint, the number of the
    /// token request.
    pub attempt: u32,
    /// Request target: path and query.
    pub path: String,
    /// What the server did.
    pub outcome: Outcome,
    /// The request method.
    pub method: String,
    /// The request headers, as sent (credentials included, so a test can
    /// check which token a request carried).
    pub headers: Vec<(String, String)>,
    /// The request body, as sent (up to 32 KiB; empty beyond).
    pub body: Vec<u8>,
    /// For a child source ([`crate::MockSource::children`]) the parent id
    /// the path names, for a window source ([`crate::MockSource::events`])
    /// the window as `FROM/TO` (decoded, as sent); `page` and `attempt`
    /// count within it. `None` for every other request.
    pub partition: Option<String>,
    /// When the server settled the request's outcome: for an answer,
    /// after any latency or delay and just before its first byte was
    /// written; for a hang, when it began. `None` while
    /// [`Outcome::Pending`]. With `at`, the time the request was in
    /// flight at the server (see [`MockServer::peak_in_flight`]).
    pub finished: Option<Instant>,
}

impl LoggedRequest {
    /// The value of query parameter `name` in the request target,
    /// percent-decoded (the first one, when it occurs more than once).
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.path.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| crate::changes::percent_decode(v))
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The token of an `Authorization: Bearer` header.
    pub fn bearer(&self) -> Option<&str> {
        let (scheme, token) = self.header("authorization")?.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    /// The body as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// GraphQL variable `name` of a JSON body (`variables.NAME`), such
    /// as the `after` cursor a request sent.
    pub fn variable(&self, name: &str) -> Option<Value> {
        self.body_json()?.get("variables")?.get(name).cloned()
    }
}

/// What the gate decided about a request, before any fault.
#[derive(Debug)]
pub(crate) enum Gate {
    /// Refused: this answer, nothing else happens to the request.
    Refused(Answer),
    /// Let through, having counted it against the quota, if any.
    Pass(Option<Admission>),
}

/// Request log and attempt counters, under one lock so that attempt
/// numbers follow arrival order.
#[derive(Debug, Default)]
struct Log {
    entries: Vec<LoggedRequest>,
    /// Per endpoint, partition and page.
    attempts: HashMap<(Endpoint, Option<String>, usize), u32>,
}

/// State shared by the front, the backend and the guard.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The scenario and its data; read-only.
    pub mounted: Mounted,
    /// Set once by `MockServer::drop`; polled by every loop.
    stop: AtomicBool,
    /// Mirrors `stop` for threads that sleep (Delay, Hang) on `stop_cv`.
    stop_lock: Mutex<bool>,
    stop_cv: Condvar,
    /// Written by connection threads, read by `MockServer::requests`.
    log: Mutex<Log>,
    /// Each source's quota window (unused for a source without a quota);
    /// written by connection threads, read by `MockServer::quota_refusals`.
    windows: Mutex<Vec<Window>>,
    /// The OAuth2 tokens issued and the token requests seen; written by
    /// connection threads (token requests, `expire_tokens`), read by them
    /// (the auth gate) and by `MockServer::token_requests`.
    pub tokens: Mutex<Tokens>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not poison the log for everyone else.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        *lock(&self.stop_lock) = true;
        self.stop_cv.notify_all();
    }

    /// Sleeps up to `d` (forever for `None`); true if woken by a stop.
    pub fn wait_for_stop(&self, d: Option<Duration>) -> bool {
        let guard = lock(&self.stop_lock);
        match d {
            None => {
                let _g = self
                    .stop_cv
                    .wait_while(guard, |stopped| !*stopped)
                    .unwrap_or_else(|e| e.into_inner());
                true
            }
            Some(d) => {
                let (g, _) = self
                    .stop_cv
                    .wait_timeout_while(guard, d, |stopped| !*stopped)
                    .unwrap_or_else(|e| e.into_inner());
                *g
            }
        }
    }

    /// Logs an arriving request and returns its log index and attempt; a
    /// token request is also recorded for `MockServer::token_requests`.
    pub fn arrive(&self, routed: &Routed, req: &Request) -> (usize, u32) {
        let mut log = lock(&self.log);
        let attempt = {
            let n = log
                .attempts
                .entry((routed.endpoint, routed.partition.clone(), routed.page))
                .or_insert(0);
            *n += 1;
            *n
        };
        let name = routed.source().map_or(String::new(), |i| {
            self.mounted.scenario.sources[i].name.clone()
        });
        log.entries.push(LoggedRequest {
            at: Instant::now(),
            source: name,
            page: routed.page,
            attempt,
            path: req.target.to_string(),
            outcome: Outcome::Pending,
            method: req.method.to_string(),
            headers: req.headers.to_vec(),
            body: req.body.to_vec(),
            partition: routed.partition.clone(),
            finished: None,
        });
        if routed.endpoint == Endpoint::Token {
            // Under the log's lock, so that token requests are recorded in
            // the order of their numbers (the one place both are held:
            // always the log first).
            lock(&self.tokens).arrive(attempt, req);
        }
        (log.entries.len() - 1, attempt)
    }

    /// The source's credentials check, then its quota: who is asking
    /// comes first, and a refused request spends no quota.
    pub fn gate(&self, routed: &Routed, req: &Request) -> Gate {
        let Some(i) = routed.source() else {
            return Gate::Pass(None);
        };
        let src = &self.mounted.scenario.sources[i];
        if let Some(auth) = &src.auth {
            let tokens = lock(&self.tokens);
            if let Some(refusal) = auth.refusal(req, &tokens, Instant::now()) {
                return Gate::Refused(refusal);
            }
        }
        let Some(quota) = src.quota.as_ref() else {
            return Gate::Pass(None);
        };
        match lock(&self.windows)[i].admit(quota, Instant::now()) {
            Admission::Refused { resets_at } => {
                let mut headers =
                    vec![("Content-Type".to_string(), "application/json".to_string())];
                headers.extend(raw::announced(quota, 0, resets_at));
                Gate::Refused(Answer {
                    status: quota.refusal,
                    headers,
                    body: quota.refusal_body().into_bytes(),
                })
            }
            allowed => Gate::Pass(Some(allowed)),
        }
    }

    /// The token endpoint's answer to its `n`-th request, which no
    /// connection fault took.
    pub fn token_answer(&self, req: &Request, n: u32) -> Answer {
        let Some(cfg) = &self.mounted.scenario.oauth2 else {
            return Answer::json(404, crate::fault::error_body(404));
        };
        let seed = self.mounted.scenario.seed;
        let fault = cfg.fault_for(n);
        let answer = api::with_fault(fault, std::time::SystemTime::now(), || {
            lock(&self.tokens).answer(cfg, seed, n, req, Instant::now())
        });
        lock(&self.tokens).answered(n, answer.status);
        answer
    }

    /// Records what happened to logged request `index`.
    pub fn finish(&self, index: usize, outcome: Outcome) {
        if let Some(e) = lock(&self.log).entries.get_mut(index) {
            e.outcome = outcome;
            e.finished = Some(Instant::now());
        }
    }
}

/// A running mock server for one [`Scenario`]; stops on drop.
///
/// Every source is served under `/NAME/RESOURCE` of one port. Faults are
/// keyed by the attempt number the server counts per `(source, page)`
/// (and partition: a child list's parent, a window).
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    front: Option<JoinHandle<()>>,
    backend_threads: Vec<JoinHandle<()>>,
    backend: Option<Arc<tiny_http::Server>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .field("sources", &self.shared.mounted.scenario.sources.len())
            .finish_non_exhaustive()
    }
}

impl MockServer {
    /// Starts the scenario on `127.0.0.1` at an ephemeral port.
    pub fn start(scenario: Scenario) -> io::Result<MockServer> {
        MockServer::start_on("127.0.0.1:0", scenario)
    }

    /// Starts the scenario on `addr` (e.g. `"127.0.0.1:8080"`).
    pub fn start_on(addr: &str, scenario: Scenario) -> io::Result<MockServer> {
        let listener = TcpListener::bind(addr)?;
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            // Bound to all interfaces: advertise loopback, which works.
            local.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let base_url = format!("http://{local}");
        let backend = tiny_http::Server::http("127.0.0.1:0").map_err(io::Error::other)?;
        let backend_addr = backend
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("tiny_http bound to a non-IP address"))?;
        let backend = Arc::new(backend);
        let scenario_len = scenario.sources.len();
        let tokens = scenario
            .oauth2
            .as_ref()
            .map(Tokens::new)
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            mounted: Mounted::new(scenario, base_url),
            stop: AtomicBool::new(false),
            stop_lock: Mutex::new(false),
            stop_cv: Condvar::new(),
            log: Mutex::new(Log::default()),
            windows: Mutex::new(
                std::iter::repeat_with(Window::default)
                    .take(scenario_len)
                    .collect(),
            ),
            tokens: Mutex::new(tokens),
        });
        let mut server = MockServer {
            shared: Arc::clone(&shared),
            addr: local,
            front: None,
            backend_threads: Vec::new(),
            backend: Some(Arc::clone(&backend)),
        };
        for i in 0..2 {
            let (backend, shared) = (Arc::clone(&backend), Arc::clone(&shared));
            server.backend_threads.push(
                std::thread::Builder::new()
                    .name(format!("mock-backend-{i}"))
                    .spawn(move || api::serve(&backend, &shared.mounted, shared.stop_flag()))?,
            );
        }
        server.front = Some(raw::spawn_front(listener, shared, backend_addr)?);
        log::debug!(
            "mock server for {} sources at {}",
            server.shared.mounted.scenario.sources.len(),
            server.base_url()
        );
        Ok(server)
    }

    /// `http://IP:PORT` of the server.
    pub fn base_url(&self) -> String {
        self.shared.mounted.base_url.clone()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first-page URL of `source` (the config's `url`).
    ///
    /// # Panics
    /// If the scenario has no source called `source`.
    pub fn source_url(&self, source: &str) -> String {
        let src = self
            .shared
            .mounted
            .scenario
            .source(source)
            .unwrap_or_else(|| panic!("mock scenario has no source {source:?}"));
        format!("{}{}", self.base_url(), src.path())
    }

    /// A ready config for `ingest run --config`: `{"sources":[..]}` only,
    /// one entry per source with SPEC §3 keys (and SPEC §11's `graphql`
    /// and `auth`, OAuth2's from [`OAuth2::config_json`]; SPEC §12's
    /// `parent` or `partitions` with a declared `record` for child and
    /// window sources); callers add policies.
    pub fn config_json(&self) -> serde_json::Value {
        let base = self.base_url();
        let scenario = &self.shared.mounted.scenario;
        let sources: Vec<_> = scenario
            .sources
            .iter()
            .map(|s| {
                let mut source = s.config_json(&base);
                if let (Some(Auth::OAuth2), Some(oauth2)) = (&s.auth, &scenario.oauth2) {
                    source["auth"] = oauth2.config_json(&base);
                }
                // The parent's id is where its shape keeps it.
                let parent = s.children.as_ref().and_then(|c| scenario.source(&c.parent));
                if let Some(parent) = parent {
                    source["parent"]["fields"]["parent_id"] = id_path(parent.shape).into();
                }
                source
            })
            .collect();
        serde_json::json!({ "sources": sources })
    }

    /// The URL of the OAuth2 token endpoint (served when the scenario has
    /// one, see [`Scenario::oauth2`]).
    pub fn token_url(&self) -> String {
        format!("{}{}", self.base_url(), OAuth2::PATH)
    }

    /// Every request to the token endpoint, in arrival order, with its
    /// form parameters, client authentication and what it was answered
    /// (count them by grant with `.filter(|r| r.grant == "refresh_token")`).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        lock(&self.shared.tokens).requests.clone()
    }

    /// Makes every access token issued so far invalid at once, as if they
    /// had expired: the next request with one gets a 401. For tests of
    /// expiry that should not wait for a lifetime to pass.
    pub fn expire_tokens(&self) {
        lock(&self.shared.tokens).expire_all(Instant::now());
    }

    /// The `endCursor` of `page` of [`crate::Style::Graphql`] source
    /// `source`: the `after` variable that asks for page `page + 1`.
    ///
    /// # Panics
    /// If the scenario has no source called `source`.
    pub fn end_cursor(&self, source: &str, page: usize) -> String {
        self.shared
            .mounted
            .end_cursor(self.source_index(source), page)
    }

    fn source_index(&self, source: &str) -> usize {
        self.shared
            .mounted
            .scenario
            .sources
            .iter()
            .position(|s| s.name == source)
            .unwrap_or_else(|| panic!("mock scenario has no source {source:?}"))
    }

    /// The request log, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).entries.clone()
    }

    /// The most requests of `source` the server held at once so far:
    /// the largest number of logged requests whose spans from `at` to
    /// `finished` (now, while pending) overlap. With a
    /// [`Scenario::latency`] that dwarfs the rest, this is the client's
    /// concurrency as the server saw it.
    pub fn peak_in_flight(&self, source: &str) -> usize {
        let now = Instant::now();
        let mut edges: Vec<(Instant, i32)> = lock(&self.shared.log)
            .entries
            .iter()
            .filter(|r| r.source == source)
            .flat_map(|r| [(r.at, 1), (r.finished.unwrap_or(now), -1)])
            .collect();
        // At equal instants, an end before a start: touching spans do
        // not overlap.
        edges.sort();
        let (mut open, mut peak) = (0i32, 0i32);
        for (_, step) in edges {
            open += step;
            peak = peak.max(open);
        }
        peak as usize
    }

    /// Requests of `source` its quota refused so far (0 for a source
    /// without a quota).
    ///
    /// # Panics
    /// If the scenario has no source called `source`.
    pub fn quota_refusals(&self, source: &str) -> u64 {
        lock(&self.shared.windows)[self.source_index(source)].refused
    }

    /// What the server serves.
    pub fn truth(&self) -> Truth {
        self.shared.mounted.truth()
    }

    /// The scenario being served.
    pub fn scenario(&self) -> &Scenario {
        &self.shared.mounted.scenario
    }

    /// Moves every source that honours `since`
    /// ([`crate::MockSource::honouring_since`]) to its next generation of
    /// data — some items edited to a later `updated_at`, some added —
    /// deterministically, and says what changed; other sources never
    /// change. Attempt numbers and the request log go on counting.
    pub fn next_generation(&self) -> Vec<Changes> {
        self.shared.mounted.next_generation()
    }

    /// Stops the server (same as dropping it).
    pub fn stop(self) {}
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(front) = self.front.take() {
            let _ = front.join();
        }
        for t in self.backend_threads.drain(..) {
            let _ = t.join();
        }
        // Last reference: tiny_http closes its listener and its accept thread.
        drop(self.backend.take());
    }
}
