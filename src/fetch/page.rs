//! Reading a page body: where its items are, what its envelope says, and
//! `Link` headers.
//!
//! A body is read once into one buffer and checked once as JSON; no tree
//! is built for its items. [`Page::parse`] finds the item array — by
//! `items_path` or, when that is omitted, by the auto-detection of SPEC §3:
//! the body itself if it is an array; else a breadth-first search over
//! nested objects (3 levels) for the first usual key (`data`, `items`, …)
//! holding an array; else, only when no usual key appears anywhere, the
//! single array-valued top-level field other than `errors` — and keeps
//! each item as a byte span of the shared body, to be parsed where it is
//! normalized. The envelope stays text too: [`Page::get`] parses only the
//! path the paginator asks for (a cursor, a total), and [`Page::find`]
//! tells a key that is missing from one that is there with `null` — the
//! difference between a wrong path and the end of the data. A page also
//! keeps its answer's response headers, so that an envelope path that
//! reads a header ([`Page::get_at`], SPEC §11) is read where a body path
//! is.

use std::ops::Range;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::config::EnvelopePath;
use crate::json::DotPath;

use super::headers::Headers;

/// Usual names of the item array, in order of preference.
const USUAL_KEYS: [&str; 7] = [
    "data", "items", "results", "products", "records", "entries", "rows",
];

/// Levels searched by auto-detection (the body is level 1).
const MAX_DEPTH: usize = 3;

/// Why a body is not a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not valid UTF-8 JSON; serde_json's message.
    Malformed(String),
    /// JSON, but without an item array: what the body holds instead (its
    /// top-level keys), so that a wrong `items_path` can be put right.
    NoItems(String),
}

/// What a page's envelope holds at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'p> {
    /// The key is missing (or a step of the path is not an object or an
    /// array holding it): the path is likely wrong.
    Absent,
    /// The key is there, with `null`: a server saying "none".
    Null,
    /// The key is there with a value: its JSON text.
    Value(&'p str),
}

/// A page body that is JSON, with its items found.
#[derive(Debug, Clone)]
pub struct Page {
    /// The whole body; items are spans of it.
    pub text: Arc<String>,
    /// The item array's span in `text` (already checked as JSON).
    array: Range<usize>,
    /// Where the item array is: `items_path`, or what detection found
    /// (the root path for a body that is the array).
    pub found_at: DotPath,
    /// The top-level members' spans, when the body is an object (what the
    /// paginator's paths start from).
    top: Vec<(String, Range<usize>)>,
    /// The answer's response headers (empty until
    /// [`with_headers`](Self::with_headers)).
    pub headers: Headers,
}

impl Page {
    /// Checks `text` as one JSON document and finds its item array. A
    /// leading UTF-8 byte order mark is skipped, as RFC 8259 allows. The
    /// body is read as a whole once (which checks all of it), then only
    /// the item array and the objects the detection looks into.
    pub fn parse(text: String, items_path: Option<&DotPath>) -> Result<Page, BodyError> {
        Self::parse_keeping(text, items_path).map_err(|(e, _)| e)
    }

    /// [`parse`](Self::parse), giving the text back with the error: a
    /// body that is no page may still be what an `on_response` rule
    /// looks for (a 200 whose body says `"status": "error"`).
    pub fn parse_keeping(
        text: String,
        items_path: Option<&DotPath>,
    ) -> Result<Page, (BodyError, String)> {
        match locate(&text, items_path) {
            Ok((array, found_at, top)) => Ok(Page {
                array,
                found_at,
                top,
                text: Arc::new(text),
                headers: Headers::default(),
            }),
            Err(e) => Err((e, text)),
        }
    }

    /// The same page, with its answer's response headers.
    pub fn with_headers(mut self, headers: Headers) -> Page {
        self.headers = headers;
        self
    }

    /// The value at an envelope path, in the body or in a response
    /// header: [`get`](Self::get) for a body path, [`Headers::value`]
    /// for a header.
    pub fn get_at(&self, path: &EnvelopePath) -> Option<Value> {
        match path {
            EnvelopePath::Body(path) => self.get(path),
            EnvelopePath::Header { key, path, .. } => self.headers.value(key, path.as_ref()),
        }
    }

    /// Whether an envelope path is in the answer, with `null` or a value:
    /// [`find`](Self::find) for a body path, [`Headers::find`] for a
    /// header (a header's own value is its text).
    pub fn find_at(&self, path: &EnvelopePath) -> Found<'_> {
        match path {
            EnvelopePath::Body(path) => self.find(path),
            EnvelopePath::Header { key, path, .. } => self.headers.find(key, path.as_ref()),
        }
    }

    /// The value at `path` in the body's envelope, parsed on its own: only
    /// the top-level member the path starts at is read again. `None` when
    /// the key is missing, `Some(Value::Null)` when it holds `null`.
    pub fn get(&self, path: &DotPath) -> Option<Value> {
        match self.find(path) {
            Found::Absent => None,
            Found::Null => Some(Value::Null),
            Found::Value(text) => serde_json::from_str(text).ok(),
        }
    }

    /// Whether `path` is in the body's envelope, with `null` or a value
    /// (its text, not parsed): a missing key is not an end of data.
    pub fn find(&self, path: &DotPath) -> Found<'_> {
        match self.raw(path) {
            None => Found::Absent,
            Some(raw) if kind(raw) == b'n' => Found::Null,
            Some(raw) => Found::Value(raw.get()),
        }
    }

    fn raw(&self, path: &DotPath) -> Option<&RawValue> {
        if self.top.is_empty() {
            let json = self.text.trim_start_matches('\u{feff}');
            return at_path(serde_json::from_str(json).ok()?, path);
        }
        let mut segments = path.segments();
        let (first, _) = segments.next()?;
        // The last member of that name, as serde_json's maps keep it.
        let (_, span) = self.top.iter().rev().find(|(k, _)| k == first)?;
        walk(
            serde_json::from_str(&self.text[span.clone()]).ok()?,
            segments,
        )
    }

    /// The body's top-level keys in document order, or `None` when the
    /// body is not an object (a bare array): what a wrong envelope path
    /// can be put right with.
    pub fn top_keys(&self) -> Option<impl Iterator<Item = &str>> {
        let json = self.text.trim_start_matches('\u{feff}').trim_start();
        json.starts_with('{')
            .then(|| self.top.iter().map(|(k, _)| k.as_str()))
    }

    /// A page of `text` read for its envelope only, items or not: what the
    /// paginator's tests give it.
    #[cfg(test)]
    pub fn envelope(text: String) -> Page {
        let top = serde_json::from_str::<Members<'_>>(&text)
            .map(|m| {
                m.0.iter()
                    .map(|(k, v)| (k.clone(), span(&text, v.get())))
                    .collect()
            })
            .unwrap_or_default();
        Page {
            text: Arc::new(text),
            array: 0..0,
            found_at: DotPath::root(),
            top,
            headers: Headers::default(),
        }
    }

    /// The page's last item, parsed on its own (`last_item_path`).
    pub fn last_item(&self) -> Option<Value> {
        let last = self.items().last()?;
        serde_json::from_str(&self.text[last]).ok()
    }

    /// How many items the page holds (a pass over them).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.items().count()
    }

    /// Each item's span of [`text`](Self::text), in order, found as they
    /// are asked for: a page holds no list of them.
    pub fn items(&self) -> Elements<'_> {
        Elements::new(&self.text, self.array.clone())
    }

    /// Item `i`'s text.
    #[cfg(test)]
    pub fn item(&self, i: usize) -> &str {
        &self.text[self.items().nth(i).unwrap()]
    }
}

/// What a page is made of: the item array's span, where it was found, and
/// the top-level members' spans (when the body is an object).
type Located = (Range<usize>, DotPath, Vec<(String, Range<usize>)>);

/// Checks `text` as one JSON document and finds its item array.
fn locate(text: &str, items_path: Option<&DotPath>) -> Result<Located, BodyError> {
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let json = &text[start..];
    let malformed = |e: serde_json::Error| BodyError::Malformed(e.to_string());
    let (array, top) = match json.trim_start().as_bytes().first() {
        Some(b'{') => {
            let top = serde_json::from_str::<Members<'_>>(json)
                .map_err(malformed)?
                .0;
            let array = match items_path {
                Some(path) => at_path_in(&top, path).map(|a| (a, path.clone())),
                None => detect(&top),
            };
            let spans = top.iter().map(|(k, v)| (k.clone(), span(text, v.get())));
            (array.map(|(a, p)| (a.get(), p)), spans.collect())
        }
        Some(b'[') => {
            let root: &RawValue = serde_json::from_str(json).map_err(malformed)?;
            let array = match items_path {
                Some(path) => at_path(root, path).map(|a| (a, path.clone())),
                None => Some((root, DotPath::root())),
            };
            (array.map(|(a, p)| (a.get(), p)), Vec::new())
        }
        _ => {
            serde_json::from_str::<Value>(json).map_err(malformed)?;
            (None, Vec::new())
        }
    };
    let Some((array, found_at)) = array.filter(|(a, _)| a.starts_with('[')) else {
        let keys: Vec<&str> = top.iter().map(|(k, _)| k.as_str()).take(12).collect();
        let what = match items_path {
            Some(path) => format!("nothing at items_path {path}"),
            None => "no usual key such as data, items or results".to_string(),
        };
        let mut found = match keys.is_empty() {
            true => format!("{what}; the body is not an object"),
            false => format!("{what}; its top-level keys: {}", keys.join(", ")),
        };
        // A key whose own name is the path, dots and all (`d.results`).
        let written = items_path.map(ToString::to_string);
        if let Some(key) = keys
            .iter()
            .find(|k| k.contains('.') && Some(**k) == written.as_deref())
        {
            let escaped = key.replace('.', "\\.");
            found.push_str(&format!(
                "; `{key}` is one key with a dot in its name: write it `{escaped}`"
            ));
        }
        return Err(BodyError::NoItems(found));
    };
    Ok((span(text, array), found_at, top))
}

/// Where `inner`, a slice of `outer`, is in it.
fn span(outer: &str, inner: &str) -> Range<usize> {
    let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
    start..start + inner.len()
}

/// The first byte of a raw value: `{`, `[`, `"`, a digit, `t`, `f`, `n`.
fn kind(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b' ')
}

/// An object's members as raw values, in document order; a key given
/// twice keeps its first place and its last value, as serde_json's maps do.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Members<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members: Vec<(String, &'de RawValue)> = Vec::new();
                let mut seen = std::collections::HashMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: &'de RawValue = map.next_value()?;
                    match seen.get(&key) {
                        Some(&i) => members[i] = (key, value),
                        None => {
                            seen.insert(key.clone(), members.len());
                            members.push((key, value));
                        }
                    }
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// The elements of a JSON array already checked as JSON, as spans of
/// its text: a scan that only tracks strings and nesting, so finding the
/// next item costs a pass over its bytes and nothing else.
#[derive(Debug, Clone)]
pub struct Elements<'t> {
    bytes: &'t [u8],
    at: usize,
    end: usize,
}

impl<'t> Elements<'t> {
    fn new(text: &'t str, array: Range<usize>) -> Self {
        // Past the opening `[`.
        let at = (array.start + 1).min(array.end);
        Self {
            bytes: text.as_bytes(),
            at,
            end: array.end,
        }
    }

    fn skip_ws(&mut self) {
        while self.at < self.end && matches!(self.bytes[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    /// Past one value starting at `self.at`.
    fn skip_value(&mut self) {
        let mut depth = 0usize;
        while self.at < self.end {
            match self.bytes[self.at] {
                b'"' => {
                    self.at += 1;
                    while self.at < self.end && self.bytes[self.at] != b'"' {
                        self.at += if self.bytes[self.at] == b'\\' { 2 } else { 1 };
                    }
                    self.at += 1;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.at += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.at += 1;
                }
                b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return,
                _ => self.at += 1,
            }
            if depth == 0 && matches!(self.bytes[self.at - 1], b'"' | b'}' | b']') {
                return;
            }
        }
    }
}

impl Iterator for Elements<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        self.skip_ws();
        if self.at < self.end && self.bytes[self.at] == b',' {
            self.at += 1;
            self.skip_ws();
        }
        if self.at >= self.end || self.bytes[self.at] == b']' {
            return None;
        }
        let start = self.at;
        self.skip_value();
        Some(start..self.at)
    }
}

/// The members of a raw object; `None` for anything else.
fn members(raw: &RawValue) -> Option<Vec<(String, &RawValue)>> {
    if kind(raw) != b'{' {
        return None;
    }
    serde_json::from_str::<Members<'_>>(raw.get())
        .ok()
        .map(|m| m.0)
}

/// The raw value at `path` under an object of these members.
fn at_path_in<'a>(top: &[(String, &'a RawValue)], path: &DotPath) -> Option<&'a RawValue> {
    let mut segments = path.segments();
    let (first, _) = segments.next()?;
    let start = top.iter().find_map(|(k, v)| (k == first).then_some(*v))?;
    walk(start, segments)
}

/// The raw value at `path` under `root`.
pub(super) fn at_path<'a>(root: &'a RawValue, path: &DotPath) -> Option<&'a RawValue> {
    walk(root, path.segments())
}

fn walk<'a, 'p>(
    root: &'a RawValue,
    mut segments: impl Iterator<Item = (&'p str, Option<usize>)>,
) -> Option<&'a RawValue> {
    segments.try_fold(root, |at, (key, index)| match kind(at) {
        b'{' => members(at)?
            .into_iter()
            .find_map(|(k, v)| (k == key).then_some(v)),
        b'[' => {
            let elements: Vec<&RawValue> = serde_json::from_str(at.get()).ok()?;
            elements.get(index?).copied()
        }
        _ => None,
    })
}

/// The auto-detected item array of an object body, given its members.
/// The auto-detected item array of an object body, given its members,
/// and its path.
fn detect<'a>(top: &[(String, &'a RawValue)]) -> Option<(&'a RawValue, DotPath)> {
    let mut level: Vec<(DotPath, Vec<(String, &RawValue)>)> = vec![(DotPath::root(), top.to_vec())];
    let mut usual_key_seen = false;
    for _ in 0..MAX_DEPTH {
        // The key order decides first, then the objects' order in the level.
        for key in USUAL_KEYS {
            for (path, map) in &level {
                match map.iter().find(|(k, _)| k == key) {
                    Some((_, v)) if kind(v) == b'[' => return Some((*v, path.child(key))),
                    Some(_) => usual_key_seen = true,
                    None => {}
                }
            }
        }
        level = level
            .iter()
            .flat_map(|(path, map)| {
                map.iter()
                    .filter_map(|(k, v)| Some((path.child(k), members(v)?)))
            })
            .collect();
    }
    if usual_key_seen {
        return None;
    }
    let mut arrays = top.iter().filter(|(k, v)| kind(v) == b'[' && k != "errors");
    match (arrays.next(), arrays.next()) {
        (Some((k, v)), None) => Some((*v, DotPath::root().child(k))),
        _ => None,
    }
}

/// The target of the first `rel="next"` link in `Link` header values
/// (RFC 8288: several links per header, `rel` case-insensitive and possibly
/// holding several space-separated relation types).
pub fn next_link<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<String> {
    values.into_iter().find_map(|value| {
        split_links(value).into_iter().find_map(|link| {
            let (target, params) = parse_link(link)?;
            let is_next = params.iter().any(|(name, value)| {
                name.eq_ignore_ascii_case("rel")
                    && value
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            });
            is_next.then(|| target.to_string())
        })
    })
}

/// Splits a header value at the commas between links (not those inside
/// `<…>` or quotes).
fn split_links(value: &str) -> Vec<&str> {
    split_outside(value, ',')
}

/// `value` split at each `sep` that is neither inside `<…>` nor inside a
/// quoted string (`title="a, b; c"` is one parameter of one link).
fn split_outside(value: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start) = (Vec::new(), 0);
    let (mut in_uri, mut in_quote) = (false, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quote => in_uri = true,
            '>' if !in_quote => in_uri = false,
            '"' if !in_uri => in_quote = !in_quote,
            c if c == sep && !in_uri && !in_quote => {
                parts.push(&value[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// `<target>; name=value; name="quoted value"` → target and parameters.
fn parse_link(link: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let link = link.trim().strip_prefix('<')?;
    let (target, rest) = link.split_once('>')?;
    let params = split_outside(rest, ';')
        .into_iter()
        .filter_map(|p| {
            let (name, value) = p.split_once('=')?;
            Some((name.trim(), value.trim().trim_matches('"')))
        })
        .collect();
    Some((target.trim(), params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(body: Value, path: Option<&str>) -> Option<Vec<Value>> {
        let path: Option<DotPath> = path.map(|p| p.parse().unwrap());
        let page = match Page::parse(body.to_string(), path.as_ref()) {
            Ok(page) => page,
            Err(BodyError::NoItems(_)) => return None,
            Err(e) => panic!("{e:?}"),
        };
        let parsed = page
            .items()
            .map(|r| serde_json::from_str(&page.text[r]).unwrap());
        Some(parsed.collect())
    }

    #[test]
    fn bodies_parse_with_or_without_a_byte_order_mark_and_bad_ones_fail() {
        for text in [
            "{\"data\": [1]}",
            "\u{feff}{\"data\": [1]}",
            " [1] ",
            "\u{feff}[1]",
        ] {
            let page = Page::parse(text.to_string(), None).unwrap();
            assert_eq!(page.item(0), "1", "{text:?}");
        }
        for bad in [
            "",
            "\u{feff}",
            "{\"data\": [",
            "<html>",
            "[1] x",
            "{\"a\":1,}",
        ] {
            assert!(
                matches!(
                    Page::parse(bad.to_string(), None),
                    Err(BodyError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Page::parse("5".into(), None),
            Err(BodyError::NoItems(_))
        ));
        // A wrong items_path names what the body holds instead.
        let path: DotPath = "data.items".parse().unwrap();
        let err = Page::parse(r#"{"results": [], "count": 0}"#.into(), Some(&path)).unwrap_err();
        assert_eq!(
            err,
            BodyError::NoItems(
                "nothing at items_path data.items; its top-level keys: results, count".into()
            )
        );
    }

    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            "[\"\\\\,\\[\\]{}: a-z\u{e9}]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[\"\\\\,\\]a-z]{0,3}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// The element scan finds exactly the elements serde_json finds,
        /// in compact and in pretty text.
        #[test]
        fn elements_are_serde_jsons_elements(items in proptest::collection::vec(any_json(), 0..8)) {
            for text in [
                serde_json::to_string(&items).unwrap(),
                serde_json::to_string_pretty(&items).unwrap(),
            ] {
                let page = Page::parse(text.clone(), None).unwrap();
                let ours: Vec<&str> = page.items().map(|r| &page.text[r]).collect();
                let theirs: Vec<&RawValue> = serde_json::from_str(&text).unwrap();
                let theirs: Vec<&str> = theirs.iter().map(|r| r.get()).collect();
                proptest::prop_assert_eq!(ours, theirs);
                proptest::prop_assert_eq!(page.len(), items.len());
            }
        }
    }

    #[test]
    fn a_page_with_one_unparsable_item_keeps_the_others() {
        // A lone surrogate escape passes the page's check; the item's own
        // parse refuses it (malformed_item), and its neighbours stand.
        let text = r#"{"data": [{"id": 1, "name": "\ud800"}, {"id": 2}]}"#;
        let page = Page::parse(text.to_string(), None).unwrap();
        assert_eq!(page.len(), 2);
        assert!(crate::json::Node::parse(page.item(0)).is_err());
        assert!(crate::json::Node::parse(page.item(1)).is_ok());
    }

    #[test]
    fn the_envelope_is_read_by_path_and_items_are_spans() {
        let text =
            r#"{"meta": {"next": "c2", "total": 7}, "data": [{"a": 1}, [2] ], "n": [3, {"x": 4}]}"#;
        let page = Page::parse(text.to_string(), None).unwrap();
        assert_eq!((page.item(0), page.item(1)), (r#"{"a": 1}"#, "[2]"));
        let get = |p: &str| page.get(&p.parse().unwrap());
        assert_eq!(get("meta.next"), Some(json!("c2")));
        assert_eq!(get("meta.total"), Some(json!(7)));
        assert_eq!(get("n.1.x"), Some(json!(4)));
        assert_eq!(get("meta.none"), None);
        // A key given twice: its last value, as serde_json reads it.
        let page = Page::parse(r#"{"data": [1], "data": [2]}"#.into(), None).unwrap();
        assert_eq!(page.item(0), "2");
    }

    #[test]
    fn a_missing_key_is_told_from_a_null_one() {
        let text = r#"{"count": 3, "next": null, "links": {"next": "/p?n=2", "prev": null}, "results": []}"#;
        let page = Page::parse(text.to_string(), None).unwrap();
        let find = |p: &str| page.find(&p.parse().unwrap());
        assert_eq!(find("next"), Found::Null);
        assert_eq!(find("nxt"), Found::Absent);
        assert_eq!(find("links.next"), Found::Value("\"/p?n=2\""));
        assert_eq!(find("links.prev"), Found::Null);
        assert_eq!(find("links.last"), Found::Absent);
        // Through a value that holds no keys: absent, not null.
        assert_eq!(find("next.href"), Found::Absent);
        assert_eq!(find("count.x"), Found::Absent);
        assert_eq!(page.get(&"next".parse().unwrap()), Some(Value::Null));
        assert_eq!(page.get(&"nxt".parse().unwrap()), None);
        let keys: Vec<&str> = page.top_keys().unwrap().collect();
        assert_eq!(keys, ["count", "next", "links", "results"]);
        // A bare array has no envelope at all.
        let bare = Page::parse("[1, 2]".into(), None).unwrap();
        assert!(bare.top_keys().is_none());
        assert_eq!(bare.find(&"next".parse().unwrap()), Found::Absent);
        let page = Page::parse("\u{feff} {\"data\": []}".into(), None).unwrap();
        assert_eq!(page.top_keys().unwrap().collect::<Vec<_>>(), ["data"]);
    }

    #[test]
    fn explicit_path_and_bare_array() {
        assert_eq!(
            items(json!({"a": {"b": [1, 2]}}), Some("a.b")),
            Some(vec![json!(1), json!(2)])
        );
        assert_eq!(items(json!([3]), None), Some(vec![json!(3)]));
        assert_eq!(items(json!({"a": {"b": 5}}), Some("a.b")), None);
        assert_eq!(
            items(json!({"a": [[1], [2]]}), Some("a.1")),
            Some(vec![json!(2)])
        );
    }

    #[test]
    fn auto_detection_prefers_usual_keys_breadth_first() {
        assert_eq!(
            items(json!({"items": [1], "data": [2]}), None),
            Some(vec![json!(2)])
        );
        assert_eq!(
            items(
                json!({"meta": {"rows": [1]}, "response": {"data": [2]}}),
                None
            ),
            Some(vec![json!(2)])
        );
        assert_eq!(
            items(json!({"a": {"b": {"data": [9]}}}), None),
            Some(vec![json!(9)])
        );
        assert_eq!(items(json!({"a": {"b": {"c": {"data": [9]}}}}), None), None);
        // A usual key that is not an array blocks the fallback.
        assert_eq!(items(json!({"data": {"x": 1}, "things": [1]}), None), None);
    }

    #[test]
    fn fallback_is_the_only_top_level_array_but_errors() {
        assert_eq!(
            items(json!({"things": [1], "errors": []}), None),
            Some(vec![json!(1)])
        );
        assert_eq!(items(json!({"a": [1], "b": [2]}), None), None);
        assert_eq!(items(json!({"message": "ok"}), None), None);
        assert_eq!(items(json!("text"), None), None);
    }

    #[test]
    fn link_headers_per_rfc_8288() {
        let v = r#"<https://h/p?page=1>; rel="prev", <https://h/p?page=3>; rel="next""#;
        assert_eq!(next_link([v]), Some("https://h/p?page=3".into()));
        assert_eq!(
            next_link([r#"</p?a=1,2>; REL="Next Last""#]),
            Some("/p?a=1,2".into())
        );
        assert_eq!(next_link(["<x>; rel=next"]), Some("x".into()));
        assert_eq!(
            next_link(["<x>; rel=\"prev\"", "<y>; rel=\"next\""]),
            Some("y".into())
        );
        assert_eq!(next_link(["<x>; rel=\"nextish\""]), None);
        assert_eq!(next_link(["garbage"]), None);
        // Separators inside a quoted value are text, not structure.
        let tricky = r#"</p0>; title="a; rel=next"; rel="prev", </p2>; title="x, y"; rel="next""#;
        assert_eq!(next_link([tricky]), Some("/p2".into()));
    }

    #[test]
    fn an_items_path_naming_a_dotted_key_says_how_to_write_it() {
        let path: DotPath = "d.results".parse().unwrap();
        let Err(BodyError::NoItems(found)) =
            Page::parse(r#"{"d.results": [1], "meta": 1}"#.into(), Some(&path))
        else {
            panic!("no items at d.results");
        };
        assert!(
            found
                .ends_with("`d.results` is one key with a dot in its name: write it `d\\.results`"),
            "{found}"
        );
        let escaped: DotPath = "d\\.results".parse().unwrap();
        let page =
            Page::parse(r#"{"d.results": [1, 2], "meta": 1}"#.into(), Some(&escaped)).unwrap();
        assert_eq!(page.items().count(), 2);
    }
}
