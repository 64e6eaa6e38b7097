//! Socket-level tests of the partitioned sources: child lists per parent
//! ([`crate::MockSource::children`]) crawled through every parent the
//! way SPEC §12's `parent` says, and windowed events
//! ([`crate::MockSource::events`]) crawled window by window the way
//! `partitions.window` says; each must give back its truth exactly once.
//! They share the raw client of `wire_tests.rs`.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::wire_tests::get;
use crate::{FaultKind, MockServer, MockSource, Outcome, Scenario, Style};

/// Customers on 3 pages of 10; each one's orders on up to 3 pages of 4.
fn shop(orders: MockSource) -> MockServer {
    let scenario = Scenario::new(21)
        .with(MockSource::new("customers", Style::Page, 3, 10))
        .with(orders);
    MockServer::start(scenario).unwrap()
}

/// Path and query of `next` (absolute, root- or path-relative) read on
/// the page at `current`.
fn resolve(server: &MockServer, current: &str, next: &str) -> String {
    if let Some(rest) = next.strip_prefix(&server.base_url()) {
        rest.to_string()
    } else if next.starts_with('/') {
        next.to_string()
    } else {
        let path = current.split('?').next().unwrap();
        format!("{}/{next}", &path[..path.rfind('/').unwrap()])
    }
}

/// Follows one parent's child list from `first` to its end: the status
/// that ended it, and each page's items.
fn crawl_children(server: &MockServer, first: &str) -> (u16, Vec<Vec<Value>>) {
    let mut target = first.to_string();
    let mut pages = Vec::new();
    for _ in 0..100 {
        let r = get(server, &target);
        if r.status != 200 {
            return (r.status, pages);
        }
        let body = r.json();
        pages.push(body["data"].as_array().unwrap().clone());
        match body["next"].as_str() {
            Some(next) => target = resolve(server, &target, next),
            None => return (200, pages),
        }
    }
    panic!("{first} did not end");
}

#[test]
fn every_parent_s_children_are_served_once_and_gone_parents_404() {
    let server = shop(MockSource::children("orders", "customers", 3, 4).gone_every(4));
    let truth = server.truth();
    let orders = truth.children("orders").unwrap();
    assert!(truth.source("orders").is_none(), "not a paged source");
    // The parents are the valid customers, first seen.
    let customers = truth.source("customers").unwrap().expected_all();
    let n = orders.parent_ids.len();
    assert_eq!(n as u64, customers.records());
    assert_eq!(orders.gone.len(), n / 4);
    let config = server.config_json();
    let cfg = &config["sources"][1];
    let template = cfg["url"].as_str().unwrap();
    let mut keys = BTreeSet::new();
    let mut partitions = 0;
    for id in &orders.parent_ids {
        let first = template
            .replace("{parent_id}", id)
            .replace(&server.base_url(), "");
        let (status, pages) = crawl_children(&server, &first);
        if orders.gone.contains(id) {
            assert_eq!(status, 404, "{id}");
            assert!(pages.is_empty());
            continue;
        }
        partitions += 1;
        assert_eq!((status, pages.len()), (200, orders.pages(id)), "{id}");
        let items: Vec<Value> = pages.concat();
        assert_eq!(items, orders.items(id), "{id}");
        for item in &items {
            assert_eq!(item["parent_id"].to_string(), *id);
            assert!(keys.insert(format!("orders:{}", item["order_ref"].as_str().unwrap())));
        }
    }
    assert_eq!(keys, orders.keys(), "every child record exactly once");
    assert_eq!(partitions, n - n / 4);
    // Pages, attempts and partitions as the log has them.
    let log = server.requests();
    assert!(log.iter().all(|r| r.source == "orders" && r.attempt == 1));
    let asked: BTreeSet<&str> = log.iter().filter_map(|r| r.partition.as_deref()).collect();
    assert_eq!(asked.len(), n);
    assert!(
        log.iter().any(|r| r.page == 3),
        "some parents have three pages"
    );
}

#[test]
fn child_lists_answer_unknown_parents_bad_pages_and_relative_links() {
    let server = shop(MockSource::children("orders", "customers", 4, 2).gone(&["nope"]));
    let truth = server.truth();
    let orders = truth.children("orders").unwrap();
    assert!(orders.gone.is_empty(), "only known parents are gone");
    let unknown = get(&server, "/orders/999999/items");
    assert_eq!(
        (unknown.status, unknown.json()),
        (404, json!({"detail": "Not found."}))
    );
    let id = orders.live().find(|id| orders.pages(id) == 4).unwrap();
    let past = get(&server, &format!("/orders/{id}/items?page=5"));
    assert_eq!(
        (past.status, past.json()),
        (404, json!({"detail": "Invalid page."}))
    );
    assert_eq!(
        get(&server, &format!("/orders/{id}/items?page=0")).status,
        400
    );
    let next = |page: usize| {
        get(&server, &format!("/orders/{id}/items?page={page}")).json()["next"].clone()
    };
    let base = server.base_url();
    assert_eq!(next(1), json!("items?page=2"));
    assert_eq!(next(2), json!(format!("{base}/orders/{id}/items?page=3")));
    assert_eq!(next(3), json!(format!("/orders/{id}/items?page=4")));
    assert_eq!(next(4), Value::Null);
    let empty = orders
        .live()
        .find(|id| orders.items(id).is_empty())
        .unwrap();
    let r = get(&server, &format!("/orders/{empty}/items"));
    assert_eq!(r.json(), json!({"data": [], "next": null}));
}

#[test]
fn child_faults_count_attempts_per_parent() {
    let server =
        shop(MockSource::children("orders", "customers", 2, 3).fault(1, 1, FaultKind::Status(503)));
    let truth = server.truth();
    let orders = truth.children("orders").unwrap();
    let ids: Vec<&str> = orders.live().take(2).collect();
    for id in &ids {
        let target = format!("/orders/{id}/items");
        assert_eq!(get(&server, &target).status, 503, "{id}: first attempt");
        assert_eq!(get(&server, &target).status, 200, "{id}: second attempt");
    }
    let got: Vec<(Option<String>, u32, Outcome)> = server
        .requests()
        .into_iter()
        .map(|r| (r.partition, r.attempt, r.outcome))
        .collect();
    let want: Vec<(Option<String>, u32, Outcome)> = ids
        .iter()
        .flat_map(|id| {
            [
                (Some(id.to_string()), 1, Outcome::Status(503)),
                (Some(id.to_string()), 2, Outcome::Status(200)),
            ]
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn child_config_names_the_parent_and_a_record() {
    let scenario = Scenario::new(2)
        .with(MockSource::new("skus", Style::Offset, 1, 3))
        .with(MockSource::children("lines", "skus", 1, 2));
    let server = MockServer::start(scenario).unwrap();
    let cfg = &server.config_json()["sources"][1];
    let base = server.base_url();
    assert_eq!(cfg["url"], format!("{base}/lines/{{parent_id}}/items"));
    assert_eq!(server.source_url("lines"), cfg["url"]);
    assert_eq!(
        cfg["parent"],
        json!({"source": "skus", "fields": {"parent_id": "sku"}, "include": ["parent_id"]})
    );
    assert_eq!(cfg["items_path"], "data");
    assert_eq!(
        cfg["pagination"],
        json!({"style": "next_url", "next_path": "next"})
    );
    assert_eq!(cfg["record"]["id"], "order_ref");
    assert_eq!(cfg["record"]["fields"]["line"]["path"], "id");
    assert_eq!(cfg["on_response"][0]["status"], 404);
    // Sku parents: the parent id is the sku, as a string.
    let truth = server.truth();
    let lines = truth.children("lines").unwrap();
    let sku = &lines.parent_ids[0];
    assert!(sku.starts_with("B-"), "{sku}");
    let r = get(&server, &format!("/lines/{sku}/items"));
    if let Some(first) = r.json()["data"].get(0) {
        assert_eq!(first["parent_id"], json!(sku));
    }
}

const START: &str = "2026-01-01T00:00:00Z";
const END: &str = "2026-01-05T00:00:00Z";

fn events(source: MockSource) -> MockServer {
    MockServer::start(Scenario::new(8).with(source)).unwrap()
}

/// The events of window `[from, to)`, asked for as a client would.
fn window(server: &MockServer, from: &str, to: &str) -> Vec<Value> {
    let enc = |t: &str| t.replace(':', "%3A").replace('+', "%2B");
    let r = get(
        server,
        &format!("/ev/events?from={}&to={}", enc(from), enc(to)),
    );
    assert_eq!(r.status, 200, "{from}..{to}");
    r.json()["data"].as_array().unwrap().clone()
}

#[test]
fn daily_windows_return_every_event_once_and_sloppy_ones_do_not() {
    let server = events(MockSource::events("ev", START, END, 200));
    let truth = server.truth();
    let ev = truth.events("ev").unwrap();
    let days = [
        START,
        "2026-01-02T00:00:00Z",
        "2026-01-03T00:00:00Z",
        "2026-01-04T00:00:00Z",
        END,
    ];
    let mut ids = Vec::new();
    for w in days.windows(2) {
        let got = window(&server, w[0], w[1]);
        assert_eq!(got, ev.between(w[0], w[1]));
        ids.extend(
            got.into_iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
    }
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!((ids.len(), &unique), (200, &ev.ids()), "each event once");
    assert_eq!(ev.events().len(), 200);
    // Windows whose ends are inclusive (the next starts a millisecond
    // later) or stop at the last whole second lose events.
    let day1 = window(&server, START, "2026-01-01T23:59:59.999Z");
    let day2 = window(&server, "2026-01-02T00:00:00.000Z", "2026-01-02T23:59:59Z");
    let lost = ev.between(START, "2026-01-03").len() - day1.len() - day2.len();
    assert!(lost >= 3, "lost {lost}");
    // The events just outside the range answer only outside it.
    let before = window(&server, "2025-12-31T00:00:00Z", START);
    assert_eq!(before[0]["timestamp"], "2025-12-31T23:59:59.999Z");
    let at_end = window(&server, END, "2026-01-06T00:00:00Z");
    assert_eq!(at_end[0]["timestamp"], "2026-01-05T00:00:00.000Z");
    assert!(!ev.ids().contains(at_end[0]["id"].as_str().unwrap()));
}

#[test]
fn a_window_is_required_and_checked() {
    let server =
        events(MockSource::events("ev", START, END, 20).fault(1, 1, FaultKind::Status(500)));
    let missing = get(&server, "/ev/events?from=2026-01-01T00:00:00Z");
    assert_eq!(
        (missing.status, missing.json()),
        (400, json!({"error": "from and to are required"}))
    );
    assert_eq!(get(&server, "/ev/events").status, 400);
    let bad = get(&server, "/ev/events?from=yesterday&to=2026-01-02");
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("from: not"));
    assert_eq!(
        get(&server, "/ev/events?from=2026-01-02&to=2026-01-01").status,
        400
    );
    // Faults count attempts per window; a date alone is its midnight.
    let day = "/ev/events?from=2026-01-01&to=2026-01-02";
    assert_eq!(get(&server, day).status, 500);
    assert_eq!(get(&server, day).status, 200);
    assert_eq!(
        get(&server, "/ev/events?from=2026-01-02&to=2026-01-03").status,
        500
    );
    let log = server.requests();
    let got: Vec<(usize, Option<&str>, u32)> = log
        .iter()
        .map(|r| (r.page, r.partition.as_deref(), r.attempt))
        .collect();
    let (d1, d2) = (Some("2026-01-01/2026-01-02"), Some("2026-01-02/2026-01-03"));
    assert_eq!(&got[4..], [(1, d1, 1), (1, d1, 2), (1, d2, 1)]);
    assert!(got[..4]
        .iter()
        .all(|(page, p, _)| *page == 0 && p.is_none()));
}

#[test]
fn window_config_names_its_range_and_parameters() {
    let src = MockSource::events("ev", START, "2026-01-03T12:00:00.250Z", 10)
        .window_params("since", "until");
    let server = events(src);
    let cfg = &server.config_json()["sources"][0];
    assert_eq!(cfg["url"], format!("{}/ev/events", server.base_url()));
    assert_eq!(
        cfg["partitions"],
        json!({"window": {"start": START, "end": "2026-01-03T12:00:00.250Z", "step": "P1D",
                          "start_param": "since", "end_param": "until", "format": "rfc3339"}})
    );
    assert_eq!(
        (cfg["items_path"].clone(), cfg["pagination"].clone()),
        (json!("data"), json!({"style": "none"}))
    );
    assert_eq!(cfg["record"]["id"], "id");
    assert_eq!(cfg["record"]["fields"]["timestamp"]["type"], "timestamp");
    let r = get(&server, "/ev/events?from=2026-01-01&to=2026-01-02");
    assert_eq!(r.json(), json!({"error": "since and until are required"}));
    let r = get(
        &server,
        "/ev/events?since=2026-01-01&until=2026-01-03T12:00:00.250Z",
    );
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 10);
    let truth = server.truth();
    let keys = truth.events("ev").unwrap().keys();
    assert!(
        keys.contains("ev:ev-1") && keys.contains("ev:ev-10"),
        "{keys:?}"
    );
}
