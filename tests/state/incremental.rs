//! Incremental runs against a mock that answers `since=` as GitHub does
//! (issues updated at or after the instant): the first run takes
//! everything and saves the greatest `updated_at`; after the data
//! changes, the next run sends it and gets exactly the edits, the new
//! issues and the ties at that instant; a run that gave a page up keeps
//! the old bookmark; `lookback_ms` asks from earlier.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use testsupport::{parse_rfc3339, Changes, FaultKind, MockServer, MockSource, Scenario, Style};

use super::{parse, read_state, state_dir, Ran};
use crate::support::run_with_state;

/// A GitHub issues source of 6 pages of 5, `link_header` style, that
/// answers `since`; `each` adds faults.
fn issues(each: impl Fn(MockSource) -> MockSource) -> MockServer {
    let source = MockSource::new("gh", Style::LinkHeader, 6, 5).honouring_since("since");
    MockServer::start(Scenario::new(super::SEED).with(each(source))).unwrap()
}

/// The mock's config with a record schema for issues and `incremental`
/// (`field`, `param` and `incremental`'s other keys), and `policies`.
fn config(server: &MockServer, incremental: Value, policies: Value) -> ingest::Config {
    let mut doc = server.config_json();
    doc["sources"][0]["record"] = json!({
        "id": "id",
        "fields": {
            "title": "title",
            "updated_at": { "path": "updated_at", "type": "timestamp", "required": true }
        }
    });
    let mut inc = json!({ "field": "updated_at", "param": "since" });
    inc.as_object_mut()
        .unwrap()
        .extend(incremental.as_object().unwrap().clone());
    doc["sources"][0]["incremental"] = inc;
    parse(doc, policies)
}

/// Every issue the mock holds now.
fn all_items(server: &MockServer) -> Vec<Value> {
    let truth = server.truth();
    let gh = truth.source("gh").unwrap();
    (1..=gh.pages.len()).flat_map(|p| gh.items(p)).collect()
}

/// `updated_at` of an item, as an instant (ns).
fn instant(item: &Value) -> i128 {
    parse_rfc3339(item["updated_at"].as_str().unwrap()).unwrap()
}

/// The greatest `updated_at` the mock holds, as the mock wrote it.
fn latest(server: &MockServer) -> String {
    let items = all_items(server);
    let max = items.iter().max_by_key(|i| instant(i)).unwrap();
    max["updated_at"].as_str().unwrap().to_string()
}

/// Keys of the mock's items updated at or after `since` (ns).
fn keys_since(server: &MockServer, since: i128) -> BTreeSet<String> {
    all_items(server)
        .iter()
        .filter(|i| instant(i) >= since)
        .map(|i| format!("gh:{}", i["id"]))
        .collect()
}

fn keys(ids: &BTreeSet<String>) -> BTreeSet<String> {
    ids.iter().map(|id| format!("gh:{id}")).collect()
}

/// The `since` each request of the run that sent `log` carried.
fn sent_since(log: &[testsupport::LoggedRequest]) -> BTreeSet<Option<String>> {
    log.iter().map(|r| r.query("since")).collect()
}

/// The one source's changes.
fn changed(server: &MockServer) -> Changes {
    let mut all = server.next_generation();
    assert_eq!(all.len(), 1);
    all.remove(0)
}

#[test]
fn only_what_changed_comes_again_and_a_page_given_up_keeps_the_bookmark() {
    // Page 1 answers 404 on its second attempt: that is the second run's
    // first request (the first run asks for it once).
    let server = issues(|s| s.fault(1, 2, FaultKind::Status(404)));
    let (_dir, state) = state_dir();
    let config = config(&server, json!({}), json!({}));

    let first = run_with_state(&config, &state, |_| {});
    let gh = first.source("gh");
    let everything = keys_since(&server, i128::MIN);
    assert_eq!(everything.len(), 30);
    assert_eq!(first.keys(), everything, "a first run takes everything");
    assert_eq!(sent_since(&server.requests()), BTreeSet::from([None]));
    let b1 = latest(&server);
    assert_eq!(
        (&gh["bookmark_sent"], &gh["bookmark_saved"]),
        (&json!(null), &json!(b1))
    );
    assert_eq!(read_state(&state)["sources"]["gh"]["bookmark"], json!(b1));
    let ties = keys_since(&server, parse_rfc3339(&b1).unwrap());
    assert_eq!(ties.len(), 2, "two issues at the latest instant");

    let changes = changed(&server);
    let mut want = keys(&changes.changed);
    want.extend(keys(&changes.added));
    want.extend(ties.iter().cloned());
    assert_eq!(want, keys_since(&server, parse_rfc3339(&b1).unwrap()));

    // A page given up: the bookmark stays, so nothing can be skipped.
    let before = server.requests().len();
    let second = run_with_state(&config, &state, |_| {});
    let log = server.requests()[before..].to_vec();
    assert_eq!(
        sent_since(&log),
        BTreeSet::from([Some(b1.clone())]),
        "{log:#?}"
    );
    let gh = second.source("gh");
    assert_eq!(gh["failed_pages"], 1);
    assert_eq!(
        (&gh["bookmark_sent"], &gh["bookmark_saved"]),
        (&json!(b1), &json!(b1))
    );
    assert!(second.keys().is_subset(&want) && second.keys().len() < want.len());
    assert_eq!(read_state(&state)["sources"]["gh"]["bookmark"], json!(b1));

    // Again, the page answering: exactly the edits, the new issues and
    // the ties at the bookmark's instant, and the bookmark moves on.
    let before = server.requests().len();
    let third = run_with_state(&config, &state, |_| {});
    let log = server.requests()[before..].to_vec();
    assert_eq!(sent_since(&log), BTreeSet::from([Some(b1.clone())]));
    assert_eq!(third.keys(), want);
    let b2 = latest(&server);
    assert!(b2 > b1);
    let gh = third.source("gh");
    assert_eq!(
        (&gh["bookmark_sent"], &gh["bookmark_saved"]),
        (&json!(b1), &json!(b2))
    );
    assert_eq!(
        gh["warnings"],
        json!([]),
        "a resumed or incremental run is not short"
    );

    // Nothing changed: only the ties at the new bookmark come again.
    let before = server.requests().len();
    let fourth = run_with_state(&config, &state, |_| {});
    let log = server.requests()[before..].to_vec();
    assert_eq!(sent_since(&log), BTreeSet::from([Some(b2.clone())]));
    let ties = keys_since(&server, parse_rfc3339(&b2).unwrap());
    assert_eq!(ties.len(), 2);
    assert_eq!(fourth.keys(), ties);
    assert_eq!(fourth.source("gh")["bookmark_saved"], json!(b2));
}

#[test]
fn lookback_asks_from_earlier_and_those_items_come_again() {
    let server = issues(|s| s);
    let (_dir, state) = state_dir();
    // A window reaching half a second past the sixth-latest update: the
    // five latest issues are in it.
    let mut times: Vec<i128> = all_items(&server).iter().map(instant).collect();
    times.sort_unstable();
    let max = *times.last().unwrap();
    let sixth = times[times.len() - 6];
    assert!(max - sixth >= 1_000_000_000);
    let lookback_ms = ((max - sixth) / 1_000_000 - 500) as u64;
    let config = config(&server, json!({ "lookback_ms": lookback_ms }), json!({}));
    let first = run_with_state(&config, &state, |_| {});
    let b1 = first.source("gh")["bookmark_saved"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(parse_rfc3339(&b1), Some(max));

    let from = max - i128::from(lookback_ms) * 1_000_000;
    let in_window = keys_since(&server, from);
    assert_eq!(in_window.len(), 5);

    let changes = changed(&server);
    let before = server.requests().len();
    let second = run_with_state(&config, &state, |_| {});
    let log = server.requests()[before..].to_vec();
    let sent = second.source("gh")["bookmark_sent"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(sent.ends_with(".5Z"), "{sent}");
    assert_eq!(parse_rfc3339(&sent), Some(from), "bookmark − lookback_ms");
    assert_eq!(sent_since(&log), BTreeSet::from([Some(sent.clone())]));
    let window = keys_since(&server, from);
    assert_eq!(Ran::of(&second).keys, window);
    // What the window adds to the edits and the new issues: the five
    // latest of before (those not edited since), not only the two ties.
    let mut fresh = keys(&changes.changed);
    fresh.extend(keys(&changes.added));
    let again: BTreeSet<String> = window.difference(&fresh).cloned().collect();
    let edited = keys(&changes.changed);
    let unedited: BTreeSet<String> = in_window.difference(&edited).cloned().collect();
    assert_eq!(again, unedited);
    assert!(again.len() > 2, "more than the ties come again: {again:?}");
    assert_eq!(
        second.source("gh")["bookmark_saved"],
        json!(latest(&server))
    );
}

/// Seed 22 puts the latest update (two issues) on pages 6 and 7 of 12;
/// page 8 is in flight at the deadline. The resumed run sends the
/// bookmark the pass began with again, and saves the greatest value of
/// the whole pass — seen in the first run only.
#[test]
fn a_cut_pass_resumes_with_what_it_sent_and_saves_the_greatest_of_the_whole_pass() {
    let source = MockSource::new("gh", Style::LinkHeader, 12, 5)
        .honouring_since("since")
        .fault(8, 1, FaultKind::Delay(std::time::Duration::from_secs(3)));
    let server = MockServer::start(Scenario::new(22).with(source)).unwrap();
    let max = latest(&server);
    let truth = server.truth();
    let holders: Vec<usize> = (1..=12)
        .filter(|&p| {
            truth
                .source("gh")
                .unwrap()
                .items(p)
                .iter()
                .any(|i| i["updated_at"] == json!(max))
        })
        .collect();
    assert_eq!(holders, [6, 7]);
    let (_dir, state) = state_dir();
    let start = "2026-01-01T00:00:00Z";
    let inc = json!({ "start": start });
    let cut = config(&server, inc.clone(), json!({ "deadline_ms": 1000 }));
    let first = run_with_state(&cut, &state, |_| {});
    let gh = first.source("gh");
    assert_eq!(gh["status"], "deadline");
    assert_eq!(
        (&gh["bookmark_sent"], &gh["bookmark_saved"]),
        (&json!(start), &json!(null))
    );
    let saved = read_state(&state)["sources"]["gh"].clone();
    assert_eq!(
        saved["bookmark"],
        json!(null),
        "a pass not finished saves no bookmark"
    );
    assert_eq!(saved["pass"], json!({ "sent": start, "greatest": max }));
    let url = saved["resume"]["url"].as_str().unwrap().to_string();

    let before = server.requests().len();
    let second = run_with_state(&config(&server, inc, json!({})), &state, |_| {});
    let log = server.requests()[before..].to_vec();
    assert_eq!(format!("{}{}", server.base_url(), log[0].path), url);
    assert_eq!(log[0].page, 8);
    assert_eq!(sent_since(&log), BTreeSet::from([Some(start.to_string())]));
    let gh = second.source("gh");
    assert_eq!(gh["resumed_from"], json!({ "url": url }));
    assert_eq!(
        (&gh["bookmark_sent"], &gh["bookmark_saved"]),
        (&json!(start), &json!(max))
    );
    let union: BTreeSet<String> = first.keys().union(&second.keys()).cloned().collect();
    assert_eq!(union, keys_since(&server, i128::MIN));
    let latest_of_second = second
        .records
        .iter()
        .map(|r| r["updated_at"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    assert!(
        latest_of_second < max,
        "the greatest came from the first run"
    );
}

/// `"type": "integer"`: the greatest value as a number, sent as it is.
#[test]
fn an_integer_bookmark_is_compared_and_sent_as_an_integer() {
    let server = issues(|s| s);
    let (_dir, state) = state_dir();
    let mut doc = server.config_json();
    doc["sources"][0]["record"] = json!({ "id": "id" });
    doc["sources"][0]["incremental"] =
        json!({ "field": "number", "param": "since_number", "type": "integer" });
    let config = super::parse(doc, json!({}));
    let first = run_with_state(&config, &state, |_| {});
    let greatest = all_items(&server)
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .max()
        .unwrap();
    assert_eq!(first.source("gh")["bookmark_saved"], json!(greatest));
    assert_eq!(
        read_state(&state)["sources"]["gh"]["bookmark"],
        json!(greatest)
    );
    let before = server.requests().len();
    let second = run_with_state(&config, &state, |_| {});
    let log = server.requests()[before..].to_vec();
    assert_eq!(second.source("gh")["bookmark_sent"], json!(greatest));
    // The first request (the mock's next links carry only its own `since`).
    assert_eq!(log[0].query("since_number"), Some(greatest.to_string()));
}
