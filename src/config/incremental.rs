//! The `incremental` key of a source (SPEC §9): which field of the items
//! is the bookmark, which query parameter asks the API for items at or
//! after it, where a first run starts, and how far back to look.

use std::time::Duration;

use serde_json::{json, Value};

use crate::json::DotPath;
use crate::record::bookmark::{Bookmark, BookmarkKind};

use super::json::{child, Walker};
use super::ConfigError;

type Result<T> = std::result::Result<T, ConfigError>;

const INCREMENTAL_KEYS: &[&str] = &["field", "param", "start", "lookback_ms", "type"];

/// A source's incremental settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Incremental {
    /// Dot path of the bookmark field in each item. Required.
    pub field: DotPath,
    /// Query parameter that asks for items at or after a value. Required.
    pub param: String,
    /// What the field holds. Defaults to timestamps.
    pub kind: BookmarkKind,
    /// What a first run sends, when there is no bookmark yet. Defaults to
    /// nothing (the whole data).
    pub start: Option<Bookmark>,
    /// How far before the bookmark a run asks from (timestamps only), for
    /// items written late with an older value. Defaults to 0.
    pub lookback: Duration,
}

impl Incremental {
    /// The settings as a config writes them (for `summary.config`).
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "field": self.field,
            "param": self.param,
            "type": self.kind.as_str(),
            "lookback_ms": u64::try_from(self.lookback.as_millis()).unwrap_or(u64::MAX),
        });
        if let Some(start) = self.start {
            out["start"] = start.to_json();
        }
        out
    }
}

impl Walker<'_> {
    /// `sources[i].incremental`.
    pub(super) fn incremental(&self, path: &str, v: &Value) -> Result<Incremental> {
        let o = self.object(path, v, INCREMENTAL_KEYS)?;
        let (p, f) = self.required(&o, "field", "a dot path like \"updated_at\"")?;
        let field = self.dot_path(&p, f)?;
        let (p, v) = self.required(&o, "param", "a query parameter name like \"since\"")?;
        let param = self.non_empty(&p, v)?.to_string();
        let kind = match o.get("type") {
            None => BookmarkKind::Timestamp,
            Some((_, Value::String(t))) if t == "timestamp" => BookmarkKind::Timestamp,
            Some((_, Value::String(t))) if t == "integer" => BookmarkKind::Integer,
            Some((p, v)) => return Err(self.mismatch(&p, "\"timestamp\" or \"integer\"", v)),
        };
        let start = match o.get("start") {
            None => None,
            Some((p, v)) => Some(kind.read_json(v).ok_or_else(|| {
                let what = match kind {
                    BookmarkKind::Timestamp => {
                        "a timestamp with an offset, like \"2026-01-01T00:00:00Z\""
                    }
                    BookmarkKind::Integer => "an integer",
                };
                self.mismatch(&p, what, v)
            })?),
        };
        let lookback = self.int(&o, "lookback_ms", 0, u64::MAX)?.unwrap_or(0);
        if lookback > 0 && kind == BookmarkKind::Integer {
            return Err(self.error(
                &child(path, "lookback_ms"),
                "expected 0 for an integer bookmark (lookback_ms moves timestamps; an integer bookmark is sent as it is)",
            ));
        }
        Ok(Incremental {
            field,
            param,
            kind,
            start,
            lookback: Duration::from_millis(lookback),
        })
    }
}
