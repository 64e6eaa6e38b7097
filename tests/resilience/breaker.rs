//! Circuit breaker.

use super::*;

const COOLDOWN_MS: u64 = 500;

/// Threshold 3, a 500 ms cooldown, near-zero backoff and enough retries
/// that the page is never given up first: only the breaker can make gaps.
fn breaker_policies() -> Value {
    json!({
        "breaker": {"failure_threshold": 3, "cooldown_ms": COOLDOWN_MS},
        "retry": {"max_retries": 6, "base_delay_ms": 1, "max_delay_ms": 2},
    })
}

/// Page 2 of a 3-page source answers 503 to its first `failures` attempts.
fn breaker_run(failures: u32) -> (MockServer, Outcome, Vec<LoggedRequest>) {
    let mut source = alpha(3);
    for attempt in 1..=failures {
        source = source.fault(2, attempt, FaultKind::Status(503));
    }
    let server = serve(source);
    let outcome = run(&config(&server, breaker_policies()));
    let log = server.requests();
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, failures + 1), (3, 1), (4, 1)])
    );
    assert_eq!(outcome.source("alpha")["status"], "complete");
    assert_eq!(outcome.exit_code(), 0, "the page recovered");
    assert_received(&outcome, &server, "alpha", 1..=3);
    (server, outcome, log)
}

/// Gaps between consecutive requests of the log, as (from, to, gap).
fn gaps(log: &[LoggedRequest]) -> Vec<(String, String, Duration)> {
    let label = |r: &LoggedRequest| format!("p{}a{}", r.page, r.attempt);
    log.windows(2)
        .map(|w| (label(&w[0]), label(&w[1]), w[1].at - w[0].at))
        .collect()
}

/// Asserts which gaps of the log are cooldowns: those listed in `long`
/// (as "from→to") are at least the cooldown, all others well under it.
fn assert_cooldowns(log: &[LoggedRequest], long: &[&str]) {
    let cooldown = Duration::from_millis(COOLDOWN_MS);
    for (from, to, gap) in gaps(log) {
        let name = format!("{from}→{to}");
        if long.contains(&name.as_str()) {
            assert!(
                gap >= cooldown,
                "{name}: {gap:?} < cooldown; log gaps: {:?}",
                gaps(log)
            );
        } else {
            // Expected ~2 ms (backoff and a local round trip).
            assert!(
                gap < cooldown / 2,
                "{name}: {gap:?}, no wait expected; log gaps: {:?}",
                gaps(log)
            );
        }
    }
}

/// Three failures open the breaker; nothing is sent for the cooldown; the
/// one probe succeeds and closes it, so the next pages flow at once.
#[test]
fn breaker_opens_after_threshold_and_a_good_probe_closes_it() {
    let (_server, outcome, log) = breaker_run(3);
    assert_cooldowns(&log, &["p2a3→p2a4"]);
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 7),
            ("pages", 4),
            ("retries", 3),
            ("breaker_opens", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.503", 3),
            ("retries_by_cause.5xx", 3),
        ])
    );
    let breaker_wait = n(&src["waits_ms"], "breaker");
    assert!(
        breaker_wait >= COOLDOWN_MS - 10,
        "waits_ms.breaker {breaker_wait}"
    );
}

/// A failed probe reopens the breaker for a full cooldown: exactly one
/// request between the two cooldowns, then the next probe succeeds.
#[test]
fn breaker_failed_probe_reopens_for_a_full_cooldown() {
    let (_server, outcome, log) = breaker_run(4);
    assert_cooldowns(&log, &["p2a3→p2a4", "p2a4→p2a5"]);
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 8),
            ("pages", 4),
            ("retries", 4),
            ("breaker_opens", 2),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.503", 4),
            ("retries_by_cause.5xx", 4),
        ])
    );
    let breaker_wait = n(&src["waits_ms"], "breaker");
    assert!(
        breaker_wait >= 2 * COOLDOWN_MS - 20,
        "waits_ms.breaker {breaker_wait}"
    );
}

/// In CLOSED a non-retryable failure neither trips nor resets the count:
/// two 503s, a 404 (page given up), then one more 503 on the next page
/// is the third in a row and opens the breaker.
#[test]
fn breaker_counts_through_a_non_retryable_failure() {
    let server = serve(
        alpha(3)
            .fault(2, 1, FaultKind::Status(503))
            .fault(2, 2, FaultKind::Status(503))
            .fault(2, 3, FaultKind::Status(404))
            .fault(3, 1, FaultKind::Status(503)),
    );
    let outcome = run(&config(&server, breaker_policies()));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 3), (3, 2), (4, 1)])
    );
    assert_cooldowns(&server.requests(), &["p3a1→p3a2"]);
    let src = outcome.source("alpha");
    assert_eq!(n(src, "breaker_opens"), 1);
    assert_eq!(n(src, "failed_pages"), 1);
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1, 3]);
}

/// A non-retryable answer to the probe proves the server is up: it closes
/// the breaker (count back to 0), so the next page's single 503 is
/// retried at once, without a cooldown.
#[test]
fn a_non_retryable_probe_answer_closes_the_breaker() {
    let server = serve(
        alpha(3)
            .fault(2, 1, FaultKind::Status(503))
            .fault(2, 2, FaultKind::Status(503))
            .fault(2, 3, FaultKind::Status(503))
            .fault(2, 4, FaultKind::Status(404))
            .fault(3, 1, FaultKind::Status(503)),
    );
    let outcome = run(&config(&server, breaker_policies()));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 4), (3, 2), (4, 1)])
    );
    assert_cooldowns(&server.requests(), &["p2a3→p2a4"]);
    let src = outcome.source("alpha");
    assert_eq!(n(src, "breaker_opens"), 1);
    assert_eq!(n(src, "failed_pages"), 1);
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 3);
}

/// A cooldown that would end past the deadline is not waited out: the
/// source stops at once, and says its breaker was open.
#[test]
fn the_deadline_during_a_cooldown_is_breaker_open() {
    let server = serve(alpha(3).faults_for_every_attempt(2, FaultKind::Status(503)));
    let outcome = run(&config(
        &server,
        json!({"breaker": {"failure_threshold": 1, "cooldown_ms": 5000}, "deadline_ms": 1000}),
    ));
    assert!(
        outcome.elapsed < Duration::from_millis(1000),
        "run took {:?}: it waited instead of stopping",
        outcome.elapsed
    );
    assert_eq!(attempts(&server, "alpha"), per_page(&[(1, 1), (2, 1)]));
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "breaker_open", "{src:#}");
    assert_eq!(src["stopped_at_url"], json!(url_of(&server, "alpha", 2)));
    assert_eq!(n(src, "breaker_opens"), 1);
    assert_eq!(n(&src["waits_ms"], "breaker"), 0, "no cooldown was started");
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1]);
}
