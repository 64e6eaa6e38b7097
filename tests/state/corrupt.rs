//! Corrupt state is refused the same way everywhere (SPEC §9): an entry
//! whose values do not parse for its source — a position of another
//! style or of the wrong type, a bookmark that is not of the source's
//! type, a `pass` that is not one, a key given twice at any level — is
//! exit 2, naming the file, the source and the field, before anything is
//! fetched or written. Before, some of these were refused and others
//! silently fell back to `start` (or were dropped with a warning), and a
//! key given twice took its last value.

use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Shape, Style};

use super::{read_state, state_dir, with_policies};
use crate::cli::{run_command, stderr, summary_in};
use crate::support::OutDir;

/// Sources of every resumable style, an incremental timestamp source
/// (`gh`) and an incremental integer one (`b`), two pages each.
fn mock() -> MockServer {
    let scenario = Scenario::new(super::SEED)
        .with(MockSource::new("a", Style::Page, 2, 3))
        .with(MockSource::new("b", Style::Offset, 2, 3))
        .with(MockSource::new("c", Style::Cursor, 2, 3))
        .with(MockSource::new("n", Style::NextUrl, 2, 3))
        .with(
            MockSource::new("gh", Style::LinkHeader, 2, 3)
                .shape(Shape::GithubIssues)
                .honouring_since("since"),
        );
    MockServer::start(scenario).unwrap()
}

/// The mock's config, `gh` and `b` incremental.
fn config(server: &MockServer) -> Value {
    let mut doc = server.config_json();
    for source in doc["sources"].as_array_mut().unwrap() {
        match source["name"].as_str().unwrap() {
            "gh" => {
                source["record"] = json!({ "id": "id", "fields": {
                    "updated_at": { "path": "updated_at", "type": "timestamp", "required": true } } });
                source["incremental"] = json!({ "field": "updated_at", "param": "since" });
            }
            "b" => {
                source["incremental"] =
                    json!({ "field": "id", "param": "since_id", "type": "integer" })
            }
            _ => {}
        }
    }
    with_policies(doc, json!({}))
}

/// A change to a good state file: `field` of source `source` set to a
/// value (with a `resume` beside it, for `pass`), or text replaced.
enum Edit {
    Set(&'static str, &'static str, Value),
    Text(&'static str, &'static str),
}

/// A case: what it is, the edit, and the field path the refusal names.
type Case = (&'static str, Edit, &'static str);

/// Positions of another style, or of the wrong type, for each style
/// (`url` is a good URL position).
fn positions(url: &Value) -> Vec<Case> {
    use Edit::Set;
    let (page, cursor) = (json!({"page": 2}), json!({"cursor": "c7"}));
    vec![
        (
            "another style's position",
            Set("a", "resume", cursor),
            "sources.a.resume",
        ),
        (
            "a page that is a string",
            Set("a", "resume", json!({"page": "2"})),
            "sources.a.resume",
        ),
        (
            "a URL for page style",
            Set("a", "resume", url.clone()),
            "sources.a.resume",
        ),
        (
            "a page for offset style",
            Set("b", "resume", page.clone()),
            "sources.b.resume",
        ),
        (
            "a negative offset",
            Set("b", "resume", json!({"offset": -3})),
            "sources.b.resume",
        ),
        (
            "a cursor that is a number",
            Set("c", "resume", json!({"cursor": 5})),
            "sources.c.resume",
        ),
        (
            "a URL for cursor style",
            Set("c", "resume", url.clone()),
            "sources.c.resume",
        ),
        (
            "a page for next_url style",
            Set("n", "resume", page),
            "sources.n.resume",
        ),
        (
            "a URL that is a number",
            Set("n", "resume", json!({"url": 7})),
            "sources.n.resume",
        ),
    ]
}

/// Bookmarks and passes that do not parse for their source, and keys
/// given twice.
fn values_and_keys() -> Vec<Case> {
    use Edit::{Set, Text};
    let pass = |sent: Value, greatest: Value| json!({"sent": sent, "greatest": greatest});
    let null = Value::Null;
    vec![
        (
            "a timestamp that is not one",
            Set("gh", "bookmark", json!("yesterday")),
            "sources.gh.bookmark",
        ),
        (
            "a timestamp that is true",
            Set("gh", "bookmark", json!(true)),
            "sources.gh.bookmark",
        ),
        (
            "an integer that is a date",
            Set("b", "bookmark", json!("2026-01-01")),
            "sources.b.bookmark",
        ),
        (
            "a bookmark, not incremental",
            Set("a", "bookmark", json!(41)),
            "sources.a.bookmark",
        ),
        (
            "a pass that is not an object",
            Set("gh", "pass", json!("x")),
            "sources.gh.pass",
        ),
        (
            "a pass without a position",
            Set("gh", "pass", pass(null.clone(), null.clone())),
            "sources.gh.pass",
        ),
        (
            "a pass.sent of no time",
            Set("gh", "pass", pass(json!("soon"), null.clone())),
            "sources.gh.pass.sent",
        ),
        (
            "a pass.greatest object",
            Set("gh", "pass", pass(null.clone(), json!({}))),
            "sources.gh.pass.greatest",
        ),
        (
            "a pass with another key",
            Set("gh", "pass", json!({"sent": null, "more": 1})),
            "sources.gh.pass",
        ),
        (
            "a fingerprint number",
            Set("a", "fingerprint", json!(5)),
            "sources.a.fingerprint",
        ),
        (
            "version twice",
            Text("{", "{\"version\": 1,"),
            "\"version\"",
        ),
        (
            "an entry twice",
            Text("\"sources\": {", "\"sources\": {\"a\": {},"),
            "sources: the key \"a\"",
        ),
        (
            "a field twice",
            Text("\"resume\": null,", "\"resume\": null, \"resume\": null,"),
            "\"resume\"",
        ),
        (
            "a position's key twice",
            Text("\"page\": 2", "\"page\": 2, \"page\": 3"),
            "sources.a.resume: the key",
        ),
    ]
}

#[test]
fn corrupt_values_and_keys_given_twice_exit_2_naming_the_source_and_field() {
    let server = mock();
    let config = config(&server);
    let (_dir, state) = state_dir();
    let dir = OutDir::new();
    let o = run_command(&dir.0, &config)
        .args(["--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    summary_in(&dir.0.join("out"));
    let good = read_state(&state);
    let gh_page_2 = json!({ "url": format!("{}/gh/list?page=2", server.base_url()) });
    for (what, edit, gist) in positions(&gh_page_2).into_iter().chain(values_and_keys()) {
        let mut doc = good.clone();
        let text = match edit {
            Edit::Set(source, field, value) => {
                doc["sources"][source][field] = value;
                if field == "pass" && what != "a pass without a position" {
                    doc["sources"][source]["resume"] = gh_page_2.clone();
                }
                serde_json::to_string_pretty(&doc).unwrap()
            }
            Edit::Text(from, to) => {
                doc["sources"]["a"]["resume"] = json!({"page": 2});
                let text = serde_json::to_string_pretty(&doc).unwrap();
                assert!(text.contains(from), "{what}: {from:?} in {text}");
                text.replacen(from, to, 1)
            }
        };
        std::fs::write(&state, &text).unwrap();
        let requests = server.requests().len();
        let dir = OutDir::new();
        let o = run_command(&dir.0, &config)
            .args(["--state", state.to_str().unwrap()])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        for said in [state.to_str().unwrap(), "state file", gist] {
            assert!(err.contains(said), "{what}: says {said:?}: {err}");
        }
        if what.ends_with("twice") {
            assert!(err.contains("is given twice"), "{what}: {err}");
        }
        assert!(
            !err.contains("panicked") && err.len() < 1000,
            "{what}: {err}"
        );
        assert_eq!(server.requests().len(), requests, "{what}: nothing fetched");
        assert!(!dir.0.join("out").join("summary.json").exists(), "{what}");
        let kept = std::fs::read_to_string(&state).unwrap();
        assert_eq!(kept, text, "{what}: left as it was");
    }
}
