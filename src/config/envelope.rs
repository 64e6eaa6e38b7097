//! Where a pagination value is read in an answer (SPEC §11, "Values from
//! response headers"): a dot path in the JSON body, or a response header.
//!
//! Every envelope path of SPEC §3 (`next_path`, `cursor_path`,
//! `has_more_path`, `total_pages_path`, `total_items_path`, `total_path`)
//! is an [`EnvelopePath`], parsed once when the config is validated.
//! `header:NAME` is the value of header NAME; `header:NAME.dot.path` a
//! value inside a header that holds JSON (flask-smorest's `X-Pagination:
//! {"total": 2843, "total_pages": 29}`). Header names are matched without
//! regard to case, as HTTP has them. Whoever reads a value (the paginator,
//! the warnings, `ingest check`) goes through this one type, so a header
//! path and a body path are told apart in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::json::DotPath;

/// The prefix that makes a path read a response header.
pub const HEADER_PREFIX: &str = "header:";

/// A place in an answer that a pagination value is read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EnvelopePath {
    /// A dot path in the JSON body.
    Body(DotPath),
    /// A response header: its value, or a dot path in the JSON it holds.
    Header {
        /// The header's name as written in the config (shown so).
        name: String,
        /// The name lowercased: what an answer's headers are looked up by.
        key: String,
        /// A dot path in the header's value read as JSON; `None` for the
        /// value itself.
        path: Option<DotPath>,
    },
}

/// Text that is neither a dot path nor `header:NAME[.dot.path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEnvelopePath;

impl fmt::Display for InvalidEnvelopePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a dot path like \"meta.total\", or a response header like \
             \"header:X-Total-Count\" or \"header:X-Pagination.total\"",
        )
    }
}

impl std::error::Error for InvalidEnvelopePath {}

impl FromStr for EnvelopePath {
    type Err = InvalidEnvelopePath;

    /// `header:NAME` (an RFC 9110 token) with an optional `.dot.path`
    /// after the name's first dot; anything else is a body dot path.
    fn from_str(text: &str) -> Result<EnvelopePath, InvalidEnvelopePath> {
        let Some(rest) = text.strip_prefix(HEADER_PREFIX) else {
            return text
                .parse()
                .map(EnvelopePath::Body)
                .map_err(|_| InvalidEnvelopePath);
        };
        let (name, path) = match rest.split_once('.') {
            Some((name, path)) => (name, Some(path.parse().map_err(|_| InvalidEnvelopePath)?)),
            None => (rest, None),
        };
        if !is_token(name) {
            return Err(InvalidEnvelopePath);
        }
        Ok(EnvelopePath::Header {
            name: name.to_string(),
            key: name.to_ascii_lowercase(),
            path,
        })
    }
}

impl From<DotPath> for EnvelopePath {
    /// A dot path in the body.
    fn from(path: DotPath) -> Self {
        EnvelopePath::Body(path)
    }
}

impl EnvelopePath {
    /// Whether it reads a response header.
    pub fn is_header(&self) -> bool {
        matches!(self, EnvelopePath::Header { .. })
    }
}

/// RFC 9110 token characters (a header name), at least one.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-^_`|~".contains(c))
}

impl fmt::Display for EnvelopePath {
    /// As written in the config.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopePath::Body(path) => write!(f, "{path}"),
            EnvelopePath::Header { name, path, .. } => {
                write!(f, "{HEADER_PREFIX}{name}")?;
                match path {
                    Some(path) => write!(f, ".{path}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A path serializes as the text a config writes.
impl Serialize for EnvelopePath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> EnvelopePath {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn a_header_path_names_the_header_and_a_path_in_its_json() {
        assert_eq!(
            parsed("header:X-Pagination.total_pages"),
            EnvelopePath::Header {
                name: "X-Pagination".into(),
                key: "x-pagination".into(),
                path: Some("total_pages".parse().unwrap()),
            }
        );
        assert_eq!(
            parsed("header:X-Total-Count"),
            EnvelopePath::Header {
                name: "X-Total-Count".into(),
                key: "x-total-count".into(),
                path: None,
            }
        );
        assert_eq!(
            parsed("meta.total"),
            EnvelopePath::Body("meta.total".parse().unwrap())
        );
        assert!(parsed("header:X-Next").is_header());
        assert!(!parsed("next").is_header());
    }

    #[test]
    fn what_is_no_path_is_refused() {
        for bad in [
            "",
            "a..b",
            "header:",
            "header:.total",
            "header:X-Pagination.",
            "header:X-Pagination..total",
            "header:X Pagination",
            "header:X:Y",
        ] {
            assert_eq!(
                bad.parse::<EnvelopePath>(),
                Err(InvalidEnvelopePath),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn shown_and_serialized_as_written() {
        for text in [
            "header:X-Pagination.total",
            "header:link-Next",
            "meta.total",
        ] {
            assert_eq!(parsed(text).to_string(), text);
            assert_eq!(serde_json::to_value(parsed(text)).unwrap(), text);
        }
    }
}
