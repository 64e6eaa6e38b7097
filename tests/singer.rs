//! `--format singer` and `--stdout` end to end (SPEC §2, §10): the binary
//! against a mock of a product source, a declared-schema source that keeps
//! the rest of its items and is incremental, and a typed order source.
//! Every stdout line is a Singer message with its required keys; a SCHEMA
//! comes before each stream's first RECORD; every RECORD validates against
//! its stream's SCHEMA (by the small JSON-Schema checker below, for the
//! subset ingest emits: no crate needed for five keywords); the records
//! are those a `--format jsonl` run writes; the last STATE is the state
//! file `--state-write` writes, and without it the file is read and
//! locked but never written. And a reader that goes away (`| head -1`) changes neither the
//! exit code nor the files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use testsupport::{MockServer, MockSource, Scenario, Shape, Style};

use crate::cli::{run_command, signal, spawn, summary_in};
use crate::support::{assert_identity, fast_policies, n, OutDir};

/// The mock: `shop` (product schema, with invalid items and duplicates),
/// `gh` (GitHub issues: declared schema, `rest: keep`, incremental on
/// `updated_at`), `drf` (DRF orders: string, price, currency, boolean,
/// timestamp).
pub(crate) fn mock(pages: usize, per_page: usize) -> MockServer {
    MockServer::start(
        Scenario::new(15)
            .with(MockSource::new("shop", Style::Page, pages, per_page))
            .with(
                MockSource::new("gh", Style::LinkHeader, pages, per_page)
                    .shape(Shape::GithubIssues),
            )
            .with(MockSource::new("drf", Style::Offset, pages, per_page).shape(Shape::DrfOrders)),
    )
    .unwrap()
}

/// The mock's config with the test policies and each source's schema.
pub(crate) fn config(server: &MockServer) -> Value {
    let mut doc = server.config_json();
    for (k, v) in fast_policies().as_object().unwrap() {
        doc[k] = v.clone();
    }
    for source in doc["sources"].as_array_mut().unwrap() {
        match source["name"].as_str().unwrap() {
            "gh" => {
                source["record"] = json!({
                    "id": "id",
                    "fields": {
                        "number": { "type": "integer", "required": true },
                        "title": { "type": "string" },
                        "state": { "type": "string", "required": true },
                        "author": { "path": "user.login" },
                        "labels": { "type": "json" },
                        "comments": { "type": "integer" },
                        "created_at": { "type": "timestamp", "required": true },
                        "updated_at": { "type": "timestamp" },
                        "closed_at": { "type": "timestamp" }
                    },
                    "rest": "keep"
                });
                source["incremental"] = json!({
                    "field": "updated_at", "param": "since", "start": "2020-01-01T00:00:00Z"
                });
            }
            "drf" => {
                source["record"] = json!({
                    "id": "id",
                    "fields": {
                        "reference": { "type": "string", "required": true },
                        "total": { "type": "price", "required": true },
                        "currency": { "type": "currency" },
                        "paid": { "type": "boolean" },
                        "created": { "type": "timestamp" },
                        "email": { "path": "customer.email", "type": "string" }
                    }
                });
            }
            _ => {}
        }
    }
    doc
}

/// `ingest run` on `config` in `dir` (outputs in `dir/out`) with `args`.
fn run(dir: &Path, config: &Value, args: &[&str]) -> Output {
    let mut command: Command = run_command(dir, config);
    command.args(args).output().expect("run the ingest binary")
}

/// [`run`] that must exit 0 (a failure shows its stderr).
fn run_ok(dir: &Path, config: &Value, args: &[&str]) -> Output {
    let o = run(dir, config, args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// stdout's lines, each parsed as JSON; a line that is not JSON fails.
pub(crate) fn lines(o: &Output) -> Vec<Value> {
    let text = String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:.200}"))
        })
        .collect()
}

/// The required keys of each Singer message type (SPEC v0.3.0): every
/// line is one of them, with its keys of the right kinds.
fn check_message(m: &Value) -> Result<&'static str, String> {
    let o = m.as_object().ok_or("not a JSON object")?;
    let string = |k: &str| {
        o.get(k)
            .and_then(Value::as_str)
            .ok_or(format!("no {k} string"))
    };
    let stream_name = |k: &str| {
        let s = string(k)?;
        let valid = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        valid.then_some(()).ok_or(format!("stream name {s:?}"))
    };
    let names = |k: &str| -> Result<Vec<&str>, String> {
        o.get(k)
            .and_then(Value::as_array)
            .ok_or(format!("no {k} array"))?
            .iter()
            .map(|v| v.as_str().ok_or(format!("{k}: not all strings")))
            .collect()
    };
    let allowed: &[&str] = match string("type")? {
        "SCHEMA" => {
            stream_name("stream")?;
            let properties = o["schema"]["properties"]
                .as_object()
                .ok_or("schema without properties")?;
            for key in names("key_properties")? {
                properties
                    .get(key)
                    .ok_or(format!("key property {key} is not a property"))?;
            }
            if o.contains_key("bookmark_properties") {
                names("bookmark_properties")?;
            }
            &[
                "type",
                "stream",
                "schema",
                "key_properties",
                "bookmark_properties",
            ]
        }
        "RECORD" => {
            stream_name("stream")?;
            o.get("record")
                .and_then(Value::as_object)
                .ok_or("no record object")?;
            let t = string("time_extracted")?;
            rfc3339(t)?;
            t.ends_with('Z')
                .then_some(())
                .ok_or("time_extracted not UTC")?;
            &["type", "stream", "record", "time_extracted"]
        }
        "STATE" => {
            o.get("value").ok_or("no value")?;
            &["type", "value"]
        }
        other => return Err(format!("a message of type {other:?}")),
    };
    if let Some(extra) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unexpected key {extra}"));
    }
    Ok(match o["type"].as_str().unwrap() {
        "SCHEMA" => "SCHEMA",
        "RECORD" => "RECORD",
        _ => "STATE",
    })
}

/// RFC 3339 date-time: `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`, fields in
/// range.
fn rfc3339(s: &str) -> Result<(), String> {
    let bad = || format!("not an RFC 3339 date-time: {s:?}");
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let part = s.get(r).ok_or_else(bad)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (month, day) = (digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    digits(0..4)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => Ok(()),
        [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            Ok(())
        }
        _ => Err(bad()),
    }
}

/// Whether `v` is of JSON-Schema type `ty`.
fn is_type(ty: &str, v: &Value) -> bool {
    match ty {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        // Numbers keep their text here (arbitrary_precision): an integer
        // is one written without fraction or exponent, of any size.
        "integer" => v.as_number().is_some_and(|n| {
            let t = n.to_string();
            let t = t.strip_prefix('-').unwrap_or(&t);
            !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit())
        }),
        other => panic!("the checker does not know type {other:?}"),
    }
}

/// Validates `v` against `schema`, for the subset of JSON Schema that
/// ingest emits: `type` (a name or a list of names, `null` included),
/// `properties`, `required`, `additionalProperties` (a boolean) and
/// `format: date-time`. Any other keyword fails the check: a schema the
/// checker does not understand is not one it may pass.
fn validate(schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = schema
        .as_object()
        .ok_or(format!("{at}: schema is not an object"))?;
    let known = [
        "type",
        "properties",
        "required",
        "additionalProperties",
        "format",
    ];
    if let Some(k) = s.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("{at}: the checker does not know the keyword {k}"));
    }
    if let Some(ty) = s.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
            other => return Err(format!("{at}: type {other}")),
        };
        if !types.iter().any(|t| is_type(t, v)) {
            return Err(format!("{at}: {v} is not of type {ty}"));
        }
    }
    match s.get("format").map(|f| f.as_str()) {
        None => {}
        Some(Some("date-time")) => {
            if let Some(text) = v.as_str() {
                rfc3339(text).map_err(|e| format!("{at}: {e}"))?;
            }
        }
        Some(other) => return Err(format!("{at}: the checker does not know format {other:?}")),
    }
    let Some(o) = v.as_object() else {
        return Ok(());
    };
    let empty = Map::new();
    let properties = s
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (k, sub) in properties {
        if let Some(x) = o.get(k) {
            validate(sub, x, &format!("{at}.{k}"))?;
        }
    }
    for r in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let r = r.as_str().unwrap();
        if !o.contains_key(r) {
            return Err(format!("{at}: required {r} is missing"));
        }
    }
    if s.get("additionalProperties") == Some(&json!(false)) {
        if let Some(k) = o.keys().find(|k| !properties.contains_key(*k)) {
            return Err(format!(
                "{at}: {k} is not allowed (additionalProperties: false)"
            ));
        }
    }
    Ok(())
}

#[test]
fn the_checker_catches_what_a_strict_target_would_refuse() {
    let schema = json!({
        "type": "object",
        "properties": {
            "key": {"type": "string"},
            "n": {"type": ["integer", "null"]},
            "p": {"type": "number"},
            "at": {"type": ["string", "null"], "format": "date-time"},
            "j": {}
        },
        "required": ["key", "p"],
        "additionalProperties": false
    });
    let good =
        json!({"key": "a:1", "n": null, "p": 12.50, "at": "2026-11-01T08:00:00.5Z", "j": [1]});
    assert_eq!(validate(&schema, &good, "r"), Ok(()));
    for (patch, gist) in [
        (json!({"p": "12.50"}), "not of type"),
        (json!({"n": 1.5}), "not of type"),
        (json!({"at": "2026-11-01 08:00"}), "RFC 3339"),
        (json!({"at": "2026-11-01T08:00:00"}), "RFC 3339"),
        (json!({"extra": 1}), "not allowed"),
    ] {
        let mut bad = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let err = validate(&schema, &bad, "r").unwrap_err();
        assert!(err.contains(gist), "{patch}: {err}");
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("p");
    assert!(validate(&schema, &missing, "r")
        .unwrap_err()
        .contains("required p"));
    assert!(validate(&json!({"minimum": 0}), &json!(1), "r").is_err());
}

/// A Singer run's messages, checked line by line: each is valid, one
/// SCHEMA per stream before its first RECORD, every RECORD valid against
/// it, `time_extracted` never going back within a stream, and a STATE
/// after each stream's last RECORD. Returns the records by stream (as
/// text), the SCHEMA messages, and the STATE values.
pub(crate) struct Messages {
    pub(crate) records: BTreeMap<String, Vec<String>>,
    pub(crate) schemas: BTreeMap<String, Value>,
    pub(crate) states: Vec<Value>,
}

pub(crate) fn check_stream(lines: &[Value]) -> Messages {
    let mut m = Messages {
        records: BTreeMap::new(),
        schemas: BTreeMap::new(),
        states: Vec::new(),
    };
    let mut last_time: BTreeMap<String, String> = BTreeMap::new();
    let mut last_record: BTreeMap<String, usize> = BTreeMap::new();
    let mut state_at: Vec<usize> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let kind = check_message(line).unwrap_or_else(|e| panic!("line {}: {e}\n{line}", i + 1));
        let stream = line["stream"].as_str().unwrap_or_default().to_string();
        match kind {
            "SCHEMA" => {
                let before = m.schemas.insert(stream.clone(), line.clone());
                assert!(
                    before.is_none(),
                    "{stream}: a second SCHEMA (line {})",
                    i + 1
                );
            }
            "RECORD" => {
                let schema = m.schemas.get(&stream).unwrap_or_else(|| {
                    panic!("line {}: a RECORD of {stream} before its SCHEMA", i + 1)
                });
                let record = &line["record"];
                validate(&schema["schema"], record, &stream)
                    .unwrap_or_else(|e| panic!("line {}: {e}\n  record: {record}", i + 1));
                let at = line["time_extracted"].as_str().unwrap().to_string();
                if let Some(before) = last_time.insert(stream.clone(), at.clone()) {
                    assert!(
                        before <= at,
                        "{stream}: time_extracted went back: {before} > {at}"
                    );
                }
                m.records
                    .entry(stream.clone())
                    .or_default()
                    .push(record.to_string());
                last_record.insert(stream, i);
            }
            _ => {
                m.states.push(line["value"].clone());
                state_at.push(i);
            }
        }
    }
    assert_eq!(
        state_at.last(),
        Some(&(lines.len() - 1)),
        "the last message is a STATE"
    );
    // Each source's own STATE (not only the run's last) follows its records.
    let (_, when_sources_end) = state_at.split_last().unwrap();
    for (stream, &last) in &last_record {
        let own = when_sources_end
            .iter()
            .any(|&s| s > last && lines[s]["value"]["sources"].get(stream).is_some());
        assert!(
            own,
            "{stream}: a STATE with its entry after its last RECORD"
        );
    }
    m
}

/// The state file at `path`.
pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn singer_messages_are_valid_and_carry_the_jsonl_records_and_the_state() {
    let server = mock(4, 10);
    let config = config(&server);
    let (singer_dir, jsonl_dir, stateless_dir) = (OutDir::new(), OutDir::new(), OutDir::new());
    let state_path = singer_dir.0.join("state.json");
    let state_arg = state_path.to_str().unwrap();

    let o = run(
        &singer_dir.0,
        &config,
        &["--format", "singer", "--state", state_arg, "--state-write"],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("records: stdout"),
        "the end table is on stderr: {stderr}"
    );
    let summary = summary_in(&singer_dir.0.join("out"));
    assert!(
        !singer_dir.0.join("out/records.jsonl").exists(),
        "no records file"
    );
    assert_eq!(
        summary["stdout"],
        json!({"format": "singer", "closed": false})
    );
    let m = check_stream(&lines(&o));

    // Every source had records, and each stream's RECORDs are its records.
    let names = ["drf", "gh", "shop"];
    assert_eq!(
        m.schemas.keys().collect::<Vec<_>>(),
        names,
        "one SCHEMA per stream"
    );
    for name in names {
        let s = &summary["sources"][name];
        assert_eq!(s["status"], "complete", "{name}");
        assert_eq!(
            m.records[name].len() as u64,
            n(s, "records"),
            "{name}: RECORDs == records"
        );
        assert_eq!(n(s, "undelivered"), 0, "{name}");
    }
    let shop = &summary["sources"]["shop"];
    assert!(
        n(shop, "invalid") > 0 && n(shop, "duplicates") > 0,
        "{shop:#}"
    );
    assert_eq!(n(&summary["totals"], "undelivered"), 0);

    // The schemas say what the config declared.
    let schema = |name: &str| &m.schemas[name]["schema"];
    assert_eq!(
        m.schemas["gh"]["bookmark_properties"],
        json!(["updated_at"])
    );
    assert!(m.schemas["shop"].get("bookmark_properties").is_none());
    for name in names {
        assert_eq!(m.schemas[name]["key_properties"], json!(["key"]));
    }
    assert_eq!(schema("gh")["additionalProperties"], true, "rest: keep");
    assert_eq!(schema("drf")["additionalProperties"], false);
    assert_eq!(
        schema("drf")["properties"]["total"],
        json!({"type": "number"})
    );
    assert_eq!(
        schema("gh")["properties"]["created_at"],
        json!({"type": "string", "format": "date-time"})
    );
    assert_eq!(
        schema("gh")["properties"]["labels"],
        json!({"type": ["object", "array", "null"]}),
        "a JSON column, not a dropped one"
    );
    assert!(
        m.records["gh"].iter().any(|r| r.contains("\"user\":{")),
        "the rest is kept"
    );

    // The same records as a --format jsonl run's records.jsonl.
    run_ok(&jsonl_dir.0, &config, &[]);
    let file = std::fs::read_to_string(jsonl_dir.0.join("out/records.jsonl")).unwrap();
    let want: BTreeSet<String> = file
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
        .collect();
    let got: BTreeSet<String> = m.records.values().flatten().cloned().collect();
    assert_eq!(
        got.len() as u64,
        n(&summary["totals"], "records"),
        "no RECORD twice"
    );
    assert!(
        want == got,
        "RECORDs vs records.jsonl\n  only in records.jsonl: {:?}\n  only in RECORDs: {:?}",
        want.difference(&got).take(3).collect::<Vec<_>>(),
        got.difference(&want).take(3).collect::<Vec<_>>()
    );

    // The last STATE is the state file, which holds the bookmark.
    let state = read_json(&state_path);
    assert_eq!(
        m.states.last(),
        Some(&state),
        "the last STATE is the state file"
    );
    assert!(
        m.states.len() > names.len(),
        "one STATE per source ending, and the last"
    );
    let saved = &summary["sources"]["gh"]["bookmark_saved"];
    assert!(saved.is_string(), "{saved}");
    assert_eq!(&state["sources"]["gh"]["bookmark"], saved);

    // Without --state, the STATE is the same: what a state file would hold.
    let o = run_ok(&stateless_dir.0, &config, &["--format", "singer"]);
    let again = check_stream(&lines(&o));
    assert_eq!(again.states.last(), Some(&state), "with or without --state");
    assert_identity(&summary_in(&stateless_dir.0.join("out")));
}

/// SPEC §9 "With stdout": a Singer run reads `--state` and sends the new
/// state only as STATE messages; the file moves only with
/// `--state-write`, so a target that fails never moves the bookmark past
/// records it did not store. `--state-write` alone is a usage error.
#[test]
fn a_singer_run_writes_its_state_file_only_with_state_write() {
    let server = mock(2, 5);
    let config = config(&server);
    let dir = OutDir::new();
    let state_path = dir.0.join("state.json");
    let state_arg = state_path.to_str().unwrap();

    // A first run: STATEs on stdout, no file made.
    let o = run_ok(
        &dir.0,
        &config,
        &["--format", "singer", "--state", state_arg],
    );
    let first = check_stream(&lines(&o));
    let last = first.states.last().expect("a STATE").clone();
    assert!(last["sources"]["gh"]["bookmark"].is_string(), "{last:#}");
    assert!(!state_path.exists(), "no state file without --state-write");

    // With --state-write, the file is the last STATE.
    let o = run_ok(
        &dir.0,
        &config,
        &["--format", "singer", "--state", state_arg, "--state-write"],
    );
    let written = check_stream(&lines(&o));
    assert_eq!(written.states.last(), Some(&read_json(&state_path)));

    // An existing file is read (gh asks for what changed since its
    // bookmark) and left as it was, byte for byte.
    let before = std::fs::read(&state_path).unwrap();
    let asked = server.requests().len();
    let o = run_ok(
        &dir.0,
        &config,
        &["--format", "singer", "--state", state_arg],
    );
    let again = check_stream(&lines(&o));
    assert!(!again.states.is_empty());
    let since = server.requests()[asked..]
        .iter()
        .any(|r| r.path.contains("since=") && !r.path.contains("since=2020-01-01"));
    assert!(since, "the bookmark read from the file was sent");
    assert_eq!(
        std::fs::read(&state_path).unwrap(),
        before,
        "FILE unchanged"
    );

    // --stdout (JSON lines) writes it as before.
    let jsonl = OutDir::new();
    let jsonl_state = jsonl.0.join("state.json");
    run_ok(
        &jsonl.0,
        &config,
        &["--stdout", "--state", jsonl_state.to_str().unwrap()],
    );
    assert!(jsonl_state.exists(), "--stdout writes the state file");

    // --state-write needs --state.
    let o = run(&dir.0, &config, &["--format", "singer", "--state-write"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--state-write needs --state"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A Singer run that does not write its state file still holds its lock:
/// another run on the same file is refused (exit 1) while it goes on.
#[test]
fn a_singer_run_holds_the_lock_on_a_state_file_it_does_not_write() {
    let server =
        MockServer::start(Scenario::new(15).with(MockSource::new("slow", Style::Page, 500, 3)))
            .unwrap();
    let mut config = config(&server);
    config["rate_limit"] = json!({ "per_second": 20, "burst": 1 });
    let dir = OutDir::new();
    let state_path = dir.0.join("state.json");
    let state_arg = state_path.to_str().unwrap();
    let mut command = run_command(&dir.0, &config);
    command.args(["--format", "singer", "--state", state_arg]);
    let mut child = spawn(command);
    let started = Instant::now();
    while server.requests().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never got going"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let other = OutDir::new();
    let o = run(&other.0, &config, &["--state", state_arg]);
    let refused = String::from_utf8_lossy(&o.stderr).into_owned();
    signal(&child, "-INT");
    let status = wait_at_most(&mut child, Duration::from_secs(15));
    assert_eq!(o.status.code(), Some(1), "{refused}");
    assert!(refused.contains("state.json.lock"), "{refused}");
    assert_eq!(status.and_then(|s| s.code()), Some(130));
    assert!(!state_path.exists(), "not written without --state-write");
}

#[test]
fn stdout_carries_the_records_as_jsonl_and_out_refuses_stdout() {
    let server = mock(2, 5);
    let config = config(&server);
    let (dir, file_dir) = (OutDir::new(), OutDir::new());
    let o = run_ok(&dir.0, &config, &["--stdout"]);
    let summary = summary_in(&dir.0.join("out"));
    assert_eq!(
        summary["stdout"],
        json!({"format": "jsonl", "closed": false})
    );
    let got: BTreeSet<String> = lines(&o).iter().map(Value::to_string).collect();
    assert_eq!(got.len() as u64, n(&summary["totals"], "records"));
    run(&file_dir.0, &config, &[]);
    let file = std::fs::read_to_string(file_dir.0.join("out/records.jsonl")).unwrap();
    let want: BTreeSet<String> = file
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
        .collect();
    assert_eq!(got, want, "stdout holds what records.jsonl holds");
    assert!(String::from_utf8_lossy(&o.stderr).contains("records: stdout"));

    for (args, gist) in [
        (&["--out", "-"][..], "use --stdout"),
        (&["--out", "/dev/stdout"][..], "use --stdout"),
        (&["--format", "csv"][..], "expected jsonl or singer"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ingest"));
        let o = command.arg("run").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(gist), "{args:?}: {stderr}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

/// `ingest run --stdout | head -1`: the reader takes one line and goes.
/// The run still ends as it would have (same exit code, same counts), the
/// summary is written and says what was not delivered, and the state does
/// not move for a source whose records were not all delivered.
#[test]
fn a_reader_that_goes_away_changes_neither_the_exit_code_nor_the_outputs() {
    // Far more than a pipe holds (64 KiB): the writer meets the close.
    let server = mock(8, 60);
    let config = config(&server);
    for format in ["jsonl", "singer"] {
        let (dir, whole) = (OutDir::new(), OutDir::new());
        let state_path = dir.0.join("state.json");
        let mut command = run_command(&dir.0, &config);
        command.args(["--stdout", "--format", format]);
        command.args(["--state", state_path.to_str().unwrap(), "--state-write"]);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is gone now.
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        serde_json::from_str::<Value>(&first).expect("the one line read is whole JSON");

        let undisturbed = run(&whole.0, &config, &["--stdout", "--format", format]);
        assert_eq!(
            o.status.code(),
            undisturbed.status.code(),
            "{format}: {stderr}"
        );
        assert_eq!(o.status.code(), Some(0), "{format}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");

        let summary = summary_in(&dir.0.join("out"));
        let expected = summary_in(&whole.0.join("out"));
        assert_eq!(summary["status"], "complete", "{format}");
        assert_eq!(summary["stdout"]["closed"], true, "{format}");
        assert_eq!(expected["stdout"]["closed"], false, "{format}");
        assert!(
            stderr.contains("not delivered"),
            "{format}: the end table says so: {stderr}"
        );
        let totals = &summary["totals"];
        assert!(n(totals, "undelivered") > 0, "{format}: {totals}");
        assert!(n(totals, "undelivered") <= n(totals, "records"));
        for key in ["items", "records", "invalid", "duplicates"] {
            assert_eq!(totals[key], expected["totals"][key], "{format}: {key}");
        }
        // gh's records alone are several times what a pipe holds.
        assert!(n(&summary["sources"]["gh"], "undelivered") > 0, "{format}");
        let state = read_json(&state_path);
        for (name, s) in summary["sources"].as_object().unwrap() {
            let entry = &state["sources"][name];
            if n(s, "undelivered") > 0 {
                assert_eq!(
                    entry["bookmark"],
                    Value::Null,
                    "{format} {name}: kept as it was"
                );
                assert_eq!(s["bookmark_saved"], Value::Null, "{format} {name}");
            }
        }
    }
}

/// Waits for `child` at most `limit`; a child still running then is
/// killed, so that a run that hangs fails the test instead of hanging it.
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A child's stderr, once it has ended.
fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// What every run whose stdout was never read must show: the summary
/// written, the identity held, records made but not delivered.
fn undelivered_summary(dir: &Path, status: &str, what: &str) -> Value {
    let summary = summary_in(&dir.join("out"));
    assert_eq!(summary["status"], status, "{what}: {summary:#}");
    assert_eq!(
        summary["stdout"]["closed"], false,
        "{what}: the reader stayed"
    );
    let totals = &summary["totals"];
    assert!(n(totals, "undelivered") > 0, "{what}: {totals}");
    assert!(n(totals, "undelivered") <= n(totals, "records"), "{what}");
    summary
}

/// SPEC §4: `ingest run --stdout | sleep 30` (a reader that holds the
/// pipe and never reads) does not hold a SIGTERM: exit 130 within a
/// second or so, not when the reader would have read; the summary is
/// written and counts what was not delivered.
#[test]
fn a_reader_that_never_reads_does_not_hold_a_sigterm() {
    // Far more than the pipe (64 KiB) and the queue hold: the run blocks.
    let server = mock(20, 60);
    let config = config(&server);
    for format in ["jsonl", "singer"] {
        let dir = OutDir::new();
        let mut command = run_command(&dir.0, &config);
        command.args(["--stdout", "--format", format]);
        // stdout is a pipe this test holds and never reads.
        let mut child = spawn(command);
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{format}: still blocked"
        );
        signal(&child, "-TERM");
        let sent = Instant::now();
        let status = wait_at_most(&mut child, Duration::from_secs(15));
        let took = sent.elapsed();
        let stderr = stderr_of(&mut child);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(130),
            "{format}: {stderr}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{format}: exited {took:?} after SIGTERM"
        );
        undelivered_summary(&dir.0, "interrupted", format);
        assert!(stderr.contains("stdout_abandoned"), "{format}: {stderr}");
    }
}

/// The same reader and `--deadline 2`: the run ends at the deadline (plus
/// a short grace), partial (exit 3), whether the fetchers were still
/// held up by the blocked processor (sources end `deadline`) or had
/// fetched everything into a large queue (sources `complete`: the records
/// stdout never took are data missing all the same).
#[test]
fn a_reader_that_never_reads_does_not_hold_the_deadline() {
    // Pages per source: far more than the pipe and the queue hold; still
    // several times the pipe, and quickly fetched into a large queue.
    for (pages, queue_capacity, source_status) in [(20, 100, "deadline"), (6, 100_000, "complete")]
    {
        let server = mock(pages, 60);
        let mut config = config(&server);
        config["queue_capacity"] = json!(queue_capacity);
        let dir = OutDir::new();
        let mut command = run_command(&dir.0, &config);
        command.args(["--stdout", "--deadline", "2"]);
        let started = Instant::now();
        let mut child = spawn(command);
        let status = wait_at_most(&mut child, Duration::from_secs(15));
        let took = started.elapsed();
        let stderr = stderr_of(&mut child);
        let what = format!("queue_capacity {queue_capacity}");
        assert_eq!(status.and_then(|s| s.code()), Some(3), "{what}: {stderr}");
        assert!(
            took < Duration::from_secs(2 + 3),
            "{what}: exited {took:?} after start, deadline 2 s"
        );
        let summary = undelivered_summary(&dir.0, "partial", &what);
        let statuses: BTreeSet<&str> = summary["sources"]
            .as_object()
            .unwrap()
            .values()
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        assert!(statuses.contains(source_status), "{what}: {statuses:?}");
        assert!(
            stderr.contains("fell behind"),
            "{what}: the end table says so: {stderr}"
        );
    }
}

/// `ingest run --stdout >&-`: with standard output closed at start, the
/// run refuses to start (exit 1, nothing fetched), as with an unwritable
/// `--out`; the demo too, whose servers would otherwise take fd 1.
#[test]
fn a_closed_stdout_at_start_is_refused_before_anything_is_fetched() {
    let server = mock(2, 5);
    let config = config(&server);
    let dir = OutDir::new();
    for args in [
        &["--stdout"][..],
        &["--format", "singer"],
        &["--stdout", "--demo"],
    ] {
        let mut command = run_command(&dir.0, &config);
        let command = match args {
            [.., "--demo"] => crate::cli::command(&["run", "--stdout", "--no-progress"]),
            _ => {
                command.args(args);
                command
            }
        };
        // The shell closes fd 1, then becomes ingest.
        let o = Command::new("sh")
            .args(["-c", "exec \"$0\" \"$@\" >&-"])
            .arg(command.get_program())
            .args(command.get_args())
            .env("RUST_LOG", "warn")
            .current_dir(&dir.0)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("standard output"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(server.requests().is_empty(), "nothing fetched");
    assert!(!dir.0.join("out/summary.json").exists(), "nothing written");

    // A user's own `> /dev/null` is taken at its word.
    let mut command = run_command(&dir.0, &config);
    command.arg("--stdout");
    let o = Command::new("sh")
        .args(["-c", "exec \"$0\" \"$@\" >/dev/null"])
        .arg(command.get_program())
        .args(command.get_args())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = summary_in(&dir.0.join("out"));
    assert_eq!(n(&summary["totals"], "undelivered"), 0);
}
