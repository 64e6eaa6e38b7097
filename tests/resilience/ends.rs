//! Ends that are not end of data.

use super::*;

#[test]
fn endless_page_numbers_stop_at_max_pages_with_the_next_url() {
    let server = serve(alpha(3).endless().fault(2, 1, FaultKind::Status(500)));
    let outcome = run(&config(&server, json!({"max_pages": 6})));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 2), (3, 1), (4, 1), (5, 1), (6, 1)]),
        "exactly max_pages pages (a retry is not a page)"
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "max_pages");
    assert_eq!(
        src["stopped_at_url"],
        json!(format!("{}?page=7&limit={IPP}", server.source_url("alpha")))
    );
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 7),
            ("pages", 6),
            ("retries", 1),
            ("responses.200", 6),
            ("responses.500", 1),
            ("retries_by_cause.5xx", 1),
        ])
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", 1..=6);
}

/// The endless pointer styles point from their last page back to page 2:
/// a loop, detected before the repeated page is requested.
#[test]
fn endless_pointers_are_a_pagination_loop() {
    for style in [Style::Cursor, Style::NextUrl, Style::LinkHeader] {
        let server = serve(
            MockSource::new("loop", style, 3, IPP)
                .shape(Shape::Flat)
                .endless(),
        );
        let outcome = run(&config(&server, json!({})));
        assert_eq!(
            attempts(&server, "loop"),
            per_page(&[(1, 1), (2, 1), (3, 1)]),
            "{style:?}: no page twice"
        );
        let src = outcome.source("loop");
        assert_eq!(src["status"], "error", "{style:?}");
        assert_eq!(
            counters(src),
            want(&[
                ("requests", 3),
                ("pages", 3),
                ("responses.200", 3),
                ("errors.pagination_loop", 1),
            ]),
            "{style:?}"
        );
        assert_eq!(
            src["stopped_at_url"],
            json!(url_of(&server, "loop", 2)),
            "{style:?}: the loop's target"
        );
        assert_eq!(outcome.exit_code(), 3, "{style:?}");
        let expected = server.truth().source("loop").unwrap().expected(1..=3);
        assert_eq!(n(src, "items"), expected.items, "{style:?}");
    }
}

/// A source's own `max_pages` and `retry` hold for it alone: the other
/// source of the run keeps the top level's.
#[test]
fn a_sources_own_limits_hold_for_it_alone() {
    let server = MockServer::start(
        Scenario::new(SEED)
            .with(alpha(4).fault(2, 1, FaultKind::Status(503)))
            .with(MockSource::new("beta", Style::Page, 4, IPP).fault(2, 1, FaultKind::Status(503))),
    )
    .unwrap();
    let mut doc = server.config_json();
    for (k, v) in fast_policies().as_object().unwrap() {
        doc[k] = v.clone();
    }
    doc["sources"][0]["max_pages"] = json!(3);
    doc["sources"][0]["retry"] = json!({"max_retries": 0});
    let outcome = run(&Config::parse("test config", &doc.to_string()).unwrap());
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 1), (3, 1)]),
        "alpha: no retry, 3 pages"
    );
    assert_eq!(outcome.source("alpha")["status"], "max_pages");
    assert_eq!(n(outcome.source("alpha"), "failed_pages"), 1);
    assert_eq!(
        attempts(&server, "beta"),
        per_page(&[(1, 1), (2, 2), (3, 1), (4, 1), (5, 1)]),
        "beta: the top level's retries, every page and the 204"
    );
    assert_eq!(outcome.source("beta")["status"], "complete");
    assert_received(&outcome, &server, "beta", 1..=4);
}
