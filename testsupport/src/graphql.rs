//! GraphQL with Relay connections ([`crate::Style::Graphql`]): reading a
//! query's body, the cursors, and writing a connection's answer.
//!
//! The mock does not execute queries. It reads the `after` variable to
//! know the page, and the query's text only to know what to write:
//! `nodes` and `edges` as the query names them (both when it names
//! neither), `totalCount` when it names it. Every node is the item in full,
//! whatever fields the query selects. Cursors are base64, as GitHub's
//! are, of the page, the item's index on it and a seeded tag, so that a
//! forged or stale cursor is told apart from a good one.

use serde_json::{json, Value};

use crate::api::{Answer, Request};
use crate::base64;
use crate::data::fnv;

/// The parts of a GraphQL request body the mock reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// The query text.
    pub text: String,
    /// The `after` variable: `None` when absent or null.
    pub after: Option<Value>,
}

/// A 400 as GitHub words it.
pub(crate) fn bad_request(message: &str) -> Answer {
    let body = json!({"message": message, "documentation_url": "https://docs.github.com/graphql"});
    Answer::json(400, body.to_string())
}

/// A 200 with `errors` and no `data`.
pub(crate) fn errors(error: Value) -> Answer {
    Answer::json(200, json!({ "errors": [error] }).to_string())
}

/// Reads a GraphQL request; `Err` with the message of its 400.
pub(crate) fn parse(req: &Request) -> Result<Query, &'static str> {
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err("GraphQL takes a POST with a JSON body");
    }
    let body: Value = serde_json::from_slice(req.body).map_err(|_| "Problems parsing JSON")?;
    let Some(text) = body.get("query").and_then(Value::as_str) else {
        return Err("A query attribute must be specified and must be a string.");
    };
    let after = body
        .get("variables")
        .and_then(|v| v.get("after"))
        .filter(|v| !v.is_null())
        .cloned();
    Ok(Query {
        text: text.to_string(),
        after,
    })
}

/// The cursor of item `index` (0-based) of `page` of source `name`.
pub(crate) fn cursor(seed: u64, name: &str, page: usize, index: usize) -> String {
    let tag = fnv(&format!("{seed}/{name}/{page}/{index}")) as u32;
    base64::encode(format!("cursor:v2:{page}:{index}:{tag:08x}").as_bytes())
}

/// The `(page, index)` a cursor of source `name` stands for, if it is
/// one this server wrote.
pub(crate) fn decode_cursor(seed: u64, name: &str, cursor: &str) -> Option<(usize, usize)> {
    let text = String::from_utf8(base64::decode(cursor)?).ok()?;
    let mut parts = text.strip_prefix("cursor:v2:")?.split(':');
    let page = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    (self::cursor(seed, name, page, index) == cursor).then_some((page, index))
}

/// The `errors` answer to an `after` that is not a page's `endCursor`.
pub(crate) fn invalid_cursor(after: &Value) -> Answer {
    let shown = after
        .as_str()
        .map_or_else(|| after.to_string(), str::to_string);
    errors(json!({
        "type": "INVALID_CURSOR_ARGUMENTS",
        "path": ["after"],
        "message": format!("`{shown}` does not appear to be a valid cursor."),
    }))
}

/// One page of a connection, as the query selects it.
pub(crate) struct Page<'a> {
    /// The page's item array, as JSON text.
    pub items: &'a str,
    /// The cursor of item `i` of this page.
    pub cursor: &'a dyn Fn(usize) -> String,
    /// Whether a page follows.
    pub has_next: bool,
    /// Items over all pages (`totalCount`).
    pub total: u64,
}

/// The answer body: `{"data":{..path..:{connection}}}`.
pub(crate) fn body(connection_path: &str, query: &str, page: &Page) -> String {
    let nodes: Vec<Value> = serde_json::from_str(page.items).unwrap_or_default();
    let end_cursor = (!nodes.is_empty()).then(|| (page.cursor)(nodes.len() - 1));
    let (want_nodes, want_edges) = match (query.contains("nodes"), query.contains("edges")) {
        (false, false) => (true, true),
        selected => selected,
    };
    let mut connection = serde_json::Map::new();
    if query.contains("totalCount") {
        connection.insert("totalCount".into(), json!(page.total));
    }
    let edges: Vec<Value> = if want_edges {
        let with_cursor =
            |(i, node): (usize, &Value)| json!({"node": node, "cursor": (page.cursor)(i)});
        nodes.iter().enumerate().map(with_cursor).collect()
    } else {
        Vec::new()
    };
    if want_nodes {
        connection.insert("nodes".into(), Value::Array(nodes));
    }
    if want_edges {
        connection.insert("edges".into(), Value::Array(edges));
    }
    connection.insert(
        "pageInfo".into(),
        json!({"hasNextPage": page.has_next, "endCursor": end_cursor}),
    );
    let mut data = Value::Object(connection);
    for field in connection_path.rsplit('.') {
        data = json!({ field: data });
    }
    json!({ "data": data }).to_string()
}

/// `body` with `"errors":[{"message":..}]` after its other keys, when it
/// is a JSON object; else unchanged.
pub(crate) fn with_errors(body: &[u8], message: &str) -> Vec<u8> {
    let trimmed = body.trim_ascii();
    let (Some(b'{'), Some(b'}')) = (trimmed.first(), trimmed.last()) else {
        return body.to_vec();
    };
    // Everything up to the closing brace; `{` alone for an empty object.
    let open = trimmed[..trimmed.len() - 1].trim_ascii_end();
    let errors = json!([{ "message": message }]);
    let comma = if open.len() > 1 { "," } else { "" };
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(open);
    out.extend_from_slice(format!("{comma}\"errors\":{errors}}}").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &'static str, body: &'static str) -> Request<'static> {
        Request {
            method,
            target: "/g/graphql",
            headers: &[],
            body: body.as_bytes(),
        }
    }

    #[test]
    fn parses_posts_and_refuses_the_rest() {
        let q = parse(&request(
            "POST",
            r#"{"query":"{ x }","variables":{"first":2,"after":"Yw=="}}"#,
        ))
        .unwrap();
        assert_eq!((q.text.as_str(), q.after), ("{ x }", Some(json!("Yw=="))));
        let q = parse(&request(
            "POST",
            r#"{"query":"{ x }","variables":{"after":null}}"#,
        ))
        .unwrap();
        assert_eq!(q.after, None);
        assert!(parse(&request("GET", "")).is_err());
        assert!(parse(&request("POST", "query { x }")).is_err());
        assert!(parse(&request("POST", r#"{"query":7}"#)).is_err());
    }

    #[test]
    fn cursors_are_opaque_and_checked() {
        let c = cursor(5, "g", 3, 9);
        assert_eq!(decode_cursor(5, "g", &c), Some((3, 9)));
        assert_eq!(decode_cursor(6, "g", &c), None, "another seed");
        assert_eq!(decode_cursor(5, "h", &c), None, "another source");
        assert_eq!(decode_cursor(5, "g", "Y3Vyc29yOnYyOjM6OQ=="), None);
        assert_eq!(decode_cursor(5, "g", "not base64"), None);
    }

    #[test]
    fn the_query_selects_nodes_edges_and_total() {
        let cursor = |i: usize| format!("c{i}");
        let page = Page {
            items: r#"[{"id":1},{"id":2}]"#,
            cursor: &cursor,
            has_next: true,
            total: 9,
        };
        let both: Value = serde_json::from_str(&body("repository.issues", "{ x }", &page)).unwrap();
        let conn = &both["data"]["repository"]["issues"];
        assert_eq!(conn["nodes"], json!([{"id": 1}, {"id": 2}]));
        assert_eq!(conn["edges"][1], json!({"node": {"id": 2}, "cursor": "c1"}));
        assert_eq!(
            conn["pageInfo"],
            json!({"hasNextPage": true, "endCursor": "c1"})
        );
        assert!(conn.get("totalCount").is_none());
        let edges: Value =
            serde_json::from_str(&body("search", "edges { node } totalCount", &page)).unwrap();
        assert!(edges["data"]["search"].get("nodes").is_none());
        assert_eq!(edges["data"]["search"]["totalCount"], 9);
        let empty = Page {
            items: "[]",
            cursor: &cursor,
            has_next: false,
            total: 0,
        };
        let end: Value = serde_json::from_str(&body("a.b.c", "nodes", &empty)).unwrap();
        assert_eq!(
            end["data"]["a"]["b"]["c"]["pageInfo"],
            json!({"hasNextPage": false, "endCursor": null})
        );
    }

    #[test]
    fn errors_go_beside_the_data_of_an_object() {
        let got = with_errors(br#"{"data":{"x":1}}"#, "m");
        assert_eq!(got, br#"{"data":{"x":1},"errors":[{"message":"m"}]}"#);
        assert_eq!(with_errors(b"{ }", "m"), br#"{"errors":[{"message":"m"}]}"#);
        assert_eq!(with_errors(b"[1]", "m"), b"[1]");
    }
}
