//! Dot paths into a JSON value: `meta.next_cursor`, `variants.0.price`.
//!
//! A config names places in page bodies and items by dot paths (SPEC §3,
//! §5): `items_path`, the pagination paths, the `fields` overrides. A
//! [`DotPath`] is parsed once, when the config is validated, into its
//! segments, so following it is a walk with no splitting and no number
//! parsing — once per page, or once per item by the million. Every reader
//! of a path goes through this one type, so they all agree on what a
//! segment means.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::json::Node;

/// A parsed dot path: keys joined by `.`, each one non-empty.
///
/// On an object a segment is always a key (`tags.0` reads the key `"0"`).
/// On an array a segment is an index only when it is all ASCII digits:
/// `+0`, `-1`, ` 1` or `١` (an Arabic-Indic one) are not indexes, so they
/// find nothing in an array. Leading zeros are allowed and read as the
/// number they spell (`00` is index 0, `007` index 7): on an array the
/// segment can mean nothing else, and paths like that were accepted
/// before this type existed. Digits too many for a `usize` index nothing.
///
/// [`DotPath::root`], the path of no segments, is the value itself (an
/// auto-detected item array that is the whole body); it cannot be written
/// in a config, where an empty path is refused. `Display` gives back the
/// text as written; the summary echoes paths that way.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct DotPath {
    segments: Vec<Segment>,
}

/// One key of a path, with its array index worked out once.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Segment {
    key: String,
    /// The index this segment names on an array, if it names one.
    index: Option<usize>,
}

impl Segment {
    fn new(key: &str) -> Segment {
        let all_digits = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
        Segment {
            key: key.to_string(),
            index: all_digits.then(|| key.parse().ok()).flatten(),
        }
    }
}

/// Text that is not a dot path: empty, or with an empty segment (`a..b`,
/// `.a`, `a.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidDotPath;

impl fmt::Display for InvalidDotPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a dot path is one or more non-empty keys joined by \".\"")
    }
}

impl std::error::Error for InvalidDotPath {}

impl FromStr for DotPath {
    type Err = InvalidDotPath;

    /// Non-empty keys joined by `.`; a key that holds a dot writes it `\.`
    /// (and a backslash `\\`): OData's `@odata\.nextLink` is one key.
    /// Anything else is refused.
    fn from_str(text: &str) -> Result<DotPath, InvalidDotPath> {
        let (mut keys, mut key) = (Vec::new(), String::new());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped @ ('.' | '\\')) => key.push(escaped),
                    _ => return Err(InvalidDotPath),
                },
                '.' => keys.push(std::mem::take(&mut key)),
                c => key.push(c),
            }
        }
        keys.push(key);
        let segments: Vec<Segment> = keys.iter().map(|k| Segment::new(k)).collect();
        if segments.iter().any(|s| s.key.is_empty()) {
            return Err(InvalidDotPath);
        }
        Ok(DotPath { segments })
    }
}

impl DotPath {
    /// The path of no segments: the value itself.
    pub fn root() -> DotPath {
        DotPath::default()
    }

    /// This path one key further down. The key is taken as it is, even
    /// one that a written path could not hold (empty, or with a dot): it
    /// comes from a body's own keys, as the item-array detection finds
    /// them.
    pub fn child(&self, key: &str) -> DotPath {
        let mut segments = self.segments.clone();
        segments.push(Segment::new(key));
        DotPath { segments }
    }

    /// The value at this path in `value`, if every segment finds one.
    pub fn get<'v, T: Tree>(&self, value: &'v T) -> Option<&'v T> {
        self.segments
            .iter()
            .try_fold(value, |at, segment| at.step(&segment.key, segment.index))
    }

    /// Each segment's key, and the array index it names if it names one.
    pub fn segments(&self) -> impl Iterator<Item = (&str, Option<usize>)> {
        self.segments.iter().map(|s| (s.key.as_str(), s.index))
    }

    /// [`DotPath::get`], mutably.
    pub fn get_mut<'v>(&self, value: &'v mut Value) -> Option<&'v mut Value> {
        self.segments
            .iter()
            .try_fold(value, |at, segment| match at {
                Value::Object(map) => map.get_mut(segment.key.as_str()),
                Value::Array(items) => items.get_mut(segment.index?),
                _ => None,
            })
    }
}

/// A JSON tree a path can walk: one step is a key of an object, or an
/// index of an array.
pub trait Tree {
    /// The child under `key` of an object, or at `index` of an array.
    fn step(&self, key: &str, index: Option<usize>) -> Option<&Self>;
}

impl Tree for Value {
    fn step(&self, key: &str, index: Option<usize>) -> Option<&Value> {
        match self {
            Value::Object(map) => map.get(key),
            Value::Array(items) => items.get(index?),
            _ => None,
        }
    }
}

impl Tree for Node<'_> {
    fn step(&self, key: &str, index: Option<usize>) -> Option<&Self> {
        match self {
            Node::Object(_) => self.get(key),
            Node::Array(items) => items.get(index?),
            _ => None,
        }
    }
}

impl fmt::Display for DotPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            // As written: a dot or backslash in a key escaped.
            for c in segment.key.chars() {
                if matches!(c, '.' | '\\') {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DotPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DotPath({:?})", self.to_string())
    }
}

/// A path serializes as the text a config writes.
impl Serialize for DotPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(text: &str) -> DotPath {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn follows_dots_and_indexes() {
        let v = json!({"meta": {"next": "c2"}, "list": [{"x": 1}]});
        assert_eq!(path("meta.next").get(&v), Some(&json!("c2")));
        assert_eq!(path("list.0.x").get(&v), Some(&json!(1)));
        assert_eq!(path("meta.missing").get(&v), None);
        assert_eq!(path("meta.next.deeper").get(&v), None, "through a string");
    }

    #[test]
    fn empty_paths_and_segments_are_refused() {
        for bad in ["", ".", "a..b", ".a", "a.", ".."] {
            assert_eq!(bad.parse::<DotPath>(), Err(InvalidDotPath), "{bad:?}");
        }
    }

    #[test]
    fn an_index_is_all_ascii_digits() {
        let list = json!(["zero", "one"]);
        assert_eq!(path("0").get(&list), Some(&json!("zero")));
        assert_eq!(path("1").get(&list), Some(&json!("one")));
        assert_eq!(path("00").get(&list), Some(&json!("zero")), "leading zeros");
        assert_eq!(path("01").get(&list), Some(&json!("one")));
        for not_an_index in ["+0", "-1", "+1", " 1", "1 ", "1e0", "0x1", "١"] {
            assert_eq!(path(not_an_index).get(&list), None, "{not_an_index:?}");
        }
        assert_eq!(path("2").get(&list), None, "out of range");
        assert_eq!(path("99999999999999999999999999").get(&list), None);
    }

    #[test]
    fn on_an_object_every_segment_is_a_key() {
        let v = json!({"0": "zero", "+0": "plus", "00": "double", "-1": "minus"});
        assert_eq!(path("0").get(&v), Some(&json!("zero")));
        assert_eq!(path("+0").get(&v), Some(&json!("plus")));
        assert_eq!(path("00").get(&v), Some(&json!("double")));
        assert_eq!(path("-1").get(&v), Some(&json!("minus")));
        assert_eq!(path("1").get(&v), None);
    }

    #[test]
    fn a_key_on_an_array_finds_nothing() {
        let v = json!({"list": [{"x": 1}]});
        assert_eq!(path("list.x").get(&v), None);
        assert_eq!(path("list.first").get(&v), None);
    }

    #[test]
    fn unicode_keys() {
        let v = json!({"données": {"prix €": 5, "١": "arabic one"}, "列表": [7]});
        assert_eq!(path("données.prix €").get(&v), Some(&json!(5)));
        assert_eq!(path("données.١").get(&v), Some(&json!("arabic one")));
        assert_eq!(path("列表.0").get(&v), Some(&json!(7)));
        assert_eq!(path("données.prix €").to_string(), "données.prix €");
    }

    #[test]
    fn the_root_is_the_value_itself() {
        let mut v = json!([1, 2]);
        assert_eq!(DotPath::root().get(&v), Some(&json!([1, 2])));
        assert!(DotPath::root().get_mut(&mut v).is_some());
        assert_eq!(DotPath::root().to_string(), "");
        assert_eq!(DotPath::root().child("a").child("0"), path("a.0"));
    }

    #[test]
    fn get_mut_reaches_the_same_value() {
        let mut v = json!({"a": {"b": [10, 20]}});
        *path("a.b.1").get_mut(&mut v).unwrap() = json!(21);
        assert_eq!(v, json!({"a": {"b": [10, 21]}}));
        assert!(path("a.b.+1").get_mut(&mut v).is_none());
        assert!(path("a.x").get_mut(&mut v).is_none());
        assert!(path("a.b.0.c").get_mut(&mut v).is_none());
    }

    #[test]
    fn shown_and_serialized_as_written() {
        for text in ["data", "variants.0.price", "a.00.+0", "x-y_z.é"] {
            assert_eq!(path(text).to_string(), text);
            assert_eq!(serde_json::to_value(path(text)).unwrap(), json!(text));
        }
        assert_eq!(format!("{:?}", path("a.b")), r#"DotPath("a.b")"#);
    }

    #[test]
    fn a_key_with_a_dot_is_written_with_a_backslash() {
        let path: DotPath = "@odata\\.nextLink".parse().unwrap();
        let page = serde_json::json!({"@odata.nextLink": "http://x/2", "@odata": {"nextLink": 1}});
        assert_eq!(path.get(&page), Some(&serde_json::json!("http://x/2")));
        assert_eq!(path.to_string(), "@odata\\.nextLink", "round trip");
        let nested: DotPath = "a.b\\\\c.d".parse().unwrap();
        assert_eq!(
            nested.segments().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b\\c", "d"]
        );
        for bad in ["a\\", "a\\x", "a..b", "\\."] {
            let refused = bad != "\\." && bad.parse::<DotPath>().is_err();
            assert!(refused || bad == "\\.", "{bad}");
        }
        assert_eq!(
            "\\.".parse::<DotPath>().unwrap().segments().count(),
            1,
            "a key that is a dot"
        );
    }
}
