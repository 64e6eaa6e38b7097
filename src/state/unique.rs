//! A key given twice in one object of a state file, at any depth, is
//! refused (SPEC §9). serde_json's `Value` keeps the last value of a
//! repeated key without a word, and a file that says two things about
//! one source (two positions, two bookmarks, two entries) was not written
//! by ingest: which one was meant is not ingest's to guess.
//!
//! The check is a second pass over text already known to be valid JSON:
//! a visitor that reads every object's keys into a set and skips the
//! values, so that it needs no copy of the document.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::clipped;

/// Fails, naming where and which, when an object in `json` (valid JSON)
/// has a key twice.
pub fn check(json: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    Unique { at: "" }
        .deserialize(&mut de)
        .map_err(|e| e.to_string())
}

/// One value of the document, at dot path `at`.
struct Unique<'p> {
    at: &'p str,
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique { at: self.at })?.is_some() {}
        Ok(())
    }

    // With `arbitrary_precision`, a number arrives as a one-key map of
    // its text: a map like any other here.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let shown = clipped(&key);
            let at = match self.at {
                "" => shown.clone(),
                at => format!("{at}.{shown}"),
            };
            if !seen.insert(key) {
                let whose = match self.at {
                    "" => String::new(),
                    at => format!("{at}: "),
                };
                return Err(de::Error::custom(format!(
                    "{whose}the key {} is given twice",
                    serde_json::Value::String(shown)
                )));
            }
            map.next_value_seed(Unique { at: &at })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_twice_at_any_depth_is_named_with_where_it_is() {
        for (json, said) in [
            (
                r#"{"version": 1, "version": 1}"#,
                "the key \"version\" is given twice",
            ),
            (
                r#"{"sources": {"a": {}, "a": {}}}"#,
                "sources: the key \"a\" is given twice",
            ),
            (
                r#"{"sources": {"a": {"resume": {"page": 1, "page": 2}}}}"#,
                "sources.a.resume: the key \"page\" is given twice",
            ),
            (r#"[{"x": [{"k": 1, "\u006b": 2}]}]"#, "x: the key \"k\""),
        ] {
            let err = check(json.as_bytes()).unwrap_err();
            assert!(err.contains(said), "{json}: {err}");
            assert!(err.contains("line 1"), "{json}: {err}");
        }
        for json in [
            r#"{"a": {"k": 1}, "b": {"k": 1}}"#,
            r#"{"n": 12345678901234567890123, "f": 1.50, "s": "k", "z": null}"#,
            "[]",
            "7",
        ] {
            assert_eq!(check(json.as_bytes()), Ok(()), "{json}");
        }
    }
}
