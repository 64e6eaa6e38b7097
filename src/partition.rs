//! One partition of a partitioned source (SPEC §12): the placeholder
//! values it stands for, the requests they fill, and the stable hash that
//! names it in the state and picks its shard.
//!
//! A parent's values are read from the item as received, at the dot paths
//! `parent.fields` names; a value is its text when it is a string, a
//! number (its exact JSON text) or a boolean, and nothing otherwise (the
//! partition is then skipped and counted, never sent as `/orders/null`).
//! In a URL a value is percent-encoded for its place — a path segment
//! before the `?`, a query value after it — so `a/b` or `x&y=1` cannot
//! change what is requested.

use std::fmt;

use serde_json::Value;

use crate::config::{Parent, Partitions, SourceConfig, WINDOW_END, WINDOW_START};
use crate::json::Node;
use crate::url::{encode_component, percent_encode, set_query_param};
use crate::window::Intervals;

/// One placeholder's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartValue {
    /// The placeholder's name.
    pub name: String,
    /// The value as text: what fills a placeholder.
    pub text: String,
    /// The value as JSON (a string quoted, a number as it came): what
    /// `include` writes into a record.
    pub json: String,
}

/// One partition: its placeholder values, in the order the source
/// defines them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Partition {
    /// The values, in order.
    pub values: Vec<PartValue>,
    /// A window's bounds, in ms since the epoch.
    pub window: Option<(i64, i64)>,
}

/// What a child record carries from its partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inherited {
    /// `include`d placeholders: name and JSON value, written after `id`.
    pub include: Vec<(String, String)>,
    /// `key_with_parent`: the parent values joined by `/`, put before the
    /// id in the key.
    pub scope: Option<String>,
}

impl Partition {
    /// A window `[from, to)`, its bounds written in `format`.
    pub fn window(from: i64, to: i64, format: crate::window::WindowFormat) -> Partition {
        let value = |name: &str, t: i64| {
            let text = format.format(t);
            let json = match format {
                crate::window::WindowFormat::Epoch | crate::window::WindowFormat::EpochMs => {
                    text.clone()
                }
                _ => Value::String(text.clone()).to_string(),
            };
            PartValue {
                name: name.to_string(),
                text,
                json,
            }
        };
        Partition {
            values: vec![value(WINDOW_START, from), value(WINDOW_END, to)],
            window: Some((from, to)),
        }
    }

    /// One value of a `partitions.values` list.
    pub fn value(name: &str, value: &Value) -> Partition {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Partition {
            values: vec![PartValue {
                name: name.to_string(),
                text,
                json: value.to_string(),
            }],
            window: None,
        }
    }

    /// The partition a parent item stands for, or the name of the first
    /// field it has no usable value for.
    pub fn of_parent<'p>(parent: &'p Parent, item: &Node<'_>) -> Result<Partition, &'p str> {
        let mut values = Vec::with_capacity(parent.fields.len());
        for (name, path) in &parent.fields {
            let (text, json) = match path.get(item) {
                Some(Node::String(s)) if !s.is_empty() => {
                    let mut json = Vec::new();
                    crate::json::node::write_str(&mut json, s);
                    (s.to_string(), String::from_utf8(json).unwrap_or_default())
                }
                Some(Node::Number(n)) => (n.to_string(), n.to_string()),
                Some(Node::Bool(b)) => (b.to_string(), b.to_string()),
                _ => return Err(name),
            };
            values.push(PartValue {
                name: name.clone(),
                text,
                json,
            });
        }
        Ok(Partition {
            values,
            window: None,
        })
    }

    /// The text of placeholder `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.text.as_str())
    }

    /// A stable 64-bit name of this partition (FNV-1a over its names and
    /// values): the same on every machine and every run, for the state's
    /// completed partitions and for `--shard`.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv::default();
        for v in &self.values {
            h.write(v.name.as_bytes());
            h.write(b"=");
            h.write(v.text.as_bytes());
            h.write(b"\x1f");
        }
        h.0
    }

    /// What a child record of `parent` carries from this partition.
    pub fn inherited(&self, parent: &Parent) -> Inherited {
        Inherited {
            include: parent
                .include
                .iter()
                .filter_map(|name| {
                    let v = self.values.iter().find(|v| v.name == *name)?;
                    Some((name.clone(), v.json.clone()))
                })
                .collect(),
            // Each value with `%` and `/` escaped, so that no two
            // partitions' keys meet (`a/b` + `c` is not `a` + `b/c`).
            scope: parent.key_with_parent.then(|| {
                let texts: Vec<String> = self
                    .values
                    .iter()
                    .map(|v| v.text.replace('%', "%25").replace('/', "%2F"))
                    .collect();
                texts.join("/")
            }),
        }
    }

    /// `url` with each placeholder filled, percent-encoded for its place
    /// (a `{name}` set through `query` went in encoded, as `%7Bname%7D`).
    pub fn fill_url(&self, url: &str) -> String {
        let query_at = url.find('?').unwrap_or(url.len());
        let (path, query) = url.split_at(query_at);
        let mut out = self.fill(path, false, |s| {
            // `.` and `..` as a value would be dot-segments, which a server
            // or proxy resolves to another resource.
            if !s.is_empty() && s.chars().all(|c| c == '.') {
                return "%2E".repeat(s.len());
            }
            percent_encode(s, |c| {
                !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c))
            })
        });
        let query = self.fill(query, true, encode_component);
        out.push_str(&query);
        out
    }

    /// `text` (a header value) with each placeholder filled as it is.
    pub fn fill_text(&self, text: &str) -> String {
        self.fill(text, false, str::to_string)
    }

    /// A JSON body with each placeholder filled in its strings: a string
    /// that is one placeholder and nothing else takes the value with its
    /// JSON type (`"{customer_id}"` becomes `17` for a numeric id).
    pub fn fill_body(&self, body: &str) -> String {
        let Ok(mut doc) = serde_json::from_str::<Value>(body) else {
            return body.to_string();
        };
        self.fill_json(&mut doc);
        doc.to_string()
    }

    fn fill_json(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                let whole = s
                    .strip_prefix('{')
                    .and_then(|r| r.strip_suffix('}'))
                    .and_then(|name| self.values.iter().find(|p| p.name == name));
                *v = match whole {
                    Some(p) => serde_json::from_str(&p.json).unwrap_or(Value::Null),
                    None => Value::String(self.fill(s, false, str::to_string)),
                };
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.fill_json(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.fill_json(i)),
            _ => {}
        }
    }

    /// `text` with `{name}` (and, with `encoded`, `%7Bname%7D`) of every
    /// value replaced by `encode(value)`; other braces stay.
    ///
    /// One pass over `text`: a value that itself reads `{other}` is
    /// written as it is, never filled again.
    fn fill(&self, text: &str, encoded: bool, encode: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while !rest.is_empty() {
            for v in &self.values {
                let braces = [("{", "}"), ("%7B", "%7D"), ("%7b", "%7d")];
                for (open, close) in braces.iter().take(if encoded { 3 } else { 1 }) {
                    let Some(after) = rest
                        .strip_prefix(open)
                        .and_then(|r| r.strip_prefix(v.name.as_str()))
                        .and_then(|r| r.strip_prefix(close))
                    else {
                        continue;
                    };
                    out.push_str(&encode(&v.text));
                    rest = after;
                    continue 'scan;
                }
            }
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

impl fmt::Display for Partition {
    /// `customer_id=17 region=eu`, as logs and `failed_partitions` show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}", v.name, crate::text::shorten(&v.text, 80))?;
        }
        Ok(())
    }
}

/// A partitioned source's requests for one partition: its URL (from
/// `url`, the start URL, with a window's parameters set), its body and
/// its headers, placeholders filled.
#[derive(Debug, Clone)]
pub struct Filled {
    /// The first page's URL.
    pub url: String,
    /// The body, if the source has one.
    pub body: Option<String>,
    /// The configured headers, filled.
    pub headers: Vec<crate::config::Header>,
}

impl Partition {
    /// This partition's requests for `source`, starting at `url`.
    pub fn filled(&self, source: &SourceConfig, url: &str) -> Filled {
        let mut url = self.fill_url(url);
        if let Some(Partitions::Window(w)) = &source.partitions {
            for (param, name) in [(&w.start_param, WINDOW_START), (&w.end_param, WINDOW_END)] {
                if let (Some(param), Some(value)) = (param, self.text(name)) {
                    url = set_query_param(&url, param, value);
                }
            }
        }
        Filled {
            url,
            body: source.body.as_deref().map(|b| self.fill_body(b)),
            headers: source
                .headers
                .iter()
                .map(|h| crate::config::Header {
                    value: self.fill_text(&h.value),
                    ..h.clone()
                })
                .collect(),
        }
    }
}

impl Partition {
    /// The partitions of a list or of windows, in order, made as they
    /// are taken (years of one-minute windows are millions); none for a
    /// parent's. Windows end at `end`, but never after `now_ms`, the
    /// run's start: a window of the future would be saved as done before
    /// its data exists. Windows inside `done` (completed by earlier runs)
    /// are left out, but for those ending within `lookback_ms` of the
    /// last one completed.
    pub fn listed(
        partitions: &Partitions,
        now_ms: i64,
        done: &Intervals,
    ) -> Box<dyn Iterator<Item = Partition> + Send> {
        match partitions {
            Partitions::Parent(_) => Box::new(std::iter::empty()),
            Partitions::Values { name, values } => {
                let list: Vec<Partition> =
                    values.iter().map(|v| Partition::value(name, v)).collect();
                Box::new(list.into_iter())
            }
            Partitions::Window(w) => {
                let end = match w.end {
                    crate::config::WindowEnd::Now => now_ms,
                    crate::config::WindowEnd::At(t) => t.min(now_ms),
                };
                // A format coarser than the clock ends at its last whole
                // day or second: the rest waits for the next run.
                let end = w.format.floor(end);
                let lookback = i64::try_from(w.lookback.as_millis()).unwrap_or(i64::MAX);
                let again_from = done
                    .iter()
                    .last()
                    .map_or(i64::MIN, |(_, last)| last.saturating_sub(lookback));
                let (done, format) = (done.clone(), w.format);
                Box::new(
                    crate::window::windows(w.start, end, &w.step)
                        .filter(move |&(from, to)| !done.covers(from, to) || to > again_from)
                        .map(move |(from, to)| Partition::window(from, to, format)),
                )
            }
        }
    }
}

/// `--shard K/N`: this run's share of the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 0.
    pub index: u32,
    /// N, at least 1.
    pub count: u32,
}

impl Shard {
    /// Whether the work named by `hash` is this shard's.
    pub fn owns(self, hash: u64) -> bool {
        hash % u64::from(self.count) == u64::from(self.index)
    }

    /// Whether source `name`, run once, is this shard's.
    pub fn owns_source(self, name: &str) -> bool {
        self.owns(name_hash(name))
    }
}

/// The stable hash of a source's name, for `--shard` of a source that
/// runs once.
pub fn name_hash(name: &str) -> u64 {
    stable_hash(name.as_bytes())
}

/// A stable 64-bit hash of `bytes` (FNV-1a): the same on every machine,
/// in every run and every version, for what the state names by a hash.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.write(bytes);
    h.0
}

/// 64-bit FNV-1a: tiny, stable across platforms and versions (unlike
/// std's `DefaultHasher`), and good enough to spread partitions.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(pairs: &[(&str, &str)]) -> Partition {
        Partition {
            values: pairs
                .iter()
                .map(|(n, t)| PartValue {
                    name: n.to_string(),
                    text: t.to_string(),
                    json: Value::String(t.to_string()).to_string(),
                })
                .collect(),
            window: None,
        }
    }

    #[test]
    fn values_are_encoded_for_their_place_in_the_url() {
        let p = partition(&[("id", "a/b c"), ("q", "x&y=1")]);
        assert_eq!(
            p.fill_url("http://h/c/{id}/o?f={q}&g=%7Bid%7D"),
            "http://h/c/a%2Fb%20c/o?f=x%26y%3D1&g=a%2Fb%20c"
        );
        // A brace pair that is no value's name stays.
        assert_eq!(p.fill_url("http://h/{other}"), "http://h/{other}");
    }

    #[test]
    fn a_value_is_filled_once_and_never_read_as_a_placeholder_itself() {
        let p = partition(&[("cid", "{b}"), ("b", "INJECTED")]);
        assert_eq!(
            p.fill_url("http://h/{cid}/{b}?q={cid}&r=%7Bb%7D"),
            "http://h/%7Bb%7D/INJECTED?q=%7Bb%7D&r=INJECTED"
        );
        assert_eq!(p.fill_text("X {cid} {b}"), "X {b} INJECTED");
        assert_eq!(
            p.fill_body(r#"{"s":"id={cid};b={b}","t":"{cid}"}"#),
            r#"{"s":"id={b};b=INJECTED","t":"{b}"}"#
        );
    }

    #[test]
    fn dot_segments_and_slashes_cannot_change_the_resource_or_the_key() {
        let dots = partition(&[("cid", ".."), ("x", ".")]);
        assert_eq!(
            dots.fill_url("http://h/c/{cid}/{x}/o?q={cid}"),
            "http://h/c/%2E%2E/%2E/o?q=.."
        );
        let parent = |fields: &[&str]| Parent {
            source: "p".into(),
            index: 0,
            fields: fields
                .iter()
                .map(|f| (f.to_string(), f.parse::<crate::json::DotPath>().unwrap()))
                .collect(),
            include: vec![],
            key_with_parent: true,
        };
        let two = parent(&["a", "b"]);
        let scope = |a: &str, b: &str| partition(&[("a", a), ("b", b)]).inherited(&two).scope;
        assert_ne!(scope("a/b", "c"), scope("a", "b/c"));
        assert_eq!(scope("a/b", "50%").as_deref(), Some("a%2Fb/50%25"));
    }

    #[test]
    fn a_body_string_that_is_one_placeholder_takes_the_values_json_type() {
        let item = Node::parse(r#"{"id": 17, "name": "Ada"}"#).unwrap();
        let parent = Parent {
            source: "p".into(),
            index: 0,
            fields: vec![
                ("cid".into(), "id".parse::<crate::json::DotPath>().unwrap()),
                (
                    "who".into(),
                    "name".parse::<crate::json::DotPath>().unwrap(),
                ),
            ],
            include: vec!["cid".into()],
            key_with_parent: true,
        };
        let p = Partition::of_parent(&parent, &item).unwrap();
        assert_eq!(
            p.fill_body(r#"{"customer":"{cid}","q":"by {who}","n":[1]}"#),
            r#"{"customer":17,"q":"by Ada","n":[1]}"#
        );
        let inherited = p.inherited(&parent);
        assert_eq!(inherited.include, [("cid".to_string(), "17".to_string())]);
        assert_eq!(inherited.scope.as_deref(), Some("17/Ada"));
        assert_eq!(p.to_string(), "cid=17 who=Ada");
    }

    #[test]
    fn a_parent_without_a_usable_value_names_the_field() {
        let parent = Parent {
            source: "p".into(),
            index: 0,
            fields: vec![("cid".into(), "id".parse::<crate::json::DotPath>().unwrap())],
            include: vec![],
            key_with_parent: false,
        };
        for item in [
            r#"{"x":1}"#,
            r#"{"id":null}"#,
            r#"{"id":""}"#,
            r#"{"id":{"a":1}}"#,
        ] {
            let node = Node::parse(item).unwrap();
            assert_eq!(Partition::of_parent(&parent, &node), Err("cid"), "{item}");
        }
    }

    #[test]
    fn the_hash_is_stable_and_tells_values_apart() {
        // Fixed: a state file written by one version is read by the next.
        assert_eq!(partition(&[("id", "17")]).hash(), 0x613c_bf5e_5562_c490);
        assert_ne!(
            partition(&[("id", "17")]).hash(),
            partition(&[("id", "71")]).hash()
        );
        assert_ne!(
            partition(&[("a", "1"), ("b", "23")]).hash(),
            partition(&[("a", "12"), ("b", "3")]).hash()
        );
    }
}
