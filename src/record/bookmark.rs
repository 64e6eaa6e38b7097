//! Bookmarks of incremental sources (SPEC §9): the greatest value of a
//! field seen, compared as what it is — instants as instants, integers as
//! integers — never as text (`2026-01-01T10:00:00+02:00` is before
//! `2026-01-01T09:00:00Z`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::json::Node;
use crate::record::coerce::{self, Coerced, UnixTime};

/// What a source's bookmark field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookmarkKind {
    /// A `timestamp` (SPEC §5's rules), kept as an instant and written as
    /// RFC 3339 in UTC. The default.
    Timestamp,
    /// An integer (an id, a version, epoch seconds the API compares as
    /// numbers).
    Integer,
}

impl BookmarkKind {
    /// The config's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            BookmarkKind::Timestamp => "timestamp",
            BookmarkKind::Integer => "integer",
        }
    }

    /// The bookmark `node` holds: `Ok(None)` for no value, `Err` for a
    /// value of another kind (ignored for the bookmark, counted).
    pub fn read(self, node: &Node<'_>) -> Result<Option<Bookmark>, ()> {
        match self {
            BookmarkKind::Timestamp => coerce::timestamp_instant(node)
                .map(|t| t.map(Bookmark::Instant))
                .map_err(|_| ()),
            BookmarkKind::Integer => match coerce::integer(node).map_err(|_| ())? {
                Some(Coerced::Number(text)) => text
                    .parse()
                    .map(|n| Some(Bookmark::Integer(n)))
                    .map_err(|_| ()),
                _ => Ok(None),
            },
        }
    }

    /// The bookmark a JSON value (a config's `start`, a state file's
    /// entry) holds, if it is one of this kind.
    pub fn read_json(self, value: &Value) -> Option<Bookmark> {
        let text = value.to_string();
        self.read(&Node::parse(&text).ok()?).ok().flatten()
    }
}

/// A bookmark value, ordered as its kind orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bookmark {
    /// An instant.
    Instant(UnixTime),
    /// An integer (beyond 64 bits, up to 128).
    Integer(i128),
}

impl Bookmark {
    /// The value as a query parameter: RFC 3339 in UTC (the fraction only
    /// when there is one), or the integer's digits.
    pub fn to_text(self) -> String {
        match self {
            Bookmark::Instant(t) => {
                let nanos = format!("{:09}", t.nanos());
                let frac = nanos.trim_end_matches('0');
                crate::time::format_rfc3339_utc(t.secs(), frac).unwrap_or_default()
            }
            Bookmark::Integer(n) => n.to_string(),
        }
    }

    /// The value as the state file and the summary write it.
    pub fn to_json(self) -> Value {
        match self {
            Bookmark::Instant(_) => Value::String(self.to_text()),
            Bookmark::Integer(n) => serde_json::from_str(&n.to_string()).unwrap_or(Value::Null),
        }
    }

    /// `lookback` earlier, for instants; an integer is sent as it is.
    pub fn minus(self, lookback: Duration) -> Bookmark {
        match self {
            Bookmark::Instant(t) => {
                let total = i128::from(t.secs()) * 1_000_000_000 + i128::from(t.nanos())
                    - lookback.as_nanos() as i128;
                let secs = total.div_euclid(1_000_000_000) as i64;
                let nanos = total.rem_euclid(1_000_000_000) as u32;
                UnixTime::new(secs, nanos).map_or(self, Bookmark::Instant)
            }
            Bookmark::Integer(_) => self,
        }
    }

    /// The instant `t`, as a timestamp bookmark (a clock before 1970, or
    /// one too far ahead for one, reads as the epoch).
    pub fn instant(t: SystemTime) -> Bookmark {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(0);
        let at = UnixTime::new(secs, since.subsec_nanos());
        Bookmark::Instant(at.unwrap_or_else(|| UnixTime::new(0, 0).expect("the epoch")))
    }

    /// This bookmark, or `limit` when both are instants and this one is
    /// later: a timestamp bookmark never runs ahead of the clock (SPEC
    /// §9). Integers have no clock to run ahead of.
    pub fn at_most(self, limit: Option<Bookmark>) -> Bookmark {
        match (self, limit) {
            (Bookmark::Instant(t), Some(Bookmark::Instant(limit))) if t > limit => {
                Bookmark::Instant(limit)
            }
            _ => self,
        }
    }

    /// The greater of two, either possibly absent.
    pub fn max(a: Option<Bookmark>, b: Option<Bookmark>) -> Option<Bookmark> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(v: Value) -> Option<Bookmark> {
        BookmarkKind::Timestamp.read_json(&v)
    }

    #[test]
    fn instants_compare_as_time_not_text() {
        let a = ts(json!("2026-01-01T10:00:00+02:00")).unwrap();
        let b = ts(json!("2026-01-01T09:00:00Z")).unwrap();
        assert!(a < b);
        assert_eq!(a.to_text(), "2026-01-01T08:00:00Z");
        assert_eq!(
            ts(json!("2026-01-01T08:00:00.250Z")).unwrap().to_text(),
            "2026-01-01T08:00:00.25Z"
        );
        assert_eq!(Bookmark::max(Some(a), Some(b)), Some(b));
        assert_eq!(Bookmark::max(None, Some(a)), Some(a));
        assert_eq!(
            ts(json!(1_700_000_000)).unwrap().to_text(),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(ts(json!("yesterday")), None);
    }

    #[test]
    fn instants_are_held_at_a_limit_integers_are_not() {
        let now = Bookmark::instant(UNIX_EPOCH + Duration::from_millis(1_700_000_000_250));
        assert_eq!(now.to_text(), "2023-11-14T22:13:20.25Z");
        let future = ts(json!("9999-12-31T00:00:00Z")).unwrap();
        let past = ts(json!("2020-01-01T00:00:00Z")).unwrap();
        assert_eq!(future.at_most(Some(now)), now);
        assert_eq!(past.at_most(Some(now)), past);
        assert_eq!(future.at_most(None), future);
        let n = Bookmark::Integer(i128::MAX);
        assert_eq!(n.at_most(Some(now)), n);
        assert_eq!(
            Bookmark::instant(UNIX_EPOCH - Duration::from_secs(5)).to_text(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn lookback_moves_instants_only() {
        let b = ts(json!("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(
            b.minus(Duration::from_millis(1500)).to_text(),
            "2025-12-31T23:59:58.5Z"
        );
        let n = BookmarkKind::Integer.read_json(&json!(41)).unwrap();
        assert_eq!(n.minus(Duration::from_secs(5)), n);
        assert_eq!(n.to_json(), json!(41));
        let big: Value = serde_json::from_str("123456789012345678901234567").unwrap();
        let big = BookmarkKind::Integer.read_json(&big).unwrap();
        assert_eq!(big.to_text(), "123456789012345678901234567");
        assert!(big > n);
        assert_eq!(BookmarkKind::Integer.read_json(&json!("2026-01-01")), None);
        assert_eq!(
            BookmarkKind::Integer.read_json(&json!(" 42 ")),
            Some(Bookmark::Integer(42))
        );
    }
}
