//! The error taxonomy of SPEC §4, and the few errors that abort a run.
//!
//! Every failed HTTP attempt becomes one [`AttemptError`]; whether it is
//! retried, which summary counter it lands in and what caused a retry are
//! all answered by methods beside the enum, so the policy reads as data and
//! is decided in exactly one place. [`Error`] is for what stops the whole
//! program: a bad config (exit 2) or output that cannot be written (exit 1).

use std::fmt;
use std::path::PathBuf;

use crate::config::ConfigError;

/// Why one HTTP attempt did not yield a usable page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptError {
    /// The server answered with a status that is not a page: 3xx left
    /// after redirects, 4xx or 5xx.
    Status(u16),
    /// A 403 or 429 that says the quota is used up (remaining 0): wait
    /// for the reset and try again; not the client's error.
    QuotaExhausted(u16),
    /// A time budget ran out, in this phase.
    Timeout(TimeoutPhase),
    /// The connection was refused, reset or closed early, or the body was
    /// cut short.
    Transport(String),
    /// The body is not valid UTF-8 JSON.
    MalformedJson(String),
    /// The body is larger than `max_body_bytes`.
    BodyTooLarge(u64),
    /// The body is JSON but holds no item array; what it holds instead.
    NoItems(String),
    /// Redirects did not end in an answer (too many, or a failed hop).
    Redirect(String),
    /// The URL cannot be requested (a bad next link, say).
    BadUrl(String),
    /// The host name does not exist: the resolver's permanent "no such
    /// name" answer. Retrying cannot cure a mistyped host.
    Dns(String),
    /// A 401 to a request sent with a token just refreshed because of a
    /// 401: the server does not accept this client's tokens.
    Unauthorized,
    /// An `on_response` rule said the answer is a failure (SPEC §11):
    /// retryable like a 503 (`retry`), or not (`fail`).
    Rule {
        /// The rule's index in `on_response`.
        rule: usize,
        /// `retry`: tried again with backoff, Retry-After honoured.
        retry: bool,
        /// The answer's status.
        status: u16,
        /// The start of a 2xx body, secrets hidden (an error answer's
        /// start is shown beside the error anyway).
        said: Option<String>,
    },
    /// An `on_response` rule said `skip`: the page is given up at once,
    /// and that is no failure (not retried, not counted in `errors`).
    Skipped {
        /// The rule's index in `on_response`.
        rule: usize,
        /// The answer's status.
        status: u16,
    },
    /// A GraphQL answer with `errors` and no items: the first message.
    Graphql(String),
}

impl AttemptError {
    /// Whether the same request may succeed if sent again: 408, 425, 429,
    /// 5xx, timeouts and transport failures. Everything else gives the page
    /// up at once.
    pub fn is_retryable(&self) -> bool {
        match self {
            AttemptError::Status(code) => is_retryable_status(*code),
            AttemptError::QuotaExhausted(_) => true,
            AttemptError::Timeout(_) | AttemptError::Transport(_) => true,
            AttemptError::Rule { retry, .. } => *retry,
            AttemptError::Skipped { .. }
            | AttemptError::MalformedJson(_)
            | AttemptError::BodyTooLarge(_)
            | AttemptError::NoItems(_)
            | AttemptError::Redirect(_)
            | AttemptError::BadUrl(_)
            | AttemptError::Dns(_)
            | AttemptError::Unauthorized
            | AttemptError::Graphql(_) => false,
        }
    }

    /// The `errors` counter this failure is counted under, if any. Retryable
    /// statuses are already visible in `responses`, so they have none.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            AttemptError::Status(code) if is_retryable_status(*code) => None,
            // Visible in `responses` and in `waits_ms.quota`.
            AttemptError::QuotaExhausted(_) => None,
            AttemptError::Status(_) | AttemptError::Redirect(_) | AttemptError::BadUrl(_) => {
                Some(ErrorKind::ClientError)
            }
            AttemptError::Timeout(_) => Some(ErrorKind::Timeout),
            AttemptError::Transport(_) => Some(ErrorKind::Transport),
            AttemptError::MalformedJson(_) => Some(ErrorKind::MalformedJson),
            AttemptError::BodyTooLarge(_) => Some(ErrorKind::BodyTooLarge),
            AttemptError::NoItems(_) => Some(ErrorKind::NoItems),
            AttemptError::Dns(_) => Some(ErrorKind::Dns),
            AttemptError::Unauthorized => Some(ErrorKind::Auth),
            AttemptError::Rule { .. } => Some(ErrorKind::Rule),
            // Asked for: no failure.
            AttemptError::Skipped { .. } => None,
            AttemptError::Graphql(_) => Some(ErrorKind::Graphql),
        }
    }

    /// The `retries_by_cause` counter of a retry this failure caused.
    pub fn retry_cause(&self) -> RetryCause {
        match self {
            AttemptError::QuotaExhausted(_) => RetryCause::Quota,
            AttemptError::Status(408) => RetryCause::Status408,
            AttemptError::Status(425) => RetryCause::Status425,
            AttemptError::Status(429) => RetryCause::Status429,
            AttemptError::Status(_) => RetryCause::Status5xx,
            AttemptError::Timeout(_) => RetryCause::Timeout,
            AttemptError::Rule { .. } => RetryCause::Rule,
            _ => RetryCause::Transport,
        }
    }

    /// Whether a `Retry-After` header on this answer is honoured (429,
    /// 503, and what a `retry` rule says is one).
    pub fn honours_retry_after(&self) -> bool {
        matches!(
            self,
            AttemptError::Status(429 | 503)
                | AttemptError::QuotaExhausted(_)
                | AttemptError::Rule { retry: true, .. }
        )
    }
}

/// Which time budget of an attempt ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Resolving the host or connecting (`connect_ms`).
    Connect,
    /// Receiving the headers or the body (`read_ms`).
    Read,
    /// The attempt's whole allowance (`connect_ms + read_ms`, or the time
    /// left before the deadline).
    Budget,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::Read => "read",
            TimeoutPhase::Budget => "budget",
        })
    }
}

/// The `errors` counters of the summary: failed attempts by kind, and
/// pagination loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A time budget ran out.
    Timeout,
    /// Refused, reset, closed early, truncated.
    Transport,
    /// The body is not valid UTF-8 JSON.
    MalformedJson,
    /// A 4xx other than 408/425/429, a 3xx left after redirects, a URL
    /// that cannot be requested.
    ClientError,
    /// The body is over `max_body_bytes`.
    BodyTooLarge,
    /// The body holds no item array.
    NoItems,
    /// The next pointer led back to a page already fetched.
    PaginationLoop,
    /// The host name does not exist.
    Dns,
    /// No token, or a token the server kept refusing (SPEC §11).
    Auth,
    /// An `on_response` rule said the answer failed (`retry`, `fail`).
    Rule,
    /// A GraphQL answer with `errors` and no items.
    Graphql,
}

impl ErrorKind {
    /// Every kind, in summary order.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Timeout,
        ErrorKind::Transport,
        ErrorKind::MalformedJson,
        ErrorKind::ClientError,
        ErrorKind::BodyTooLarge,
        ErrorKind::NoItems,
        ErrorKind::PaginationLoop,
        ErrorKind::Dns,
        ErrorKind::Auth,
        ErrorKind::Rule,
        ErrorKind::Graphql,
    ];

    /// The key in the summary's `errors`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::MalformedJson => "malformed_json",
            ErrorKind::ClientError => "client_error",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::NoItems => "no_items",
            ErrorKind::PaginationLoop => "pagination_loop",
            ErrorKind::Dns => "dns",
            ErrorKind::Auth => "auth",
            ErrorKind::Rule => "rule",
            ErrorKind::Graphql => "graphql",
        }
    }
}

/// The `retries_by_cause` counters: what made a page be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryCause {
    /// 408 Request Timeout.
    Status408,
    /// 425 Too Early.
    Status425,
    /// 429 Too Many Requests.
    Status429,
    /// Any 5xx.
    Status5xx,
    /// A time budget ran out.
    Timeout,
    /// Refused, reset, closed early, truncated.
    Transport,
    /// A 403 or 429 with the quota used up.
    Quota,
    /// An answer a `retry` rule of `on_response` matched.
    Rule,
}

impl RetryCause {
    /// Every cause, in summary order (the keys' text order).
    pub const ALL: [RetryCause; 8] = [
        RetryCause::Status408,
        RetryCause::Status425,
        RetryCause::Status429,
        RetryCause::Status5xx,
        RetryCause::Quota,
        RetryCause::Rule,
        RetryCause::Timeout,
        RetryCause::Transport,
    ];

    /// The key in the summary's `retries_by_cause`.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryCause::Status408 => "408",
            RetryCause::Status425 => "425",
            RetryCause::Status429 => "429",
            RetryCause::Status5xx => "5xx",
            RetryCause::Timeout => "timeout",
            RetryCause::Transport => "transport",
            RetryCause::Quota => "quota",
            RetryCause::Rule => "rule",
        }
    }

    /// Whether the summary shows this key even when it is 0 (SPEC §6's
    /// four); 408, 425, quota and rule appear once they happened.
    pub fn always_shown(self) -> bool {
        !matches!(
            self,
            RetryCause::Status408 | RetryCause::Status425 | RetryCause::Quota | RetryCause::Rule
        )
    }
}

/// What resolvers say when a name does not exist (`EAI_NONAME`) or has no
/// address (`EAI_NODATA`): glibc, musl, then the BSDs and macOS. A
/// temporary failure (`EAI_AGAIN`: "Temporary failure in name
/// resolution", musl's "Try again") or a broken resolver (`EAI_FAIL`) is
/// none of these: it may well succeed when asked again.
const NO_SUCH_NAME: [&str; 5] = [
    "name or service not known",
    "no address associated with hostname",
    "name does not resolve",
    "nodename nor servname provided, or not known",
    "no address associated with nodename",
];

/// Whether a failed lookup is the resolver's permanent answer that the
/// host does not exist (`dns`), rather than a temporary failure
/// (`transport`). The standard library reports a failed `getaddrinfo`
/// as an I/O error of kind `Uncategorized` whose only detail is the
/// resolver's own message (`failed to lookup address information: Name
/// or service not known`), so the message is what tells them apart; on
/// Windows, the WinSock codes do.
pub fn is_no_such_host(e: &std::io::Error) -> bool {
    #[cfg(windows)]
    {
        // WSAHOST_NOT_FOUND, WSANO_DATA.
        if matches!(e.raw_os_error(), Some(11001 | 11004)) {
            return true;
        }
    }
    let message = e.to_string().to_ascii_lowercase();
    message.contains("failed to lookup address information")
        && NO_SUCH_NAME.iter().any(|answer| message.contains(answer))
}

/// 408, 425, 429 and every 5xx.
pub fn is_retryable_status(code: u16) -> bool {
    matches!(code, 408 | 425 | 429 | 500..=599)
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Status(code) => write!(f, "status: {code}"),
            AttemptError::QuotaExhausted(code) => {
                write!(f, "quota: status {code} with no quota left")
            }
            AttemptError::Timeout(phase) => write!(f, "timeout: {phase}"),
            AttemptError::Transport(detail) => write!(f, "transport: {detail}"),
            AttemptError::MalformedJson(detail) => write!(f, "malformed_json: {detail}"),
            AttemptError::BodyTooLarge(limit) => {
                write!(f, "body_too_large: over {limit} bytes")
            }
            AttemptError::NoItems(found) => {
                write!(f, "no_items: no item array in the body ({found})")
            }
            AttemptError::Redirect(detail) => write!(f, "redirect: {detail}"),
            AttemptError::BadUrl(detail) => write!(f, "bad url: {detail}"),
            AttemptError::Dns(detail) => write!(f, "dns: {detail}"),
            AttemptError::Unauthorized => {
                f.write_str("auth: status 401 again with a token fetched after a 401")
            }
            AttemptError::Rule {
                rule,
                retry,
                status,
                said,
            } => {
                let action = if *retry { "retry" } else { "fail" };
                write!(
                    f,
                    "rule: on_response[{rule}] ({action}) matched status {status}"
                )?;
                match said {
                    Some(said) => write!(f, ": {said}"),
                    None => Ok(()),
                }
            }
            AttemptError::Skipped { rule, status } => {
                write!(
                    f,
                    "skipped: on_response[{rule}] (skip) matched status {status}"
                )
            }
            AttemptError::Graphql(message) => write!(f, "graphql: {message}"),
        }
    }
}

/// What stops the program as a whole.
#[derive(Debug)]
pub enum Error {
    /// The config cannot be used (exit 2).
    Config(ConfigError),
    /// Flags that cannot go together (exit 2): `--state` naming one of
    /// the run's own outputs, say.
    Usage(String),
    /// The `--state` file is not one this run can start from (exit 2):
    /// what is wrong, naming the file (and the source and field).
    State(String),
    /// The output directory or a file in it cannot be written (exit 1).
    Output {
        /// The file or directory involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Another run holds the lock on the state file or the output
    /// directory (exit 1): one run at a time.
    Locked {
        /// What is locked, as the user named it ("the state file s.json").
        what: String,
        /// The lock file.
        lock: PathBuf,
        /// The process that holds it, when it said so.
        holder: Option<u32>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "config: {e}"),
            Error::Usage(e) => write!(f, "usage: {e}"),
            Error::State(e) => write!(f, "state file: {e}"),
            Error::Output { path, source } => write!(f, "output: {}: {source}", path.display()),
            Error::Locked { what, lock, holder } => {
                write!(f, "locked: {what} is in use by another run")?;
                if let Some(pid) = holder {
                    write!(f, " (pid {pid})")?;
                }
                write!(
                    f,
                    ", which holds {}; one run at a time: try again when it has ended",
                    lock.display()
                )
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classes_follow_the_spec() {
        for code in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert!(AttemptError::Status(code).is_retryable(), "{code}");
        }
        for code in [300, 304, 400, 401, 403, 404, 410, 422] {
            let e = AttemptError::Status(code);
            assert!(!e.is_retryable(), "{code}");
            assert_eq!(e.error_kind(), Some(ErrorKind::ClientError), "{code}");
        }
        assert!(AttemptError::Timeout(TimeoutPhase::Connect).is_retryable());
        assert!(AttemptError::Transport("reset".into()).is_retryable());
        assert!(!AttemptError::MalformedJson("x".into()).is_retryable());
        assert!(!AttemptError::BodyTooLarge(10).is_retryable());
        assert!(!AttemptError::NoItems(String::new()).is_retryable());
    }

    #[test]
    fn a_host_that_does_not_exist_is_dns_a_temporary_failure_is_not() {
        let lookup = |answer: &str| {
            std::io::Error::other(format!("failed to lookup address information: {answer}"))
        };
        for answer in [
            "Name or service not known",
            "No address associated with hostname",
            "Name does not resolve",
            "nodename nor servname provided, or not known",
        ] {
            assert!(is_no_such_host(&lookup(answer)), "{answer}");
        }
        for answer in [
            "Temporary failure in name resolution",
            "Try again",
            "Non-recoverable failure in name resolution",
            "System error",
        ] {
            assert!(!is_no_such_host(&lookup(answer)), "{answer}");
        }
        // The resolver's words elsewhere are not a lookup's answer.
        assert!(!is_no_such_host(&std::io::Error::other(
            "Name or service not known"
        )));
        for kind in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            assert!(!is_no_such_host(&kind.into()), "{kind:?}");
        }
        let dns = AttemptError::Dns("no such host".into());
        assert!(!dns.is_retryable(), "retrying cannot cure a mistyped host");
        assert_eq!(dns.error_kind(), Some(ErrorKind::Dns));
        assert_eq!(ErrorKind::Dns.as_str(), "dns");
        assert!(AttemptError::Transport("try again".into()).is_retryable());
    }

    #[test]
    fn retry_causes_name_the_summary_keys() {
        let cause = |e: AttemptError| e.retry_cause().as_str();
        assert_eq!(cause(AttemptError::Status(429)), "429");
        assert_eq!(cause(AttemptError::Status(503)), "5xx");
        assert_eq!(cause(AttemptError::Status(408)), "408");
        assert_eq!(cause(AttemptError::Timeout(TimeoutPhase::Read)), "timeout");
        assert_eq!(cause(AttemptError::Transport("eof".into())), "transport");
        let keys: Vec<&str> = RetryCause::ALL.iter().map(|c| c.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "summary order is the keys' text order");
        assert_eq!(AttemptError::Status(503).error_kind(), None);
        assert!(AttemptError::Status(503).honours_retry_after());
        assert!(!AttemptError::Status(500).honours_retry_after());
    }

    /// What `on_response` rules make of an answer (SPEC §11): `retry` is
    /// a 503 in all but its counters, `fail` a failure given up at once,
    /// both of kind `rule`; `skip` is no failure at all.
    #[test]
    fn rule_verdicts_follow_their_action() {
        let rule = |retry| AttemptError::Rule {
            rule: 1,
            retry,
            status: 200,
            said: Some(r#"{"status":"error"}"#.into()),
        };
        assert!(rule(true).is_retryable());
        assert!(rule(true).honours_retry_after());
        assert_eq!(rule(true).retry_cause(), RetryCause::Rule);
        assert!(!rule(false).is_retryable());
        assert!(!rule(false).honours_retry_after());
        for retry in [true, false] {
            assert_eq!(rule(retry).error_kind(), Some(ErrorKind::Rule));
        }
        assert_eq!(
            rule(false).to_string(),
            r#"rule: on_response[1] (fail) matched status 200: {"status":"error"}"#
        );
        let skipped = AttemptError::Skipped {
            rule: 0,
            status: 404,
        };
        assert!(!skipped.is_retryable());
        assert_eq!(skipped.error_kind(), None);
        assert!(!RetryCause::Rule.always_shown(), "said once it happened");
    }
}
