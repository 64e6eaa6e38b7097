//! Deadline.

use super::*;

/// A server that never answers page 2 cannot hold the run past its
/// deadline: the other sources complete, what arrived is written.
#[test]
fn a_hanging_server_is_cut_at_the_deadline() {
    let scenario = Scenario::new(SEED)
        .with(alpha(4).faults_for_every_attempt(2, FaultKind::Hang))
        .with(MockSource::new("beta", Style::Offset, 3, IPP).shape(Shape::Flat))
        .with(MockSource::new("gamma", Style::Cursor, 3, IPP).shape(Shape::Flat));
    let server = MockServer::start(scenario).unwrap();
    // read_ms beyond the deadline: only the deadline can cut the request.
    let outcome = run(&config(
        &server,
        json!({"deadline_ms": 3000, "timeouts": {"read_ms": 10000}}),
    ));
    assert!(
        outcome.elapsed < Duration::from_secs(4),
        "run took {:?} with a 3 s deadline",
        outcome.elapsed
    );
    let status = |name: &str| outcome.source(name)["status"].clone();
    assert_eq!(
        [status("alpha"), status("beta"), status("gamma")],
        [json!("deadline"), json!("complete"), json!("complete")]
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_eq!(outcome.summary["status"], "partial");
    assert_eq!(
        attempts(&server, "alpha"),
        per_page(&[(1, 1), (2, 1)]),
        "one attempt at the hanging page, cut at the deadline"
    );
    let got = counters(outcome.source("alpha"));
    assert_eq!(
        got.get("errors.timeout"),
        None,
        "a cut is not a server timeout: {got:?}"
    );
    assert_eq!(
        outcome.source("alpha")["stopped_at_url"],
        json!(url_of(&server, "alpha", 2))
    );
    assert_received(&outcome, &server, "alpha", [1]);
    assert_received(&outcome, &server, "beta", 1..=3);
    assert_received(&outcome, &server, "gamma", 1..=3);
}

/// A Retry-After that would end past the deadline is not waited out: the
/// source stops at once, long before the deadline itself.
#[test]
fn a_retry_after_past_the_deadline_is_not_waited() {
    // 30 s, and a value too large for any clock: both are simply past the
    // deadline.
    for retry_after in ["30", "99999999999999999999"] {
        retry_after_past_the_deadline(retry_after);
    }
}

fn retry_after_past_the_deadline(retry_after: &str) {
    let server = serve(alpha(3).fault(2, 1, FaultKind::RetryAfter(429, retry_after.into())));
    let outcome = run(&config(&server, json!({"deadline_ms": 1500})));
    assert!(
        outcome.elapsed < Duration::from_millis(1500),
        "run took {:?}: it waited instead of stopping",
        outcome.elapsed
    );
    assert_eq!(attempts(&server, "alpha"), per_page(&[(1, 1), (2, 1)]));
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "deadline");
    let reason = src["stop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("deadline: the server's Retry-After of "),
        "the stop reason says what was not waited for: {reason}"
    );
    assert_eq!(src["stopped_at_url"], json!(url_of(&server, "alpha", 2)));
    assert_eq!(
        counters(src),
        want(&[
            ("requests", 2),
            ("pages", 1),
            ("responses.200", 1),
            ("responses.429", 1)
        ])
    );
    let waits = &src["waits_ms"];
    assert_eq!(
        (n(waits, "retry_after"), n(waits, "backoff")),
        (0, 0),
        "no wait was started: {waits}"
    );
    assert_eq!(outcome.exit_code(), 3);
    assert_received(&outcome, &server, "alpha", [1]);
}
