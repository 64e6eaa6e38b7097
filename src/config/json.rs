//! A small toolkit for reading a parsed JSON file by hand, with errors
//! that name the file and the key path.
//!
//! Nothing here knows ingest's schema. `read` parses a file and refuses a
//! key named twice in one object; `Walker` carries the file name into
//! every error; `Obj` is an object whose keys were checked, handing out
//! children with their key paths; the readers return typed values or a
//! one-line [`ConfigError`], `<file>: <key path>: expected …, found …`.
//! How a key path is written (`child`) and how a found value is shown
//! (`describe`, `quoted`, and `kind` for values that may be secret) live
//! here too, so that every message reads the same. The schema walk that
//! uses all this is `validate.rs`, which adds its own methods to `Walker`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use super::ConfigError;
use crate::text::{shorten, ELLIPSIS};

type Result<T> = std::result::Result<T, ConfigError>;

const U32_MAX: u64 = u32::MAX as u64;
/// Longest string shown in an error before it is cut.
const SHOWN_CHARS: usize = 40;

/// Parses `text` (the contents of `origin`) as JSON whose objects name
/// each key once.
pub(super) fn read(origin: &str, text: &str) -> Result<Value> {
    // A UTF-8 BOM (some Windows editors write one) is not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Value = serde_json::from_str(text).map_err(|e| {
        // The mistake people make most: comments, which JSON has none of
        // (said only where the parser stopped at one, not for every `//`
        // of a URL).
        let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
        let at = line.get(e.column().saturating_sub(1)..).unwrap_or("");
        let comment = line.trim_start().starts_with("//")
            || line.trim_start().starts_with("/*")
            || at.starts_with('/');
        let hint = match comment {
            true => " (JSON has no comments: remove the // or /* */ lines)",
            false => "",
        };
        ConfigError(format!("{origin}: not valid JSON: {e}{hint}"))
    })?;
    let mut reader = serde_json::Deserializer::from_str(text);
    serde::de::DeserializeSeed::deserialize(NoDuplicateKeys(String::new()), &mut reader)
        .map_err(|e| ConfigError(format!("{origin}: {e}")))?;
    Ok(root)
}

/// Reads any JSON only to refuse an object that names a key twice: a
/// `Value` silently keeps the last one, and whoever wrote the config by
/// hand should hear that one of their two settings is not used. Carries
/// the path of the value being read, for the error.
struct NoDuplicateKeys(String);

impl<'de> serde::de::DeserializeSeed<'de> for NoDuplicateKeys {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(NoDuplicateKeys(format!("{}[{i}]", self.0)))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = child(&self.0, &key);
            if !seen.insert(key) {
                return Err(serde::de::Error::custom(format_args!(
                    "{path}: duplicate key (each key may appear once in an object)"
                )));
            }
            map.next_value_seed(NoDuplicateKeys(path))?;
        }
        Ok(())
    }
}

/// Carries the file name into every error. The readers below are generic;
/// `validate.rs` adds the schema's own methods.
pub(super) struct Walker<'a> {
    /// The file, as errors name it.
    pub(super) origin: &'a str,
    /// `env:` values that are not set read as `***` instead of failing:
    /// for what needs the config's shape but sends nothing (a Singer
    /// catalog).
    pub(super) without_secrets: bool,
}

/// An object whose keys have been checked; hands out children with paths.
pub(super) struct Obj<'v> {
    /// Its own key path (`""` for the top level).
    pub(super) path: String,
    /// Its members.
    pub(super) map: &'v Map<String, Value>,
}

impl<'v> Obj<'v> {
    /// The value at `key`, with its key path.
    pub(super) fn get(&self, key: &str) -> Option<(String, &'v Value)> {
        self.map.get(key).map(|v| (child(&self.path, key), v))
    }
}

impl Walker<'_> {
    /// `v` as an object, with every key in `keys`.
    pub(super) fn object<'v>(&self, path: &str, v: &'v Value, keys: &[&str]) -> Result<Obj<'v>> {
        self.object_of(path, v, &[keys])
    }

    /// [`object`](Self::object), its keys given in groups.
    pub(super) fn object_of<'v>(
        &self,
        path: &str,
        v: &'v Value,
        groups: &[&[&str]],
    ) -> Result<Obj<'v>> {
        let map = v
            .as_object()
            .ok_or_else(|| self.mismatch(path, "an object", v))?;
        let known = |key: &str| groups.iter().any(|keys| keys.contains(&key));
        if let Some(key) = map.keys().find(|k| !known(k)) {
            let all: Vec<&str> = groups
                .iter()
                .flat_map(|keys| keys.iter().copied())
                .collect();
            return Err(self.error(
                &child(path, key),
                format_args!("unknown key (expected one of {})", all.join(", ")),
            ));
        }
        Ok(Obj {
            path: path.to_string(),
            map,
        })
    }

    /// Required `key` of `o`; `what` says what was expected there.
    pub(super) fn required<'v>(
        &self,
        o: &Obj<'v>,
        key: &str,
        what: &str,
    ) -> Result<(String, &'v Value)> {
        o.get(key).ok_or_else(|| {
            self.error(
                &child(&o.path, key),
                format_args!("expected {what}, found nothing (the key is required)"),
            )
        })
    }

    /// Optional integer `key` in `min..=max`. An integral float (`5.0`) is
    /// accepted, since JSON has one number type; `5.5` is not.
    pub(super) fn int(&self, o: &Obj, key: &str, min: u64, max: u64) -> Result<Option<u64>> {
        let Some((p, v)) = o.get(key) else {
            return Ok(None);
        };
        let n = v.as_u64().or_else(|| {
            let f = v.as_f64()?;
            // Below 2^53 every integral f64 is exact.
            (f.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&f)).then_some(f as u64)
        });
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ if max == u64::MAX => Err(self.mismatch(&p, &format!("an integer >= {min}"), v)),
            _ => Err(self.mismatch(&p, &format!("an integer from {min} to {max}"), v)),
        }
    }

    /// Optional integer `key` from `min` to `u32::MAX`.
    pub(super) fn u32(&self, o: &Obj, key: &str, min: u64) -> Result<Option<u32>> {
        Ok(self.int(o, key, min, U32_MAX)?.map(|n| n as u32))
    }

    /// Optional `_ms` key: an integer >= 1, as a duration.
    pub(super) fn ms(&self, o: &Obj, key: &str) -> Result<Option<Duration>> {
        Ok(self.int(o, key, 1, u64::MAX)?.map(Duration::from_millis))
    }

    /// Optional boolean `key`.
    pub(super) fn bool(&self, o: &Obj, key: &str) -> Result<Option<bool>> {
        match o.get(key) {
            None => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((p, v)) => Err(self.mismatch(&p, "true or false", v)),
        }
    }

    /// `v` as a non-empty string.
    pub(super) fn non_empty<'v>(&self, path: &str, v: &'v Value) -> Result<&'v str> {
        match v.as_str() {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.mismatch(path, "a non-empty string", v)),
        }
    }

    /// `<file>: <key path>: <problem>`.
    pub(super) fn error(&self, path: &str, problem: impl fmt::Display) -> ConfigError {
        ConfigError(format!("{}: {path}: {problem}", self.origin))
    }

    /// `<file>: <key path>: expected <what>, found <what was there>`.
    pub(super) fn mismatch(&self, path: &str, expected: &str, found: &Value) -> ConfigError {
        self.error(
            path,
            format_args!("expected {expected}, found {}", describe(found)),
        )
    }
}

/// The path of `key` inside `parent`: `a.b` for plain keys, `a["x y"]`
/// for keys a dot path could not show.
pub(super) fn child(parent: &str, key: &str) -> String {
    // Long keys are shown cut (by `quoted`), so paths stay short however
    // deep or long the keys of a hostile file.
    let plain = !key.is_empty()
        && key.len() <= SHOWN_CHARS
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", quoted(key)),
    }
}

/// A value as an error shows it: scalars as JSON, long strings cut.
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(s),
        Value::Array(a) if a.is_empty() => "an empty array".to_string(),
        Value::Object(o) if o.is_empty() => "an empty object".to_string(),
        Value::Array(_) | Value::Object(_) => kind(v).to_string(),
        _ => v.to_string(),
    }
}

/// Only the type of a value, for values that may be secret.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `s` as a JSON string, cut to [`SHOWN_CHARS`] characters.
pub(super) fn quoted(s: &str) -> String {
    match shorten(s, SHOWN_CHARS) {
        Cow::Borrowed(whole) => Value::from(whole).to_string(),
        // The mark goes outside the JSON string: it is not part of the value.
        Cow::Owned(cut) => {
            let json = Value::from(&cut[..cut.len() - ELLIPSIS.len_utf8()]).to_string();
            format!("{}{ELLIPSIS}\"", &json[..json.len() - 1])
        }
    }
}
