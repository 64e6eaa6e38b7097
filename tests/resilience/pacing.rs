//! Pacing.

use super::*;

/// In any window of t seconds at most `burst + per_second × t` requests,
/// retries included, checked on every window of the mock's log.
#[test]
fn requests_never_outpace_the_token_bucket() {
    const PER_SECOND: f64 = 50.0;
    const BURST: usize = 5;
    let server = serve(
        MockSource::new("alpha", Style::Page, 40, 2)
            .fault(10, 1, FaultKind::Status(503))
            .fault(20, 1, FaultKind::Status(503))
            .fault(30, 1, FaultKind::Status(503)),
    );
    let outcome = run(&config(
        &server,
        json!({"rate_limit": {"per_second": PER_SECOND, "burst": BURST}}),
    ));
    assert_eq!(outcome.source("alpha")["status"], "complete");
    let log = server.requests();
    assert_eq!(log.len(), 44, "40 pages, 3 retries and the 204");
    // The log holds arrival times, not token times: a request that spent
    // longer in transit than a later one shrinks the window it starts. One
    // request of slack (20 ms at 50/s) covers that loopback jitter and the
    // timer granularity of the bucket's refill.
    const SLACK: f64 = 1.0;
    for i in 0..log.len() {
        for j in i + 1..log.len() {
            let t = (log[j].at - log[i].at).as_secs_f64();
            let sent = (j - i + 1) as f64;
            let allowed = BURST as f64 + PER_SECOND * t + SLACK;
            assert!(
                sent <= allowed,
                "{sent} requests in {t:.3} s (requests {i}..={j}), allowed {allowed:.2}"
            );
        }
    }
    // A lower bound on the whole run is never flaky.
    let floor = (log.len() - BURST) as f64 / PER_SECOND * 0.9;
    assert!(
        outcome.elapsed.as_secs_f64() >= floor,
        "run took {:?}, the bucket allows no less than {floor:.3} s",
        outcome.elapsed
    );
    assert!(n(&outcome.source("alpha")["waits_ms"], "rate_limit") > 0);
}
