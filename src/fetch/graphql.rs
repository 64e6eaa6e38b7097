//! GraphQL answers (SPEC §11): a GraphQL server says what went wrong in a
//! top-level `errors` list of a 200 answer, not in its status.
//!
//! An answer whose `errors` come without items is a failed page (kind
//! `graphql`, not retried) — unless an error says it is a rate limit,
//! which is waited out like a used-up quota (GitHub answers its GraphQL
//! rate limit as a 200 with `RATE_LIMITED`). `errors` beside items keep
//! the page and are counted for a warning.

use serde_json::Value;

use crate::text::shorten;

/// Characters of the first error's message kept.
const MESSAGE_CHARS: usize = 160;

/// The `errors` of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors {
    /// How many.
    pub count: u64,
    /// The first one's `message` (shortened).
    pub first: String,
    /// One of them is a rate limit (`type` or `extensions.code`
    /// `RATE_LIMITED`, or a message saying "rate limit").
    pub rate_limited: bool,
}

/// The non-empty top-level `errors` of `text`, if it has any. Bodies that
/// do not mention `"errors"` are not parsed again.
pub fn errors_in(text: &str) -> Option<Errors> {
    if !text.contains("\"errors\"") {
        return None;
    }
    let doc: Value = serde_json::from_str(text).ok()?;
    let list = doc.get("errors")?.as_array().filter(|l| !l.is_empty())?;
    let message = |e: &Value| {
        e.get("message")
            .and_then(Value::as_str)
            .map_or_else(|| e.to_string(), str::to_string)
    };
    let rate_limited = list.iter().any(|e| {
        let code = |v: Option<&Value>| v.and_then(Value::as_str) == Some("RATE_LIMITED");
        code(e.get("type"))
            || code(e.get("extensions").and_then(|x| x.get("code")))
            || message(e).to_ascii_lowercase().contains("rate limit")
    });
    Some(Errors {
        count: list.len() as u64,
        first: shorten(&message(&list[0]), MESSAGE_CHARS).into_owned(),
        rate_limited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_with_their_first_message_and_rate_limits_told_apart() {
        assert_eq!(errors_in(r#"{"data": {"x": []}}"#), None);
        assert_eq!(errors_in(r#"{"data": null, "errors": []}"#), None);
        let e =
            errors_in(r#"{"errors": [{"message": "Field 'x' doesn't exist"}, {"message": "b"}]}"#)
                .unwrap();
        assert_eq!(
            (e.count, e.first.as_str(), e.rate_limited),
            (2, "Field 'x' doesn't exist", false)
        );
        for limited in [
            r#"{"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}"#,
            r#"{"errors": [{"message": "x", "extensions": {"code": "RATE_LIMITED"}}]}"#,
            r#"{"errors": [{"message": "You have exceeded a secondary Rate Limit"}]}"#,
        ] {
            assert!(errors_in(limited).unwrap().rate_limited, "{limited}");
        }
    }
}
