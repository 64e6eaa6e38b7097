//! Where a source's pagination stands, in its style's own terms: what a
//! state file saves so that a later run resumes at the page it did not
//! finish (SPEC §9).

use std::fmt;

use serde_json::{json, Value};

use crate::url::is_http_url;

/// Where a source's pagination stands: the page to fetch, as the state
/// file saves it (SPEC §9), in the style's own terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Position {
    /// A page number (`page`).
    Page(u64),
    /// An offset (`offset`).
    Offset(u64),
    /// The cursor to send (`cursor`).
    Cursor(String),
    /// The URL to fetch (`next_url`, `link_header`).
    Url(String),
}

impl Position {
    /// `{"page": 7}`, `{"offset": 140}`, `{"cursor": "c2"}`, `{"url": …}`.
    pub fn to_json(&self) -> Value {
        match self {
            Position::Page(n) => json!({ "page": n }),
            Position::Offset(n) => json!({ "offset": n }),
            Position::Cursor(c) => json!({ "cursor": c }),
            Position::Url(u) => json!({ "url": u }),
        }
    }

    /// The position a state file wrote, if it is one.
    pub fn from_json(v: &Value) -> Option<Position> {
        let map = v.as_object().filter(|m| m.len() == 1)?;
        let (kind, value) = map.iter().next()?;
        match kind.as_str() {
            "page" => value.as_u64().map(Position::Page),
            "offset" => value.as_u64().map(Position::Offset),
            "cursor" => value.as_str().map(|c| Position::Cursor(c.to_string())),
            "url" => value
                .as_str()
                .filter(|u| is_http_url(u))
                .map(|u| Position::Url(u.to_string())),
            _ => None,
        }
    }
}

impl fmt::Display for Position {
    /// `page=7`, `offset=140`, `cursor=c2`, `url=…`: a position in one
    /// word, for a log line (a URL in it is shown as given: redact first).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Page(n) => write!(f, "page={n}"),
            Position::Offset(n) => write!(f, "offset={n}"),
            Position::Cursor(c) => write!(f, "cursor={c}"),
            Position::Url(u) => write!(f, "url={u}"),
        }
    }
}
