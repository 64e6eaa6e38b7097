use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ingest::aggregate::Stats;
use ingest::control::RunControl;
use ingest::fetch::{client, Fetcher};
use serde_json::json;
use testsupport::{MockServer, MockSource, Scenario, Style};

use crate::support::{config_with, invalid_reasons, n, run};

#[test]
fn clean_run_writes_exactly_the_valid_keys_the_mock_served() {
    let server = MockServer::start(Scenario::clean(7, 6, 25)).unwrap();
    let outcome = run(&config_with(&server, json!({})));
    assert_eq!(outcome.exit_code(), 0);
    assert_eq!(outcome.summary["status"], "complete");
    let truth = server.truth();
    let mut expected_all = testsupport::Expected::default();
    for source in &truth.sources {
        let expected = source.expected_all();
        let got = outcome.source(&source.name);
        assert_eq!(got["status"], "complete", "{}", source.name);
        assert_eq!(n(got, "items"), expected.items, "{} items", source.name);
        assert_eq!(
            n(got, "duplicates"),
            expected.duplicates,
            "{} duplicates",
            source.name
        );
        let want_invalid: BTreeMap<String, u64> = expected
            .invalid
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        assert_eq!(
            invalid_reasons(got),
            want_invalid,
            "{} invalid reasons",
            source.name
        );
        assert!(
            expected.duplicates > 0 && expected.invalid_total() > 0,
            "the mock serves both"
        );
        expected_all.merge(expected);
    }
    assert_eq!(
        outcome.keys(),
        expected_all.keys,
        "record keys == valid keys served"
    );
}

#[test]
fn same_seed_twice_gives_identical_counters_and_records() {
    let once = || {
        let server = MockServer::start(Scenario::demo(11, 4, 15)).unwrap();
        let outcome = run(&config_with(&server, json!({})));
        let mut lines: Vec<String> = outcome.records.iter().map(|r| r.to_string()).collect();
        lines.sort();
        let mut summary = outcome.summary.clone();
        for volatile in ["started_at", "duration_ms"] {
            summary.as_object_mut().unwrap().remove(volatile);
        }
        for source in summary["sources"].as_object_mut().unwrap().values_mut() {
            let source = source.as_object_mut().unwrap();
            source.remove("latency_ms");
            source.remove("waits_ms");
        }
        (lines, summary)
    };
    let (first_lines, first_summary) = once();
    let (second_lines, second_summary) = once();
    assert_eq!(first_lines, second_lines);
    // URLs carry the ephemeral port; compare everything else.
    let strip = |v: &serde_json::Value| v.to_string().replace(char::is_numeric, "#");
    assert_eq!(first_summary["totals"], second_summary["totals"]);
    for (name, a) in first_summary["sources"].as_object().unwrap() {
        let b = &second_summary["sources"][name];
        for key in [
            "status",
            "requests",
            "pages",
            "retries",
            "items",
            "records",
            "invalid",
            "duplicates",
            "responses",
            "errors",
            "invalid_reasons",
            "retries_by_cause",
            "breaker_opens",
        ] {
            assert_eq!(a[key], b[key], "{name}.{key}");
        }
        assert_eq!(strip(&a["failed_page_urls"]), strip(&b["failed_page_urls"]));
    }
}

/// Every style fetches each page exactly once and detects its end.
#[test]
fn every_pagination_style_reaches_its_end_fetching_each_page_once() {
    let styles = [
        (Style::Page, 1),
        (Style::Offset, 0),
        (Style::Cursor, 0),
        (Style::NextUrl, 0),
        (Style::LinkHeader, 0),
        (Style::None, 0),
    ];
    for (style, end_request) in styles {
        let pages = if style == Style::None { 1 } else { 5 };
        let name = format!("{style:?}").to_lowercase();
        let server =
            MockServer::start(Scenario::new(3).with(MockSource::new(&name, style, pages, 8)))
                .unwrap();
        let outcome = run(&config_with(&server, json!({})));
        let source = outcome.source(&name);
        assert_eq!(source["status"], "complete", "{name}: {source:#}");
        assert_eq!(outcome.exit_code(), 0, "{name}");
        let log = server.requests();
        let mut per_page: BTreeMap<usize, usize> = BTreeMap::new();
        for r in &log {
            *per_page.entry(r.page).or_default() += 1;
        }
        let want: BTreeMap<usize, usize> = (1..=pages + end_request).map(|p| (p, 1)).collect();
        assert_eq!(per_page, want, "{name}: requests per page");
        assert_eq!(n(source, "requests"), log.len() as u64, "{name}");
        assert_eq!(
            n(source, "pages"),
            log.len() as u64,
            "{name}: every request was a page"
        );
        let truth = server.truth();
        let expected = truth.source(&name).unwrap().expected_all();
        assert_eq!(
            n(source, "items"),
            expected.items,
            "{name}: every item of every page"
        );
        assert!(source["stopped_at_url"].is_null(), "{name}");
    }
}

/// A slow consumer makes the fetcher block: the channel never holds more
/// than its capacity, and the fetcher never runs further ahead than one
/// page beyond what the channel can hold.
#[test]
fn a_slow_consumer_blocks_the_fetcher_at_the_channel_capacity() {
    const CAPACITY: usize = 5;
    const PER_PAGE: usize = 4;
    let server = MockServer::start(Scenario::new(5).with(MockSource::new(
        "alpha",
        Style::Page,
        12,
        PER_PAGE,
    )))
    .unwrap();
    let config = config_with(&server, json!({ "queue_capacity": CAPACITY }));
    let control = RunControl::new(Instant::now() + Duration::from_secs(30));
    let stats = Arc::new(Mutex::new(Stats::new(["alpha"])));
    let (tx, rx) = crossbeam_channel::bounded(config.queue_capacity);
    std::thread::scope(|s| {
        let fetcher = Fetcher::new(0, &config, client::agent(), &control, Arc::clone(&stats), 1);
        s.spawn(move || fetcher.run(tx));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !rx.is_full() {
            assert!(
                Instant::now() < deadline,
                "the fetcher never filled the channel"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut consumed = 0;
        loop {
            std::thread::sleep(Duration::from_millis(2));
            assert!(rx.len() <= CAPACITY);
            let requested = server.requests().len();
            assert!(
                (requested - 1) * PER_PAGE <= consumed + CAPACITY,
                "fetched {requested} pages with only {consumed} items consumed"
            );
            match rx.recv() {
                Ok(_) => consumed += 1,
                Err(_) => break,
            }
        }
        assert_eq!(consumed, 12 * PER_PAGE);
    });
    assert_eq!(stats.lock().unwrap().sources[0].status.as_str(), "complete");
}

/// A next link to another host gets no credentials: secret headers go only
/// to the origin they were configured for.
#[test]
fn secret_headers_never_follow_a_next_link_to_another_origin() {
    use std::sync::mpsc;
    let other = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let other_url = format!(
        "http://127.0.0.1:{}/more",
        other.server_addr().to_ip().unwrap().port()
    );
    let home = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let home_url = format!(
        "http://127.0.0.1:{}/first",
        home.server_addr().to_ip().unwrap().port()
    );
    let (seen_tx, seen_rx) = mpsc::channel();
    std::thread::scope(|s| {
        for (server, body) in [
            (
                &home,
                json!({"data": [{"id": 1, "price": 1}], "next": other_url}).to_string(),
            ),
            (
                &other,
                json!({"data": [{"id": 2, "price": 2}], "next": null}).to_string(),
            ),
        ] {
            let seen_tx = seen_tx.clone();
            s.spawn(move || {
                let request = server
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap()
                    .unwrap();
                let header = |name: &'static str| {
                    request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv(name))
                        .map(|h| h.value.to_string())
                };
                seen_tx
                    .send((
                        request.url().to_string(),
                        header("Authorization"),
                        header("Accept"),
                    ))
                    .unwrap();
                request
                    .respond(tiny_http::Response::from_string(body))
                    .unwrap();
            });
        }
        let config = ingest::config::Config::parse(
            "test",
            &json!({ "sources": [{ "name": "s", "url": home_url,
                "pagination": { "style": "next_url" },
                "headers": { "Authorization": "Bearer s3cret", "Accept": "application/json" } }] })
            .to_string(),
        )
        .unwrap();
        let outcome = run(&config);
        assert_eq!(outcome.records.len(), 2);
    });
    drop(seen_tx);
    let seen: BTreeMap<String, (Option<String>, Option<String>)> = seen_rx
        .iter()
        .map(|(path, auth, accept)| (path, (auth, accept)))
        .collect();
    let json = Some("application/json".to_string());
    assert_eq!(
        seen["/first"],
        (Some("Bearer s3cret".to_string()), json.clone())
    );
    assert_eq!(
        seen["/more"],
        (None, json),
        "no credentials for another origin"
    );
}
