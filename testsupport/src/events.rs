//! Events served only by time window ([`crate::Style::Window`], SPEC
//! §12's `partitions.window`): `/NAME/events?from=X&to=Y`.
//!
//! The events are a function of the seed and the source's name, spread
//! over `[start, end)` with millisecond timestamps, and placed on purpose
//! where windows go wrong: at every midnight (`T00:00:00.000Z`), at
//! `23:59:59.412` and `23:59:59.999` before it, and at whole seconds. A
//! client whose windows overlap at their ends gets some twice, one whose
//! windows end at a whole second before the next starts loses the
//! fractions between. Two more events lie just outside the range — one
//! millisecond before `start` and exactly at `end` — which a correct crawl
//! of `[start, end)` never receives. The server answers `from <=
//! timestamp < to`, half-open like SPEC's windows.

use std::fmt;
use std::sync::Arc;

use fastrand::Rng;
use serde_json::{json, Value};

use crate::api::Answer;
use crate::changes::{parse_rfc3339, percent_decode};
use crate::data::fnv;
use crate::scenario::{MockSource, Style};
use crate::shapes::rfc3339;

const DAY_MS: u64 = 86_400_000;
const TYPES: [&str; 4] = ["page_view", "click", "signup", "purchase"];

/// The range of a [`crate::Style::Window`] source's events and the
/// parameters its window travels in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events {
    /// First instant of the range, in milliseconds since the epoch.
    pub start_ms: u64,
    /// End of the range (excluded), in milliseconds since the epoch.
    pub end_ms: u64,
    /// Events in `[start, end)`. The boundary events (three a midnight)
    /// come first; with fewer than that, only the earliest are kept.
    pub count: usize,
    /// Query parameter of the window's start (included). Defaults to
    /// `"from"`.
    pub from_param: String,
    /// Query parameter of the window's end (excluded). Defaults to
    /// `"to"`.
    pub to_param: String,
}

impl Events {
    /// `count` events in `[start, end)`, both RFC 3339.
    ///
    /// # Panics
    /// If either is not an RFC 3339 instant at or after 1970, or `start`
    /// is not before `end`.
    pub fn new(start: &str, end: &str, count: usize) -> Events {
        let ms = |text: &str| {
            parse_instant(text)
                .and_then(|ns| u64::try_from(ns.div_euclid(1_000_000)).ok())
                .unwrap_or_else(|| panic!("events: not an RFC 3339 instant after 1970: {text}"))
        };
        let (start_ms, end_ms) = (ms(start), ms(end));
        assert!(start_ms < end_ms, "events: {start} is not before {end}");
        Events {
            start_ms,
            end_ms,
            count,
            from_param: "from".to_string(),
            to_param: "to".to_string(),
        }
    }

    /// SPEC §12's `partitions.window` over the range in daily steps, and
    /// a declared `record` (the events are not products).
    pub(crate) fn config_json(&self, source: &mut Value) {
        source["partitions"] = json!({"window": {
            "start": instant(self.start_ms),
            "end": instant(self.end_ms),
            "step": "P1D",
            "start_param": self.from_param,
            "end_param": self.to_param,
            "format": "rfc3339",
        }});
        source["record"] = json!({
            "id": "id",
            "fields": {
                "timestamp": {"path": "timestamp", "type": "timestamp", "required": true},
                "type": "type",
                "user_id": {"path": "user_id", "type": "integer"},
            },
        });
    }

    /// The window a request's query asks for, in nanoseconds since the
    /// epoch, with its partition label (`FROM/TO` as sent, decoded); or
    /// what is wrong with it.
    pub(crate) fn window(&self, query: &str) -> Result<(i128, i128, String), String> {
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| percent_decode(v))
                .filter(|v| !v.is_empty())
        };
        let (from, to) = (&self.from_param, &self.to_param);
        let (Some(from_text), Some(to_text)) = (param(from), param(to)) else {
            return Err(format!("{from} and {to} are required"));
        };
        let parse = |name: &str, text: &str| {
            parse_instant(text).ok_or_else(|| format!("{name}: not an RFC 3339 date-time: {text}"))
        };
        let (start, end) = (parse(from, &from_text)?, parse(to, &to_text)?);
        if start >= end {
            return Err(format!("{from} must be before {to}"));
        }
        Ok((start, end, format!("{from_text}/{to_text}")))
    }
}

// The builders of window sources, beside what they build.
impl MockSource {
    /// `count` events in `[start, end)` (RFC 3339), served only by time
    /// window ([`Style::Window`]) at `/NAME/events?from=X&to=Y`: every
    /// midnight, `23:59:59.412` and `23:59:59.999` before it, then seeded
    /// instants (a quarter at whole seconds), plus one event just before
    /// `start` and one at `end`. See [`Events`] and [`EventTruth`].
    ///
    /// # Panics
    /// If `start` or `end` is not an RFC 3339 instant at or after 1970, or
    /// `start` is not before `end`.
    pub fn events(name: &str, start: &str, end: &str, count: usize) -> MockSource {
        let mut src = MockSource::new(name, Style::Window, 1, count);
        src.events = Some(Events::new(start, end, count));
        src
    }

    /// Names the window's query parameters (see [`Events::from_param`]).
    ///
    /// # Panics
    /// If this is not a [`MockSource::events`] source.
    pub fn window_params(mut self, from: &str, to: &str) -> MockSource {
        let name = &self.name;
        let events = self
            .events
            .as_mut()
            .unwrap_or_else(|| panic!("{name}: not a MockSource::events source"));
        events.from_param = from.to_string();
        events.to_param = to.to_string();
        self
    }
}

/// An RFC 3339 date-time, or a date alone (its midnight, UTC), in
/// nanoseconds since the epoch.
fn parse_instant(text: &str) -> Option<i128> {
    if text.len() == 10 {
        return parse_rfc3339(&format!("{text}T00:00:00Z"));
    }
    parse_rfc3339(text)
}

/// `YYYY-MM-DDThh:mm:ss.mmmZ` of epoch milliseconds.
pub(crate) fn rfc3339_ms(ms: u64) -> String {
    let secs = rfc3339(ms / 1000);
    format!("{}.{:03}Z", &secs[..secs.len() - 1], ms % 1000)
}

/// An instant as a config writes it: without a fraction when whole.
fn instant(ms: u64) -> String {
    if ms % 1000 == 0 {
        rfc3339(ms / 1000)
    } else {
        rfc3339_ms(ms)
    }
}

/// What a [`crate::Style::Window`] source serves.
#[derive(Clone, PartialEq)]
pub struct EventTruth {
    /// The source's name.
    pub name: String,
    /// The range's start (included), RFC 3339.
    pub start: String,
    /// The range's end (excluded), RFC 3339.
    pub end: String,
    /// Every event served, by time, with its timestamp in milliseconds:
    /// those in the range and the two just outside it.
    served: Arc<[(u64, Value)]>,
    start_ms: u64,
    end_ms: u64,
}

impl fmt::Debug for EventTruth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventTruth")
            .field("name", &self.name)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("served", &self.served.len())
            .finish()
    }
}

impl EventTruth {
    /// The events in `[start, end)`, by time: what a correct crawl of the
    /// range receives, each once.
    pub fn events(&self) -> Vec<Value> {
        self.served
            .iter()
            .filter(|(t, _)| (self.start_ms..self.end_ms).contains(t))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The ids of [`EventTruth::events`] (`ev-N`).
    pub fn ids(&self) -> std::collections::BTreeSet<String> {
        self.events()
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_string))
            .collect()
    }

    /// The record keys of [`EventTruth::events`] (`NAME:ev-N`).
    pub fn keys(&self) -> std::collections::BTreeSet<String> {
        self.ids()
            .into_iter()
            .map(|id| format!("{}:{id}", self.name))
            .collect()
    }

    /// What a request for the window `[from, to)` gets (RFC 3339, or a
    /// date alone): every served event in it, outside the range too.
    ///
    /// # Panics
    /// If `from` or `to` is neither.
    pub fn between(&self, from: &str, to: &str) -> Vec<Value> {
        let ns = |t: &str| parse_instant(t).unwrap_or_else(|| panic!("not an instant: {t}"));
        self.slice(ns(from), ns(to)).to_vec()
    }

    /// The served events with `from <= timestamp < to` (nanoseconds).
    fn slice(&self, from: i128, to: i128) -> Vec<Value> {
        let ns = |t: u64| i128::from(t) * 1_000_000;
        let lo = self.served.partition_point(|(t, _)| ns(*t) < from);
        let hi = self.served.partition_point(|(t, _)| ns(*t) < to);
        self.served[lo..hi.max(lo)]
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The answer to the window `[from, to)` (nanoseconds).
    pub(crate) fn answer(&self, from: i128, to: i128) -> Answer {
        let data = Value::Array(self.slice(from, to));
        Answer::json(200, format!(r#"{{"data":{data}}}"#))
    }
}

/// The timestamps where windows go wrong, in `[start, end)`: every
/// midnight, and 588 ms and 1 ms before it.
fn boundaries(start: u64, end: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut midnight = start.div_ceil(DAY_MS) * DAY_MS;
    while midnight <= end {
        if midnight < end {
            out.push(midnight);
        }
        for before in [588, 1] {
            if midnight >= start + before {
                out.push(midnight - before);
            }
        }
        midnight += DAY_MS;
    }
    out.sort_unstable();
    out
}

/// The events of source `src` (see the module docs).
pub(crate) fn generate(seed: u64, src: &MockSource, spec: &Events) -> EventTruth {
    let mut rng = Rng::with_seed(seed ^ fnv(&src.name));
    let (start, end) = (spec.start_ms, spec.end_ms);
    let mut times = boundaries(start, end);
    times.truncate(spec.count);
    while times.len() < spec.count {
        let t = rng.u64(start..end);
        // A quarter at whole seconds.
        let t = if rng.u8(0..4) == 0 {
            (t - t % 1000).max(start)
        } else {
            t
        };
        times.push(t);
    }
    times.sort_unstable();
    let mut event = |n: usize, t: u64| {
        let value = json!({
            "id": format!("ev-{n}"),
            "timestamp": rfc3339_ms(t),
            "type": TYPES[rng.usize(..TYPES.len())],
            "user_id": rng.u64(1..1000),
        });
        (t, value)
    };
    let mut served = Vec::with_capacity(times.len() + 2);
    if start > 0 {
        served.push(event(0, start - 1));
    }
    for (i, &t) in times.iter().enumerate() {
        served.push(event(i + 1, t));
    }
    served.push(event(times.len() + 1, end));
    EventTruth {
        name: src.name.clone(),
        start: instant(start),
        end: instant(end),
        served: served.into(),
        start_ms: start,
        end_ms: end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN1: &str = "2026-01-01T00:00:00Z";
    const JAN4: &str = "2026-01-04T00:00:00Z";

    fn truth(count: usize) -> EventTruth {
        let src = MockSource::events("ev", JAN1, JAN4, count);
        generate(7, &src, src.events.as_ref().unwrap())
    }

    #[test]
    fn boundary_events_sit_at_midnights_and_just_before() {
        let t = truth(100);
        let stamps: Vec<String> = t
            .events()
            .iter()
            .map(|e| e["timestamp"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(stamps.len(), 100);
        for s in [
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T23:59:59.412Z",
            "2026-01-01T23:59:59.999Z",
            "2026-01-02T00:00:00.000Z",
            "2026-01-03T23:59:59.999Z",
        ] {
            assert!(stamps.iter().any(|x| x == s), "{s} missing");
        }
        assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "by time");
        assert!(stamps.iter().all(|s| s.len() == 24), "milliseconds");
        let ids: Vec<&str> = vec!["ev-1", "ev-100"];
        assert!(ids.iter().all(|id| t.ids().contains(*id)));
        assert!(!t.ids().contains("ev-0") && !t.ids().contains("ev-101"));
    }

    #[test]
    fn windows_are_half_open_and_outside_events_are_served_only_outside() {
        let t = truth(60);
        let day1 = t.between("2026-01-01", "2026-01-02");
        let last = day1.last().unwrap();
        assert_eq!(last["timestamp"], "2026-01-01T23:59:59.999Z");
        assert_eq!(day1[0]["timestamp"], "2026-01-01T00:00:00.000Z");
        let all: usize = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
            .windows(2)
            .map(|w| t.between(w[0], w[1]).len())
            .sum();
        assert_eq!(all, 60, "daily windows cover the range once");
        // A window that ends at the last whole second loses the fraction.
        let lossy = t.between(JAN1, "2026-01-01T23:59:59Z");
        assert_eq!(lossy.len() + 2, day1.len());
        let outside = t.between("2025-12-31", "2026-01-01");
        assert_eq!(outside.len(), 1);
        assert_eq!(outside[0]["timestamp"], "2025-12-31T23:59:59.999Z");
        assert_eq!(t.between(JAN4, "2026-01-05")[0]["id"], "ev-61");
        assert_eq!(truth(60), t, "deterministic");
    }

    #[test]
    fn windows_are_read_from_the_query() {
        let e = Events::new(JAN1, JAN4, 1);
        let (from, to, label) = e
            .window("from=2026-01-01T00:00:00Z&to=2026-01-01T12%3A00%3A00.5%2B01%3A00")
            .unwrap();
        assert_eq!(to - from, 11 * 3_600_000_000_000 + 500_000_000);
        assert_eq!(label, "2026-01-01T00:00:00Z/2026-01-01T12:00:00.5+01:00");
        assert_eq!(
            e.window("from=2026-01-01").unwrap_err(),
            "from and to are required"
        );
        assert!(e
            .window("from=x&to=2026-01-02")
            .unwrap_err()
            .contains("from: not"));
        let backwards = e.window("from=2026-01-02&to=2026-01-01").unwrap_err();
        assert_eq!(backwards, "from must be before to");
        let custom = e.clone();
        let custom = Events {
            from_param: "since".into(),
            to_param: "until".into(),
            ..custom
        };
        assert!(custom.window("since=2026-01-01&until=2026-01-02").is_ok());
        assert_eq!(rfc3339_ms(1_767_311_999_412), "2026-01-01T23:59:59.412Z");
        assert_eq!(instant(e.end_ms), JAN4);
    }
}
