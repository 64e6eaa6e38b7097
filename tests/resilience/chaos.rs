//! Chaos and interrupts.

use super::*;

/// Everything the mock answered well is in the output, every page it never
/// answered well is listed as failed, and nothing else.
#[test]
fn nothing_is_lost_in_chaos() {
    let mut scenario = Scenario::chaos(SEED, 8, 10);
    // Flat items everywhere: this test is about what the fetch path loses,
    // so record keys must not depend on the normalizer's shape handling.
    for source in &mut scenario.sources {
        source.shape = Shape::Flat;
    }
    let server = MockServer::start(scenario).unwrap();
    // The slow page (1.5 s) must stay under read_ms however loaded the
    // machine, or a page the mock served well would be cut by the client.
    let patient = json!({"timeouts": {"connect_ms": 5000, "read_ms": 15000}});
    let outcome = run(&config(&server, patient));
    assert_eq!(outcome.exit_code(), 3, "chaos loses pages");
    let log = server.requests();
    for source in &server.scenario().sources {
        let name = source.name.as_str();
        // A good answer: a complete 200 or 204 whose scripted fault (if
        // any) does not fail (Delay stays under read_ms here).
        let good = |r: &LoggedRequest| {
            matches!(r.outcome, Served::Status(200 | 204))
                && source
                    .fault_for(r.page, r.attempt)
                    .and_then(FaultKind::failure)
                    .is_none()
        };
        let mut good_pages: Vec<usize> = Vec::new();
        let mut requested: Vec<usize> = Vec::new();
        for r in log.iter().filter(|r| r.source == name) {
            if !requested.contains(&r.page) {
                requested.push(r.page);
            }
            if good(r) {
                assert!(
                    !good_pages.contains(&r.page),
                    "{name}: page {} fetched after a good answer",
                    r.page
                );
                good_pages.push(r.page);
            }
        }
        let lost: Vec<usize> = requested
            .iter()
            .copied()
            .filter(|p| !good_pages.contains(p))
            .collect();
        assert_eq!(
            lost,
            source.lost_pages(4),
            "{name}: pages never answered well"
        );
        let src = outcome.source(name);
        let lost_urls: BTreeSet<String> = lost.iter().map(|&p| url_of(&server, name, p)).collect();
        let listed: BTreeSet<String> = strings(&src["failed_page_urls"]).into_iter().collect();
        assert_eq!(listed, lost_urls, "{name}: failed_page_urls");
        assert_eq!(n(src, "failed_pages"), lost.len() as u64, "{name}");
        assert_eq!(
            src["status"], "complete",
            "{name}: every lost page stepped over: {src:#}"
        );
        assert_received(&outcome, &server, name, good_pages);
    }
}

/// An interrupt stops a slow source within a second, keeps what arrived,
/// writes both outputs, and leaves finished sources as they were.
#[test]
fn an_interrupt_stops_promptly_and_keeps_what_arrived() {
    let scenario = Scenario::new(SEED)
        .with(MockSource::new("alpha", Style::Page, 200, 2))
        .with(MockSource::new("beta", Style::None, 1, IPP).shape(Shape::Flat));
    let server = MockServer::start(scenario).unwrap();
    let config = config(
        &server,
        json!({"rate_limit": {"per_second": 20, "burst": 1}}),
    );
    let interrupted_at = OnceLock::new();
    let outcome = run_with(&config, |control| {
        std::thread::sleep(Duration::from_millis(200));
        interrupted_at.set(Instant::now()).unwrap();
        control.interrupt();
    });
    let after = Instant::now() - *interrupted_at.get().unwrap();
    assert!(
        after < Duration::from_millis(1500),
        "ended {after:?} after the interrupt"
    );
    assert_eq!(outcome.exit_code(), 130);
    assert_eq!(outcome.summary["status"], "interrupted");
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "interrupted");
    assert!(src["stopped_at_url"].is_string(), "{src:#}");
    assert_eq!(outcome.source("beta")["status"], "complete");
    assert!(
        n(src, "records") > 0,
        "what arrived before the interrupt is kept"
    );
    assert!(
        attempts(&server, "alpha").len() < 200,
        "the slow source was stopped early"
    );
}

/// An interrupt also cuts a request in flight: a server that never answers
/// cannot hold the run (read_ms is far beyond the test).
#[test]
fn an_interrupt_cuts_a_request_in_flight() {
    let server = serve(alpha(3).faults_for_every_attempt(2, FaultKind::Hang));
    let config = config(&server, json!({"timeouts": {"read_ms": 10000}}));
    let interrupted_at = OnceLock::new();
    let outcome = run_with(&config, |control| {
        // Wait until the hanging request has reached the mock.
        let give_up = Instant::now() + Duration::from_secs(5);
        while !server.requests().iter().any(|r| r.page == 2) {
            assert!(Instant::now() < give_up, "page 2 was never requested");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        interrupted_at.set(Instant::now()).unwrap();
        control.interrupt();
    });
    let after = Instant::now() - *interrupted_at.get().unwrap();
    assert!(
        after < Duration::from_secs(1),
        "ended {after:?} after the interrupt"
    );
    assert_eq!(outcome.exit_code(), 130);
    let src = outcome.source("alpha");
    assert_eq!(src["status"], "interrupted");
    assert_eq!(attempts(&server, "alpha"), per_page(&[(1, 1), (2, 1)]));
    assert_eq!(src["stopped_at_url"], json!(url_of(&server, "alpha", 2)));
    let got = counters(src);
    assert!(
        !got.keys().any(|k| k.starts_with("errors.")),
        "a cut is not the server's failure: {got:?}"
    );
    assert_received(&outcome, &server, "alpha", [1]);
}
