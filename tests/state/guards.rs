//! What guards a state file: a fingerprint per entry (a changed `url` or
//! `pagination` drops the entry with a warning), `--source` (the other
//! entries kept byte for byte, an unknown name refused), and the checks
//! on reading it (a hostile file is exit 2, said clearly, nothing
//! fetched; corrupt values of each kind are in `corrupt.rs`).

use std::path::Path;

use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Style};

use super::{entry_texts, parse, read_state, slow, state_dir, with_policies};
use crate::cli::{run_command, stderr, summary_in};
use crate::support::{run_with_state, OutDir};

/// Sources `a` (page) and `b` (offset), 30 pages of 3.
fn a_and_b() -> MockServer {
    let scenario = Scenario::new(super::SEED)
        .with(MockSource::new("a", Style::Page, 30, 3))
        .with(MockSource::new("b", Style::Offset, 30, 3));
    MockServer::start(scenario).unwrap()
}

#[test]
fn a_changed_url_or_pagination_drops_the_entry_with_a_warning() {
    let server = a_and_b();
    let (_dir, state) = state_dir();
    let first = run_with_state(&parse(server.config_json(), slow()), &state, |_| {});
    for name in ["a", "b"] {
        assert_eq!(first.source(name)["status"], "deadline");
        assert!(read_state(&state)["sources"][name]["resume"].is_object());
    }
    let mut doc = server.config_json();
    let url = doc["sources"][0]["url"].as_str().unwrap().to_string();
    doc["sources"][0]["url"] = json!(format!("{url}?sort=asc"));
    doc["sources"][1]["pagination"]
        .as_object_mut()
        .unwrap()
        .remove("total_path");
    let before = server.requests().len();
    let second = run_with_state(&parse(doc, json!({})), &state, |_| {});
    let log = server.requests()[before..].to_vec();
    for (name, start) in [("a", ("page", "1")), ("b", ("offset", "0"))] {
        let s = second.source(name);
        let warnings = s["warnings"].as_array().unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.as_str().unwrap().contains("dropped")),
            "{name}: {warnings:?}"
        );
        assert_eq!(s["resumed_from"], json!(null), "{name}");
        assert_eq!(s["status"], "complete", "{name}");
        let first_request = log.iter().find(|r| r.source == name).unwrap();
        assert_eq!(
            first_request.query(start.0).as_deref(),
            Some(start.1),
            "{name}: from the start"
        );
        let all = server.truth().source(name).unwrap().expected_all().keys;
        let got: std::collections::BTreeSet<String> = second
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(&format!("{name}:")))
            .collect();
        assert_eq!(got, all, "{name}: everything, from the start");
    }
    assert_eq!(second.summary["totals"]["warnings"], 2);
    for (name, entry) in read_state(&state)["sources"].as_object().unwrap() {
        assert_eq!(
            entry["resume"],
            json!(null),
            "{name}: the new config's entry"
        );
    }
}

/// `ingest run` of `config` into `dir` with `--state state` and `args`.
fn ingest(dir: &Path, config: &Value, state: &Path, args: &[&str]) -> std::process::Output {
    run_command(dir, config)
        .args(["--state", state.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn source_runs_a_subset_and_keeps_every_other_entry_byte_for_byte() {
    let server = a_and_b();
    let (_dir, state) = state_dir();
    let slow = with_policies(server.config_json(), slow());
    let o = ingest(&OutDir::new().0, &slow, &state, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    // An entry of a source that is not in the config any more, with
    // numbers written as no serializer of floats or u64 would write them.
    let mut doc = read_state(&state);
    doc["sources"]["gone"] = serde_json::from_str(
        r#"{"fingerprint": "00ff", "resume": {"page": 7}, "bookmark": 1.50,
            "pass": {"sent": 12345678901234567890123, "greatest": null}}"#,
    )
    .unwrap();
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    assert!(text.contains("1.50") && text.contains("12345678901234567890123"));
    std::fs::write(&state, &text).unwrap();
    let before = entry_texts(&text);
    assert!(before["b"].contains("\"resume\": {"), "{}", before["b"]);

    let fast = with_policies(server.config_json(), json!({}));
    let requests = server.requests().len();
    let dir = OutDir::new();
    let o = ingest(&dir.0, &fast, &state, &["--source", "a"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary = summary_in(&dir.0.join("out"));
    let names: Vec<&String> = summary["sources"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["a"]);
    assert!(server.requests()[requests..]
        .iter()
        .all(|r| r.source == "a"));
    let after = entry_texts(&std::fs::read_to_string(&state).unwrap());
    for kept in ["b", "gone"] {
        assert_eq!(after[kept], before[kept], "{kept}: byte for byte");
    }
    assert_ne!(after["a"], before["a"]);
    assert_eq!(read_state(&state)["sources"]["a"]["resume"], json!(null));

    // An unknown name: exit 2, nothing fetched, the state as it was.
    let text = std::fs::read_to_string(&state).unwrap();
    let requests = server.requests().len();
    let dir = OutDir::new();
    let o = ingest(
        &dir.0,
        &fast,
        &state,
        &["--source", "a", "--source", "nope"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("\"nope\"") && err.contains("a, b"), "{err}");
    assert_eq!(server.requests().len(), requests, "nothing fetched");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        text,
        "no state written"
    );
    assert!(!dir.0.join("out").join("summary.json").exists());
}

#[test]
fn hostile_state_files_exit_2_saying_what_is_wrong_and_fetch_nothing() {
    let server = a_and_b();
    let config = server.config_json();
    let page = json!({"version": 1, "sources": {"a": {"fingerprint": "f", "resume": {"page": 2}}}});
    let whole = serde_json::to_string_pretty(&page).unwrap();
    let mut junk = vec![0u8; 10 << 20];
    let mut rng = fastrand::Rng::with_seed(5);
    rng.fill(&mut junk);
    let entry = |e: Value| {
        json!({"version": 1, "sources": {"a": e}})
            .to_string()
            .into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            whole.as_bytes()[..whole.len() / 2].to_vec(),
            "not valid JSON",
        ),
        ("empty", Vec::new(), "not valid JSON"),
        (
            "wrong version",
            br#"{"version": 2, "sources": {}}"#.to_vec(),
            "version 2",
        ),
        (
            "no version",
            br#"{"sources": {}}"#.to_vec(),
            "\"version\": 1",
        ),
        (
            "not an object",
            b"[1, 2]".to_vec(),
            "expected a JSON object",
        ),
        (
            "a page that is a string",
            entry(json!({"fingerprint": "f", "resume": {"page": "7"}})),
            "sources.a.resume",
        ),
        (
            "a negative offset",
            entry(json!({"fingerprint": "f", "resume": {"offset": -3}})),
            "sources.a.resume",
        ),
        (
            "a URL that is not http",
            entry(json!({"fingerprint": "f", "resume": {"url": "file:///etc/passwd"}})),
            "sources.a.resume.url: expected an http(s) URL",
        ),
        (
            "a megabyte-long cursor that is not one",
            entry(json!({"fingerprint": "f", "resume": {"cursor": ["c".repeat(1 << 20)]}})),
            "sources.a.resume",
        ),
        (
            "two positions",
            entry(json!({"fingerprint": "f", "resume": {"page": 2, "offset": 3}})),
            "sources.a.resume",
        ),
        (
            "a bookmark that is an object",
            entry(json!({"fingerprint": "f", "bookmark": {"at": 1}})),
            "sources.a.bookmark",
        ),
        ("10 MB of junk", junk, "not valid JSON"),
        ("17 MB of spaces", vec![b' '; 17 << 20], "at most 16 MiB"),
    ];
    for (what, bytes, gist) in &cases {
        let (_dir, state) = state_dir();
        std::fs::write(&state, bytes).unwrap();
        refused(&server, &config, &state, what, gist);
        assert_eq!(
            &std::fs::read(&state).unwrap(),
            bytes,
            "{what}: left as it was"
        );
    }
    let (_dir, state) = state_dir();
    std::fs::create_dir(&state).unwrap();
    refused(&server, &config, &state, "a directory", "cannot read it");
}

/// A run with `--state state` is refused before anything is fetched or
/// written: exit 2, one message that names the file and says `gist`.
fn refused(server: &MockServer, config: &Value, state: &Path, what: &str, gist: &str) {
    let dir = OutDir::new();
    let o = ingest(&dir.0, config, state, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    assert!(
        err.contains(&state.display().to_string()),
        "{what}: names the file: {err}"
    );
    assert!(err.contains(gist), "{what}: says {gist:?}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(err.len() < 1000, "{what}: one short message: {err}");
    assert!(server.requests().is_empty(), "{what}: nothing fetched");
    assert!(
        !dir.0.join("out").join("summary.json").exists(),
        "{what}: nothing written"
    );
}

/// A state file that could be read (or is missing) but cannot be written
/// there is found before anything is fetched, as an unwritable `--out`
/// is: exit 1, nothing fetched, nothing written.
#[test]
fn a_state_that_cannot_be_written_there_fails_before_fetching() {
    if !Path::new("/proc/self").exists() {
        println!("skipped: no /proc, the one place even root cannot create a directory");
        return;
    }
    let server = a_and_b();
    let dir = OutDir::new();
    let state = Path::new("/proc/ingest-no-such-dir/state.json");
    let o = ingest(&dir.0, &server.config_json(), state, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("/proc/ingest-no-such-dir"), "{err}");
    assert!(server.requests().is_empty(), "nothing fetched");
    assert!(!dir.0.join("out").join("summary.json").exists());
}
