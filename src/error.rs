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
    /// A time budget ran out; the payload names the phase.
    Timeout(&'static str),
    /// The connection was refused, reset or closed early, or the body was
    /// cut short.
    Transport(String),
    /// The body is not valid UTF-8 JSON.
    MalformedJson(String),
    /// The body is larger than `max_body_bytes`.
    BodyTooLarge(u64),
    /// The body is JSON but holds no item array.
    NoItems,
    /// Redirects did not end in an answer (too many, or a failed hop).
    Redirect(String),
    /// The URL cannot be requested (a bad next link, say).
    BadUrl(String),
}

impl AttemptError {
    /// Whether the same request may succeed if sent again: 408, 425, 429,
    /// 5xx, timeouts and transport failures. Everything else gives the page
    /// up at once.
    pub fn is_retryable(&self) -> bool {
        match self {
            AttemptError::Status(code) => is_retryable_status(*code),
            AttemptError::Timeout(_) | AttemptError::Transport(_) => true,
            AttemptError::MalformedJson(_)
            | AttemptError::BodyTooLarge(_)
            | AttemptError::NoItems
            | AttemptError::Redirect(_)
            | AttemptError::BadUrl(_) => false,
        }
    }

    /// The `errors` counter this failure is counted under, if any. Retryable
    /// statuses are already visible in `responses`, so they have none.
    pub fn error_kind(&self) -> Option<&'static str> {
        match self {
            AttemptError::Status(code) if is_retryable_status(*code) => None,
            AttemptError::Status(_) | AttemptError::Redirect(_) | AttemptError::BadUrl(_) => {
                Some("client_error")
            }
            AttemptError::Timeout(_) => Some("timeout"),
            AttemptError::Transport(_) => Some("transport"),
            AttemptError::MalformedJson(_) => Some("malformed_json"),
            AttemptError::BodyTooLarge(_) => Some("body_too_large"),
            AttemptError::NoItems => Some("no_items"),
        }
    }

    /// The `retries_by_cause` key of a retry this failure caused: `429`,
    /// `5xx`, `timeout`, `transport`, or the status code for 408 and 425.
    pub fn retry_cause(&self) -> String {
        match self {
            AttemptError::Status(code) if (500..600).contains(code) => "5xx".to_string(),
            AttemptError::Status(code) => code.to_string(),
            AttemptError::Timeout(_) => "timeout".to_string(),
            _ => "transport".to_string(),
        }
    }

    /// Whether a `Retry-After` header on this answer is honoured (429, 503).
    pub fn honours_retry_after(&self) -> bool {
        matches!(self, AttemptError::Status(429 | 503))
    }
}

/// 408, 425, 429 and every 5xx.
pub fn is_retryable_status(code: u16) -> bool {
    matches!(code, 408 | 425 | 429 | 500..=599)
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Status(code) => write!(f, "status: {code}"),
            AttemptError::Timeout(phase) => write!(f, "timeout: {phase}"),
            AttemptError::Transport(detail) => write!(f, "transport: {detail}"),
            AttemptError::MalformedJson(detail) => write!(f, "malformed_json: {detail}"),
            AttemptError::BodyTooLarge(limit) => {
                write!(f, "body_too_large: over {limit} bytes")
            }
            AttemptError::NoItems => f.write_str("no_items: no item array in the body"),
            AttemptError::Redirect(detail) => write!(f, "redirect: {detail}"),
            AttemptError::BadUrl(detail) => write!(f, "bad url: {detail}"),
        }
    }
}

/// What stops the program as a whole.
#[derive(Debug)]
pub enum Error {
    /// The config or the command line cannot be used (exit 2).
    Config(ConfigError),
    /// The output directory or a file in it cannot be written (exit 1).
    Output {
        /// The file or directory involved.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Something else inside `ingest` failed (exit 1).
    Internal(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => write!(f, "config: {e}"),
            Error::Output { path, source } => write!(f, "output: {}: {source}", path.display()),
            Error::Internal(msg) => write!(f, "internal: {msg}"),
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
            assert_eq!(e.error_kind(), Some("client_error"), "{code}");
        }
        assert!(AttemptError::Timeout("connect").is_retryable());
        assert!(AttemptError::Transport("reset".into()).is_retryable());
        assert!(!AttemptError::MalformedJson("x".into()).is_retryable());
        assert!(!AttemptError::BodyTooLarge(10).is_retryable());
        assert!(!AttemptError::NoItems.is_retryable());
    }

    #[test]
    fn retry_causes_name_the_summary_keys() {
        assert_eq!(AttemptError::Status(429).retry_cause(), "429");
        assert_eq!(AttemptError::Status(503).retry_cause(), "5xx");
        assert_eq!(AttemptError::Status(408).retry_cause(), "408");
        assert_eq!(AttemptError::Timeout("read").retry_cause(), "timeout");
        assert_eq!(
            AttemptError::Transport("eof".into()).retry_cause(),
            "transport"
        );
        assert_eq!(AttemptError::Status(503).error_kind(), None);
        assert!(AttemptError::Status(503).honours_retry_after());
        assert!(!AttemptError::Status(500).honours_retry_after());
    }
}
