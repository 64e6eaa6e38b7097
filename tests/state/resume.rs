//! Resume: a run cut by the deadline, by SIGTERM, or with its breakers
//! open at the deadline, then a run with the same state file that
//! continues every source at the page it did not finish.

use std::time::{Duration, Instant};

use serde_json::json;
use testsupport::{FaultKind, MockServer, MockSource, Scenario, Style};

use super::{assert_resumed, five, parse, read_state, slow, state_dir, with_policies, Cut, Ran};
use crate::cli::{run_command, signal, spawn, stderr};
use crate::support::{run_with_state, OutDir};

/// Pages of each source: more than a rate-limited second can fetch.
const PAGES: usize = 40;

/// Slow answers, for the sources whose cut page is in flight when the
/// run is cut (the others are cut waiting for a token).
const SLOW_PAGE: FaultKind = FaultKind::Delay(Duration::from_secs(3));

/// Whether a source of these tests gets a [`SLOW_PAGE`].
fn slowed(name: &str) -> bool {
    ["page", "cursor", "link_header"].contains(&name)
}

/// At 20 requests a second, page 12 is asked for at about 0.55 s and is
/// still in flight at the 1 s deadline.
#[test]
fn a_deadline_cut_run_resumes_each_style_where_it_stopped() {
    let server = five(PAGES, |s| match slowed(&s.name) {
        true => s.fault(12, 1, SLOW_PAGE),
        false => s,
    });
    let (_dir, state) = state_dir();
    let doc = server.config_json();
    let first = run_with_state(&parse(doc.clone(), slow()), &state, |_| {});
    let saved = read_state(&state);
    let before = server.requests().len();
    // Policies are not part of an entry's fingerprint: a faster rate
    // keeps the positions.
    let second = run_with_state(&parse(doc, json!({})), &state, |_| {});
    let log = server.requests()[before..].to_vec();
    assert_eq!(first.summary["status"], "partial");
    assert_eq!(second.summary["status"], "complete");
    let at = assert_resumed(
        &server,
        Cut::Deadline,
        &Ran::of(&first),
        &saved,
        &Ran::of(&second),
        &log,
    );
    for (name, page) in at {
        if slowed(name) {
            assert_eq!(page, 12, "{name}: the page in flight at the deadline");
        } else {
            assert!(page > 12, "{name}: cut later, waiting for a token: {page}");
        }
    }
    // Complete now: the next run starts over.
    for (name, entry) in read_state(&state)["sources"].as_object().unwrap() {
        assert_eq!(entry["resume"], json!(null), "{name}: {entry}");
    }
}

/// The signal comes while page 6 of three sources is in flight, and the
/// other two are waiting for a token.
#[test]
fn a_sigterm_cut_run_resumes_each_style_where_it_stopped() {
    let server = five(PAGES, |s| match slowed(&s.name) {
        true => s.fault(6, 1, SLOW_PAGE),
        false => s,
    });
    let (_dir, state) = state_dir();
    let state_arg = state.to_str().unwrap();
    let (one, two) = (OutDir::new(), OutDir::new());
    let mut config = with_policies(server.config_json(), slow());
    config["deadline_ms"] = json!(20_000);
    let mut child = spawn({
        let mut c = run_command(&one.0, &config);
        c.args(["--state", state_arg]);
        c
    });
    let started = Instant::now();
    // Every source has had a few pages when the signal comes.
    let going = |name: &str| {
        let log = server.requests();
        match slowed(name) {
            true => super::of(&log, name).any(|r| r.page == 6),
            false => super::of(&log, name).count() >= 6,
        }
    };
    while !super::STYLES.iter().all(|s| going(s.config_name())) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let saved = read_state(&state);
    let before = server.requests().len();
    let fast = with_policies(server.config_json(), json!({}));
    let o = run_command(&two.0, &fast)
        .args(["--state", state_arg])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    for style in super::STYLES {
        let said = format!("source={} event=resume position=", style.config_name());
        assert!(err.contains(&said), "logged: {said}\n{err}");
    }
    let log = server.requests()[before..].to_vec();
    let (first, second) = (Ran::read(&one.0.join("out")), Ran::read(&two.0.join("out")));
    assert_eq!(first.summary["status"], "interrupted");
    let at = assert_resumed(&server, Cut::Interrupted, &first, &saved, &second, &log);
    for (name, page) in at {
        if slowed(name) {
            assert_eq!(page, 6, "{name}: the page in flight at the signal");
        }
    }
}

/// Page 3 of every source fails retryably until the breaker opens, with a
/// cooldown longer than the deadline: the source stops `breaker_open` and
/// saves page 3; by the next run the server answers, and it resumes there.
#[test]
fn a_run_stopped_with_the_breaker_open_resumes_at_the_page_not_fetched() {
    let server = five(6, |s| {
        s.fault(3, 1, FaultKind::Status(503))
            .fault(3, 2, FaultKind::Status(503))
    });
    let (_dir, state) = state_dir();
    let policies = json!({
        "breaker": { "failure_threshold": 2, "cooldown_ms": 60_000 },
        "deadline_ms": 3000
    });
    let config = parse(server.config_json(), policies);
    let first = run_with_state(&config, &state, |_| {});
    let saved = read_state(&state);
    let before = server.requests().len();
    let second = run_with_state(&config, &state, |_| {});
    let log = server.requests()[before..].to_vec();
    let at = assert_resumed(
        &server,
        Cut::BreakerOpen,
        &Ran::of(&first),
        &saved,
        &Ran::of(&second),
        &log,
    );
    for (name, page) in at {
        assert_eq!(page, 3, "{name}");
        assert_eq!(first.source(name)["breaker_opens"], 1, "{name}");
        let retried = log.iter().find(|r| r.source == name).unwrap();
        assert_eq!(
            (retried.page, retried.attempt),
            (3, 3),
            "{name}: the next attempt of page 3"
        );
    }
    assert!(
        first.elapsed < Duration::from_secs(2),
        "stopped at once, not at the deadline"
    );
}

/// Pages 3 and 4 are given up on their first attempt (one is enough to
/// stop `cursor` and `next_url`, which cannot step over a page): the
/// source stops `error` and saves the first of them, where the next run
/// resumes.
#[test]
fn a_source_stopped_by_failed_pages_resumes_at_the_first_of_them() {
    let server = five(8, |s| {
        let s = s.fault(3, 1, FaultKind::Status(404));
        match s.style {
            Style::Cursor | Style::NextUrl => s,
            _ => s.fault(4, 1, FaultKind::Status(404)),
        }
    });
    let (_dir, state) = state_dir();
    let config = parse(
        server.config_json(),
        json!({ "max_failed_pages_in_a_row": 2 }),
    );
    let first = run_with_state(&config, &state, |_| {});
    let saved = read_state(&state);
    let before = server.requests().len();
    let second = run_with_state(&config, &state, |_| {});
    let log = server.requests()[before..].to_vec();
    let at = assert_resumed(
        &server,
        Cut::Error,
        &Ran::of(&first),
        &saved,
        &Ran::of(&second),
        &log,
    );
    assert!(at.values().all(|&page| page == 3), "{at:?}");
}

/// `ingest run --state s.json` again and again, each run stopped after 4
/// pages: every page is asked for once over all the runs, and together
/// they hold everything.
#[test]
fn runs_cut_by_max_pages_add_up_to_everything_asking_each_page_once() {
    let server = five(10, |s| s);
    let (_dir, state) = state_dir();
    let config = parse(server.config_json(), json!({ "max_pages": 4 }));
    let mut keys = std::collections::BTreeSet::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let o = run_with_state(&config, &state, |_| {});
        keys.extend(o.keys());
        let status: Vec<String> = super::STYLES
            .iter()
            .map(|s| {
                o.source(s.config_name())["status"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        statuses.push(status);
    }
    assert_eq!(statuses[0], ["max_pages"; 5]);
    assert_eq!(statuses[1], ["max_pages"; 5]);
    assert_eq!(statuses[2], ["complete"; 5]);
    assert_eq!(keys, server.truth().expected_all().keys);
    let mut asked = std::collections::BTreeMap::new();
    for r in server.requests() {
        *asked.entry((r.source.clone(), r.page)).or_insert(0) += 1;
    }
    assert_eq!(
        asked.len(),
        5 * 10 + 1,
        "10 pages each, and page style's 204"
    );
    for ((source, page), n) in asked {
        assert_eq!(n, 1, "{source} page {page}: asked for once");
    }
}

/// A pagination loop has no position worth resuming at: the next run
/// starts over.
#[test]
fn a_pagination_loop_saves_no_position() {
    let server = MockServer::start(
        Scenario::new(super::SEED).with(MockSource::new("loop", Style::Cursor, 3, 2).endless()),
    )
    .unwrap();
    let (_dir, state) = state_dir();
    let o = run_with_state(&parse(server.config_json(), json!({})), &state, |_| {});
    assert_eq!(o.source("loop")["status"], "error");
    assert_eq!(o.source("loop")["errors"]["pagination_loop"], 1);
    assert_eq!(read_state(&state)["sources"]["loop"]["resume"], json!(null));
}
