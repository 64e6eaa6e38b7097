//! SPEC §11 against mocks shaped like the servers that need it: the
//! `on_response` rules (DRF's 404 past its last page, a 400 "page out of
//! range", a 200 whose body says `"status": "error"`), each action with
//! what it does to the counters, the pagination and the run's status; and
//! envelope paths read from response headers (flask-smorest's
//! `X-Pagination`, `X-Total-Count`, a next link in a header), with the
//! warnings they feed.
//!
//! Each test runs the pipeline in-process and checks what the mock saw
//! (pages and attempts), what the summary says, and the records written
//! against the mock's truth; the harness checks the accounting identity
//! (`items == records + invalid + duplicates`) on every run.

use std::collections::BTreeSet;
use std::time::Instant;

use ingest::Config;
use serde_json::{json, Value};
use testsupport::{FaultKind, MockServer, MockSource, Scenario, Shape, Style};

use crate::support::scripted::Scripted;
use crate::support::{
    config_patched as config, counters, n, parse_fast as parse, run, run_strict, want, Outcome,
};

const SEED: u64 = 1103;
/// Items per page.
const IPP: usize = 4;

fn serve(source: MockSource) -> MockServer {
    MockServer::start(Scenario::new(SEED).with(source)).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    let list = v.as_array().unwrap_or_else(|| panic!("not a list: {v}"));
    list.iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `(page, attempt)` of every request the mock saw, in order.
fn asked(server: &MockServer) -> Vec<(usize, u32)> {
    server
        .requests()
        .iter()
        .map(|r| (r.page, r.attempt))
        .collect()
}

/// The run's items, records, duplicates and record keys are exactly what
/// the mock served on `pages` (first-wins dedupe).
fn assert_received(o: &Outcome, server: &MockServer, pages: impl IntoIterator<Item = usize>) {
    let name = &server.scenario().sources[0].name;
    let expected = server.truth().source(name).unwrap().expected(pages);
    let got = o.only();
    assert_eq!(
        (n(got, "items"), n(got, "records"), n(got, "duplicates")),
        (expected.items, expected.records(), expected.duplicates),
        "(items, records, duplicates) got vs served"
    );
    assert_eq!(o.keys(), expected.keys, "record keys got vs served");
}

/// Complete, exit 0, no page given up, no warning (also under
/// `--strict`, which `config` is run with again).
fn assert_clean(o: &Outcome, config: &Config) {
    let src = o.only();
    assert_eq!(src["status"], "complete", "{src:#}");
    assert_eq!(o.exit_code(), 0, "{src:#}");
    assert_eq!(strings(&src["failed_page_urls"]), Vec::<String>::new());
    assert!(src["stop_reason"].is_null(), "{src:#}");
    assert_eq!(strings(&src["warnings"]), Vec::<String>::new(), "{src:#}");
    assert_eq!(run_strict(config).exit_code(), 0, "--strict: no warning");
}

/// DRF answers 404 past its last page. Without a page count, a `page`
/// source asks for that page: the 404 is a page given up, stepped over to
/// the next 404, until `max_failed_pages_in_a_row` stops the source with
/// `error`. `{"status": 404, "action": "end"}` makes it the end of the
/// data: complete, exit 0, every record, no failed page.
#[test]
fn end_makes_drfs_404_past_the_last_page_the_end_of_the_data() {
    let drf = || MockSource::new("drf", Style::PageCount, 3, IPP).shape(Shape::Flat);
    let server = serve(drf());
    let plain = config(&server, |s| s["pagination"] = json!({"style": "page"}));
    let o = run(&plain);
    assert_eq!(o.exit_code(), 3, "the 404s are pages given up");
    let src = o.only();
    assert_eq!(
        (n(src, "failed_pages"), &src["status"]),
        (3, &json!("error"))
    );
    for key in ["rules_matched", "skipped_pages"] {
        assert!(src.get(key).is_none(), "no {key} without rules: {src:#}");
    }
    assert!(src["errors"].get("rule").is_none(), "{src:#}");

    let server = serve(drf());
    let ruled = config(&server, |s| {
        s["pagination"] = json!({"style": "page"});
        s["on_response"] = json!([{"status": 404, "action": "end"}]);
    });
    let o = run(&ruled);
    assert_eq!(asked(&server), [(1, 1), (2, 1), (3, 1), (4, 1)]);
    assert_received(&o, &server, 1..=3);
    let src = o.only();
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 4),
            ("pages", 4),
            ("responses.200", 3),
            ("responses.404", 1),
            ("rules_matched.0", 1),
        ])
    );
    assert_eq!(src["errors"]["rule"], 0, "said for a source with rules");
    assert_eq!(src["skipped_pages"], 0);
    assert_clean(&o, &ruled);
}

/// An API that answers 400 `{"detail": "page out of range"}` past its
/// last page: the status and the body's text together end the data. The
/// conditions of a rule are ANDed: a rule on the same status with other
/// text does not match.
#[test]
fn a_400_page_out_of_range_ends_by_its_status_and_its_text() {
    let server = serve(
        MockSource::new("alpha", Style::Page, 3, IPP)
            .past_end(400, r#"{"detail":"page out of range"}"#),
    );
    let ruled = config(&server, |s| {
        s["on_response"] = json!([
            {"status": 400, "body_contains": "invalid token", "action": "fail"},
            {"status": [400, 422], "body_contains": "page out of range", "action": "end"}
        ]);
    });
    let o = run(&ruled);
    assert_eq!(asked(&server), [(1, 1), (2, 1), (3, 1), (4, 1)]);
    assert_received(&o, &server, 1..=3);
    assert_eq!(
        counters(o.only()),
        want(&[
            ("requests", 4),
            ("pages", 4),
            ("responses.200", 3),
            ("responses.400", 1),
            ("rules_matched.1", 1),
        ])
    );
    assert_eq!(o.only()["rules_matched"], json!({"0": 0, "1": 1}));
    assert_clean(&o, &ruled);
}

/// A 200 whose body says `"status": "error"` has no items: a failed page
/// (`no_items`) by SPEC §4. A `retry` rule makes it a retryable failure,
/// retried with backoff like a 503 (its `Retry-After` honoured): the
/// next attempt gets the page.
#[test]
fn retry_on_a_200_that_says_error_is_retried_and_recovers() {
    let server = serve(MockSource::new("alpha", Style::Page, 3, IPP).fault(
        2,
        1,
        FaultKind::ok_with_error("temporarily unavailable"),
    ));
    let ruled = config(&server, |s| {
        s["on_response"] =
            json!([{"status": 200, "path": "status", "equals": "error", "action": "retry"}]);
    });
    let o = run(&ruled);
    assert_eq!(asked(&server), [(1, 1), (2, 1), (2, 2), (3, 1), (4, 1)]);
    assert_received(&o, &server, 1..=3);
    assert_eq!(
        counters(o.only()),
        want(&[
            ("requests", 5),
            ("pages", 4),
            ("retries", 1),
            ("responses.200", 4),
            ("responses.204", 1),
            ("errors.rule", 1),
            ("retries_by_cause.rule", 1),
            ("rules_matched.0", 1),
        ])
    );
    assert_clean(&o, &ruled);

    // The server's Retry-After on that answer holds the retry, as a 503's.
    let pause = vec![("Retry-After".to_string(), "0.3".to_string())];
    let server = serve(MockSource::new("alpha", Style::Page, 2, IPP).fault(
        1,
        1,
        FaultKind::WithHeaders(200, pause),
    ));
    let o = run(&config(&server, |s| {
        s["on_response"] = json!([{"header": {"retry-after": "*"}, "action": "retry"}]);
    }));
    assert_eq!(asked(&server), [(1, 1), (1, 2), (2, 1), (3, 1)]);
    assert_received(&o, &server, 1..=2);
    let waited = n(&o.only()["waits_ms"], "retry_after");
    assert!(waited >= 290, "waited {waited} ms for Retry-After: 0.3");
}

/// `fail`: the page is given up at once (no retry), as kind `rule`, with
/// what the server said; pagination steps over it and the run is
/// partial.
#[test]
fn fail_gives_the_page_up_at_once_as_kind_rule() {
    let server = serve(MockSource::new("alpha", Style::Page, 3, IPP).fault(
        2,
        1,
        FaultKind::ok_with_error("quota exceeded"),
    ));
    let ruled = config(&server, |s| {
        s["on_response"] =
            json!([{"status": 200, "path": "status", "equals": "error", "action": "fail"}]);
    });
    let o = run(&ruled);
    assert_eq!(asked(&server), [(1, 1), (2, 1), (3, 1), (4, 1)]);
    assert_received(&o, &server, [1, 3]);
    let src = o.only();
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.rule", 1),
            ("rules_matched.0", 1),
        ])
    );
    assert_eq!(
        strings(&src["failed_page_errors"]),
        [
            r#"rule: on_response[0] (fail) matched status 200: {"status":"error","message":"quota exceeded"}"#
        ]
    );
    assert_eq!(src["status"], "complete", "stepped over");
    assert_eq!(o.summary["status"], "partial");
    assert_eq!(o.exit_code(), 3);
}

/// `skip`: the page is given up at once and stepped over, counted in
/// `skipped_pages` and nowhere as failed: the run stays complete. A style
/// that cannot step over a page (a cursor is in it) stops with `error`.
#[test]
fn skip_steps_over_the_page_and_is_no_failure() {
    let server =
        serve(MockSource::new("alpha", Style::Page, 3, IPP).fault(2, 1, FaultKind::Status(410)));
    let ruled = config(&server, |s| {
        s["on_response"] = json!([{"status": 410, "action": "skip"}]);
    });
    let o = run(&ruled);
    assert_eq!(asked(&server), [(1, 1), (2, 1), (3, 1), (4, 1)]);
    assert_received(&o, &server, [1, 3]);
    let src = o.only();
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("skipped_pages", 1),
            ("responses.200", 2),
            ("responses.204", 1),
            ("responses.410", 1),
            ("rules_matched.0", 1),
        ])
    );
    assert_eq!(strings(&src["failed_page_errors"]), Vec::<String>::new());
    assert_clean(&o, &ruled);

    let server =
        serve(MockSource::new("beta", Style::Cursor, 3, IPP).fault(2, 1, FaultKind::Status(410)));
    let o = run(&config(&server, |s| {
        s["on_response"] = json!([{"status": 410, "action": "skip"}]);
    }));
    assert_eq!(asked(&server), [(1, 1), (2, 1)]);
    assert_received(&o, &server, [1]);
    let src = o.only();
    assert_eq!(src["status"], "error");
    assert_eq!(n(src, "skipped_pages"), 1);
    assert_eq!(n(src, "failed_pages"), 0);
    let reason = src["stop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "page 2 was skipped by on_response[0] and this pagination cannot step over it"
        ),
        "{reason}"
    );
    assert_eq!(o.exit_code(), 3);
}

/// The first rule whose every condition holds decides, even when a later
/// one would match too, and `rules_matched` counts each answer by the
/// rule that decided it (every rule listed, 0 for one that never did).
#[test]
fn the_first_matching_rule_decides_and_each_match_is_counted() {
    let server = serve(
        MockSource::new("drf", Style::PageCount, 3, IPP)
            .shape(Shape::Flat)
            .fault(2, 1, FaultKind::ok_with_error("busy"))
            .fault(3, 1, FaultKind::ok_with_error("busy")),
    );
    let ruled = config(&server, |s| {
        s["pagination"] = json!({"style": "page"});
        s["on_response"] = json!([
            {"status": 200, "path": "status", "equals": "error", "action": "retry"},
            {"status": 200, "body_contains": "busy", "action": "fail"},
            {"status": 404, "action": "end"},
            {"status": 404, "action": "fail"}
        ]);
    });
    let o = run(&ruled);
    assert_eq!(
        asked(&server),
        [(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (4, 1)]
    );
    assert_received(&o, &server, 1..=3);
    let src = o.only();
    assert_eq!(
        src["rules_matched"],
        json!({"0": 2, "1": 0, "2": 1, "3": 0})
    );
    assert_eq!(n(src, "retries"), 2);
    assert_clean(&o, &ruled);
}

/// `header` conditions: an exact value (names in any case), or `"*"` for
/// present with any value. `equals` compares the value at `path` (a
/// number by value); an `end` rule's answer keeps none of its items.
#[test]
fn header_and_equals_conditions() {
    let header =
        |value: &str| FaultKind::WithHeaders(200, vec![("X-Maintenance".into(), value.into())]);
    let server = serve(
        MockSource::new("alpha", Style::Page, 3, IPP)
            .fault(2, 1, header("on"))
            .fault(3, 1, header("soon")),
    );
    let o = run(&config(&server, |s| {
        s["on_response"] = json!([
            {"header": {"x-maintenance": "on"}, "action": "retry"},
            {"header": {"X-MAINTENANCE": "*"}, "status": 200, "action": "fail"}
        ]);
    }));
    assert_eq!(asked(&server), [(1, 1), (2, 1), (2, 2), (3, 1), (4, 1)]);
    assert_received(&o, &server, [1, 2]);
    let src = o.only();
    assert_eq!(src["rules_matched"], json!({"0": 1, "1": 1}));
    assert_eq!(n(src, "failed_pages"), 1);
    assert_eq!(
        strings(&src["failed_page_errors"])[0].split(": {").next(),
        Some("rule: on_response[1] (fail) matched status 200")
    );

    // `{"data": [..], "page": 3}`: the data ends at page 3, without it.
    let server = serve(MockSource::new("alpha", Style::Page, 5, IPP));
    let ruled = config(&server, |s| {
        s["on_response"] = json!([{"path": "page", "equals": 3.0, "action": "end"}]);
    });
    let o = run(&ruled);
    assert_eq!(asked(&server), [(1, 1), (2, 1), (3, 1)]);
    assert_received(&o, &server, 1..=2);
    assert_eq!(o.only()["rules_matched"], json!({"0": 1}));
    assert_clean(&o, &ruled);
}

/// flask-smorest sends a bare array and its totals in `X-Pagination`:
/// `header:X-Pagination.total` (or `.total_pages`) ends the source on
/// its last page, with every record and no request past the end, and no
/// warning.
#[test]
fn totals_in_x_pagination_end_on_the_last_page() {
    for path in [
        json!({"total_items_path": "header:X-Pagination.total"}),
        json!({"total_pages_path": "header:x-pagination.total_pages"}),
    ] {
        let server = serve(MockSource::new("flask", Style::XPagination, 4, IPP));
        let config = config(&server, |s| {
            s["pagination"] = json!({"style": "page"});
            s["pagination"]
                .as_object_mut()
                .unwrap()
                .extend(path.as_object().unwrap().clone());
        });
        let o = run(&config);
        assert_eq!(asked(&server), [(1, 1), (2, 1), (3, 1), (4, 1)], "{path}");
        assert_received(&o, &server, 1..=4);
        assert_clean(&o, &config);
    }
}

/// A total read from a header feeds the "received N of the M items the
/// server announced" warning, as `X-Total-Count` always has: here the
/// server sends an empty page 2, which looks like the end.
#[test]
fn a_header_total_the_run_fell_short_of_is_warned() {
    let empty = || FaultKind::StatusWithBody(200, "[]".into());
    for (style, path) in [
        (Style::XPagination, "header:X-Pagination.total"),
        (Style::XTotalCount, "header:X-Total-Count"),
    ] {
        let server = serve(MockSource::new("short", style, 4, IPP).fault(2, 1, empty()));
        let o = run(&config(&server, |s| {
            s["pagination"] = json!({"style": "page", "total_items_path": path});
        }));
        assert_eq!(asked(&server), [(1, 1), (2, 1)], "{path}");
        assert_received(&o, &server, [1]);
        let src = o.only();
        assert_eq!(src["status"], "complete");
        let items = n(src, "items");
        let warning = format!(
            "received {items} of the {} items the server announced; the pagination may not be moving",
            4 * IPP
        );
        assert!(
            strings(&src["warnings"]).contains(&warning),
            "{path}: {src:#}"
        );
    }
}

/// A header path no answer had is said as a body path is, with the
/// headers the first answer had instead.
#[test]
fn a_header_path_no_answer_had_is_warned_with_the_headers_there_were() {
    let server = serve(MockSource::new("counted", Style::XTotalCount, 2, IPP));
    let o = run(&config(&server, |s| {
        s["pagination"] = json!({"style": "page", "total_items_path": "header:X-Total"});
    }));
    assert_eq!(
        asked(&server),
        [(1, 1), (2, 1), (3, 1)],
        "ends on the empty page"
    );
    assert_received(&o, &server, 1..=2);
    let warnings = strings(&o.only()["warnings"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(
        w.starts_with(
            "total_items_path `header:X-Total` never appeared in an answer (response headers: "
        ) && w.contains("x-total-count")
            && w.ends_with("): pagination ended after page 3"),
        "{w}"
    );
}

/// A next page's URL in a response header (`next_path: "header:X-Next"`):
/// followed until an answer has none.
#[test]
fn a_next_url_in_a_header_is_followed() {
    let server = Scripted::start(|target| {
        let page: u32 = target
            .rsplit_once("page=")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(1);
        let items: Vec<Value> = (0..3)
            .map(|i| json!({"id": page * 10 + i, "name": "x", "price": 1.5}))
            .collect();
        let headers = match page {
            1 | 2 => vec![("X-Next".to_string(), format!("/things?page={}", page + 1))],
            _ => Vec::new(),
        };
        (200, headers, Value::from(items).to_string())
    });
    let config = parse(json!({"sources": [{
        "name": "things", "url": format!("{}/things", server.base()),
        "pagination": {"style": "next_url", "next_path": "header:X-Next"}
    }]}));
    let o = run(&config);
    let targets: Vec<String> = server.requests().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, ["/things", "/things?page=2", "/things?page=3"]);
    let keys: BTreeSet<String> = [1, 2, 3]
        .iter()
        .flat_map(|p| (0..3).map(move |i| format!("things:{}", p * 10 + i)))
        .collect();
    assert_eq!(o.keys(), keys);
    assert_clean(&o, &config);
}

/// `ingest check` says which rule matched the first page, and shows what
/// a header path held there (or the headers the answer had instead).
#[test]
fn check_says_which_rule_matched_and_what_header_paths_held() {
    let scenario = Scenario::new(SEED)
        .with(MockSource::new("busy", Style::Page, 2, IPP).fault(
            1,
            1,
            FaultKind::ok_with_error("busy"),
        ))
        .with(MockSource::new("flask", Style::XPagination, 4, IPP))
        .with(MockSource::new("counted", Style::XTotalCount, 2, IPP));
    let server = MockServer::start(scenario).unwrap();
    let mut doc = server.config_json();
    doc["sources"][0]["on_response"] =
        json!([{"status": 200, "path": "status", "equals": "error", "action": "retry"}]);
    doc["sources"][1]["pagination"] =
        json!({"style": "page", "total_items_path": "header:X-Pagination.total"});
    doc["sources"][2]["pagination"] =
        json!({"style": "page", "total_items_path": "header:X-Total"});
    let config = parse(doc);
    let reports = ingest::check(&config, &config.control(Instant::now()));
    let out = ingest::render_check(&reports);
    let block = |name: &str| {
        let start = out
            .find(&format!("{name}  http"))
            .unwrap_or_else(|| panic!("{out}"));
        let rest = &out[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
    };
    for (name, line) in [
        (
            "busy",
            r#"  rule       on_response[0] matched: {"status":200,"path":"status","equals":"error","action":"retry"}"#,
        ),
        (
            "flask",
            "  envelope   total_items_path `header:X-Pagination.total`: 16",
        ),
        (
            "counted",
            "  envelope   total_items_path `header:X-Total`: not in the answer (response headers: ",
        ),
    ] {
        let block = block(name);
        assert!(block.contains(line), "{name}: no {line:?} in\n{block}");
    }
    assert!(!block("flask").contains("  rule "), "no rule, no line");
    assert_eq!(
        reports[0].valid,
        IPP.min(reports[0].items),
        "the retry got the page"
    );
}
