//! Reading a page body: the item array and `Link` headers.
//!
//! The item array is found by `items_path` or, when that is omitted, by the
//! auto-detection of SPEC §3: the body itself if it is an array; else a
//! breadth-first search over nested objects (3 levels) for the first usual
//! key (`data`, `items`, …) holding an array; else, only when no usual key
//! appears anywhere, the single array-valued top-level field other than
//! `errors`.

use serde_json::Value;

use crate::dot_path::DotPath;

/// Usual names of the item array, in order of preference.
const USUAL_KEYS: [&str; 7] = [
    "data", "items", "results", "products", "records", "entries", "rows",
];

/// Levels searched by auto-detection (the body is level 1).
const MAX_DEPTH: usize = 3;

/// Removes the item array from `body` and returns it, or `None` when the
/// body has no item array (a `no_items` failure).
pub fn take_items(body: &mut Value, items_path: Option<&DotPath>) -> Option<Vec<Value>> {
    let detected;
    let path = match items_path {
        Some(path) => path,
        None => {
            detected = detect(body)?;
            &detected
        }
    };
    let at = path.get_mut(body)?;
    match at.take() {
        Value::Array(items) => Some(items),
        other => {
            *at = other;
            None
        }
    }
}

/// The path of the auto-detected item array ([`DotPath::root`] = the body).
fn detect(body: &Value) -> Option<DotPath> {
    let root = match body {
        Value::Array(_) => return Some(DotPath::root()),
        Value::Object(map) => map,
        _ => return None,
    };
    let mut level = vec![(DotPath::root(), root)];
    let mut usual_key_seen = false;
    for _ in 0..MAX_DEPTH {
        // The key order decides first, then the objects' order in the level.
        for key in USUAL_KEYS {
            for (path, map) in &level {
                match map.get(key) {
                    Some(Value::Array(_)) => return Some(path.child(key)),
                    Some(_) => usual_key_seen = true,
                    None => {}
                }
            }
        }
        let mut next = Vec::new();
        for (path, map) in &level {
            for (key, value) in map.iter() {
                if let Value::Object(child) = value {
                    next.push((path.child(key), child));
                }
            }
        }
        level = next;
    }
    if usual_key_seen {
        return None;
    }
    let mut arrays = root
        .iter()
        .filter(|(k, v)| v.is_array() && k.as_str() != "errors");
    match (arrays.next(), arrays.next()) {
        (Some((key, _)), None) => Some(DotPath::root().child(key)),
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

    fn items(mut body: Value, path: Option<&str>) -> Option<Vec<Value>> {
        let path: Option<DotPath> = path.map(|p| p.parse().unwrap());
        take_items(&mut body, path.as_ref())
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
}
