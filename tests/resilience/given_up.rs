//! Non-retryable faults: one attempt, the page is given up, pagination steps
//! over it (page style), the run is partial.

use super::*;

/// Page 2 of a 3-page source fails with `kind` on every attempt; returns the
/// run after checking what every non-retryable fault has in common.
fn given_up_at_once(kind: FaultKind, overrides: Value) -> (MockServer, Outcome) {
    let server = serve(alpha(3).faults_for_every_attempt(2, kind.clone()));
    let outcome = run(&config(&server, overrides));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 1), (3, 1), (4, 1)]),
        "{kind:?}: exactly one attempt at page 2, then on"
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "complete", "{kind:?}: stepped over: {src:#}");
    assert_eq!(outcome.exit_code(), 3, "{kind:?}: a page was given up");
    assert_eq!(outcome.summary["status"], "partial");
    assert_eq!(
        strings(&src["failed_page_urls"]),
        [url_of(&server, "alpha", 2)],
        "{kind:?}"
    );
    assert!(src["stopped_at_url"].is_null());
    assert_received(&outcome, &server, "alpha", [1, 3]);
    (server, outcome)
}

#[test]
fn malformed_json_is_given_up_at_once_and_stepped_over() {
    let (_server, outcome) = given_up_at_once(FaultKind::MalformedJson, json!({}));
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.malformed_json", 1),
        ])
    );
}

#[test]
fn status_404_is_a_client_error_given_up_at_once() {
    let (_server, outcome) = given_up_at_once(FaultKind::Status(404), json!({}));
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 2),
            ("responses.204", 1),
            ("responses.404", 1),
            ("errors.client_error", 1),
        ])
    );
}

/// SPEC §4: "3xx left after redirects" is non-retryable. A 302 without a
/// `Location` cannot be followed, so it is left: one attempt, counted as a
/// `client_error`, never retried (nor counted toward the breaker).
#[test]
fn redirect_without_location_is_a_client_error_given_up_at_once() {
    let (_server, outcome) = given_up_at_once(FaultKind::Status(302), json!({}));
    let got = counters(outcome.source("alpha"));
    assert_eq!(got.get("errors.client_error"), Some(&1), "{got:?}");
    assert_eq!(got.get("failed_pages"), Some(&1), "{got:?}");
    assert_eq!(got.get("retries"), None, "{got:?}");
}

#[test]
fn body_over_max_body_bytes_is_given_up_at_once() {
    // Normal pages of 3 flat items are a few hundred bytes.
    let (_server, outcome) = given_up_at_once(
        FaultKind::Oversized(16 * 1024),
        json!({"max_body_bytes": 4096}),
    );
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.body_too_large", 1),
        ])
    );
}

#[test]
fn body_without_an_item_array_is_given_up_at_once() {
    let (_server, outcome) = given_up_at_once(FaultKind::NoItems, json!({}));
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 4),
            ("pages", 3),
            ("failed_pages", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.no_items", 1),
        ])
    );
}

/// A retryable fault on every attempt: exactly `1 + max_retries` attempts,
/// then the page is given up and pagination goes on. The breaker threshold
/// is out of reach so only the retry budget is at work.
#[test]
fn retryable_fault_on_every_attempt_is_given_up_after_one_plus_max_retries() {
    let server = serve(alpha(3).faults_for_every_attempt(2, FaultKind::Status(503)));
    let outcome = run(&config(
        &server,
        json!({"retry": {"max_retries": 4}, "breaker": {"failure_threshold": 10}}),
    ));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 5), (3, 1), (4, 1)])
    );
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 8),
            ("pages", 3),
            ("failed_pages", 1),
            ("retries", 4),
            ("responses.200", 2),
            ("responses.204", 1),
            ("responses.503", 5),
            ("retries_by_cause.5xx", 4),
        ])
    );
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 3);
    assert_eq!(
        strings(&src["failed_page_urls"]),
        [url_of(&server, "alpha", 2)]
    );
    assert_received(&outcome, &server, "alpha", [1, 3]);
}

/// A `Retry-After` is the server's word for the whole API, not for one
/// page: when the page that carried it is given up, the next page still
/// waits for it.
#[test]
fn retry_after_of_a_page_given_up_holds_for_the_next_page() {
    let server =
        serve(alpha(3).faults_for_every_attempt(2, FaultKind::RetryAfter(429, "1".into())));
    let outcome = run(&config(&server, json!({"retry": {"max_retries": 1}})));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 2), (3, 1), (4, 1)])
    );
    for (page, attempt) in [(2, 1), (2, 2)] {
        let next = if attempt == 1 { (2, 2) } else { (3, 1) };
        let gap = logged(&server, "alpha", next.0, next.1).at
            - logged(&server, "alpha", page, attempt).at;
        assert!(
            gap >= Duration::from_millis(980),
            "after page {page} attempt {attempt}: {gap:?}"
        );
    }
    let src = outcome.source("alpha");
    assert_eq!(
        strings(&src["failed_page_urls"]),
        [url_of(&server, "alpha", 2)]
    );
    assert!(
        n(&src["waits_ms"], "retry_after") >= 1900,
        "{}",
        src["waits_ms"]
    );
    assert_eq!(outcome.exit_code(), 3);
}

/// A host that does not exist (RFC 6761: `.invalid` never resolves, and a
/// resolver answers it without asking anyone) is `dns`: each page is given
/// up at its first attempt, nothing is retried, the breaker never opens,
/// and the source ends at once (well under a second, not after retries
/// and cooldowns), saying why in its `stop_reason` and in each page's
/// `failed_page_errors` entry. Should
/// this machine's resolver answer with a temporary failure instead (no
/// resolver at all), that is `transport` by design, and only the part
/// that holds either way is checked.
#[test]
fn a_host_that_does_not_exist_is_dns_and_never_retried() {
    let doc = json!({
        "sources": [{"name": "typo", "url": "http://no-such-host.invalid/items",
                     "pagination": {"style": "page"}}],
        // A retried failure would wait for the breaker's 30 s cooldown.
        "breaker": {"failure_threshold": 1, "cooldown_ms": 30_000},
        "retry": {"max_retries": 3, "base_delay_ms": 4, "max_delay_ms": 20},
        "deadline_ms": 20_000
    });
    let config = Config::parse("test config", &doc.to_string()).unwrap();
    let outcome = run(&config);
    let src = outcome.source("typo");
    let said = src["errors"].to_string();
    if n(&src["errors"], "dns") == 0 {
        use std::net::ToSocketAddrs;
        let answer = match ("no-such-host.invalid", 80).to_socket_addrs() {
            Ok(addrs) => format!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e.to_string(),
        };
        let temporary = ["temporary", "try again"]
            .iter()
            .any(|word| answer.to_ascii_lowercase().contains(word));
        assert!(
            temporary,
            "the resolver's answer is neither `no such name` nor temporary: {answer}; {said}"
        );
        println!("skipped: this resolver answered with a temporary failure: {answer}");
        assert!(n(&src["errors"], "transport") >= 1, "{said}");
        return;
    }
    assert_eq!(src["status"], "error", "{src:#}");
    assert_eq!(
        counters(src),
        want(&[("requests", 3), ("failed_pages", 3), ("errors.dns", 3)]),
        "three pages given up at once, then the source stops"
    );
    assert_eq!(n(src, "retries"), 0);
    assert_eq!(n(src, "breaker_opens"), 0);
    assert_eq!(n(&src["waits_ms"], "breaker"), 0);
    assert_eq!(n(&src["waits_ms"], "backoff"), 0);
    assert!(
        outcome.elapsed < Duration::from_secs(1),
        "no retries, no cooldown: ended in {:?}",
        outcome.elapsed
    );
    let reason = src["stop_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("3 pages given up in a row (the last: dns: "),
        "{reason:?}"
    );
    let errors = strings(&src["failed_page_errors"]);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().all(|e| e.starts_with("dns: ")), "{errors:?}");
    assert_eq!(outcome.exit_code(), 3);
}
