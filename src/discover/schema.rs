//! The `record` `ingest discover` writes: an id and a typed field for
//! every top-level key of the sampled items (SPEC §14).
//!
//! The id is the first of `id`, `uuid`, `key`, `number`, then any `*_id`
//! key, whose values are present, scalar and distinct in every sampled
//! item. A field's type is what every non-null sampled value agrees on:
//! `integer`, `number`, `boolean`, `timestamp` (RFC 3339 with an offset),
//! `string`, `json` (objects and arrays); values that disagree get no type
//! (kept as they come). A field is `required` when every sampled item has
//! a value for it. Field names `key`, `source` and `id` belong to every
//! record, so a key of that name that is not the id is declared under
//! another name.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::json::DotPath;

/// Keys tried as the id, in order, before the `*_id` keys.
const ID_KEYS: [&str; 4] = ["id", "uuid", "key", "number"];
/// Names a declared field cannot have (every record holds its own).
const OWN_FIELDS: [&str; 3] = ["key", "source", "id"];
/// Fields declared at most (the config's limit).
const MAX_FIELDS: usize = 256;

/// The inferred record, and what to say about it.
#[derive(Debug, Clone)]
pub struct Inferred {
    /// The config's `record`.
    pub record: Value,
    /// Lines for stderr.
    pub notes: Vec<String>,
}

/// Infers a record from `items` (the objects among them).
pub fn infer(items: &[Value]) -> Inferred {
    let objects: Vec<&Map<String, Value>> = items.iter().filter_map(Value::as_object).collect();
    let mut keys: Vec<&str> = Vec::new();
    for o in &objects {
        for k in o.keys() {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    let id = id_key(&objects, &keys);
    let mut notes = Vec::new();
    match &id {
        Some(id) => notes.push(format!(
            "id: `{id}` (present and distinct in all {} sampled items)",
            objects.len()
        )),
        None => notes.push("id: no key is present and distinct in every sampled item".to_string()),
    }
    let mut fields = Map::new();
    for key in keys
        .iter()
        .filter(|k| Some(**k) != id.as_deref())
        .take(MAX_FIELDS)
    {
        let values: Vec<&Value> = objects.iter().filter_map(|o| o.get(*key)).collect();
        let valued = values.iter().filter(|v| !v.is_null()).count();
        let required = valued == objects.len() && !objects.is_empty();
        let path = DotPath::root().child(key).to_string();
        let name = field_name(key, &fields);
        let spec = match type_of(&values) {
            Some(ty) => {
                let mut spec = json!({"path": path, "type": ty});
                if required {
                    spec["required"] = json!(true);
                }
                spec
            }
            None => json!(path),
        };
        fields.insert(name, spec);
    }
    notes.push(format!(
        "record: {} fields typed from {} sampled items; `required` where every one had a value \
         (an item without it is counted invalid: drop `required` where the API says optional)",
        fields.len(),
        objects.len()
    ));
    let mut record = json!({"fields": fields});
    if let Some(id) = &id {
        record["id"] = json!(DotPath::root().child(id).to_string());
    }
    Inferred { record, notes }
}

/// The first id candidate whose values are present, scalar and distinct:
/// SPEC §14's names, then any other key (`sku`, `slug`): a key that
/// repeats would merge distinct items into one record.
fn id_key(objects: &[&Map<String, Value>], keys: &[&str]) -> Option<String> {
    let suffixed = keys.iter().copied().filter(|k| k.ends_with("_id"));
    let candidates = ID_KEYS
        .iter()
        .copied()
        .chain(suffixed)
        .chain(keys.iter().copied());
    let distinct = |key: &str| {
        let mut seen = HashSet::new();
        !objects.is_empty()
            && objects.iter().all(|o| match o.get(key) {
                Some(Value::String(s)) if !s.is_empty() => seen.insert(s.clone()),
                Some(Value::Number(n)) => seen.insert(n.to_string()),
                _ => false,
            })
    };
    candidates
        .into_iter()
        .find(|k| distinct(k))
        .map(str::to_string)
}

/// The field's name in the record: the key, unless it is one of
/// [`OWN_FIELDS`] or already taken.
fn field_name(key: &str, taken: &Map<String, Value>) -> String {
    let mut name = key.to_string();
    if name.is_empty() || OWN_FIELDS.contains(&name.as_str()) {
        name = format!("{key}_field");
    }
    while taken.contains_key(&name) {
        name.push('_');
    }
    name
}

/// The type every non-null value agrees on; `None` for no value, or values
/// that disagree.
fn type_of(values: &[&Value]) -> Option<&'static str> {
    let types: Vec<&str> = values
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| kind(v))
        .collect();
    let first = *types.first()?;
    let all = |t: &str| types.iter().all(|k| *k == t);
    if all(first) {
        return Some(first);
    }
    // Integers among decimals are numbers; timestamps among strings strings.
    if types.iter().all(|k| matches!(*k, "integer" | "number")) {
        return Some("number");
    }
    if types.iter().all(|k| matches!(*k, "timestamp" | "string")) {
        return Some("string");
    }
    None
}

/// One value's type.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(n) => {
            let text = n.to_string();
            match text.contains(['.', 'e', 'E']) {
                true => "number",
                false => "integer",
            }
        }
        Value::String(s) if is_rfc3339(s) => "timestamp",
        Value::String(_) => "string",
        _ => "json",
    }
}

/// Whether `s` is an RFC 3339 date-time with an offset:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        "Z" | "z" => true,
        offset => {
            let o = offset.as_bytes();
            o.len() == 6
                && matches!(o[0], b'+' | b'-')
                && o[1..3].iter().all(u8::is_ascii_digit)
                && o[3] == b':'
                && o[4..6].iter().all(u8::is_ascii_digit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_the_first_present_and_distinct_candidate() {
        let items = vec![
            json!({"id": 1, "uuid": "a", "order_id": 7}),
            json!({"id": 1, "uuid": "b", "order_id": 8}),
        ];
        assert_eq!(infer(&items).record["id"], "uuid");
        let items = vec![json!({"id": null, "order_id": 7}), json!({"order_id": 8})];
        assert_eq!(infer(&items).record["id"], "order_id");
        // Then any key that tells the sampled items apart (a `sku`).
        let items = vec![json!({"id": 1, "sku": "a"}), json!({"id": 1, "sku": "b"})];
        assert_eq!(infer(&items).record["id"], "sku");
        let items = vec![json!({"name": "x"}), json!({"name": "x"})];
        assert!(infer(&items).record.get("id").is_none());
    }

    #[test]
    fn types_and_required_follow_every_sampled_value() {
        let items = vec![
            json!({"id": 1, "n": 3, "x": 1.5, "b": true, "at": "2026-01-01T00:00:00Z",
                   "s": "hi", "o": {"a": 1}, "maybe": null, "mixed": 1, "key": "k1"}),
            json!({"id": 2, "n": 4, "x": 2, "b": false, "at": "2026-01-01T00:00:00.5+02:00",
                   "s": "2026-01-01", "o": [1], "mixed": "one", "key": "k2"}),
        ];
        let record = infer(&items).record;
        let fields = &record["fields"];
        assert_eq!(record["id"], "id");
        assert_eq!(
            fields["n"],
            json!({"path": "n", "type": "integer", "required": true})
        );
        assert_eq!(fields["x"]["type"], "number");
        assert_eq!(fields["b"]["type"], "boolean");
        assert_eq!(fields["at"]["type"], "timestamp");
        assert_eq!(fields["s"]["type"], "string");
        assert_eq!(fields["o"]["type"], "json");
        assert_eq!(fields["maybe"], json!("maybe"));
        assert_eq!(fields["mixed"], json!("mixed"));
        assert_eq!(fields["key_field"]["path"], "key");
        assert!(fields.get("id").is_none());
    }

    #[test]
    fn rfc3339_needs_an_offset() {
        assert!(is_rfc3339("2026-01-01T23:59:59.412Z"));
        assert!(is_rfc3339("2026-01-01T23:59:59-05:00"));
        assert!(!is_rfc3339("2026-01-01T23:59:59"));
        assert!(!is_rfc3339("2026-01-01"));
        assert!(!is_rfc3339("2026-01-01T23:59:59.Z"));
    }

    #[test]
    fn a_dotted_key_is_escaped_in_its_path() {
        let record = infer(&[json!({"id": 1, "@odata.etag": "W/1"})]).record;
        assert_eq!(record["fields"]["@odata.etag"]["path"], "@odata\\.etag");
    }
}
