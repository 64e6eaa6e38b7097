//! Retryable faults that recover on the next attempt.

use super::*;

/// Runs a 3-page source whose page 2 fails with `kind` on its first
/// attempt only, and checks what every recovering fault has in common:
/// page 2 took exactly 2 attempts, nothing was lost, the run is complete.
fn recovers_after_one(kind: FaultKind, overrides: Value) -> (MockServer, Outcome) {
    let server = serve(alpha(3).fault(2, 1, kind.clone()));
    let outcome = run(&config(&server, overrides));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 2), (3, 1), (4, 1)]),
        "{kind:?}: attempts per page (page 4 is the 204 end)"
    );
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "complete", "{kind:?}: {src:#}");
    assert_eq!(outcome.exit_code(), 0, "{kind:?}");
    assert_eq!(outcome.summary["status"], "complete");
    assert!(strings(&src["failed_page_urls"]).is_empty());
    assert!(src["stopped_at_url"].is_null());
    assert_received(&outcome, &server, "alpha", 1..=3);
    (server, outcome)
}

/// 5xx are retried; a 503's `Retry-After` is honoured like a 429's.
#[test]
fn status_500_then_503_are_retried_until_the_page_arrives() {
    let server = serve(alpha(3).fault(2, 1, FaultKind::Status(500)).fault(
        2,
        2,
        FaultKind::RetryAfter(503, "1".into()),
    ));
    let outcome = run(&config(&server, json!({})));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 3), (3, 1), (4, 1)])
    );
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 6),
            ("pages", 4),
            ("retries", 2),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.500", 1),
            ("responses.503", 1),
            ("retries_by_cause.5xx", 2),
        ])
    );
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 0);
    assert_received(&outcome, &server, "alpha", 1..=3);
    let gap = logged(&server, "alpha", 2, 3).at - logged(&server, "alpha", 2, 2).at;
    assert!(
        gap >= Duration::from_millis(980),
        "503 Retry-After: 1 → retry gap {gap:?}"
    );
    assert!(
        n(&src["waits_ms"], "retry_after") >= 950,
        "{}",
        src["waits_ms"]
    );
}

/// The other retryable statuses of the taxonomy: 408, 425, 502.
#[test]
fn statuses_408_425_502_are_retried() {
    let server = serve(
        alpha(3)
            .fault(2, 1, FaultKind::Status(408))
            .fault(2, 2, FaultKind::Status(425))
            .fault(2, 3, FaultKind::Status(502)),
    );
    let outcome = run(&config(
        &server,
        json!({"breaker": {"failure_threshold": 10}}),
    ));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 4), (3, 1), (4, 1)])
    );
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 7),
            ("pages", 4),
            ("retries", 3),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.408", 1),
            ("responses.425", 1),
            ("responses.502", 1),
            ("retries_by_cause.408", 1),
            ("retries_by_cause.425", 1),
            ("retries_by_cause.5xx", 1),
        ])
    );
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 0);
    assert_received(&outcome, &server, "alpha", 1..=3);
}

/// A `Retry-After` of 0, garbage or a date in the past is ignored: the
/// retries follow the (tiny) backoff, and nothing is counted as a
/// Retry-After wait.
#[test]
fn retry_after_zero_garbage_or_past_is_ignored() {
    let past = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(60));
    let server = serve(
        alpha(3)
            .fault(2, 1, FaultKind::RetryAfter(429, "0".into()))
            .fault(2, 2, FaultKind::RetryAfter(429, "soon".into()))
            .fault(2, 3, FaultKind::RetryAfter(503, past)),
    );
    let outcome = run(&config(
        &server,
        json!({"breaker": {"failure_threshold": 10}}),
    ));
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 4), (3, 1), (4, 1)])
    );
    let src = outcome.source("alpha");
    assert_eq!(n(&src["waits_ms"], "retry_after"), 0, "{}", src["waits_ms"]);
    for attempt in 1..=3 {
        let gap =
            logged(&server, "alpha", 2, attempt + 1).at - logged(&server, "alpha", 2, attempt).at;
        // Backoff here is at most 20 ms; an honoured "1 s" would be 1000.
        assert!(
            gap < Duration::from_millis(500),
            "attempt {attempt} → {}: {gap:?}",
            attempt + 1
        );
    }
    assert_eq!(src["status"], "complete");
    assert_eq!(outcome.exit_code(), 0);
}

/// Before retry n the wait is in [d/2, d], d = min(max, base × 2^(n−1)):
/// here 60 ms, then 120 ms capped. Lower bounds from the mock's log, and
/// the cap checked against what an uncapped schedule would at least wait.
#[test]
fn backoff_doubles_from_base_and_is_capped_at_max_delay() {
    let server = serve(alpha(2).faults_for_every_attempt(2, FaultKind::Status(503)));
    let outcome = run(&config(
        &server,
        json!({
            "retry": {"max_retries": 4, "base_delay_ms": 60, "max_delay_ms": 120},
            "breaker": {"failure_threshold": 10},
        }),
    ));
    assert_eq!(attempts(&server, "alpha").get(&2), Some(&5));
    let at = |attempt| logged(&server, "alpha", 2, attempt).at;
    let ms = Duration::from_millis;
    let ceilings = [60, 120, 120, 120];
    for (retry, d) in (1..=4).zip(ceilings) {
        let gap = at(retry + 1) - at(retry);
        assert!(
            gap >= ms(d / 2),
            "retry {retry}: waited {gap:?}, want >= {} ms",
            d / 2
        );
    }
    // Uncapped, retry 4 would wait at least 480 / 2 = 240 ms.
    let last = at(5) - at(4);
    assert!(
        last < ms(240),
        "retry 4 waited {last:?}: max_delay_ms not applied"
    );
    let backoff = n(&outcome.source("alpha")["waits_ms"], "backoff");
    assert!(backoff >= (60 + 120 * 3) / 2, "waits_ms.backoff {backoff}");
}

/// The retry of a 429 waits its `Retry-After: 1` (the mock sees the gap),
/// and that wait is counted under `retry_after`, not `backoff`.
#[test]
fn status_429_waits_its_retry_after_then_recovers() {
    let (server, outcome) = recovers_after_one(FaultKind::RetryAfter(429, "1".into()), json!({}));
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 5),
            ("pages", 4),
            ("retries", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("responses.429", 1),
            ("retries_by_cause.429", 1),
        ])
    );
    let (first, retry) = (
        logged(&server, "alpha", 2, 1),
        logged(&server, "alpha", 2, 2),
    );
    assert_eq!(first.outcome, Served::Status(429));
    // The retry cannot leave before the 429 arrived + 1 s; 20 ms of slack
    // for the granularity of the two clocks readings.
    let gap = retry.at - first.at;
    assert!(
        gap >= Duration::from_millis(980),
        "429 → retry gap {gap:?}, want >= 1 s"
    );
    let waits = &src["waits_ms"];
    assert!(n(waits, "retry_after") >= 950, "retry_after wait: {waits}");
    assert_eq!(
        n(waits, "backoff"),
        0,
        "the larger wait takes it all: {waits}"
    );
}

/// A transport fault on page 2's first attempt: counted as `transport`,
/// retried once, recovered.
fn transport_fault_recovers(kind: FaultKind, served: Served) {
    let (server, outcome) = recovers_after_one(kind.clone(), json!({}));
    assert_eq!(logged(&server, "alpha", 2, 1).outcome, served, "{kind:?}");
    // A truncated answer's head (200) did arrive; close and reset never
    // answered at all.
    let heads = if served == Served::Truncated { 4 } else { 3 };
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 5),
            ("pages", 4),
            ("retries", 1),
            ("responses.200", heads),
            ("responses.204", 1),
            ("errors.transport", 1),
            ("retries_by_cause.transport", 1),
        ]),
        "{kind:?}"
    );
}

/// A connection closed or reset before any answer, on the pooled
/// keep-alive connection page 1 left: that is a stale connection (SPEC
/// §4), so the request goes once more at once on a new one — no attempt,
/// no retry, no error; page 2 arrives on the server's second request.
fn stale_connection_is_resent(kind: FaultKind, served: Served) {
    let (server, outcome) = recovers_after_one(kind.clone(), json!({}));
    assert_eq!(logged(&server, "alpha", 2, 1).outcome, served, "{kind:?}");
    let src = outcome.source("alpha");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 4),
            ("pages", 4),
            ("responses.200", 3),
            ("responses.204", 1),
        ]),
        "{kind:?}"
    );
    assert_eq!(n(src, "resends"), 1, "{kind:?}");
}

/// The same fault twice (the request and its resend): the attempt fails
/// as `transport` and is retried.
fn transport_fault_after_a_resend_is_retried(kind: FaultKind) {
    let server = serve(alpha(3).fault(2, 1, kind.clone()).fault(2, 2, kind.clone()));
    let outcome = run(&config(&server, json!({})));
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "complete", "{kind:?}: {src:#}");
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 5),
            ("pages", 4),
            ("retries", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.transport", 1),
            ("retries_by_cause.transport", 1),
        ]),
        "{kind:?}"
    );
    assert_eq!(n(src, "resends"), 1, "{kind:?}");
    assert_received(&outcome, &server, "alpha", 1..=3);
}

#[test]
fn connection_closed_before_any_answer_is_resent_then_retried() {
    stale_connection_is_resent(FaultKind::Close, Served::Closed);
    transport_fault_after_a_resend_is_retried(FaultKind::Close);
}

#[test]
fn truncated_body_is_a_transport_retry() {
    transport_fault_recovers(FaultKind::Truncate, Served::Truncated);
}

#[test]
fn connection_reset_is_resent_then_retried() {
    stale_connection_is_resent(FaultKind::Reset, Served::Reset);
    transport_fault_after_a_resend_is_retried(FaultKind::Reset);
}

/// An answer slower than `read_ms` is cut at `read_ms` and retried.
#[test]
fn answer_slower_than_read_ms_is_a_timeout_retry() {
    let (server, outcome) = recovers_after_one(
        FaultKind::Delay(Duration::from_millis(600)),
        json!({"timeouts": {"read_ms": 200}}),
    );
    assert_eq!(
        counters(outcome.source("alpha")),
        want(&[
            ("requests", 5),
            ("pages", 4),
            ("retries", 1),
            ("responses.200", 3),
            ("responses.204", 1),
            ("errors.timeout", 1),
            ("retries_by_cause.timeout", 1),
        ])
    );
    // The client gave up after its read budget, not after the server's 600 ms.
    let gap = logged(&server, "alpha", 2, 2).at - logged(&server, "alpha", 2, 1).at;
    assert!(
        gap >= Duration::from_millis(200),
        "timeout → retry gap {gap:?}"
    );
}
