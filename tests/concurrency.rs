//! SPEC §13: requests of one source in flight at once. A `page` or
//! `offset` source fetches ahead — with a total up to its last page,
//! without one speculatively — and writes what it writes one request at a
//! time, on every style and through chaos; its speculation past the end
//! is bounded and never a failure; all its requests share one bucket; a
//! cut run resumes at the first page it did not finish.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Shape, Style};

use crate::support::{comparable, n, parse_fast, run, run_with_state, OutDir};

const SEED: u64 = 1313;

/// `server`'s config over the fast policies, every source at
/// `concurrency`, `extra` merged into each source.
fn at(server: &MockServer, concurrency: u32, extra: Value) -> ingest::Config {
    let mut doc = server.config_json();
    for source in doc["sources"].as_array_mut().unwrap() {
        source["concurrency"] = json!(concurrency);
        for (k, v) in extra.as_object().unwrap() {
            source[k] = v.clone();
        }
    }
    parse_fast(doc)
}

#[test]
fn fetching_ahead_writes_what_one_request_at_a_time_writes_on_every_style() {
    for style in [
        Style::Page,
        Style::Offset,
        Style::Cursor,
        Style::NextUrl,
        Style::LinkHeader,
        Style::PageCount,
        Style::XPagination,
        Style::XTotalCount,
        Style::JsonApi,
        Style::StartingAfter,
    ] {
        let server = || {
            MockServer::start(Scenario::new(SEED).with(MockSource::new("s", style, 9, 7))).unwrap()
        };
        let one = run(&at(&server(), 1, json!({})));
        assert_eq!(one.summary["status"], "complete", "{style:?}");
        let many = run(&at(&server(), 8, json!({})));
        assert_eq!(comparable(&many), comparable(&one), "{style:?}");
        let s = many.only();
        assert!(n(s, "speculative_requests") <= 7, "{style:?}: {s:#}");
        assert_eq!(
            n(s, "requests"),
            n(one.only(), "requests") + n(s, "speculative_requests"),
            "{style:?}: the pages past the end are the only extra requests"
        );
    }
}

#[test]
fn fetching_ahead_writes_what_one_request_at_a_time_writes_through_chaos() {
    // A server each: the mock's faults go by each page's attempt count.
    let server = || {
        let mut scenario = Scenario::chaos(SEED, 8, 10);
        for source in &mut scenario.sources {
            source.shape = Shape::Flat;
        }
        MockServer::start(scenario).unwrap()
    };
    let patient = json!({"timeouts": {"connect_ms": 5000, "read_ms": 15000}});
    // Each run's summary, its server's address taken out of its URLs.
    let summary = |concurrency: u32| {
        let server = server();
        let o = run(&at(&server, concurrency, patient.clone()));
        let (lines, summary) = comparable(&o);
        let text = summary.to_string().replace(&server.base_url(), "BASE");
        (
            o.summary["status"].clone(),
            lines,
            serde_json::from_str::<Value>(&text).unwrap(),
        )
    };
    let (status, one_lines, one) = summary(1);
    let (_, many_lines, many) = summary(6);
    assert_eq!(status, "partial", "chaos loses pages");
    assert_eq!(many_lines, one_lines, "the same records");
    // What was fetched and what it made. (How often the shared breaker
    // opened, and a retry after a pooled connection the server had cut,
    // go by how the requests interleaved: not compared.)
    for (name, source) in one.as_object().unwrap() {
        for key in [
            "status",
            "stop_reason",
            "pages",
            "failed_pages",
            "failed_page_urls",
            "failed_page_errors",
            "items",
            "records",
            "invalid",
            "duplicates",
            "invalid_reasons",
            "warnings",
            "stopped_at_url",
        ] {
            assert_eq!(many[name][key], source[key], "{name}.{key}");
        }
    }
}

#[test]
fn speculation_is_bounded_and_a_total_stops_it() {
    // No total: the end is an empty page (204), found by speculation.
    let server =
        MockServer::start(Scenario::new(SEED).with(MockSource::new("s", Style::Page, 10, 5)))
            .unwrap();
    let o = run(&at(&server, 8, json!({})));
    let s = o.only();
    assert_eq!(o.summary["status"], "complete");
    assert_eq!((n(s, "failed_pages"), n(s, "pages")), (0, 11));
    let speculative = n(s, "speculative_requests");
    assert!((1..=7).contains(&speculative), "{speculative}");
    assert_eq!(o.exit_code(), 0, "a page past the end is no failure");
    // DRF's count: once the first page says there are 10 pages, none past
    // them is asked for (the server would answer 404).
    let server =
        MockServer::start(Scenario::new(SEED).with(MockSource::new("s", Style::PageCount, 10, 5)))
            .unwrap();
    let o = run(&at(&server, 8, json!({})));
    assert_eq!(o.summary["status"], "complete");
    assert_eq!(n(o.only(), "speculative_requests"), 0);
    assert_eq!(n(o.only(), "requests"), 10);
    assert!(server.requests().iter().all(|r| r.page <= 10));
}

#[test]
fn requests_in_flight_reach_concurrency_through_one_bucket() {
    let server = MockServer::start(
        Scenario::new(SEED)
            .with(MockSource::new("s", Style::Page, 40, 5).latency(Duration::from_millis(30))),
    )
    .unwrap();
    let (per_second, burst) = (200.0, 4.0);
    let started = Instant::now();
    let o = run(&at(
        &server,
        4,
        json!({"rate_limit": {"per_second": per_second, "burst": burst}}),
    ));
    assert_eq!(o.summary["status"], "complete");
    let peak = server.peak_in_flight("s");
    assert!((2..=4).contains(&peak), "in flight at once: {peak}");
    let mut times: Vec<Instant> = server.requests().iter().map(|r| r.at).collect();
    times.sort();
    for (i, start) in times.iter().enumerate() {
        for (j, end) in times.iter().enumerate().skip(i) {
            let span = end.duration_since(*start).as_secs_f64();
            assert!(
                (j - i + 1) as f64 <= burst + per_second * span + 1.0,
                "{} requests in {span:.3} s",
                j - i + 1
            );
        }
    }
    let _ = started;
}

#[test]
fn a_cut_run_fetching_ahead_resumes_at_the_first_page_it_did_not_finish() {
    let server = MockServer::start(
        Scenario::new(SEED)
            .with(MockSource::new("p", Style::Page, 60, 5).shape(Shape::Flat))
            .with(MockSource::new("o", Style::Offset, 60, 5).shape(Shape::Flat)),
    )
    .unwrap();
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let state = dir.0.join("state.json");
    let mut cut = at(
        &server,
        4,
        json!({"rate_limit": {"per_second": 40, "burst": 1}}),
    );
    cut.set_deadline(Duration::from_millis(800), ingest::DeadlineFrom::Config);
    let first = run_with_state(&cut, &state, |_| {});
    assert_eq!(first.summary["status"], "partial");
    let second = run_with_state(&at(&server, 4, json!({})), &state, |_| {});
    assert_eq!(second.summary["status"], "complete");
    let whole = run(&at(&server, 1, json!({})));
    // (The mock's data repeats some ids across pages by design: a key
    // the first run wrote may come again in the second.)
    let mut together: BTreeSet<String> = first.keys();
    together.extend(second.keys());
    for name in ["p", "o"] {
        let resumed = &second.source(name)["resumed_from"];
        assert!(!resumed.is_null(), "{name} resumed where it stopped");
    }
    assert_eq!(together, whole.keys());
}

/// A `Retry-After` told to one request of a source holds every request of
/// it: partitions walked at once, one of them told to wait 0.4 s, and
/// nothing else of the source is sent until it has passed.
#[test]
fn a_retry_after_holds_every_request_of_the_source() {
    use crate::support::scripted::Scripted;
    use std::sync::{Arc, Mutex};
    let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let seen = Arc::clone(&arrivals);
    let told = Arc::new(Mutex::new(false));
    let server = Scripted::start(move |target| {
        seen.lock()
            .unwrap()
            .push((target.to_string(), Instant::now()));
        let mut told = told.lock().unwrap();
        if target.starts_with("/r/c") && !*told {
            *told = true;
            return (429, vec![("Retry-After".into(), "0.4".into())], "{}".into());
        }
        drop(told);
        // Slow answers: the other partitions are not all done before the
        // pause would have ended.
        std::thread::sleep(Duration::from_millis(30));
        let item = json!([{"id": target, "name": "x", "price": 1}]);
        (200, Vec::new(), item.to_string())
    });
    let values: Vec<String> = ('a'..='t').map(String::from).collect();
    let config = parse_fast(json!({"sources": [{
        "name": "r", "url": format!("{}/r/{{region}}", server.base()),
        "partitions": {"name": "region", "values": values},
        "concurrency": 4,
    }]}));
    let o = run(&config);
    assert_eq!(o.summary["status"], "complete");
    assert_eq!(n(o.only(), "records"), 20);
    let arrivals = arrivals.lock().unwrap().clone();
    let at_429 = arrivals
        .iter()
        .find(|(t, _)| t == "/r/c")
        .map(|(_, at)| *at)
        .unwrap();
    let held: Vec<(&String, f64)> = arrivals
        .iter()
        .filter(|(_, at)| {
            *at > at_429 + Duration::from_millis(20) && *at < at_429 + Duration::from_millis(380)
        })
        .map(|(t, at)| (t, at.duration_since(at_429).as_secs_f64()))
        .collect();
    // The server answers one request at a time: the other workers'
    // requests already sent when the 429 went out (3 at most) are served
    // after it; none is sent after it.
    assert!(held.len() <= 3, "sent during the Retry-After: {held:?}");
}

/// Arrival times at the mock of source `name`'s requests, with their page.
fn arrivals(server: &MockServer, name: &str) -> Vec<(usize, Instant)> {
    let mut log: Vec<(usize, Instant)> = server
        .requests()
        .iter()
        .filter(|r| r.source == name)
        .map(|r| (r.page, r.at))
        .collect();
    log.sort_by_key(|(_, at)| *at);
    log
}

/// The holds are looked at again after a wait for a token: at a rate
/// that makes requests wait for tokens, a `Retry-After` told to one
/// request stops the others that were waiting for theirs.
#[test]
fn a_retry_after_holds_requests_that_were_waiting_for_a_token() {
    use testsupport::FaultKind;
    let server = MockServer::start(Scenario::new(SEED).with(
        MockSource::new("s", Style::Page, 24, 5).fault(
            3,
            1,
            FaultKind::RetryAfter(429, "0.6".into()),
        ),
    ))
    .unwrap();
    let o = run(&at(
        &server,
        8,
        json!({"rate_limit": {"per_second": 20, "burst": 2}}),
    ));
    assert_eq!(o.summary["status"], "complete");
    let told = server
        .requests()
        .iter()
        .find(|r| r.page == 3 && r.attempt == 1)
        .and_then(|r| r.finished)
        .expect("page 3's 429");
    let held: Vec<(usize, f64)> = arrivals(&server, "s")
        .into_iter()
        .filter(|(_, at)| {
            *at > told + Duration::from_millis(150) && *at < told + Duration::from_millis(540)
        })
        .map(|(page, at)| (page, at.duration_since(told).as_secs_f64()))
        .collect();
    assert!(held.is_empty(), "sent during the Retry-After: {held:?}");
}

/// An open breaker holds every request of the source for its cooldown,
/// and then one probe goes out, not `concurrency` of them.
#[test]
fn an_open_breaker_holds_every_slot_and_lets_one_probe_through() {
    use testsupport::FaultKind;
    let mut source = MockSource::new("s", Style::Page, 12, 5);
    // The server is down for everyone's first two attempts.
    for page in 1..=12 {
        source =
            source
                .fault(page, 1, FaultKind::Status(503))
                .fault(page, 2, FaultKind::Status(503));
    }
    let server = MockServer::start(Scenario::new(SEED).with(source)).unwrap();
    let cooldown = Duration::from_millis(700);
    let o = run(&at(
        &server,
        6,
        json!({
            "breaker": {"failure_threshold": 3, "cooldown_ms": 700},
            "retry": {"max_retries": 6, "base_delay_ms": 5, "max_delay_ms": 10},
        }),
    ));
    assert_eq!(o.summary["status"], "complete", "{:#}", o.only());
    let log = arrivals(&server, "s");
    // The third 503's answer opened the breaker (the client saw it after).
    let opened = server
        .requests()
        .iter()
        .filter_map(|r| r.finished)
        .min()
        .unwrap();
    let (quiet_from, probe_at) = (opened + Duration::from_millis(200), opened + cooldown);
    let during: Vec<f64> = log
        .iter()
        .filter(|(_, at)| *at > quiet_from && *at < probe_at - Duration::from_millis(100))
        .map(|(_, at)| at.duration_since(opened).as_secs_f64())
        .collect();
    assert!(
        during.is_empty(),
        "sent while the breaker was open: {during:?}"
    );
    let probes = log
        .iter()
        .filter(|(_, at)| {
            *at >= probe_at - Duration::from_millis(100)
                && *at < probe_at + Duration::from_millis(500)
        })
        .count();
    assert_eq!(probes, 1, "one probe at half-open: {log:?}");
}

/// An offset server that sends fewer items than `limit` asks: the pages
/// ahead are named by what it sent, not by `limit`.
#[test]
fn offsets_ahead_step_by_what_the_server_sent() {
    let server = || {
        MockServer::start(Scenario::new(SEED).with(MockSource::new("o", Style::Offset, 20, 10)))
            .unwrap()
    };
    let capped = |server: &MockServer, concurrency: u32| {
        let mut doc = server.config_json();
        let pagination = &mut doc["sources"][0]["pagination"];
        pagination["limit_param"] = json!("limit");
        pagination["limit"] = json!(100);
        doc["sources"][0]["concurrency"] = json!(concurrency);
        run(&parse_fast(doc))
    };
    let one = capped(&server(), 1);
    let many = capped(&server(), 8);
    assert_eq!(comparable(&many), comparable(&one));
    let s = many.only();
    assert!(n(s, "speculative_requests") <= 7, "{s:#}");
}

/// `max_pages` bounds what is fetched ahead too.
#[test]
fn fetching_ahead_stops_at_max_pages() {
    let server =
        MockServer::start(Scenario::new(SEED).with(MockSource::new("s", Style::Page, 30, 5)))
            .unwrap();
    let o = run(&at(&server, 8, json!({"max_pages": 5})));
    assert_eq!(o.only()["status"], "max_pages");
    assert_eq!(n(o.only(), "requests"), 5);
    assert!(server.requests().iter().all(|r| r.page <= 5));
}

/// A quota announced on every answer is never exceeded by requests in
/// flight at once: the first request of a window goes alone to learn
/// what is left, the source counts that against what it still has in
/// flight (answers coming back in any order only lower it), and waits for
/// the reset at 0.
#[test]
fn requests_in_flight_never_exceed_an_announced_quota() {
    use testsupport::{Quota, QuotaFamily};
    for family in [
        QuotaFamily::GitHub,
        QuotaFamily::Draft,
        QuotaFamily::RateLimit,
    ] {
        let server = MockServer::start(
            Scenario::new(SEED).with(
                MockSource::new("s", Style::Page, 14, 5)
                    .latency(Duration::from_millis(10))
                    .quota(Quota::new(family, 5, Duration::from_millis(300))),
            ),
        )
        .unwrap();
        let o = run(&at(&server, 8, json!({})));
        assert_eq!(o.summary["status"], "complete", "{family:?}");
        assert_eq!(server.quota_refusals("s"), 0, "{family:?}: {:#}", o.only());
    }
}
