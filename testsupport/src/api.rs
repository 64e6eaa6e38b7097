//! The HTTP side of the mocks: routing a request to `(source, page)` and
//! rendering the answer, served by tiny_http.
//!
//! [`Mounted::respond_to`] is a pure function of the request (method,
//! target, body) and the attempt number — and of the wall clock only for
//! the epoch reset a GraphQL rate limit announces — so every answer
//! (normal pages, HTTP-level faults, 204 ends, 404s for unknown paths) is
//! testable without sockets. [`serve`] is the tiny_http loop: it only ever
//! sees requests the raw front forwards, one per backend connection, with
//! the attempt number in `X-Mock-Attempt` (the front counts attempts,
//! because it also sees the requests that never reach tiny_http). The
//! token endpoint is the front's (`oauth.rs`): it has state.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::changes::{parse_rfc3339, percent_decode, Changes, Issues};
use crate::data::{self, fnv, SourceData, Truth};
use crate::fault::{self, FaultKind};
use crate::graphql;
use crate::oauth::OAuth2;
use crate::partitioned::{self, Partitioned};
use crate::quota;
use crate::scenario::{MockSource, Scenario, Style};

/// Request header carrying the front's attempt number to the backend.
pub(crate) const ATTEMPT_HEADER: &str = "X-Mock-Attempt";

/// The page parameter of a JSON:API source: `page[number]`, its brackets
/// percent-encoded as django-rest-framework-json-api writes its links.
const JSONAPI_PAGE: &str = "page%5Bnumber%5D";

/// `total` an endless offset source claims.
const ENDLESS_TOTAL: u64 = 1_000_000_000;

/// A scenario with its generated data, mounted at a base URL.
#[derive(Debug)]
pub(crate) struct Mounted {
    pub scenario: Scenario,
    pub data: Vec<SourceData>,
    pub base_url: String,
    /// The items of the sources that honour `since`, at their current
    /// generation; written only by `next_generation`.
    changing: RwLock<Changing>,
    /// Per source of [`Style::StartingAfter`], the page each page-ending
    /// id ends (`starting_after=ID` asks for the page after it); empty
    /// for every other style.
    last_ids: Vec<HashMap<String, usize>>,
    /// Per source: the child lists or events of a partitioned source.
    partitioned: Vec<Partitioned>,
}

/// The current generation of the sources that honour `since`.
#[derive(Debug)]
struct Changing {
    generation: u32,
    /// Per source: its items, for a source that honours `since`.
    issues: Vec<Option<Arc<Issues>>>,
}

/// What one request sees of a source's pages: the seeded ones, or — for
/// a source that honours `since` — those of the items updated at or after
/// the instant the request gave.
#[derive(Debug)]
struct View {
    /// Pages with data.
    pages: usize,
    /// Items on all of them (`offset`'s `total`).
    total: u64,
    /// The item arrays of a source that honours `since`, as the request
    /// filtered them; `None`: the seeded pages.
    filtered: Option<Vec<String>>,
    /// Appended to every URL an answer points onward to: the request's
    /// `since` (GitHub's links keep the query).
    carry: String,
}

/// One HTTP request as the mocks read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub method: &'a str,
    /// Path and query.
    pub target: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A GET of `target` without headers.
    #[cfg(test)]
    pub fn get(target: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            target,
            headers: &[],
            body: b"",
        }
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        query_param(query, name).map(percent_decode)
    }
}

/// What a request is addressed to; also the key of attempt counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Endpoint {
    /// The source at this index of the scenario.
    Source(usize),
    /// The OAuth2 token endpoint (`oauth.rs`).
    Token,
    /// No path the server serves.
    Unknown,
}

/// Where a request leads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Routed {
    /// What it is addressed to.
    pub endpoint: Endpoint,
    /// 1-based page; 0 when the target is not a valid page request.
    pub page: usize,
    /// The partition of a child or window source the request is for:
    /// the parent id, or the window as `FROM/TO`. Pages and attempts are
    /// counted per partition.
    pub partition: Option<String>,
    /// Status and message when the target is unknown or malformed.
    pub problem: Option<(u16, String)>,
}

/// A rendered HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(status: u16, body: String) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into_bytes(),
        }
    }

    pub(crate) fn error(status: u16, message: &str) -> Answer {
        Answer::json(
            status,
            json!({"error": message, "status": status}).to_string(),
        )
    }

    /// The first header called `name` (case-insensitive).
    #[cfg(test)]
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Routed {
    /// The source index, for a request to a source.
    pub fn source(&self) -> Option<usize> {
        match self.endpoint {
            Endpoint::Source(i) => Some(i),
            _ => None,
        }
    }
}

/// The answer `kind` makes of a request whose normal answer `normal`
/// renders (only called when the fault needs it). Connection-level
/// faults are the front's business: here they answer normally.
pub(crate) fn with_fault(
    kind: Option<&FaultKind>,
    now: SystemTime,
    normal: impl FnOnce() -> Answer,
) -> Answer {
    match kind {
        Some(FaultKind::Status(code)) => Answer::json(*code, fault::error_body(*code)),
        Some(FaultKind::StatusWithBody(code, body)) => Answer::json(*code, body.clone()),
        Some(FaultKind::RetryAfter(code, value)) => {
            let mut a = Answer::json(*code, fault::error_body(*code));
            a.headers.push(("Retry-After".into(), value.clone()));
            a
        }
        Some(FaultKind::WithHeaders(code, headers)) => {
            let mut a = match code {
                200..=299 => normal(),
                _ => Answer::json(*code, fault::error_body(*code)),
            };
            a.headers.extend(headers.iter().cloned());
            a
        }
        Some(FaultKind::MalformedJson) => Answer::json(200, fault::MALFORMED_BODY.into()),
        Some(FaultKind::NoItems) => Answer::json(200, fault::NO_ITEMS_BODY.into()),
        Some(FaultKind::Oversized(n)) => {
            let mut a = normal();
            if a.body.len() < *n {
                a.body.resize(*n, b' ');
            }
            a
        }
        Some(FaultKind::InvalidToken) => {
            let body = json!({"error": "invalid_token", "error_description": "the access token was revoked"});
            let mut a = Answer::json(401, body.to_string());
            let challenge = "Bearer error=\"invalid_token\", error_description=\"the access token was revoked\"";
            a.headers
                .push(("WWW-Authenticate".into(), challenge.into()));
            a
        }
        Some(FaultKind::GraphqlErrors(message)) => graphql::errors(json!({ "message": message })),
        Some(FaultKind::GraphqlPartial(message)) => {
            let mut a = normal();
            a.body = graphql::with_errors(&a.body, message);
            a
        }
        Some(FaultKind::GraphqlRateLimited(reset)) => {
            let mut a = graphql::errors(
                json!({"type": "RATE_LIMITED", "message": "API rate limit exceeded"}),
            );
            let at = quota::epoch_reset(now, *reset, reset.subsec_nanos() == 0);
            for (k, v) in [
                ("x-ratelimit-limit", "5000".to_string()),
                ("x-ratelimit-remaining", "0".to_string()),
                ("x-ratelimit-reset", at),
                ("x-ratelimit-used", "5000".to_string()),
                ("x-ratelimit-resource", "graphql".to_string()),
            ] {
                a.headers.push((k.to_string(), v));
            }
            a
        }
        _ => normal(),
    }
}

/// The id of each page's last item (its text, a string id unquoted), and
/// that page; the first page wins an id that ends two.
fn last_ids(pages: &[Box<str>]) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for (i, text) in pages.iter().enumerate() {
        let items: Vec<Value> = serde_json::from_str(text).unwrap_or_default();
        let id = match items.last().and_then(|item| item.get("id")) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        ids.entry(id).or_insert(i + 1);
    }
    ids
}

pub(crate) fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

impl Mounted {
    /// Generates the scenario's data.
    pub fn new(scenario: Scenario, base_url: String) -> Mounted {
        let data: Vec<SourceData> = scenario
            .sources
            .iter()
            .map(|s| {
                // Partitioned sources have no pages of their own: see
                // `Partitioned`.
                let pages = if partitioned::is_partitioned(s) {
                    0
                } else {
                    s.pages
                };
                data::generate(scenario.seed, &MockSource { pages, ..s.clone() })
            })
            .collect::<Vec<SourceData>>();
        let partitioned = scenario
            .sources
            .iter()
            .map(|s| Partitioned::new(&scenario, &data, s))
            .collect();
        let issues = scenario
            .sources
            .iter()
            .zip(&data)
            .map(|(src, d)| {
                src.since.as_ref()?;
                assert_eq!(
                    src.shape,
                    crate::Shape::GithubIssues,
                    "{}: a source that honours `since` serves GitHub issues",
                    src.name
                );
                Some(Arc::new(Issues::from_pages(&d.pages)))
            })
            .collect();
        for src in &scenario.sources {
            assert!(
                src.auth != Some(crate::Auth::OAuth2) || scenario.oauth2.is_some(),
                "{}: a source that requires OAuth2 tokens needs Scenario::oauth2",
                src.name
            );
        }
        let last_ids = scenario
            .sources
            .iter()
            .zip(&data)
            .map(|(src, d)| match src.style {
                Style::StartingAfter => last_ids(&d.pages),
                _ => HashMap::new(),
            })
            .collect();
        Mounted {
            scenario,
            data,
            base_url,
            last_ids,
            partitioned,
            changing: RwLock::new(Changing {
                generation: 0,
                issues,
            }),
        }
    }

    /// What the server serves: for a source that honours `since`, every
    /// item of its current generation (as a request without `since` gets
    /// them).
    pub fn truth(&self) -> Truth {
        let changing = self.changing.read().unwrap_or_else(|e| e.into_inner());
        let mut truth = Truth {
            sources: Vec::new(),
            children: Vec::new(),
            events: Vec::new(),
        };
        let sources = self.data.iter().zip(&changing.issues);
        for ((d, issues), (src, part)) in
            sources.zip(self.scenario.sources.iter().zip(&self.partitioned))
        {
            match (part, issues) {
                (Partitioned::Children(c), _) => truth.children.push(c.clone()),
                (Partitioned::Events(e), _) => truth.events.push(e.clone()),
                (Partitioned::No, None) => truth.sources.push(d.truth.clone()),
                (Partitioned::No, Some(issues)) => {
                    truth
                        .sources
                        .push(data::changing_truth(src, self.scenario.seed, issues.all()))
                }
            }
        }
        truth
    }

    /// Moves every source that honours `since` to its next generation
    /// (see `changes.rs`); says what changed.
    pub fn next_generation(&self) -> Vec<Changes> {
        let mut changing = self.changing.write().unwrap_or_else(|e| e.into_inner());
        changing.generation += 1;
        let generation = changing.generation;
        let mut said = Vec::new();
        for (slot, src) in changing.issues.iter_mut().zip(&self.scenario.sources) {
            if let Some(issues) = slot {
                let (next, changes) = issues.next(self.scenario.seed, &src.name, generation);
                *slot = Some(Arc::new(next));
                said.push(changes);
            }
        }
        said
    }

    /// What a request with `query` sees of source `idx`, or why its
    /// `since` is refused.
    fn view(&self, idx: usize, query: &str) -> Result<View, String> {
        let src = &self.scenario.sources[idx];
        let Some(param) = &src.since else {
            return Ok(View {
                pages: src.pages,
                total: (src.pages * src.items_per_page) as u64,
                filtered: None,
                carry: String::new(),
            });
        };
        let raw = query_param(query, param);
        let since = match raw {
            None => None,
            Some(v) => Some(
                parse_rfc3339(&percent_decode(v))
                    .ok_or_else(|| format!("{param}: not an ISO 8601 timestamp: {v}"))?,
            ),
        };
        let issues = {
            let changing = self.changing.read().unwrap_or_else(|e| e.into_inner());
            changing.issues[idx].clone().unwrap_or_default()
        };
        let (pages, total) = issues.pages(since, src.items_per_page);
        Ok(View {
            pages: pages.len(),
            total,
            filtered: Some(pages),
            carry: raw.map(|v| format!("&{param}={v}")).unwrap_or_default(),
        })
    }

    /// The opaque cursor that leads to `page` of `src`.
    fn cursor(&self, src: &MockSource, page: usize) -> String {
        let tag = fnv(&format!("{}/{}/{}", self.scenario.seed, src.name, page));
        format!("c{page}x{:08x}", tag as u32)
    }

    /// Maps a GET of a request target (path + query) to a source and page.
    #[cfg(test)]
    pub fn route(&self, target: &str) -> Routed {
        self.route_request(&Request::get(target))
    }

    /// Maps a request to an endpoint and page.
    pub fn route_request(&self, req: &Request) -> Routed {
        let target = req.target;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path == OAuth2::PATH && self.scenario.oauth2.is_some() {
            return Routed {
                endpoint: Endpoint::Token,
                page: 0,
                partition: None,
                problem: None,
            };
        }
        if let Some(routed) = partitioned::route(&self.scenario, path, query) {
            return routed;
        }
        let found = self
            .scenario
            .sources
            .iter()
            .position(|s| !partitioned::is_partitioned(s) && s.path() == path);
        let Some(idx) = found else {
            return Routed {
                endpoint: Endpoint::Unknown,
                page: 0,
                partition: None,
                problem: Some((404, format!("no mock source at {path}"))),
            };
        };
        let src = &self.scenario.sources[idx];
        let view = match self.view(idx, query) {
            Ok(view) => view,
            Err(msg) => {
                return Routed {
                    endpoint: Endpoint::Source(idx),
                    page: 0,
                    partition: None,
                    problem: Some((422, msg)),
                }
            }
        };
        let page = match src.style {
            Style::Graphql => self
                .graphql_page(idx, req)
                .map(|(page, _)| page)
                .map_err(|_| "not a GraphQL query this server answers"),
            Style::Page
            | Style::NextUrl
            | Style::LinkHeader
            | Style::PageCount
            | Style::XPagination
            | Style::XTotalCount => match query_param(query, "page") {
                None => Ok(1),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|&p| p >= 1)
                    .ok_or("bad page"),
            },
            Style::Offset => {
                let ipp = src.items_per_page.max(1);
                match query_param(query, "offset").map(str::parse::<usize>) {
                    None => Ok(1),
                    Some(Ok(o)) if o % ipp == 0 => Ok(o / ipp + 1),
                    Some(_) => Err("offset must be a multiple of the page size"),
                }
            }
            Style::Cursor => match query_param(query, "cursor") {
                None => Ok(1),
                // `c{page}x{tag}`: read the page, then check the tag, so a
                // lookup costs the same on page 3 and page 30 000.
                Some(c) => c
                    .strip_prefix('c')
                    .and_then(|rest| rest.split_once('x'))
                    .and_then(|(page, _)| page.parse::<usize>().ok())
                    .filter(|&p| (1..=view.pages).contains(&p) && self.cursor(src, p) == c)
                    .ok_or("unknown cursor"),
            },
            Style::StartingAfter => match query_param(query, "starting_after") {
                None => Ok(1),
                // The page after the one this id ends; past the last, an
                // empty list (or, endless, back to page 2).
                Some(id) => self.last_ids[idx]
                    .get(id)
                    .map(|&p| Self::next_page(src, view.pages, p).unwrap_or(p + 1))
                    .ok_or("no such object: starting_after"),
            },
            // `page[number]`, percent-encoded as JSON:API servers write it.
            Style::JsonApi => match query_param(query, JSONAPI_PAGE) {
                None => Ok(1),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|&p| p >= 1)
                    .ok_or("bad page"),
            },
            // Routed by `partitioned::route`, never here.
            Style::None | Style::Children | Style::Window => Ok(1),
        };
        match page {
            Ok(page) => Routed {
                endpoint: Endpoint::Source(idx),
                page,
                partition: None,
                problem: None,
            },
            Err(msg) => Routed {
                endpoint: Endpoint::Source(idx),
                page: 0,
                partition: None,
                problem: Some((400, msg.to_string())),
            },
        }
    }

    /// The page a GraphQL request asks for (1 without `after`; the page
    /// after the one whose `endCursor` it sends), and its query; `Err`
    /// with the answer to a request that is not a query, or to an `after`
    /// that is not a page's `endCursor`.
    fn graphql_page(&self, idx: usize, req: &Request) -> Result<(usize, graphql::Query), Answer> {
        let src = &self.scenario.sources[idx];
        let query = graphql::parse(req).map_err(graphql::bad_request)?;
        let Some(after) = &query.after else {
            return Ok((1, query));
        };
        let page = after
            .as_str()
            .and_then(|c| graphql::decode_cursor(self.scenario.seed, &src.name, c))
            .filter(|&(p, i)| (1..=src.pages).contains(&p) && i + 1 == src.items_per_page)
            .map(|(p, _)| Self::next_page(src, src.pages, p).unwrap_or(p + 1));
        match page {
            Some(page) => Ok((page, query)),
            None => Err(graphql::invalid_cursor(after)),
        }
    }

    /// The `endCursor` of `page` of source `idx`: the `after` that asks
    /// for the page that follows it.
    pub fn end_cursor(&self, idx: usize, page: usize) -> String {
        let src = &self.scenario.sources[idx];
        let last = src.items_per_page.saturating_sub(1);
        graphql::cursor(self.scenario.seed, &src.name, page, last)
    }

    /// The page that follows `page` of `pages`, for pointer styles: an
    /// endless source loops from its last page back to page 2 (or 1).
    fn next_page(src: &MockSource, pages: usize, page: usize) -> Option<usize> {
        if page < pages {
            Some(page + 1)
        } else if src.endless {
            Some(if pages >= 2 { 2 } else { 1 })
        } else {
            None
        }
    }

    /// The page a cursor on `page` points to: the next, or — for a
    /// `has_more` source's last page — back where an endless source's
    /// would, since only `has_more` tells the end.
    fn pointed_page(src: &MockSource, pages: usize, page: usize) -> Option<usize> {
        Self::next_page(src, pages, page)
            .or_else(|| src.has_more.then_some(if pages >= 2 { 2 } else { 1 }))
    }

    /// The item array of `page`, as JSON text.
    fn items<'a>(&'a self, idx: usize, page: usize, view: &'a View) -> Cow<'a, str> {
        let src = &self.scenario.sources[idx];
        if let Some(pages) = &view.filtered {
            return Cow::Borrowed(pages.get(page - 1).map_or("[]", String::as_str));
        }
        match self.data[idx].pages.get(page - 1) {
            Some(items) => Cow::Borrowed(items),
            None if src.endless => Cow::Owned(data::filler_page(src, self.scenario.seed, page)),
            None => Cow::Borrowed("[]"),
        }
    }

    /// The `next` / `previous` links of a DRF page (absolute, as DRF
    /// writes them; page 1's link has no `page` parameter).
    fn drf_link(&self, src: &MockSource, page: Option<usize>, carry: &str) -> Value {
        match page {
            None => Value::Null,
            Some(1) => json!(format!(
                "{}{}{}",
                self.base_url,
                src.path(),
                carry.replacen('&', "?", 1)
            )),
            Some(p) => json!(self.list_url(src, p, true, carry)),
        }
    }

    fn list_url(&self, src: &MockSource, page: usize, absolute: bool, carry: &str) -> String {
        let base = if absolute { self.base_url.as_str() } else { "" };
        format!("{base}{}?page={page}{carry}", src.path())
    }

    /// A JSON:API page: the items under `data`, the links under `links`
    /// (absolute, `null` at either end), the counts under `meta`.
    fn jsonapi_body(&self, src: &MockSource, view: &View, page: usize, items: &str) -> String {
        let url = |p: Option<usize>| {
            json!(p.map(|p| format!(
                "{}{}?{JSONAPI_PAGE}={p}{}",
                self.base_url,
                src.path(),
                view.carry
            )))
        };
        let next = url(Self::next_page(src, view.pages, page));
        let prev = url(page.checked_sub(1).filter(|&p| p >= 1));
        let (first, last) = (url(Some(1)), url(Some(view.pages.max(1))));
        format!(
            r#"{{"data":{items},"links":{{"first":{first},"last":{last},"next":{next},"prev":{prev}}},"meta":{{"pagination":{{"page":{page},"pages":{},"count":{}}}}}}}"#,
            view.pages, view.total
        )
    }

    fn link_headers(&self, src: &MockSource, view: &View, page: usize) -> Vec<(String, String)> {
        let mut links = Vec::new();
        let carry = view.carry.as_str();
        if let Some(next) = Self::next_page(src, view.pages, page) {
            let rel = if page % 4 == 3 { "Next" } else { "next" };
            let url = self.list_url(src, next, next % 2 == 1, carry);
            links.push(format!("<{url}>; rel=\"{rel}\""));
        }
        if page > 1 {
            links.push(format!(
                "<{}>; rel=\"prev\"",
                self.list_url(src, page - 1, true, carry)
            ));
        }
        if page % 2 == 0 {
            links.reverse();
            vec![("Link".to_string(), links.join(", "))]
        } else {
            links.into_iter().map(|l| ("Link".to_string(), l)).collect()
        }
    }

    /// The answer to a GET of `target` at this attempt of its page.
    #[cfg(test)]
    pub fn respond(&self, target: &str, attempt: u32) -> Answer {
        self.respond_to(&Request::get(target), attempt, SystemTime::now())
    }

    /// The answer to `req` at this attempt of its `(source, page)`, at
    /// wall-clock `now` (for a GraphQL rate limit's epoch reset).
    /// Connection-level faults are the front's business; here they answer
    /// normally (the front delays, truncates or drops that answer).
    pub fn respond_to(&self, req: &Request, attempt: u32, now: SystemTime) -> Answer {
        let routed = self.route_request(req);
        if let Some(idx) = routed.source() {
            match self.scenario.sources[idx].style {
                Style::Graphql => return self.respond_graphql(idx, req, attempt, now),
                Style::Children | Style::Window => {
                    let src = &self.scenario.sources[idx];
                    let part = &self.partitioned[idx];
                    return part.respond(src, &self.base_url, &routed, req, attempt, now);
                }
                _ => {}
            }
        }
        let (Some(idx), None) = (routed.source(), &routed.problem) else {
            let (status, msg) = routed.problem.unwrap_or((404, "not found".into()));
            return Answer::error(status, &msg);
        };
        let src = &self.scenario.sources[idx];
        let page = routed.page;
        let query = req.target.split_once('?').map_or("", |(_, q)| q);
        let Ok(view) = self.view(idx, query) else {
            return Answer::error(422, "Validation Failed");
        };
        // Faults go by the page asked for, the body by the page served.
        let served = if src.ignores_position { 1 } else { page };
        let links = if src.style == Style::LinkHeader && served <= view.pages {
            self.link_headers(src, &view, served)
        } else {
            Vec::new()
        };
        let mut answer = with_fault(src.fault_for(page, attempt), now, || {
            self.normal(idx, served, &view)
        });
        answer.headers.extend(links);
        answer
    }

    /// [`Mounted::respond_to`] for a [`Style::Graphql`] source.
    fn respond_graphql(&self, idx: usize, req: &Request, attempt: u32, now: SystemTime) -> Answer {
        let (page, query) = match self.graphql_page(idx, req) {
            Ok(asked) => asked,
            Err(answer) => return answer,
        };
        let src = &self.scenario.sources[idx];
        let served = if src.ignores_position { 1 } else { page };
        let Ok(view) = self.view(idx, "") else {
            return Answer::error(422, "Validation Failed");
        };
        with_fault(src.fault_for(page, attempt), now, || {
            if let Some(answer) = Self::past_end(src, served, &view) {
                return answer;
            }
            let beyond = served > view.pages && !src.endless;
            let items = if beyond {
                Cow::Borrowed("[]")
            } else {
                self.items(idx, served, &view)
            };
            let cursor = |i: usize| graphql::cursor(self.scenario.seed, &src.name, served, i);
            let page = graphql::Page {
                items: &items,
                cursor: &cursor,
                has_next: !beyond && Self::next_page(src, view.pages, served).is_some(),
                total: view.total,
            };
            Answer::json(200, graphql::body(&src.connection, &query.text, &page))
        })
    }

    /// The answer a source with [`MockSource::past_end`] gives a page
    /// past its last; `None` for any other page or source.
    fn past_end(src: &MockSource, page: usize, view: &View) -> Option<Answer> {
        let (status, body) = src.past_end.as_ref()?;
        (page > view.pages && !src.endless).then(|| Answer::json(*status, body.clone()))
    }

    /// flask-smorest's `X-Pagination` for `page` of `total` items.
    fn x_pagination(src: &MockSource, total: u64, page: usize, beyond: bool) -> String {
        let last = total.div_ceil(src.items_per_page.max(1) as u64);
        if total == 0 {
            return json!({"total": 0, "total_pages": 0}).to_string();
        }
        let mut meta =
            json!({"total": total, "total_pages": last, "first_page": 1, "last_page": last});
        if !beyond {
            meta["page"] = json!(page);
            if page > 1 {
                meta["previous_page"] = json!(page - 1);
            }
            if (page as u64) < last {
                meta["next_page"] = json!(page + 1);
            }
        }
        meta.to_string()
    }

    fn normal(&self, idx: usize, page: usize, view: &View) -> Answer {
        let src = &self.scenario.sources[idx];
        if let Some(answer) = Self::past_end(src, page, view) {
            return answer;
        }
        let beyond = page > view.pages && !src.endless;
        let items = if beyond {
            Cow::Borrowed("[]")
        } else {
            self.items(idx, page, view)
        };
        let total = if src.endless {
            ENDLESS_TOTAL
        } else {
            view.total
        };
        let more = src.endless || page < view.pages;
        // Envelopes are written around the pre-serialized item array, in
        // the key order a `json!` of the same shape would have.
        let body = match src.style {
            Style::Page if beyond => {
                return Answer {
                    status: 204,
                    headers: Vec::new(),
                    body: Vec::new(),
                }
            }
            Style::Page if src.has_more => {
                format!(r#"{{"data":{items},"page":{page},"has_more":{more}}}"#)
            }
            Style::Page => format!(r#"{{"data":{items},"page":{page}}}"#),
            Style::Offset if src.has_more => {
                format!(r#"{{"results":{items},"total":{total},"has_more":{more}}}"#)
            }
            Style::Offset => format!(r#"{{"results":{items},"total":{total}}}"#),
            Style::NextUrl | Style::LinkHeader if beyond => {
                return Answer::error(404, "no such page");
            }
            Style::Cursor if src.has_more => {
                let next =
                    json!(Self::pointed_page(src, view.pages, page).map(|p| self.cursor(src, p)));
                format!(r#"{{"items":{items},"meta":{{"next_cursor":{next},"has_more":{more}}}}}"#)
            }
            Style::Cursor => {
                let next =
                    json!(Self::next_page(src, view.pages, page).map(|p| self.cursor(src, p)));
                format!(r#"{{"items":{items},"meta":{{"next_cursor":{next}}}}}"#)
            }
            Style::PageCount if beyond => {
                return Answer::json(404, json!({"detail": "Invalid page."}).to_string());
            }
            Style::PageCount => {
                let carry = view.carry.as_str();
                let next = self.drf_link(src, Self::next_page(src, view.pages, page), carry);
                let previous = self.drf_link(src, page.checked_sub(1).filter(|&p| p >= 1), carry);
                format!(
                    r#"{{"count":{total},"next":{next},"previous":{previous},"results":{items}}}"#
                )
            }
            Style::StartingAfter => {
                let url = format!("/v1/{}", src.style.resource());
                format!(
                    r#"{{"object":"list","data":{items},"has_more":{more},"url":{}}}"#,
                    json!(url)
                )
            }
            Style::NextUrl => {
                // Root-relative, path-relative and absolute URLs in turn.
                let carry = view.carry.as_str();
                let next = json!(Self::next_page(src, view.pages, page).map(|p| match p % 3 {
                    0 => self.list_url(src, p, true, carry),
                    1 => self.list_url(src, p, false, carry),
                    _ => format!("{}?page={p}{carry}", src.style.resource()),
                }));
                format!(r#"{{"data":{items},"next":{next}}}"#)
            }
            Style::JsonApi if beyond => {
                let error = json!({"errors": [{"detail": "Invalid page.", "status": "404"}]});
                return Answer::json(404, error.to_string());
            }
            Style::JsonApi => self.jsonapi_body(src, view, page, &items),
            Style::XPagination | Style::XTotalCount => {
                let (name, value) = match src.style {
                    Style::XPagination => {
                        ("X-Pagination", Self::x_pagination(src, total, page, beyond))
                    }
                    _ => ("X-Total-Count", total.to_string()),
                };
                let mut answer = Answer::json(200, items.into_owned());
                answer.headers.push((name.to_string(), value));
                return answer;
            }
            Style::LinkHeader | Style::None => items.into_owned(),
            // Answered by `respond_graphql` and `Partitioned::respond`,
            // never here.
            Style::Graphql | Style::Children | Style::Window => items.into_owned(),
        };
        Answer::json(200, body)
    }
}

/// Converts an answer into a tiny_http response with a `Content-Length`
/// (never chunked, so the front can relay or truncate it byte-exactly).
fn to_response(answer: Answer) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let len = answer.body.len();
    let headers = answer
        .headers
        .iter()
        .filter_map(|(k, v)| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).ok())
        .collect();
    tiny_http::Response::new(
        tiny_http::StatusCode(answer.status),
        headers,
        Cursor::new(answer.body),
        Some(len),
        None,
    )
    .with_chunked_threshold(usize::MAX)
}

/// Reads a tiny_http request as a [`Request`] and answers it.
fn respond(mounted: &Mounted, request: &mut tiny_http::Request, attempt: u32) -> Answer {
    let mut body = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(request.as_reader(), &mut body) {
        log::debug!("mock backend: reading a request body failed: {e}");
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| (h.field.to_string(), h.value.to_string()))
        .collect();
    let method = request.method().to_string();
    let req = Request {
        method: &method,
        target: request.url(),
        headers: &headers,
        body: &body,
    };
    mounted.respond_to(&req, attempt, SystemTime::now())
}

/// The backend loop: answers forwarded requests until `stop` is set.
/// Polls with a short `recv_timeout` so it notices `stop` promptly.
pub(crate) fn serve(server: &tiny_http::Server, mounted: &Mounted, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(Duration::from_millis(20)) {
            Ok(Some(mut request)) => {
                let attempt = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv(ATTEMPT_HEADER))
                    .and_then(|h| h.value.as_str().parse().ok())
                    .unwrap_or(1);
                let answer = respond(mounted, &mut request, attempt);
                if let Err(e) = request.respond(to_response(answer)) {
                    log::debug!("mock backend: writing response failed: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => {
                log::warn!("mock backend: receive failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn mounted(src: MockSource) -> Mounted {
        Mounted::new(Scenario::new(5).with(src), "http://mock:1".into())
    }

    fn body(a: &Answer) -> Value {
        serde_json::from_slice(&a.body).unwrap()
    }

    #[test]
    fn page_style_serves_pages_then_204() {
        let m = mounted(MockSource::new("a", Style::Page, 2, 3));
        let p1 = m.respond("/a/products?page=1&limit=3", 1);
        assert_eq!((p1.status, body(&p1)["page"].clone()), (200, json!(1)));
        assert_eq!(body(&p1)["data"].as_array().unwrap().len(), 3);
        assert_eq!(m.respond("/a/products?limit=3&page=3", 1).status, 204);
        assert_eq!(m.respond("/a/products?page=x", 1).status, 400);
        assert_eq!(m.respond("/nope", 1).status, 404);
    }

    #[test]
    fn offset_style_reports_total_and_ends_empty() {
        let m = mounted(MockSource::new("b", Style::Offset, 2, 3));
        assert_eq!(m.route("/b/items?offset=3&limit=3").page, 2);
        let last = body(&m.respond("/b/items?offset=6&limit=3", 1));
        assert_eq!(last, json!({"results": [], "total": 6}));
        assert_eq!(m.respond("/b/items?offset=4", 1).status, 400);
    }

    #[test]
    fn cursor_chain_ends_with_null_and_endless_loops() {
        let m = mounted(MockSource::new("g", Style::Cursor, 3, 1));
        let mut target = "/g/records".to_string();
        let mut seen = Vec::new();
        loop {
            let b = body(&m.respond(&target, 1));
            seen.push(m.route(&target).page);
            match b["meta"]["next_cursor"].as_str() {
                Some(c) => target = format!("/g/records?cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, [1, 2, 3]);
        let e = mounted(MockSource::new("g", Style::Cursor, 3, 1).endless());
        let c3 = e.cursor(&e.scenario.sources[0], 3);
        let b = body(&e.respond(&format!("/g/records?cursor={c3}"), 1));
        assert_eq!(
            b["meta"]["next_cursor"],
            json!(e.cursor(&e.scenario.sources[0], 2))
        );
    }

    #[test]
    fn next_url_forms_and_link_headers() {
        let m = mounted(MockSource::new("n", Style::NextUrl, 4, 1));
        let next = |p: usize| body(&m.respond(&format!("/n/pages?page={p}"), 1))["next"].clone();
        assert_eq!(next(1), json!("pages?page=2"));
        assert_eq!(next(2), json!("http://mock:1/n/pages?page=3"));
        assert_eq!(next(3), json!("/n/pages?page=4"));
        assert_eq!(next(4), Value::Null);
        let l = mounted(MockSource::new("l", Style::LinkHeader, 3, 1));
        let a1 = l.respond("/l/list", 1);
        assert_eq!(a1.headers.iter().filter(|(k, _)| k == "Link").count(), 1);
        assert!(body(&a1).is_array());
        let a2 = l.respond("/l/list?page=2", 1);
        let link2 = &a2.headers.iter().find(|(k, _)| k == "Link").unwrap().1;
        assert!(link2.contains("rel=\"prev\", <http://mock:1/l/list?page=3>; rel=\"next\""));
        let a3 = l.respond("/l/list?page=3", 1);
        assert!(a3.headers.iter().all(|(_, v)| !v.contains("next")));
    }

    #[test]
    fn ignoring_position_answers_page_one_everywhere() {
        for style in [
            Style::Page,
            Style::Offset,
            Style::Cursor,
            Style::NextUrl,
            Style::LinkHeader,
        ] {
            let src = MockSource::new("s", style, 3, 2).ignoring_position();
            let m = mounted(src.clone());
            let plain = mounted(MockSource::new("s", style, 3, 2));
            let first = plain.respond(&src.path(), 1);
            let later = match style {
                Style::Offset => "/s/items?offset=4".to_string(),
                Style::Cursor => format!("/s/records?cursor={}", m.cursor(&src, 3)),
                _ => format!("{}?page=7", src.path()),
            };
            let beyond = (style != Style::Cursor).then(|| match style {
                Style::Offset => "/s/items?offset=40".to_string(),
                _ => format!("{}?page=40", src.path()),
            });
            for target in [Some(later), beyond].into_iter().flatten() {
                let a = m.respond(&target, 1);
                assert_eq!(a, first, "{style:?} {target}");
                assert!(m.route(&target).page > 1, "{style:?}: logged as asked");
            }
        }
    }

    #[test]
    fn ignoring_position_keeps_faults_on_the_page_asked_for() {
        let m = mounted(
            MockSource::new("a", Style::Page, 2, 2)
                .ignoring_position()
                .fault(2, 1, FaultKind::Status(500)),
        );
        assert_eq!(m.respond("/a/products?page=2", 1).status, 500);
        let again = m.respond("/a/products?page=2", 2);
        assert_eq!(again, m.respond("/a/products?page=1", 1));
        assert_eq!(body(&again)["page"], 1);
        let t = m.truth();
        let t = t.source("a").unwrap();
        assert_eq!(t.page(5), t.page(1));
        assert_eq!(t.items(5), t.items(1));
        let e = t.expected(1..=4);
        assert_eq!((e.items, e.records(), e.duplicates), (8, 2, 6));
    }

    #[test]
    fn page_count_style_counts_links_and_404s_past_the_end() {
        let m = mounted(MockSource::new("d", Style::PageCount, 3, 2));
        let p1 = body(&m.respond("/d/orders", 1));
        assert_eq!(
            (p1["count"].clone(), p1["previous"].clone()),
            (json!(6), Value::Null)
        );
        assert_eq!(p1["next"], "http://mock:1/d/orders?page=2");
        assert_eq!(p1["results"].as_array().unwrap().len(), 2);
        assert_eq!(
            p1["results"][0]["reference"].as_str().unwrap()[..4],
            *"ORD-"
        );
        let p2 = body(&m.respond("/d/orders?page=2", 1));
        assert_eq!(p2["previous"], "http://mock:1/d/orders");
        let p3 = body(&m.respond("/d/orders?page=3", 1));
        assert_eq!(p3["next"], Value::Null);
        let past = m.respond("/d/orders?page=4", 1);
        assert_eq!(
            (past.status, body(&past)),
            (404, json!({"detail": "Invalid page."}))
        );
    }

    #[test]
    fn jsonapi_style_links_under_links_next_and_404s_past_the_end() {
        let m = mounted(MockSource::new("j", Style::JsonApi, 3, 2));
        let p1 = body(&m.respond("/j/articles", 1));
        assert_eq!(
            p1.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["data", "links", "meta"]
        );
        assert!(p1.get("next").is_none(), "no top-level next");
        assert_eq!(
            p1["links"]["next"],
            "http://mock:1/j/articles?page%5Bnumber%5D=2"
        );
        assert_eq!(p1["links"]["prev"], Value::Null);
        assert_eq!(p1["meta"]["pagination"]["count"], 6);
        assert_eq!(p1["data"][0]["type"], "articles");
        assert_eq!(m.route("/j/articles?page%5Bnumber%5D=3").page, 3);
        let p3 = body(&m.respond("/j/articles?page%5Bnumber%5D=3", 1));
        assert_eq!(p3["links"]["next"], Value::Null);
        assert_eq!(
            p3["links"]["prev"],
            "http://mock:1/j/articles?page%5Bnumber%5D=2"
        );
        let past = m.respond("/j/articles?page%5Bnumber%5D=4", 1);
        assert_eq!(past.status, 404);
        assert_eq!(body(&past)["errors"][0]["detail"], "Invalid page.");
    }

    #[test]
    fn starting_after_style_follows_the_last_id_to_an_empty_list() {
        let m = mounted(MockSource::new("s", Style::StartingAfter, 3, 2));
        let mut target = "/s/charges".to_string();
        let mut seen = Vec::new();
        loop {
            let b = body(&m.respond(&target, 1));
            assert_eq!(b["object"], "list");
            seen.push((m.route(&target).page, b["has_more"].clone()));
            let last = b["data"].as_array().unwrap().last().cloned();
            match last {
                Some(item) => {
                    let id = item["id"].as_str().unwrap();
                    assert!(id.starts_with("ch_"));
                    target = format!("/s/charges?starting_after={id}");
                }
                None => break,
            }
        }
        let f = json!(false);
        assert_eq!(
            seen,
            [(1, json!(true)), (2, json!(true)), (3, f.clone()), (4, f)]
        );
        assert_eq!(
            m.respond("/s/charges?starting_after=ch_nope", 1).status,
            400
        );
    }

    #[test]
    fn since_combines_with_drf_pages_and_has_more() {
        // DRF pages: `count` and the links follow what `since` left.
        let m = mounted(MockSource::new("d", Style::PageCount, 3, 4).honouring_since("since"));
        let all = body(&m.respond("/d/orders", 1));
        assert_eq!(all["count"], json!(12));
        let next = all["next"].as_str().unwrap();
        assert!(next.ends_with("?page=2"), "{next}");
        let q = "since=2999-01-01T00:00:00Z";
        let none = body(&m.respond(&format!("/d/orders?{q}"), 1));
        assert_eq!(
            (none["count"].clone(), none["next"].clone()),
            (json!(0), Value::Null)
        );
        let early = body(&m.respond("/d/orders?page=2&since=2000-01-01T00:00:00Z", 1));
        let prev = early["previous"].as_str().unwrap();
        assert!(
            prev.ends_with("/d/orders?since=2000-01-01T00:00:00Z"),
            "{prev}"
        );
        assert_eq!(m.respond("/d/orders?since=yesterday", 1).status, 422);
        // `has_more` says false on the last page `since` left.
        let m = mounted(
            MockSource::new("p", Style::Page, 3, 4)
                .honouring_since("since")
                .has_more(),
        );
        let last = body(&m.respond("/p/products?page=3", 1));
        assert_eq!(last["has_more"], json!(false));
        let first = body(&m.respond(&format!("/p/products?{q}"), 1));
        assert_eq!(first["has_more"], json!(false));
    }

    #[test]
    fn has_more_tells_the_end_and_the_last_cursor_points_on() {
        let m = mounted(MockSource::new("a", Style::Page, 2, 1).has_more());
        let more = |t: &str| body(&m.respond(t, 1))["has_more"].clone();
        assert_eq!(more("/a/products?page=1"), json!(true));
        assert_eq!(more("/a/products?page=2"), json!(false));
        let o = mounted(MockSource::new("b", Style::Offset, 2, 1).has_more());
        let last = body(&o.respond("/b/items?offset=1", 1));
        assert_eq!(
            (last["total"].clone(), last["has_more"].clone()),
            (json!(2), json!(false))
        );
        let c = mounted(MockSource::new("g", Style::Cursor, 3, 1).has_more());
        let src = &c.scenario.sources[0];
        let last = body(&c.respond(&format!("/g/records?cursor={}", c.cursor(src, 3)), 1));
        assert_eq!(last["meta"]["has_more"], json!(false));
        assert_eq!(last["meta"]["next_cursor"], json!(c.cursor(src, 2)));
        // Without the flag, bodies are as they always were.
        let plain = mounted(MockSource::new("a", Style::Page, 2, 1));
        assert!(body(&plain.respond("/a/products", 1))
            .get("has_more")
            .is_none());
    }

    #[test]
    fn http_faults_are_rendered_by_attempt() {
        let two_lines = vec![
            ("RateLimit".to_string(), "\"a\";r=5;t=1".to_string()),
            ("RateLimit".to_string(), "\"b\";r=0;t=9".to_string()),
        ];
        let src = MockSource::new("a", Style::Page, 3, 2)
            .fault(1, 1, FaultKind::RetryAfter(429, "1".into()))
            .fault(2, 0, FaultKind::MalformedJson)
            .fault(1, 3, FaultKind::WithHeaders(200, two_lines.clone()))
            .fault(1, 4, FaultKind::WithHeaders(429, two_lines))
            .fault(3, 1, FaultKind::Oversized(5000))
            .fault(3, 2, FaultKind::NoItems)
            .fault(
                3,
                4,
                FaultKind::StatusWithBody(422, r#"{"message":"no"}"#.into()),
            );
        let m = mounted(src);
        let refused = m.respond("/a/products?page=3", 4);
        assert_eq!(
            (refused.status, body(&refused)),
            (422, json!({"message": "no"}))
        );
        let quota = m.respond("/a/products?page=1", 3);
        assert_eq!(
            (quota.status, body(&quota)["page"].clone()),
            (200, json!(1))
        );
        let announced: Vec<_> = quota
            .headers
            .iter()
            .filter(|(k, _)| k == "RateLimit")
            .collect();
        assert_eq!(announced.len(), 2, "both lines kept: {:?}", quota.headers);
        let refused = m.respond("/a/products?page=1", 4);
        assert_eq!(refused.status, 429);
        assert!(refused
            .headers
            .contains(&("RateLimit".into(), "\"b\";r=0;t=9".into())));
        let a = m.respond("/a/products?page=1", 1);
        assert_eq!(a.status, 429);
        assert!(a.headers.contains(&("Retry-After".into(), "1".into())));
        assert_eq!(m.respond("/a/products?page=1", 2).status, 200);
        let bad = m.respond("/a/products?page=2", 3);
        assert!(serde_json::from_slice::<Value>(&bad.body).is_err());
        let big = m.respond("/a/products?page=3", 1);
        assert!(big.body.len() >= 5000);
        assert_eq!(
            body(&big)["data"],
            body(&m.respond("/a/products?page=3", 3))["data"]
        );
        assert_eq!(
            body(&m.respond("/a/products?page=3", 2)),
            json!({"message": "ok"})
        );
    }
}
