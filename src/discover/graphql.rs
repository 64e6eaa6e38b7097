//! `ingest discover URL --graphql QUERY`: a GraphQL API's config from its
//! answers. The query is the user's (what to select is theirs to say);
//! discover finds where its Relay connection is (`pageInfo` beside
//! `nodes` or `edges` under `data`), checks that the second page, asked
//! with the first's `endCursor` as `$after`, brings new items, and types
//! the `record` from the nodes — then writes the `graphql` shorthand
//! (SPEC §11) with that `connection`.

use serde_json::{json, Map, Value};

use crate::control::RunControl;
use crate::exit_code::ExitCode;

use super::probe::{NoAnswer, Probe};
use super::{schema, unanswered, Discovered, Plan};

/// Where a connection is under `data`, and its page's items.
struct Connection {
    /// Its dot path under `data` (`repository.issues`).
    path: String,
    /// The nodes of this page.
    items: Vec<Value>,
    /// `pageInfo.endCursor`, when `hasNextPage` says there is more.
    next: Option<String>,
}

/// Discovers a GraphQL source asked with `query`.
pub(super) fn discover(
    plan: &Plan,
    query: &str,
    control: &RunControl,
    say: &mut dyn FnMut(&str),
) -> Discovered {
    let mut probe = Probe::new(&plan.probe, control, plan.interval);
    let url = plan.probe.sources[0].url.clone();
    say(&format!(
        "discover: asking {} with the query (at most {} requests, one per {} ms)",
        probe.shown(&url),
        super::probe::MAX_REQUESTS,
        plan.interval.as_millis()
    ));
    let ask = |probe: &mut Probe<'_>, after: Option<&str>| -> Result<Value, NoAnswer> {
        let body = json!({"query": query, "variables": {"after": after}}).to_string();
        let answer = probe.post(&url, body)?;
        serde_json::from_str::<Value>(answer.body.trim())
            .map_err(|_| NoAnswer::Failed("the answer is not JSON".into()))
    };
    let first = match ask(&mut probe, None) {
        Ok(body) => body,
        Err(no) => return unanswered(no, control.is_interrupted(), say),
    };
    let connection = match connection(&first) {
        Ok(c) => c,
        Err(why) => {
            say(&format!("discover: {why}; no config written"));
            return Discovered::none(ExitCode::Partial);
        }
    };
    say(&format!(
        "items: {} at data.{} (a Relay connection: pageInfo beside its nodes)",
        connection.items.len(),
        connection.path
    ));
    let mut sample = connection.items.clone();
    match &connection.next {
        None => say("pagination: hasNextPage is false on the first page: nothing to check it on"),
        Some(cursor) => {
            let second = match ask(&mut probe, Some(cursor)) {
                Ok(body) => body,
                Err(no) => return unanswered(no, control.is_interrupted(), say),
            };
            let next = match self::connection(&second) {
                Ok(c) if c.items != connection.items => c,
                Ok(_) => {
                    say("check: the page asked with `after` repeats the first: the query does not pass $after to the connection (… issues(after: $after) …); no config written");
                    return Discovered::none(ExitCode::Partial);
                }
                Err(why) => {
                    say(&format!("check: the second page: {why}; no config written"));
                    return Discovered::none(ExitCode::Partial);
                }
            };
            say(&format!(
                "check: after endCursor: {} new items: the pagination holds",
                next.items.len()
            ));
            sample.extend(next.items);
        }
    }
    let inferred = schema::infer(&sample);
    for note in &inferred.notes {
        say(note);
    }
    let mut source = plan.source.clone();
    source.insert(
        "graphql".into(),
        json!({"query": query, "connection": connection.path}),
    );
    source.insert("record".into(), inferred.record);
    for note in &plan.secret_notes {
        say(note);
    }
    say("discover: next, `ingest check --config FILE` on the config printed, then `ingest run`");
    Discovered {
        config: Some(json!({"sources": [Value::Object(source)]})),
        code: ExitCode::Complete,
    }
}

/// The connection in a GraphQL answer, or what the answer holds instead.
fn connection(body: &Value) -> Result<Connection, String> {
    let data = match body.get("data") {
        Some(d) if d.is_object() => d,
        _ => {
            let message = body
                .pointer("/errors/0/message")
                .and_then(Value::as_str)
                .map(|m| format!(": {}", crate::text::shorten(m, 200)))
                .unwrap_or_default();
            return Err(format!("no `data` in the answer{message}"));
        }
    };
    let mut found: Option<(String, &Map<String, Value>)> = None;
    find(data, String::new(), &mut found, 0);
    let (path, object) = found.ok_or(
        "no connection under data (an object with pageInfo and nodes or edges): select pageInfo { hasNextPage endCursor } beside nodes",
    )?;
    let items: Vec<Value> = match (object.get("nodes"), object.get("edges")) {
        (Some(Value::Array(nodes)), _) => nodes.clone(),
        (_, Some(Value::Array(edges))) => edges
            .iter()
            .map(|e| e.get("node").cloned().unwrap_or_else(|| e.clone()))
            .collect(),
        _ => Vec::new(),
    };
    if items.is_empty() {
        return Err(format!("the connection at data.{path} has no items"));
    }
    let info = &object["pageInfo"];
    let next = match (info.get("hasNextPage"), info.get("endCursor")) {
        (Some(Value::Bool(true)), Some(Value::String(c))) => Some(c.clone()),
        _ => None,
    };
    Ok(Connection { path, items, next })
}

/// The first object under `v` (breadth of keys in order, at most 6 deep)
/// with `pageInfo` and `nodes` or `edges`, and its dot path.
fn find<'v>(
    v: &'v Value,
    path: String,
    found: &mut Option<(String, &'v Map<String, Value>)>,
    depth: usize,
) {
    let Value::Object(o) = v else { return };
    if found.is_some() || depth > 6 {
        return;
    }
    if o.contains_key("pageInfo")
        && (o.contains_key("nodes") || o.contains_key("edges"))
        && !path.is_empty()
    {
        *found = Some((path, o));
        return;
    }
    for (k, child) in o {
        let at = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        find(child, at, found, depth + 1);
    }
}
