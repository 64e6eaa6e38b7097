//! `on_response` at work (SPEC §11): the source's rules judge each answer
//! before the built-in classification of SPEC §4 does, for any status,
//! 2xx included.
//!
//! An answer's body is read once, here: a 2xx body is parsed into its
//! [`Page`] (which keeps the answer's headers, for envelope paths that
//! read one), and a rule's `path` reads that page; a body that is no page,
//! or an error answer's drained 64 KiB, is parsed only when a rule asks
//! for a path in it. The first rule whose every condition holds decides:
//! `end` is a usable answer with nothing to keep, `skip` a page given up
//! that is no failure, `retry` and `fail` failures of kind `rule`. What
//! follows (the breaker, backoff, the paginator stepping over a skipped
//! page) is the page loop's, as for any answer.

use std::cell::OnceCell;

use log::{debug, info};
use serde_json::Value;

use crate::config::{Action, Pagination, Rule};
use crate::error::AttemptError;
use crate::json::DotPath;
use crate::text::shorten;

use super::breaker::Transition;
use super::client::{Exchange, ERROR_BODY_LIMIT};
use super::headers::Headers;
use super::page::{BodyError, Page};
use super::paginate::Next;
use super::request::Request;
use super::stop::StopReason;
use super::{Ending, Fetcher};

/// The longest start of a 2xx body quoted in a rule's failure, in
/// characters (as `failed_page_errors` quotes an error answer's).
const SAID_CHARS: usize = 200;

/// An answer's body, read once: what SPEC §4's classification looks at
/// when no rule decided.
pub(super) enum Body {
    /// Nothing to keep: a 204, or an answer an `end` rule matched.
    Empty,
    /// A 2xx body with its items found (and the answer's headers), or
    /// why it is no page, with its text.
    Parsed(Result<Page, (BodyError, String)>),
    /// No body to read: an error status, or the attempt failed.
    Failed(AttemptError),
}

/// What one answer offers a rule's conditions.
struct Answered<'a> {
    status: u16,
    headers: &'a Headers,
    /// The parsed page, for a 2xx body that is one.
    page: Option<&'a Page>,
    /// The body's text otherwise (a body that is no page, an error
    /// answer's drained start), parsed only when a `path` asks.
    text: &'a str,
    parsed: OnceCell<Option<Value>>,
}

impl Answered<'_> {
    /// The value at `path` in the body, if the body is JSON and has it.
    fn value(&self, path: &DotPath) -> Option<Value> {
        if let Some(page) = self.page {
            return page.get(path);
        }
        let root = self
            .parsed
            .get_or_init(|| serde_json::from_str(self.text.trim_start_matches('\u{feff}')).ok());
        path.get(root.as_ref()?).cloned()
    }

    /// The first 64 KiB of the body (cut on a character boundary).
    fn head(&self) -> &str {
        let text = self.page.map_or(self.text, |p| p.text.as_str());
        let mut end = text.len().min(ERROR_BODY_LIMIT as usize);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    }

    /// Whether every condition of `rule` holds, the cheap ones first.
    fn holds(&self, rule: &Rule) -> bool {
        let status = rule
            .status
            .as_ref()
            .is_none_or(|codes| codes.contains(&self.status));
        let headers = rule
            .headers
            .iter()
            .all(|h| match (self.headers.get(&h.key), &h.value) {
                (Some(_), None) => true,
                (Some(got), Some(wanted)) => got == wanted,
                (None, _) => false,
            });
        status
            && headers
            && rule
                .body_contains
                .as_ref()
                .is_none_or(|text| self.head().contains(text.as_str()))
            && rule
                .path
                .as_ref()
                .is_none_or(|path| match self.value(path) {
                    None | Some(Value::Null) => false,
                    Some(found) => rule.equals.as_ref().is_none_or(|e| same(&found, e)),
                })
    }
}

/// JSON equality, numbers by value (`1`, `1.0` and `1e0` are equal; with
/// serde_json's `arbitrary_precision`, `==` compares their text).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || x.as_f64().is_some_and(|x| y.as_f64() == Some(x))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}

/// The index of the first of `rules` that `answer` meets.
fn first_match(rules: &[Rule], answer: &Answered<'_>) -> Option<usize> {
    rules.iter().position(|rule| answer.holds(rule))
}

impl Fetcher<'_> {
    /// Reads `exchange`'s body once (a 2xx body into a page that keeps
    /// the answer's headers) and lets the source's rules judge the
    /// answer: the body for SPEC §4's classification, or the failure a
    /// rule made of it (`retry`, `fail`: counted; `skip`: no failure). An
    /// `end` rule leaves nothing to keep ([`Body::Empty`]).
    pub(super) fn read_answer(&mut self, exchange: &mut Exchange) -> Result<Body, AttemptError> {
        let mut headers = Some(std::mem::take(&mut exchange.headers));
        let body = match std::mem::replace(&mut exchange.body, Ok(None)) {
            Ok(None) => Body::Empty,
            Ok(Some(text)) => {
                let items_path = self.source.items_path.as_ref();
                let parsed = Page::parse_keeping(text, items_path)
                    .map(|page| page.with_headers(headers.take().unwrap_or_default()));
                Body::Parsed(parsed)
            }
            Err(e) => Body::Failed(e),
        };
        let Some(status) = exchange
            .status
            .filter(|_| !self.source.on_response.is_empty())
        else {
            return Ok(body);
        };
        let none = Headers::default();
        let headers = headers.as_ref().unwrap_or(&none);
        let (page, headers, text) = match &body {
            Body::Parsed(Ok(page)) => (Some(page), &page.headers, ""),
            Body::Parsed(Err((_, text))) => (None, headers, text.as_str()),
            _ => (None, headers, exchange.drained.as_deref().unwrap_or("")),
        };
        let answer = Answered {
            status,
            headers,
            page,
            text,
            parsed: OnceCell::new(),
        };
        let Some(rule) = first_match(&self.source.on_response, &answer) else {
            return Ok(body);
        };
        let said = match status {
            200..=299 => Some(answer.head())
                .filter(|t| !t.trim().is_empty())
                .map(|t| {
                    let shown = self.shared.redactor.redact_text(t.trim());
                    shorten(&shown, SAID_CHARS).into_owned()
                }),
            _ => None,
        };
        let action = self.source.on_response[rule].action;
        if let Some(counts) = &mut self.counts.rules {
            counts.note_match(rule);
        }
        debug!(
            source = self.name(), event = "rule_matched", rule = rule,
            action = action.as_str(), status = status; ""
        );
        match action {
            Action::End => Ok(Body::Empty),
            Action::Skip => {
                // The server is answering: as a non-retryable answer, a
                // probe's closes the breaker.
                if let Some(Transition::Closed) = self.gate.breaker(|b| b.on_non_retryable()) {
                    info!(source = self.name(), event = "breaker_closed"; "");
                }
                Err(AttemptError::Skipped { rule, status })
            }
            Action::Retry | Action::Fail => Err(self.failed(AttemptError::Rule {
                rule,
                retry: action == Action::Retry,
                status,
                said,
            })),
        }
    }

    /// Files page `page_no` (sent as `request`), which rule `rule` said to
    /// skip: counted in `skipped_pages`, not as a failure; `next` is where
    /// the paginator steps over it. A style that cannot step over a page
    /// stops the source with status `error`, except `none`, whose one
    /// page it was: the source has ended.
    pub(super) fn skipped(
        &mut self,
        next: Next,
        request: &Request,
        page_no: u64,
        rule: usize,
    ) -> Result<Next, Box<Ending>> {
        if let Some(counts) = &mut self.counts.rules {
            counts.skipped_pages += 1;
        }
        let shown = request.shown(|u| self.shown(u));
        info!(source = self.name(), page = page_no, event = "skip", rule = rule, url = shown; "");
        match next {
            Next::Stuck if self.source.pagination == Pagination::None => Ok(Next::End),
            Next::Stuck => Err(Box::new(Ending::before(
                request,
                StopReason::Skipped {
                    page: page_no,
                    rule,
                },
            ))),
            next => Ok(next),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The rules of an `on_response` written as JSON.
    fn rules(json: Value) -> Vec<Rule> {
        let doc = json!({"sources": [{"name": "a", "url": "http://h/x", "on_response": json}]});
        let config = crate::config::Config::parse("t", &doc.to_string()).unwrap();
        config.sources[0].on_response.clone()
    }

    fn headers(lines: &[(&str, &str)]) -> Headers {
        Headers::from_lines(lines.iter().map(|(n, v)| (*n, v.to_string())))
    }

    fn answer<'a>(status: u16, headers: &'a Headers, text: &'a str) -> Answered<'a> {
        Answered {
            status,
            headers,
            page: None,
            text,
            parsed: OnceCell::new(),
        }
    }

    #[test]
    fn the_first_rule_whose_every_condition_holds_decides() {
        let rules = rules(json!([
            {"status": 404, "action": "end"},
            {"status": 200, "path": "status", "equals": "error", "action": "retry"},
            {"status": [400, 422], "body_contains": "page out of range", "action": "end"},
            {"status": [200, 400], "action": "fail"}
        ]));
        let none = Headers::default();
        let cases = [
            (404, r#"{"detail":"Invalid page."}"#, Some(0)),
            (200, r#"{"status":"error","message":"busy"}"#, Some(1)),
            (200, r#"{"status":"ok","data":[]}"#, Some(3)),
            (400, r#"{"detail":"page out of range"}"#, Some(2)),
            (422, r#"{"detail":"page out of range"}"#, Some(2)),
            (400, r#"{"detail":"bad"}"#, Some(3)),
            (422, r#"{"detail":"bad"}"#, None),
            (500, "", None),
        ];
        for (status, body, want) in cases {
            let got = first_match(&rules, &answer(status, &none, body));
            assert_eq!(got, want, "{status} {body}");
        }
    }

    #[test]
    fn a_path_holds_only_with_a_non_null_value_and_equals_compares_it() {
        let rules = rules(json!([
            {"path": "error.code", "action": "fail"},
            {"path": "count", "equals": 0, "action": "end"},
            {"path": "tags", "equals": ["a", 1.0], "action": "skip"}
        ]));
        let none = Headers::default();
        let find = |body: &str| first_match(&rules, &answer(200, &none, body));
        assert_eq!(find(r#"{"error": {"code": "E1"}}"#), Some(0));
        assert_eq!(
            find(r#"{"error": {"code": null}}"#),
            None,
            "null is no value"
        );
        assert_eq!(
            find(r#"{"error": null, "count": 0.0}"#),
            Some(1),
            "0 == 0.0"
        );
        assert_eq!(find(r#"{"count": 1}"#), None);
        assert_eq!(find(r#"{"tags": ["a", 1]}"#), Some(2));
        assert_eq!(find(r#"{"tags": ["a"]}"#), None);
        assert_eq!(find("not json"), None);
    }

    #[test]
    fn header_conditions_want_the_exact_value_or_presence_any_case() {
        let rules = rules(json!([
            {"header": {"X-Status": "maintenance", "Retry-After": "*"}, "action": "retry"},
            {"header": {"x-end": "*"}, "action": "end"}
        ]));
        let find = |lines: &[(&str, &str)]| {
            let h = headers(lines);
            first_match(&rules, &answer(200, &h, "{}"))
        };
        assert_eq!(
            find(&[("x-status", "maintenance"), ("retry-after", "5")]),
            Some(0)
        );
        assert_eq!(find(&[("X-STATUS", "maintenance")]), None, "both headers");
        assert_eq!(
            find(&[("x-status", "Maintenance"), ("retry-after", "5")]),
            None,
            "the exact value"
        );
        assert_eq!(find(&[("X-End", "")]), Some(1));
    }

    #[test]
    fn body_contains_reads_the_first_64_kib() {
        let rules = rules(json!([{"body_contains": "needle", "action": "skip"}]));
        let none = Headers::default();
        let near = format!("{}needle", " ".repeat(1000));
        let far = format!("{}needle", "é".repeat(40_000));
        assert_eq!(first_match(&rules, &answer(200, &none, &near)), Some(0));
        assert_eq!(first_match(&rules, &answer(200, &none, &far)), None);
    }

    #[test]
    fn a_page_is_read_where_it_was_parsed() {
        let rules = rules(json!([{"path": "meta.state", "equals": "partial", "action": "retry"}]));
        let page = Page::parse(
            r#"{"data": [1], "meta": {"state": "partial"}}"#.into(),
            None,
        )
        .unwrap();
        let none = Headers::default();
        let a = Answered {
            page: Some(&page),
            ..answer(200, &none, "")
        };
        assert_eq!(first_match(&rules, &a), Some(0));
        assert!(
            a.parsed.get().is_none(),
            "the page's text is not parsed again"
        );
    }
}
