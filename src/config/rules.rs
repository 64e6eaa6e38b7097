//! The `on_response` key (SPEC §11): an ordered list of rules that say
//! what an answer means before the built-in classification of SPEC §4
//! does, for any status, 2xx included.
//!
//! APIs say "the data ends here" with a 404 (DRF past its last page) or a
//! 400 `page out of range`, and "failed" with a 200 whose body says
//! `"status": "error"`. A rule's conditions are ANDed (dlt's are; Airbyte
//! ORs them: a rule here says all of what it needs), the first rule whose
//! every condition holds decides. What the fetcher does with each
//! [`Action`] is in `fetch/rules.rs`; here are the types, the walk from
//! JSON (every mistake a config error naming its key path) and the JSON
//! written back to `summary.config`.

use serde_json::{json, Map, Value};

use crate::json::DotPath;

use super::json::{child, describe, quoted, Obj, Walker};
use super::validate::is_header_name;
use super::ConfigError;

type Result<T> = std::result::Result<T, ConfigError>;

/// The keys of a rule.
const RULE_KEYS: &[&str] = &[
    "status",
    "header",
    "path",
    "equals",
    "body_contains",
    "action",
];

/// One rule of `on_response`: when every condition holds, the action.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The answer's status is one of these (`status`: a code or a list).
    pub status: Option<Vec<u16>>,
    /// Each header is there, with this value (`header`), in file order.
    pub headers: Vec<HeaderCondition>,
    /// The body has a non-null value at this dot path (`path`).
    pub path: Option<DotPath>,
    /// ... and it equals this (`equals`, only with `path`).
    pub equals: Option<Value>,
    /// The first 64 KiB of the body hold this text (`body_contains`).
    pub body_contains: Option<String>,
    /// What the answer means when the rule matches.
    pub action: Action,
}

/// A `header` condition: one header, present or with an exact value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCondition {
    /// The name as written (shown so).
    pub name: String,
    /// The name lowercased, as an answer's headers are looked up.
    pub key: String,
    /// The exact value wanted; `None` for `"*"`: present, any value.
    pub value: Option<String>,
}

/// What an answer that a rule matches means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The end of the data: the answer's items are not kept and the
    /// source ends `complete` there.
    End,
    /// The page is given up at once, not retried, and not a failure:
    /// pagination goes on where the style can step over it.
    Skip,
    /// A retryable failure, like a 503: backoff, the breaker,
    /// Retry-After and quota headers.
    Retry,
    /// A non-retryable failure of kind `rule`: the page is given up.
    Fail,
}

impl Action {
    /// Every action, as a config writes it.
    pub const ALL: [Action; 4] = [Action::End, Action::Skip, Action::Retry, Action::Fail];

    /// The name a config writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::End => "end",
            Action::Skip => "skip",
            Action::Retry => "retry",
            Action::Fail => "fail",
        }
    }
}

impl Rule {
    /// The rule as a config writes it (for `summary.config` and `ingest
    /// check`); parsing it gives the rule back.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(status) = &self.status {
            let status = match status.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            out.insert("status".into(), status);
        }
        if !self.headers.is_empty() {
            let headers: Map<String, Value> = self
                .headers
                .iter()
                .map(|h| (h.name.clone(), json!(h.value.as_deref().unwrap_or("*"))))
                .collect();
            out.insert("header".into(), Value::Object(headers));
        }
        if let Some(path) = &self.path {
            out.insert("path".into(), json!(path));
        }
        if let Some(equals) = &self.equals {
            out.insert("equals".into(), equals.clone());
        }
        if let Some(text) = &self.body_contains {
            out.insert("body_contains".into(), json!(text));
        }
        out.insert("action".into(), json!(self.action.as_str()));
        Value::Object(out)
    }
}

impl Walker<'_> {
    /// `on_response` at `path`: a list of rules (empty: none, which a
    /// source may say to drop the top level's).
    pub(super) fn rules(&self, path: &str, v: &Value) -> Result<Vec<Rule>> {
        let list = v
            .as_array()
            .ok_or_else(|| self.mismatch(path, "an array of rules", v))?;
        list.iter()
            .enumerate()
            .map(|(i, v)| self.rule(&format!("{path}[{i}]"), v))
            .collect()
    }

    /// One rule: at least one condition, and an action.
    fn rule(&self, path: &str, v: &Value) -> Result<Rule> {
        let o = self.object(path, v, RULE_KEYS)?;
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        let expected = format!("an action, one of {}", names.join(", "));
        let (p, v) = self.required(&o, "action", &expected)?;
        let action = match Action::ALL.iter().find(|a| v.as_str() == Some(a.as_str())) {
            Some(action) => *action,
            None if v.is_string() => {
                return Err(self.error(
                    &p,
                    format_args!(
                        "unknown action {} (expected one of {})",
                        describe(v),
                        names.join(", ")
                    ),
                ))
            }
            None => return Err(self.mismatch(&p, &expected, v)),
        };
        let path_cond = match o.get("path") {
            Some((p, v)) => Some(self.dot_path(&p, v)?),
            None => None,
        };
        let equals = match (o.get("equals"), &path_cond) {
            (None, _) => None,
            (Some((p, _)), None) => {
                return Err(self.error(
                    &p,
                    "expected equals beside a path (it compares the value at that path), found no path",
                ))
            }
            (Some((p, Value::Null)), Some(_)) => {
                return Err(self.error(
                    &p,
                    "expected a value other than null (a path condition holds only where the body has a non-null value)",
                ))
            }
            (Some((_, v)), Some(_)) => Some(v.clone()),
        };
        let rule = Rule {
            status: o
                .get("status")
                .map(|(p, v)| self.statuses(&p, v))
                .transpose()?,
            headers: match o.get("header") {
                Some((p, v)) => self.header_conditions(&p, v)?,
                None => Vec::new(),
            },
            path: path_cond,
            equals,
            body_contains: match o.get("body_contains") {
                Some((p, v)) => Some(self.non_empty(&p, v)?.to_string()),
                None => None,
            },
            action,
        };
        let conditions = rule.status.is_some()
            || !rule.headers.is_empty()
            || rule.path.is_some()
            || rule.body_contains.is_some();
        if !conditions {
            return Err(self.error(
                path,
                "expected at least one condition (status, header, path, body_contains) beside the action, found none",
            ));
        }
        Ok(rule)
    }

    /// `status`: a code from 100 to 599, or a non-empty list of them.
    fn statuses(&self, path: &str, v: &Value) -> Result<Vec<u16>> {
        let expected = "an HTTP status from 100 to 599, or a non-empty list of them";
        let code = |p: &str, v: &Value| match v.as_u64() {
            Some(n @ 100..=599) => Ok(n as u16),
            _ => Err(self.mismatch(p, "an HTTP status from 100 to 599", v)),
        };
        match v {
            Value::Array(list) if list.is_empty() => Err(self.mismatch(path, expected, v)),
            Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, v)| code(&format!("{path}[{i}]"), v))
                .collect(),
            Value::Number(_) => Ok(vec![code(path, v)?]),
            _ => Err(self.mismatch(path, expected, v)),
        }
    }

    /// `header`: header names to an exact value, or `"*"` for present.
    fn header_conditions(&self, path: &str, v: &Value) -> Result<Vec<HeaderCondition>> {
        let expected = "an object of header names to a value (or \"*\" for any)";
        let map = match v {
            Value::Object(map) if !map.is_empty() => map,
            _ => return Err(self.mismatch(path, expected, v)),
        };
        let o = Obj {
            path: path.to_string(),
            map,
        };
        let mut out: Vec<HeaderCondition> = Vec::with_capacity(map.len());
        for name in map.keys() {
            let (p, v) = o.get(name).expect("a key of the map");
            if !is_header_name(name) {
                return Err(self.error(
                    &p,
                    format_args!(
                        "expected a header name (letters, digits and !#$%&'*+-.^_`|~), found {}",
                        quoted(name)
                    ),
                ));
            }
            let key = name.to_ascii_lowercase();
            if let Some(first) = out.iter().find(|h| h.key == key) {
                return Err(self.error(
                    &p,
                    format_args!(
                        "duplicate header name (names are case-insensitive; also {})",
                        child(path, &first.name)
                    ),
                ));
            }
            let value = match v.as_str() {
                Some("*") => None,
                Some(s) => Some(s.to_string()),
                None => return Err(self.mismatch(&p, "a string (\"*\" for any value)", v)),
            };
            out.push(HeaderCondition {
                name: name.clone(),
                key,
                value,
            });
        }
        Ok(out)
    }
}
