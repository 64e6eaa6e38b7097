//! SPEC §9 end to end: `--state FILE` resumes a cut run where each source
//! stopped, and asks incremental sources only for what changed.
//!
//! Each test runs two or more times against one mock with one state file,
//! and checks what the mock saw (its request log: which pages, which
//! `since`), what the summaries say (`resumed_from`, `bookmark_sent`,
//! `bookmark_saved`, warnings), what the state file holds, and what was
//! written: a cut run and its resumed run together hold exactly the mock's
//! valid keys, and only the page that was cut can be in both. The
//! accounting identity is checked on every run. Delays are milliseconds;
//! the only waits are the deadlines of the runs that are cut (1 s).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ingest::Config;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use testsupport::{LoggedRequest, MockServer, MockSource, Scenario, Style};

use crate::support::{fast_policies, OutDir};

mod atomic;
mod clock;
mod corrupt;
mod guards;
mod incremental;
mod locks;
mod resume;
mod secrets;

const SEED: u64 = 909;
/// Items per page of the paginated sources.
const IPP: usize = 3;

/// One source per pagination style that can resume, named after it.
const STYLES: [Style; 5] = [
    Style::Page,
    Style::Offset,
    Style::Cursor,
    Style::NextUrl,
    Style::LinkHeader,
];

/// A mock of five sources of `pages` pages, one per style of [`STYLES`],
/// each passed through `each` (to add faults).
fn five(pages: usize, each: impl Fn(MockSource) -> MockSource) -> MockServer {
    let mut scenario = Scenario::new(SEED);
    for style in STYLES {
        scenario = scenario.with(each(MockSource::new(
            style.config_name(),
            style,
            pages,
            IPP,
        )));
    }
    MockServer::start(scenario).unwrap()
}

/// `doc` (a config with `sources`) with the fast test policies, then
/// `policies`, merged in one level deep (`{"rate_limit": {"per_second":
/// 20}}` keeps the fast burst).
fn with_policies(mut doc: Value, policies: Value) -> Value {
    let mut merged = fast_policies();
    for (key, value) in policies.as_object().unwrap() {
        match (merged.get_mut(key), value) {
            (Some(Value::Object(base)), Value::Object(over)) => base.extend(over.clone()),
            _ => merged[key] = value.clone(),
        }
    }
    for (key, value) in merged.as_object().unwrap() {
        doc[key] = value.clone();
    }
    doc
}

/// [`with_policies`], parsed.
fn parse(doc: Value, policies: Value) -> Config {
    let doc = with_policies(doc, policies);
    Config::parse("test config", &doc.to_string()).unwrap_or_else(|e| panic!("{e}\n{doc:#}"))
}

/// Policies that make a source stop mid-way at a 1 s deadline: one
/// request every 50 ms.
fn slow() -> Value {
    json!({ "rate_limit": { "per_second": 20, "burst": 1 }, "deadline_ms": 1000 })
}

/// A directory for a state file, and the file's path in it.
fn state_dir() -> (OutDir, PathBuf) {
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("state.json");
    (dir, path)
}

/// The state file, parsed.
fn read_state(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let state: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(state["version"], 1, "{text}");
    state
}

/// The JSON text of each entry of a state file, exactly as written.
fn entry_texts(text: &str) -> BTreeMap<String, String> {
    let doc: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text).unwrap();
    let sources: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(doc["sources"].get()).unwrap();
    sources
        .into_iter()
        .map(|(name, raw)| (name, raw.get().to_string()))
        .collect()
}

/// What one run left: its summary and the keys of its records.
struct Ran {
    summary: Value,
    keys: BTreeSet<String>,
}

impl Ran {
    /// An in-process run's outcome (the harness checked its accounting).
    fn of(outcome: &crate::support::Outcome) -> Ran {
        Ran {
            summary: outcome.summary.clone(),
            keys: outcome.keys(),
        }
    }

    /// What a run of the binary wrote into `out` (accounting checked).
    fn read(out: &Path) -> Ran {
        let summary = crate::cli::summary_in(out);
        let text = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
        let keys: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["key"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let set: BTreeSet<String> = keys.iter().cloned().collect();
        assert_eq!(set.len(), keys.len(), "no key twice within a run");
        Ran { summary, keys: set }
    }

    fn source(&self, name: &str) -> &Value {
        &self.summary["sources"][name]
    }

    /// Keys of the records of one source.
    fn keys_of(&self, source: &str) -> BTreeSet<String> {
        let prefix = format!("{source}:");
        self.keys
            .iter()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect()
    }
}

/// The requests of `source` in `log`.
fn of<'a>(log: &'a [LoggedRequest], source: &'a str) -> impl Iterator<Item = &'a LoggedRequest> {
    log.iter().filter(move |r| r.source == source)
}

/// The mock's page at `position` (a state file's `resume` of `source`),
/// checked against the first request the resumed run sent for it: the
/// saved page number, offset or cursor, or exactly the saved URL.
fn resumed_page(
    server: &MockServer,
    source: &str,
    position: &Value,
    log: &[LoggedRequest],
) -> usize {
    let first = of(log, source)
        .next()
        .unwrap_or_else(|| panic!("{source}: the resumed run sent nothing"));
    let (kind, value) = position
        .as_object()
        .and_then(|o| o.iter().next())
        .unwrap_or_else(|| panic!("{source}: not a position: {position}"));
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string);
    let sent = match kind.as_str() {
        "page" | "offset" | "cursor" => first.query(kind),
        "url" => Some(format!("{}{}", server.base_url(), first.path)),
        other => panic!("{source}: a position of kind {other}"),
    };
    assert_eq!(
        sent.as_deref(),
        Some(text.as_str()),
        "{source}: the first request of the resumed run ({}) is the saved {kind}",
        first.path
    );
    first.page
}

/// How the first run of a pair was cut, as its sources' status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Deadline,
    Interrupted,
    BreakerOpen,
    /// Stopped `error` where a position to retry from exists (pages
    /// given up), which is not a page cut short.
    Error,
}

impl Cut {
    fn status(self) -> &'static str {
        match self {
            Cut::Deadline => "deadline",
            Cut::Interrupted => "interrupted",
            Cut::BreakerOpen => "breaker_open",
            Cut::Error => "error",
        }
    }
}

/// A cut run (`first`, which left `state`) and its resumed run
/// (`second`, which sent `log`), for every source of [`STYLES`]: each was
/// cut mid-way and saved a position; the resumed run asked for nothing
/// before it, said `resumed_from`, and completed; the two runs hold
/// exactly the mock's valid keys, and a key is in both only when it is on
/// the cut page (or is one the mock itself serves twice, before and after
/// the cut). Returns the page each source resumed at.
fn assert_resumed(
    server: &MockServer,
    cut: Cut,
    first: &Ran,
    state: &Value,
    second: &Ran,
    log: &[LoggedRequest],
) -> BTreeMap<&'static str, usize> {
    let mut at = BTreeMap::new();
    for style in STYLES {
        let name = style.config_name();
        let truth = server.truth();
        let truth = truth.source(name).unwrap();
        let last = truth.pages.len();
        assert_eq!(
            first.source(name)["status"],
            cut.status(),
            "{name}: run 1 was cut"
        );
        let position = &state["sources"][name]["resume"];
        assert!(position.is_object(), "{name}: a position saved: {state:#}");
        let k = resumed_page(server, name, position, log);
        assert!(
            (2..=last).contains(&k),
            "{name}: cut mid-way, at page {k} of {last}"
        );
        let pages: BTreeSet<usize> = of(log, name).map(|r| r.page).collect();
        assert_eq!(
            pages.first(),
            Some(&k),
            "{name}: nothing before page {k}: {pages:?}"
        );
        let resumed = second.source(name);
        assert_eq!(resumed["status"], "complete", "{name}");
        assert_eq!(&resumed["resumed_from"], position, "{name}: resumed_from");
        assert_eq!(
            resumed["warnings"],
            json!([]),
            "{name}: a resumed source is not short"
        );

        let early = truth.expected(1..k).keys;
        let on_cut = truth.expected([k]).keys;
        let late = truth.expected(k + 1..=last).keys;
        let (got1, got2) = (first.keys_of(name), second.keys_of(name));
        assert_eq!(
            got2,
            truth.expected(k..=last).keys,
            "{name}: run 2 holds pages {k}.."
        );
        assert!(got1.is_superset(&early), "{name}: run 1 holds pages ..{k}");
        let cut_part: BTreeSet<String> = got1.difference(&early).cloned().collect();
        assert!(
            cut_part.is_subset(&on_cut),
            "{name}: run 1 holds nothing past page {k}: {cut_part:?}"
        );
        if matches!(cut, Cut::BreakerOpen | Cut::Error) {
            assert!(cut_part.is_empty(), "{name}: page {k} was never received");
        }
        let union: BTreeSet<String> = got1.union(&got2).cloned().collect();
        assert_eq!(
            union,
            truth.expected_all().keys,
            "{name}: together, every key"
        );
        let served_twice: BTreeSet<String> = early.intersection(&late).cloned().collect();
        let both: BTreeSet<String> = got1.intersection(&got2).cloned().collect();
        let beyond: Vec<&String> = both
            .iter()
            .filter(|k| !on_cut.contains(*k) && !served_twice.contains(*k))
            .collect();
        assert!(
            beyond.is_empty(),
            "{name}: in both runs though not on the cut page {k}: {beyond:?}"
        );
        at.insert(name, k);
    }
    at
}
