//! A source that runs once per partition (SPEC §12): `parent` (once per
//! record of another source), `partitions.values` (once per value) and
//! `partitions.window` (once per half-open time window), and the
//! `{placeholders}` that put a partition's values into its requests.
//!
//! Everything a user can get wrong is refused here, by name: a placeholder
//! nothing defines, a parent that is not a source, a cycle, a chain deeper
//! than three, an `include` that clashes with a declared field, a window
//! format coarser than its step. The runtime side (filling a request,
//! hashing a partition) is `crate::partition`.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::json::DotPath;
use crate::window::{parse_instant, Step, WindowFormat};

use super::json::{child, quoted, Walker};
use super::{ConfigError, SourceConfig};

type Result<T> = std::result::Result<T, ConfigError>;

const PARENT_KEYS: &[&str] = &["source", "fields", "include", "key_with_parent"];
const PARTITIONS_KEYS: &[&str] = &["name", "values", "window"];
const WINDOW_KEYS: &[&str] = &[
    "start",
    "end",
    "step",
    "start_param",
    "end_param",
    "format",
    "lookback_ms",
];

/// The placeholders a window defines.
pub const WINDOW_START: &str = "window_start";
/// See [`WINDOW_START`].
pub const WINDOW_END: &str = "window_end";

/// The deepest chain of parents: a child, its parent, theirs, and theirs.
const MAX_DEPTH: usize = 3;

/// What a partitioned source runs once per.
#[derive(Debug, Clone, PartialEq)]
pub enum Partitions {
    /// Every valid, first-seen record of another source.
    Parent(Parent),
    /// Every value of a list, as placeholder `name`.
    Values {
        /// The placeholder.
        name: String,
        /// Strings or numbers, in file order.
        values: Vec<Value>,
    },
    /// Half-open time windows.
    Window(Window),
}

/// `parent`: the source whose records a child runs for.
#[derive(Debug, Clone, PartialEq)]
pub struct Parent {
    /// The parent source's name.
    pub source: String,
    /// The parent source's index in the config (set once every source
    /// is read).
    pub index: usize,
    /// Each placeholder and the dot path of its value in a parent item
    /// (as received), in file order.
    pub fields: Vec<(String, DotPath)>,
    /// The placeholders written into every child record, right after
    /// `id`. Defaults to none.
    pub include: Vec<String>,
    /// The child's key is `source:<parent values>/<id>`: its ids are
    /// unique only within a parent. Defaults to false.
    pub key_with_parent: bool,
}

/// `partitions.window`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The first window's start, in ms since the epoch.
    pub start: i64,
    /// The last window's end.
    pub end: WindowEnd,
    /// Each window's length.
    pub step: Step,
    /// The query parameter given each window's start, if any.
    pub start_param: Option<String>,
    /// The query parameter given each window's end (exclusive), if any.
    pub end_param: Option<String>,
    /// How the bounds are written. Defaults to RFC 3339.
    pub format: WindowFormat,
    /// How far before the last completed end the next run starts again
    /// (for data written late). Defaults to 0.
    pub lookback: Duration,
}

/// Where the last window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowEnd {
    /// The run's start, fixed for the run.
    Now,
    /// An instant, in ms since the epoch.
    At(i64),
}

impl Partitions {
    /// The placeholders a partition defines, in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Partitions::Parent(p) => p.fields.iter().map(|(n, _)| n.as_str()).collect(),
            Partitions::Values { name, .. } => vec![name.as_str()],
            Partitions::Window(_) => vec![WINDOW_START, WINDOW_END],
        }
    }

    /// As a config file writes it (for `summary.config`), under the key it
    /// goes in (`parent` or `partitions`).
    pub fn to_json(&self) -> (&'static str, Value) {
        match self {
            Partitions::Parent(p) => {
                let fields: Map<String, Value> = p
                    .fields
                    .iter()
                    .map(|(n, path)| (n.clone(), json!(path)))
                    .collect();
                (
                    "parent",
                    json!({"source": p.source, "fields": fields, "include": p.include,
                           "key_with_parent": p.key_with_parent}),
                )
            }
            Partitions::Values { name, values } => {
                ("partitions", json!({"name": name, "values": values}))
            }
            Partitions::Window(w) => {
                let mut o = json!({
                    "start": WindowFormat::Rfc3339.format(w.start),
                    "end": match w.end {
                        WindowEnd::Now => "now".to_string(),
                        WindowEnd::At(t) => WindowFormat::Rfc3339.format(t),
                    },
                    "step": w.step.to_iso(),
                    "format": w.format.as_str(),
                    "lookback_ms": u64::try_from(w.lookback.as_millis()).unwrap_or(u64::MAX),
                });
                if let Some(p) = &w.start_param {
                    o["start_param"] = json!(p);
                }
                if let Some(p) = &w.end_param {
                    o["end_param"] = json!(p);
                }
                ("partitions", json!({ "window": o }))
            }
        }
    }
}

/// The `{name}` placeholders in `text`: a name is a letter or `_`, then
/// letters, digits and `_` (so GraphQL's `{ id }` and JSON are not one).
pub fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('{').filter_map(move |(at, _)| {
        let rest = &text[at + 1..];
        let end = rest.find('}')?;
        let name = &rest[..end];
        is_placeholder_name(name).then_some(name)
    })
}

fn is_placeholder_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Walker<'_> {
    /// A source's `parent` or `partitions` (at most one), its parent's
    /// index left for [`link_parents`] to set.
    pub(super) fn partitions(&self, o: &super::json::Obj<'_>) -> Result<Option<Partitions>> {
        match (o.get("parent"), o.get("partitions")) {
            (Some(_), Some((p, _))) => Err(self.error(
                &p,
                "expected one of parent and partitions, found both (a source runs once per parent record or once per partition)",
            )),
            (Some((p, v)), None) => self.parent(&p, v).map(Some),
            (None, Some((p, v))) => self.partition_list(&p, v).map(Some),
            (None, None) => Ok(None),
        }
    }

    fn parent(&self, path: &str, v: &Value) -> Result<Partitions> {
        let o = self.object(path, v, PARENT_KEYS)?;
        let (p, s) = self.required(&o, "source", "the name of another source")?;
        let source = self.non_empty(&p, s)?.to_string();
        let (p, f) = self.required(
            &o,
            "fields",
            "an object of placeholder names to dot paths in a parent item, like {\"customer_id\": \"id\"}",
        )?;
        let map = f.as_object().filter(|m| !m.is_empty()).ok_or_else(|| {
            self.mismatch(
                &p,
                "a non-empty object of placeholder names to dot paths",
                f,
            )
        })?;
        let mut fields = Vec::new();
        for (name, path) in map {
            let at = child(&p, name);
            if !is_placeholder_name(name) {
                return Err(self.error(
                    &at,
                    "expected a placeholder name (a letter or _, then letters, digits, _)",
                ));
            }
            fields.push((name.clone(), self.dot_path(&at, path)?));
        }
        let include = match o.get("include") {
            None => Vec::new(),
            Some((p, v)) => {
                let list = v
                    .as_array()
                    .ok_or_else(|| self.mismatch(&p, "an array of names of `fields`", v))?;
                let mut include = Vec::new();
                for (i, v) in list.iter().enumerate() {
                    let at = format!("{p}[{i}]");
                    match v.as_str() {
                        Some(name) if map.contains_key(name) => include.push(name.to_string()),
                        _ => {
                            let names: Vec<&str> = map.keys().map(String::as_str).collect();
                            let what = format!("one of the fields ({})", names.join(", "));
                            return Err(self.mismatch(&at, &what, v));
                        }
                    }
                }
                include
            }
        };
        let key_with_parent = self.bool(&o, "key_with_parent")?.unwrap_or(false);
        Ok(Partitions::Parent(Parent {
            source,
            index: usize::MAX,
            fields,
            include,
            key_with_parent,
        }))
    }

    fn partition_list(&self, path: &str, v: &Value) -> Result<Partitions> {
        let o = self.object(path, v, PARTITIONS_KEYS)?;
        match (o.get("values"), o.get("window")) {
            (Some(_), Some((p, _))) => {
                Err(self.error(&p, "expected one of values and window, found both"))
            }
            (None, None) => Err(self.error(
                path,
                "expected \"values\" (with \"name\") or \"window\", found neither",
            )),
            (None, Some((p, w))) => {
                if let Some((p, _)) = o.get("name") {
                    return Err(self.error(
                        &p,
                        "expected no name beside window (its placeholders are {window_start} and {window_end})",
                    ));
                }
                self.window(&p, w).map(Partitions::Window)
            }
            (Some((p, list)), None) => {
                let (np, n) =
                    self.required(&o, "name", "the placeholder's name, like \"region\"")?;
                let name = self.non_empty(&np, n)?;
                if !is_placeholder_name(name) {
                    return Err(self.mismatch(
                        &np,
                        "a placeholder name (a letter or _, then letters, digits, _)",
                        n,
                    ));
                }
                let values = list.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
                    self.mismatch(&p, "a non-empty array of strings or numbers", list)
                })?;
                for (i, v) in values.iter().enumerate() {
                    if !(v.is_string() || v.is_number()) {
                        return Err(self.mismatch(&format!("{p}[{i}]"), "a string or a number", v));
                    }
                }
                Ok(Partitions::Values {
                    name: name.to_string(),
                    values: values.clone(),
                })
            }
        }
    }

    fn window(&self, path: &str, v: &Value) -> Result<Window> {
        let o = self.object(path, v, WINDOW_KEYS)?;
        let instant = "an instant like \"2026-01-01T00:00:00Z\" or \"2026-01-01\"";
        let (p, s) = self.required(&o, "start", instant)?;
        let start = s
            .as_str()
            .and_then(parse_instant)
            .ok_or_else(|| self.mismatch(&p, instant, s))?;
        let end = match o.get("end") {
            None => WindowEnd::Now,
            Some((_, Value::String(s))) if s == "now" => WindowEnd::Now,
            Some((p, e)) => {
                let t = e.as_str().and_then(parse_instant).ok_or_else(|| {
                    self.mismatch(&p, "\"now\" or an instant like \"2026-02-01T00:00:00Z\"", e)
                })?;
                if t <= start {
                    return Err(self.error(&p, "expected an end after start"));
                }
                WindowEnd::At(t)
            }
        };
        let (p, s) = self.required(&o, "step", "an ISO 8601 duration like \"P1D\" or \"PT1H\"")?;
        let step = match s.as_str().map(Step::parse) {
            Some(Ok(step)) => step,
            Some(Err(why)) => return Err(self.error(&p, why)),
            None => return Err(self.mismatch(&p, "an ISO 8601 duration like \"P1D\"", s)),
        };
        let format = match o.get("format") {
            None => WindowFormat::Rfc3339,
            Some((p, f)) => f.as_str().and_then(WindowFormat::parse).ok_or_else(|| {
                self.mismatch(
                    &p,
                    "one of \"rfc3339\", \"date\", \"epoch\", \"epoch_ms\"",
                    f,
                )
            })?,
        };
        if let Err(why) = crate::window::check(format, start, &step) {
            return Err(self.error(&child(path, "format"), why));
        }
        let param = |key: &str| -> Result<Option<String>> {
            match o.get(key) {
                None => Ok(None),
                Some((p, v)) => Ok(Some(self.non_empty(&p, v)?.to_string())),
            }
        };
        let lookback = self.int(&o, "lookback_ms", 0, u64::MAX)?.unwrap_or(0);
        Ok(Window {
            start,
            end,
            step,
            start_param: param("start_param")?,
            end_param: param("end_param")?,
            format,
            lookback: Duration::from_millis(lookback),
        })
    }

    /// Every placeholder of source `path`'s url, query and headers is one
    /// its partitions define, and some place uses one (else every
    /// partition would send the same request); a source without
    /// partitions uses none. Body strings are filled only with names that
    /// are defined: a GraphQL query is full of braces.
    pub(super) fn check_placeholders(
        &self,
        path: &str,
        source: &SourceConfig,
        raw_url: &str,
    ) -> Result<()> {
        let defined = source
            .partitions
            .as_ref()
            .map(Partitions::names)
            .unwrap_or_default();
        let mut used = false;
        let mut places: Vec<(String, &str)> = vec![(child(path, "url"), raw_url)];
        places.extend(
            source
                .query
                .iter()
                .map(|q| (child(&child(path, "query"), &q.name), q.value.as_str())),
        );
        places.extend(
            source
                .headers
                .iter()
                .map(|h| (child(&child(path, "headers"), &h.name), h.value.as_str())),
        );
        for (at, text) in places {
            for name in placeholders(text) {
                if !defined.contains(&name) {
                    let why = match &source.partitions {
                        None => format!(
                            "placeholder {{{name}}} but the source has no parent or partitions to fill it"
                        ),
                        Some(_) => format!(
                            "unknown placeholder {{{name}}} (defined: {})",
                            defined.iter().map(|n| format!("{{{n}}}")).collect::<Vec<_>>().join(", ")
                        ),
                    };
                    return Err(self.error(&at, why));
                }
                used = true;
            }
        }
        let in_body = source
            .body
            .as_deref()
            .is_some_and(|b| placeholders(b).any(|n| defined.contains(&n)));
        let window_params = matches!(&source.partitions, Some(Partitions::Window(w))
            if w.start_param.is_some() || w.end_param.is_some());
        if source.partitions.is_some() && !(used || in_body || window_params) {
            return Err(self.error(
                path,
                format_args!(
                    "expected a placeholder ({}) in url, query, headers or body: every partition would send the same request",
                    defined.iter().map(|n| format!("{{{n}}}")).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Sets each child's parent index, and refuses a parent that is not a
    /// source (or is the child), a cycle, a chain deeper than three, and
    /// an `include` that clashes with a field the child's records have.
    pub(super) fn link_parents(&self, sources: &mut [SourceConfig]) -> Result<()> {
        let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
        for (i, source) in sources.iter_mut().enumerate() {
            let Some(Partitions::Parent(parent)) = &mut source.partitions else {
                continue;
            };
            let at = format!("sources[{i}].parent.source");
            match names.iter().position(|n| *n == parent.source) {
                Some(j) if j == i => {
                    return Err(self.error(&at, "expected another source, found the source itself"))
                }
                Some(j) => parent.index = j,
                None => {
                    return Err(self.error(
                        &at,
                        format_args!(
                            "expected the name of a source ({}), found {}",
                            names.join(", "),
                            quoted(&parent.source)
                        ),
                    ))
                }
            }
            for name in &parent.include {
                if ["key", "source", "id"].contains(&name.as_str())
                    || source.record.is_own_field(name)
                {
                    return Err(self.error(
                        &format!("sources[{i}].parent.include"),
                        format_args!(
                            "{} is also a field of the records: rename the placeholder in fields",
                            quoted(name)
                        ),
                    ));
                }
            }
        }
        for (i, _) in sources.iter().enumerate() {
            let mut chain = vec![i];
            let mut at = i;
            while let Some(Partitions::Parent(p)) = &sources[at].partitions {
                at = p.index;
                if chain.contains(&at) {
                    let names: Vec<&str> = chain
                        .iter()
                        .chain([&at])
                        .map(|&k| sources[k].name.as_str())
                        .collect();
                    return Err(self.error(
                        &format!("sources[{i}].parent"),
                        format_args!("a cycle of parents: {}", names.join(" → ")),
                    ));
                }
                chain.push(at);
                if chain.len() > MAX_DEPTH + 1 {
                    return Err(self.error(
                        &format!("sources[{i}].parent"),
                        format_args!("a chain of parents deeper than {MAX_DEPTH}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A config of `sources` (JSON objects' texts), parsed.
    fn parse(sources: &[&str]) -> std::result::Result<Config, String> {
        let text = format!("{{\"sources\": [{}]}}", sources.join(","));
        Config::parse("cfg.json", &text).map_err(|e| e.0)
    }

    const PARENT: &str = r#"{"name": "customers", "url": "http://h/customers"}"#;

    #[test]
    fn fan_out_mistakes_are_refused_by_name() {
        let child = |parent: &str, url: &str| {
            format!(r#"{{"name": "orders", "url": "{url}", "parent": {parent}}}"#)
        };
        let ok = r#"{"source": "customers", "fields": {"cid": "id"}}"#;
        for (sources, expected) in [
            (
                vec![PARENT.to_string(), child(ok, "http://h/c/{cid}/o/{oid}")],
                "sources[1].url: unknown placeholder {oid} (defined: {cid})",
            ),
            (
                vec![PARENT.to_string(), child(ok, "http://h/orders")],
                "sources[1]: expected a placeholder ({cid}) in url, query, headers or body",
            ),
            (
                vec![r#"{"name": "a", "url": "http://h/{x}"}"#.to_string()],
                "sources[0].url: placeholder {x} but the source has no parent or partitions",
            ),
            (
                vec![
                    PARENT.to_string(),
                    child(r#"{"source": "custom", "fields": {"cid": "id"}}"#, "http://h/{cid}"),
                ],
                "sources[1].parent.source: expected the name of a source (customers, orders), found \"custom\"",
            ),
            (
                vec![child(r#"{"source": "orders", "fields": {"cid": "id"}}"#, "http://h/{cid}")],
                "sources[0].parent.source: expected another source, found the source itself",
            ),
            (
                vec![
                    PARENT.to_string(),
                    child(
                        r#"{"source": "customers", "fields": {"name": "id"}, "include": ["name"]}"#,
                        "http://h/{name}",
                    ),
                ],
                "sources[1].parent.include: \"name\" is also a field of the records",
            ),
            (
                vec![
                    PARENT.to_string(),
                    child(r#"{"source": "customers", "fields": {"cid": "id"}, "include": ["x"]}"#, "http://h/{cid}"),
                ],
                "sources[1].parent.include[0]: expected one of the fields (cid), found \"x\"",
            ),
            (
                vec![
                    r#"{"name": "a", "url": "http://h/{v}", "parent": {"source": "b", "fields": {"v": "id"}}}"#.to_string(),
                    r#"{"name": "b", "url": "http://h/{v}", "parent": {"source": "a", "fields": {"v": "id"}}}"#.to_string(),
                ],
                "sources[0].parent: a cycle of parents: a → b → a",
            ),
            (
                vec![
                    r#"{"name": "a", "url": "http://h/{r}", "partitions": {"name": "r", "values": ["eu"]}, "parent": {"source": "b", "fields": {"v": "id"}}}"#.to_string(),
                ],
                "sources[0].partitions: expected one of parent and partitions, found both",
            ),
            (
                vec![
                    r#"{"name": "a", "url": "http://h/", "partitions": {"window": {"start": "2026-01-01", "step": "PT1H", "format": "date", "start_param": "from"}}}"#.to_string(),
                ],
                "sources[0].partitions.window.format:",
            ),
            (
                vec![
                    r#"{"name": "a", "url": "http://h/", "partitions": {"window": {"start": "2026-01-01", "step": "1d", "start_param": "from"}}}"#.to_string(),
                ],
                "sources[0].partitions.window.step: expected an ISO 8601 duration",
            ),
        ] {
            let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
            let got = parse(&refs).expect_err(expected);
            assert!(got.contains(expected), "expected: {expected}\n     got: {got}");
        }
    }

    #[test]
    fn a_chain_deeper_than_three_is_refused_and_three_is_not() {
        let level = |name: &str, parent: &str| {
            format!(
                r#"{{"name": "{name}", "url": "http://h/{{v}}", "parent": {{"source": "{parent}", "fields": {{"v": "id"}}}}}}"#
            )
        };
        let mut sources = vec![PARENT.to_string()];
        for (name, parent) in [("l1", "customers"), ("l2", "l1"), ("l3", "l2")] {
            sources.push(level(name, parent));
        }
        let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        let config = parse(&refs).expect("three levels");
        match &config.sources[3].partitions {
            Some(Partitions::Parent(p)) => assert_eq!((p.source.as_str(), p.index), ("l2", 2)),
            other => panic!("{other:?}"),
        }
        sources.push(level("l4", "l3"));
        let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        let got = parse(&refs).unwrap_err();
        assert!(
            got.contains("sources[4].parent: a chain of parents deeper than 3"),
            "{got}"
        );
    }

    #[test]
    fn partitions_read_back_from_the_summary_config() {
        let config = parse(&[
            PARENT,
            r#"{"name": "orders", "url": "http://h/c/{cid}", "emit": false,
                "parent": {"source": "customers", "fields": {"cid": "id"}, "include": ["cid"], "key_with_parent": true}}"#,
            r#"{"name": "r", "url": "http://h/r", "query": {"region": "{region}"},
                "partitions": {"name": "region", "values": ["eu", 7]}}"#,
            r#"{"name": "w", "url": "http://h/w", "partitions": {"window": {"start": "2026-01-01", "end": "2026-02-01T00:00:00Z",
                "step": "P7D", "start_param": "from", "end_param": "to", "format": "epoch_ms", "lookback_ms": 5}}}"#,
        ])
        .unwrap();
        let again = Config::parse("summary", &config.to_redacted_json().to_string()).unwrap();
        assert_eq!(again.sources, config.sources);
    }

    #[test]
    fn placeholders_are_names_in_braces_and_not_graphql_selections() {
        let found: Vec<&str> =
            placeholders("http://h/c/{customer_id}/o?x={ region }&y={_a1}&{}").collect();
        assert_eq!(found, ["customer_id", "_a1"]);
        let graphql =
            "query($after: String) { repository { issues(after: $after) { nodes { id } } } }";
        assert_eq!(placeholders(graphql).count(), 0);
    }
}
