//! An answer's response headers, kept for what reads them after the
//! attempt: the `header` conditions of `on_response` rules and the
//! envelope paths written `header:NAME[.dot.path]` (SPEC §11).
//!
//! Names are lowercased once, when the answer arrives (HTTP names are
//! case-insensitive); the field lines of one name are joined with `, `,
//! as RFC 9110 §5.3 lets a recipient combine them. A header that holds
//! JSON (flask-smorest's `X-Pagination`) is read for a path with the same
//! raw-value walk as a body's envelope, and only when asked.

use serde_json::value::RawValue;
use serde_json::Value;

use crate::json::DotPath;

use super::page::{at_path, Found};

/// The headers of one answer, names lowercased, in the order they came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Headers from `(name, value)` field lines, in order: names
    /// lowercased, lines of one name joined with `, `.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        let mut out: Vec<(String, String)> = Vec::new();
        for (name, value) in lines {
            let key = name.to_ascii_lowercase();
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, joined)) => {
                    joined.push_str(", ");
                    joined.push_str(&value);
                }
                None => out.push((key, value)),
            }
        }
        Headers(out)
    }

    /// The value of the header `key` (lowercase), if the answer had it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find_map(|(k, v)| (k == key).then_some(v.as_str()))
    }

    /// The names the answer had, lowercased, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// What header `key` holds at `path` (`None`: the value itself, as
    /// text). A path in a header that is not JSON finds nothing.
    pub fn find(&self, key: &str, path: Option<&DotPath>) -> Found<'_> {
        let Some(text) = self.get(key) else {
            return Found::Absent;
        };
        let Some(path) = path else {
            return Found::Value(text.trim());
        };
        let raw = serde_json::from_str::<&RawValue>(text)
            .ok()
            .and_then(|root| at_path(root, path));
        match raw.map(RawValue::get) {
            None => Found::Absent,
            Some("null") => Found::Null,
            Some(json) => Found::Value(json),
        }
    }

    /// The value of header `key` at `path`, parsed. A header's own value
    /// is text, read as a number or boolean when it is one (`X-Total-Count:
    /// 2843`, `X-Has-More: false`), else as a string: a number is needed
    /// for a total, a boolean for `has_more_path`, a string for a cursor
    /// or a URL.
    pub fn value(&self, key: &str, path: Option<&DotPath>) -> Option<Value> {
        match (self.find(key, path), path) {
            (Found::Absent, _) => None,
            (Found::Null, _) => Some(Value::Null),
            (Found::Value(text), Some(_)) => serde_json::from_str(text).ok(),
            (Found::Value(text), None) => Some(typed(text)),
        }
    }
}

/// A header's text as a JSON number or boolean when it is one, else as
/// a string.
fn typed(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        Headers::from_lines(lines.iter().map(|(n, v)| (*n, v.to_string())))
    }

    fn path(text: &str) -> DotPath {
        text.parse().unwrap()
    }

    #[test]
    fn names_are_case_insensitive_and_lines_of_one_name_are_joined() {
        let h = headers(&[("X-Total-Count", "45"), ("Vary", "a"), ("vary", "b")]);
        assert_eq!(h.get("x-total-count"), Some("45"));
        assert_eq!(h.get("vary"), Some("a, b"));
        assert_eq!(h.names().collect::<Vec<_>>(), ["x-total-count", "vary"]);
        assert_eq!(h.get("link"), None);
    }

    #[test]
    fn a_header_value_is_typed_where_it_is_a_number_or_a_boolean() {
        let h = headers(&[
            ("x-total-count", " 2843 "),
            ("x-has-more", "false"),
            ("x-cursor", "abc=="),
            ("x-next", "https://h/p?page=2"),
        ]);
        assert_eq!(h.value("x-total-count", None), Some(json!(2843)));
        assert_eq!(h.value("x-has-more", None), Some(json!(false)));
        assert_eq!(h.value("x-cursor", None), Some(json!("abc==")));
        assert_eq!(h.value("x-next", None), Some(json!("https://h/p?page=2")));
        assert_eq!(h.value("x-missing", None), None);
    }

    #[test]
    fn a_path_reads_inside_a_header_that_holds_json() {
        let h = headers(&[(
            "X-Pagination",
            r#"{"total": 2843, "total_pages": 29, "next_page": 2, "previous_page": null}"#,
        )]);
        let key = "x-pagination";
        assert_eq!(h.value(key, Some(&path("total"))), Some(json!(2843)));
        assert_eq!(h.value(key, Some(&path("total_pages"))), Some(json!(29)));
        assert_eq!(h.find(key, Some(&path("previous_page"))), Found::Null);
        assert_eq!(h.find(key, Some(&path("last_page"))), Found::Absent);
        assert_eq!(h.find(key, Some(&path("total"))), Found::Value("2843"));
        let not_json = headers(&[("x-pagination", "total=5")]);
        assert_eq!(not_json.find(key, Some(&path("total"))), Found::Absent);
    }
}
