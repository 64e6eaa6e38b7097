//! Step-over rules.

use super::*;

/// A page lost after its retries: `page`, `offset` and `link_header` (whose
/// failed answer still carries its `Link`) step over it and complete; the
/// other styles cannot know where to go and stop with `error` at it.
#[test]
fn a_lost_page_is_stepped_over_only_where_the_style_can() {
    let status = FaultKind::Status(503);
    let cases = [
        (Style::Page, status.clone(), true),
        (Style::Offset, status.clone(), true),
        (Style::LinkHeader, status.clone(), true),
        // A closed connection carries no Link header to step over with.
        (Style::LinkHeader, FaultKind::Close, false),
        (Style::Cursor, status.clone(), false),
        (Style::NextUrl, status.clone(), false),
        (Style::None, status, false),
    ];
    for (style, fault, steps_over) in cases {
        let pages = if style == Style::None { 1 } else { 4 };
        let lost = if style == Style::None { 1 } else { 2 };
        let name = style.config_name();
        let server = serve(
            MockSource::new(name, style, pages, IPP)
                .shape(Shape::Flat)
                .faults_for_every_attempt(lost, fault),
        );
        let outcome = run(&config(
            &server,
            json!({"retry": {"max_retries": 1}, "breaker": {"failure_threshold": 10}}),
        ));
        let src = outcome.source(name);
        let lost_url = url_of(&server, name, lost);
        assert_eq!(
            strings(&src["failed_page_urls"]),
            [lost_url.as_str()],
            "{name}"
        );
        assert_eq!(n(src, "failed_pages"), 1, "{name}");
        assert_eq!(outcome.exit_code(), 3, "{name}");
        let seen = attempts(&server, name);
        // The server also sees the resend of a request whose pooled
        // connection was closed (not an attempt).
        let resends = n(src, "resends") as u32;
        assert_eq!(
            seen.get(&lost),
            Some(&(2 + resends)),
            "{name}: 1 + max_retries attempts, {resends} resends"
        );
        assert_eq!(n(src, "retries"), 1, "{name}");
        let received: Vec<usize> = (1..=pages).filter(|&p| p != lost).collect();
        if steps_over {
            assert_eq!(src["status"], "complete", "{name}: {src:#}");
            assert!(src["stopped_at_url"].is_null(), "{name}");
            assert!(
                received.iter().all(|p| seen.get(p) == Some(&1)),
                "{name}: every other page once: {seen:?}"
            );
            assert_received(&outcome, &server, name, received);
        } else {
            assert_eq!(src["status"], "error", "{name}: {src:#}");
            assert_eq!(src["stopped_at_url"], json!(lost_url), "{name}");
            assert_eq!(
                seen.keys().copied().collect::<Vec<_>>(),
                (1..=lost).collect::<Vec<_>>(),
                "{name}: nothing requested after the lost page"
            );
            assert_received(&outcome, &server, name, 1..lost);
        }
    }
}

/// `max_failed_pages_in_a_row` pages given up one after another stop the
/// source (at the page it would fetch next); a good page in between resets
/// the count.
#[test]
fn failed_pages_in_a_row_stop_the_source_but_a_good_page_resets_the_count() {
    let policies = json!({"max_failed_pages_in_a_row": 2});

    let server = serve(
        alpha(6)
            .faults_for_every_attempt(2, FaultKind::Status(404))
            .faults_for_every_attempt(3, FaultKind::NoItems),
    );
    let outcome = run(&config(&server, policies.clone()));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 1), (3, 1)]),
        "stopped right after the second failure in a row"
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "error", "{src:#}");
    assert_eq!(
        strings(&src["failed_page_urls"]),
        [url_of(&server, "alpha", 2), url_of(&server, "alpha", 3)]
    );
    assert_eq!(
        src["stopped_at_url"],
        json!(format!("{}?page=4&limit={IPP}", server.source_url("alpha")))
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1]);

    let server = serve(
        alpha(6)
            .faults_for_every_attempt(2, FaultKind::Status(404))
            .faults_for_every_attempt(4, FaultKind::NoItems),
    );
    let outcome = run(&config(&server, policies));
    assert_eq!(
        attempts(&server, "alpha"),
        (1..=7).map(|p| (p, 1)).collect::<BTreeMap<_, _>>()
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "complete", "{src:#}");
    assert_eq!(n(src, "failed_pages"), 2);
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1, 3, 5, 6]);
}
