//! Scripted faults: what can go wrong with one answer, and who produces it.
//!
//! A [`Fault`] is keyed by `(page, attempt)` of one source, never by time, so
//! a scenario misbehaves identically whatever the thread timing. Faults come
//! in two layers: *connection* faults (delay, hang, close, truncate, reset)
//! need the raw socket and are carried out by the raw front (`raw.rs`);
//! *HTTP* faults (error statuses, malformed/oversized/itemless bodies) are
//! ordinary responses rendered by the tiny_http backend (`api.rs`), or by
//! the front for the token endpoint (`oauth.rs`), through one function.

use std::time::Duration;

/// `attempt` value of a [`Fault`] that matches every attempt of its page.
pub const EVERY_ATTEMPT: u32 = 0;

/// One scripted fault: on `page` (1-based) at `attempt` (1-based, counted
/// by the server per source and page; [`EVERY_ATTEMPT`] = 0 matches all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// 1-based page index of the source (see `MockSource` for how each
    /// pagination style maps requests to pages).
    pub page: usize,
    /// 1-based attempt number, or [`EVERY_ATTEMPT`].
    pub attempt: u32,
    /// What the server does instead of a normal answer.
    pub kind: FaultKind,
}

impl Fault {
    /// Whether this fault applies to the given page and attempt.
    pub fn matches(&self, page: usize, attempt: u32) -> bool {
        self.page == page && (self.attempt == EVERY_ATTEMPT || self.attempt == attempt)
    }
}

/// What a faulted answer looks like on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// This status with a small JSON error body (`{"error":..,"status":..}`).
    Status(u16),
    /// This status with this body (`Content-Type: application/json`), such
    /// as a 422 that says what the server objected to.
    StatusWithBody(u16, String),
    /// This status with a `Retry-After` header of the given value
    /// (delta-seconds such as `"1"`, or an HTTP-date).
    RetryAfter(u16, String),
    /// This status with these headers added, each line as given (a name
    /// twice sends it twice): a 2xx is the page's normal answer, another
    /// status the small JSON error body. For headers a test writes itself,
    /// such as a quota no well-behaved server would announce.
    WithHeaders(u16, Vec<(String, String)>),
    /// The normal answer, after this delay. Other requests are not blocked;
    /// a stop during the delay closes the connection without an answer.
    Delay(Duration),
    /// No answer at all until the server stops, then the connection is
    /// closed. Other requests are not blocked.
    Hang,
    /// The connection is closed (FIN) after reading the request, before
    /// any byte of a response: the client sees EOF.
    Close,
    /// The normal answer's head with its full `Content-Length`, then only
    /// part of the body, then FIN: the client sees EOF mid-body.
    Truncate,
    /// The socket is closed with the request still unread, which makes the
    /// kernel answer with a TCP RST: the client sees "connection reset".
    Reset,
    /// `200` with a `Content-Type: application/json` body that is not JSON.
    MalformedJson,
    /// `200` with the normal, valid JSON body padded with trailing
    /// whitespace to at least this many bytes.
    Oversized(usize),
    /// `200` with valid JSON that holds no item array (`{"message":"ok"}`).
    NoItems,
    /// `401` with `WWW-Authenticate: Bearer error="invalid_token"`, as an
    /// API answers a token it revoked: whatever the request carried, so a
    /// test can force one refresh of an OAuth2 token at a chosen request.
    InvalidToken,
    /// `200` with `{"errors":[{"message":M}]}` and no `data`: a GraphQL
    /// query the server rejected (a field that does not exist).
    GraphqlErrors(String),
    /// The normal answer with `"errors":[{"message":M}]` added after its
    /// other keys: GraphQL's partial answer, items and errors together. A
    /// body that is not a JSON object (a bare array) is sent unchanged.
    GraphqlPartial(String),
    /// GitHub's GraphQL rate limit: `200` with `{"errors":[{"type":
    /// "RATE_LIMITED","message":"API rate limit exceeded"}]}` and
    /// `x-ratelimit-remaining: 0`, `x-ratelimit-reset` (epoch seconds, this
    /// long after the answer: whole seconds rounded up for a whole-second
    /// duration, with the milliseconds as a fraction otherwise),
    /// `x-ratelimit-limit`, `-used` and `-resource: graphql`. The reset
    /// is only announced: the next attempt is answered whenever it comes.
    GraphqlRateLimited(Duration),
    /// Pagination that never ends. Not a per-answer fault: passing it to
    /// `MockSource::fault` marks the whole source endless (page and attempt
    /// are ignored); see `MockSource::endless`.
    Endless,
}

impl FaultKind {
    /// `200` with `{"status":"error","message":M}`: an API that says in
    /// the body of a success that it failed (a test's `on_response` rule
    /// decides what that means; SPEC §4 alone counts it a good page).
    pub fn ok_with_error(message: &str) -> FaultKind {
        let body = serde_json::json!({"status": "error", "message": message});
        FaultKind::StatusWithBody(200, body.to_string())
    }

    /// Whether the raw front must carry this fault out itself (it needs the
    /// socket or a wait); otherwise tiny_http renders it as a response.
    pub(crate) fn is_connection_level(&self) -> bool {
        matches!(
            self,
            FaultKind::Delay(_)
                | FaultKind::Hang
                | FaultKind::Close
                | FaultKind::Truncate
                | FaultKind::Reset
        )
    }

    /// How SPEC §4 classifies the failed attempt, assuming the client's
    /// timeouts are longer than any `Delay` and its body limit is above any
    /// `Oversized` size. `None` = the attempt succeeds.
    pub fn failure(&self) -> Option<Failure> {
        match self {
            FaultKind::Delay(_)
            | FaultKind::Oversized(_)
            | FaultKind::GraphqlPartial(_)
            | FaultKind::Endless => None,
            FaultKind::Status(code)
            | FaultKind::StatusWithBody(code, _)
            | FaultKind::RetryAfter(code, _)
            | FaultKind::WithHeaders(code, _) => match code {
                200..=299 => None,
                408 | 425 | 429 | 500..=599 => Some(Failure::Retryable),
                _ => Some(Failure::GiveUp),
            },
            FaultKind::Hang | FaultKind::Close | FaultKind::Truncate | FaultKind::Reset => {
                Some(Failure::Retryable)
            }
            FaultKind::GraphqlRateLimited(_) => Some(Failure::Retryable),
            // A 401 is final without a token to refresh; one forced
            // refresh of an OAuth2 token is not modelled here.
            FaultKind::MalformedJson
            | FaultKind::NoItems
            | FaultKind::InvalidToken
            | FaultKind::GraphqlErrors(_) => Some(Failure::GiveUp),
        }
    }
}

/// SPEC §4 class of a failed attempt, used by `MockSource::lost_pages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Retried with backoff (408, 425, 429, 5xx, transport, timeout).
    Retryable,
    /// The page is given up at once (other 4xx, malformed JSON, no items).
    GiveUp,
}

/// The JSON error body that `Status` and `RetryAfter` faults answer with.
pub(crate) fn error_body(code: u16) -> String {
    serde_json::json!({ "error": reason(code), "status": code }).to_string()
}

/// A short reason phrase for the status codes the mocks use.
pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Mock Status",
    }
}

/// The body a `MalformedJson` fault sends: JSON cut off mid-object.
pub(crate) const MALFORMED_BODY: &str = "{\"data\": [{\"id\": 1, \"name\": \"half a recor";

/// The body a `NoItems` fault sends: valid JSON without any array.
pub(crate) const NO_ITEMS_BODY: &str = "{\"message\":\"ok\"}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attempt_matches_all_attempts_of_its_page_only() {
        let f = Fault {
            page: 3,
            attempt: EVERY_ATTEMPT,
            kind: FaultKind::NoItems,
        };
        assert!(f.matches(3, 1) && f.matches(3, 7));
        assert!(!f.matches(2, 1));
        let g = Fault {
            page: 3,
            attempt: 2,
            kind: FaultKind::Close,
        };
        assert!(g.matches(3, 2) && !g.matches(3, 1) && !g.matches(3, 3));
    }

    #[test]
    fn classification_follows_spec_taxonomy() {
        assert_eq!(FaultKind::Status(503).failure(), Some(Failure::Retryable));
        assert_eq!(FaultKind::Status(404).failure(), Some(Failure::GiveUp));
        assert_eq!(
            FaultKind::StatusWithBody(422, "{}".into()).failure(),
            Some(Failure::GiveUp)
        );
        assert_eq!(
            FaultKind::RetryAfter(429, "1".into()).failure(),
            Some(Failure::Retryable)
        );
        assert_eq!(FaultKind::Close.failure(), Some(Failure::Retryable));
        assert_eq!(FaultKind::MalformedJson.failure(), Some(Failure::GiveUp));
        assert_eq!(FaultKind::Delay(Duration::from_millis(1)).failure(), None);
        assert_eq!(FaultKind::ok_with_error("busy").failure(), None);
        let d = Duration::from_secs(1);
        assert_eq!(
            FaultKind::GraphqlRateLimited(d).failure(),
            Some(Failure::Retryable)
        );
        assert_eq!(
            FaultKind::GraphqlErrors("x".into()).failure(),
            Some(Failure::GiveUp)
        );
        assert_eq!(FaultKind::GraphqlPartial("x".into()).failure(), None);
    }

    #[test]
    fn canned_bodies_are_what_they_claim() {
        assert!(serde_json::from_str::<serde_json::Value>(MALFORMED_BODY).is_err());
        let v: serde_json::Value = serde_json::from_str(NO_ITEMS_BODY).unwrap();
        assert!(v.as_object().unwrap().values().all(|v| !v.is_array()));
        let e: serde_json::Value = serde_json::from_str(&error_body(503)).unwrap();
        assert_eq!(e["status"], 503);
    }
}
