use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ingest::Live;
use ingest::Message;
use ingest::RunControl;
use ingest::{Fetcher, Shared, SourceOutcome};
use serde_json::json;
use testsupport::{ItemTruth, MockServer, MockSource, Scenario, Style};

use crate::support::{config_with, invalid_reasons, n, run, Outcome};

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
        // The demo's slow page (1.5 s) must never meet read_ms, however
        // loaded the machine: a timeout would add a request.
        let patient = json!({"timeouts": {"connect_ms": 5000, "read_ms": 15000}});
        let outcome = run(&config_with(&server, patient));
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
    let (tx, rx) = ingest::queue(config.queue_capacity);
    let outcome = std::thread::scope(|s| {
        let fetcher = Fetcher::new(0, &config, shared(&control, &config), 1);
        let running = s.spawn(move || fetcher.run(tx));
        let deadline = Instant::now() + Duration::from_secs(10);
        // A page's batch waits; the next page's does not fit beside it.
        while rx.queued_items() < PER_PAGE {
            assert!(
                Instant::now() < deadline,
                "the fetcher never filled the queue"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut consumed = 0;
        loop {
            std::thread::sleep(Duration::from_millis(2));
            assert!(rx.queued_items() <= CAPACITY);
            let requested = server.requests().len();
            assert!(
                (requested - 1) * PER_PAGE <= consumed + CAPACITY,
                "fetched {requested} pages with only {consumed} items consumed"
            );
            match rx.recv() {
                Some(Message::Batch(batch)) => consumed += batch.items.len(),
                Some(Message::SourceEnded { .. }) => panic!("a fetcher alone says no end"),
                None => break,
            }
        }
        assert_eq!(consumed, 12 * PER_PAGE);
        running.join().unwrap()
    });
    assert_eq!(outcome.status.as_str(), "complete");
}

/// What a fetcher under test shares: its own agent and progress board.
fn shared<'a>(control: &'a RunControl, config: &ingest::Config) -> Shared<'a> {
    Shared {
        agent: ingest::agent(),
        control,
        redactor: Default::default(),
        board: Arc::new(Mutex::new(vec![Live::default()])),
        tokens: Default::default(),
        gates: Arc::new(ingest::Gates::for_config(config)),
    }
}

/// A fetcher blocked on a full channel still stops at the deadline or an
/// interrupt (a huge page must not keep a run alive past either), also
/// when the consumer is slow but steady: its source ends `deadline` /
/// `interrupted`, stopped at the page it could not hand over in full.
#[test]
fn a_fetcher_blocked_on_a_full_channel_stops_at_the_deadline_or_an_interrupt() {
    const CAPACITY: usize = 5;
    const ITEMS: usize = 400;
    // (interrupt instead of deadline, consume one item every 10 ms)
    for (interrupt, trickle) in [(false, false), (false, true), (true, false), (true, true)] {
        let server = MockServer::start(Scenario::new(5).with(MockSource::new(
            "alpha",
            Style::Page,
            2,
            ITEMS,
        )))
        .unwrap();
        let config = config_with(&server, json!({ "queue_capacity": CAPACITY }));
        let far = Instant::now() + Duration::from_secs(600);
        let soon = Instant::now() + Duration::from_secs(2);
        let control = RunControl::new(if interrupt { far } else { soon });
        let (tx, rx) = ingest::queue(config.queue_capacity);
        let (consumed, source): (usize, SourceOutcome) = std::thread::scope(|s| {
            let fetcher = Fetcher::new(0, &config, shared(&control, &config), 1);
            let running = s.spawn(move || fetcher.run(tx));
            let waited = Instant::now();
            while rx.queued_items() < CAPACITY {
                assert!(waited.elapsed() < Duration::from_secs(10), "never filled");
                std::thread::sleep(Duration::from_millis(5));
            }
            if interrupt {
                control.interrupt();
            }
            // The whole page would take 4 s to trickle through; the fetcher
            // must be done long before, at the deadline or the interrupt.
            let mut consumed = 0;
            while !running.is_finished() && waited.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(10));
                if let Some(Message::Batch(batch)) = trickle.then(|| rx.try_recv()).flatten() {
                    // Still one item every 10 ms, whatever the batch size.
                    let n = batch.items.len();
                    consumed += n;
                    std::thread::sleep(Duration::from_millis(10) * (n as u32 - 1));
                }
            }
            let stopped = running.is_finished();
            while rx.recv().is_some() {} // unblocks a fetcher that did not stop
            assert!(stopped, "the fetcher kept going past the stop");
            (consumed, running.join().unwrap())
        });
        assert!(
            consumed + CAPACITY < ITEMS,
            "cut short: {consumed} consumed"
        );
        let want = if interrupt { "interrupted" } else { "deadline" };
        assert_eq!(source.status.as_str(), want, "trickle {trickle}");
        assert_eq!(source.counts.pages, 1);
        let stopped_at = source.stopped_at.as_ref().map_or("", |r| r.url.as_str());
        assert!(stopped_at.contains("page=1"), "{stopped_at}");
    }
}

/// A tiny_http server answering `answers` in order (status, Location,
/// body) and recording each request's path and headers (with the method
/// under `:method` and the body under `:body`).
struct Scripted {
    server: tiny_http::Server,
}

type Seen = Vec<(String, BTreeMap<String, String>)>;

impl Scripted {
    /// Runs one source `s` at `path` on this server, which gives
    /// `answers`, with `policies` as the config's other top-level keys;
    /// returns the run and what the server saw.
    fn run_source(
        &self,
        path: &str,
        answers: Vec<(u16, Option<String>, String)>,
        policies: serde_json::Value,
    ) -> (Outcome, Seen) {
        let mut config = json!({ "sources": [{ "name": "s", "url": self.url(path) }] });
        for (key, value) in policies.as_object().unwrap() {
            config[key] = value.clone();
        }
        let config = ingest::Config::parse("test", &config.to_string()).unwrap();
        std::thread::scope(|s| {
            let serving = s.spawn(|| self.serve(answers));
            (run(&config), serving.join().unwrap())
        })
    }

    fn new() -> Self {
        Self {
            server: tiny_http::Server::http("127.0.0.1:0").unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}{path}",
            self.server.server_addr().to_ip().unwrap().port()
        )
    }

    fn serve(&self, answers: Vec<(u16, Option<String>, String)>) -> Seen {
        let mut seen = Vec::new();
        for (status, location, body) in answers {
            let mut request = self
                .server
                .recv_timeout(Duration::from_secs(10))
                .unwrap()
                .expect("a request");
            let mut headers: BTreeMap<String, String> = request
                .headers()
                .iter()
                .map(|h| {
                    (
                        h.field.as_str().as_str().to_ascii_lowercase(),
                        h.value.to_string(),
                    )
                })
                .collect();
            headers.insert(":method".into(), request.method().to_string());
            let mut sent = String::new();
            std::io::Read::read_to_string(request.as_reader(), &mut sent).unwrap();
            headers.insert(":body".into(), sent);
            seen.push((request.url().to_string(), headers));
            let mut response = tiny_http::Response::from_string(body).with_status_code(status);
            if let Some(location) = location {
                response.add_header(
                    tiny_http::Header::from_bytes("Location", location.as_bytes()).unwrap(),
                );
            }
            request.respond(response).unwrap();
        }
        seen
    }
}

/// Secret headers go only to the origin they were configured for: not to
/// another host a redirect or a next link points to. Relative next links
/// resolve against the page that answered, after redirects.
#[test]
fn secrets_stay_with_their_origin_across_redirects_and_next_links() {
    let (home, other) = (Scripted::new(), Scripted::new());
    let page = |id: u32, next: serde_json::Value| {
        json!({"data": [{"id": id, "price": 1}], "next": next}).to_string()
    };
    let (home_seen, other_seen) = std::thread::scope(|s| {
        let home_answers = vec![(200, None, page(1, json!(other.url("/elsewhere"))))];
        let other_answers = vec![
            (302, Some(other.url("/landing")), String::new()),
            (200, None, page(2, json!("second"))),
            (200, None, page(3, json!(null))),
        ];
        let home_thread = s.spawn(|| home.serve(home_answers));
        let other_thread = s.spawn(|| other.serve(other_answers));
        let config = ingest::Config::parse(
            "test",
            &json!({ "sources": [{ "name": "s", "url": home.url("/first"),
                "pagination": { "style": "next_url" },
                "headers": { "Authorization": "Bearer s3cret", "X-Api-Key": "k3y", "Accept": "application/json" } }] })
            .to_string(),
        )
        .unwrap();
        let outcome = run(&config);
        assert_eq!(outcome.records.len(), 3);
        assert_eq!(outcome.source("s")["status"], "complete");
        (home_thread.join().unwrap(), other_thread.join().unwrap())
    });
    let (path, headers) = &home_seen[0];
    assert_eq!(path, "/first");
    assert_eq!(
        headers.get("authorization").map(String::as_str),
        Some("Bearer s3cret")
    );
    assert_eq!(headers.get("x-api-key").map(String::as_str), Some("k3y"));
    let paths: Vec<&str> = other_seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["/elsewhere", "/landing", "/second"],
        "relative link resolved after the redirect"
    );
    for (path, headers) in &other_seen {
        assert!(
            !headers.contains_key("authorization"),
            "{path}: {headers:?}"
        );
        assert!(!headers.contains_key("x-api-key"), "{path}: {headers:?}");
        assert_eq!(
            headers.get("accept").map(String::as_str),
            Some("application/json"),
            "{path}"
        );
    }
}

/// Every request takes a token, redirect hops included: three hops at
/// 5 requests/s with a burst of 1 cannot take less than 0.6 s.
#[test]
fn redirect_hops_take_tokens_like_any_request() {
    let server = Scripted::new();
    let answers = vec![
        (302, Some(server.url("/b")), String::new()),
        (302, Some(server.url("/c")), String::new()),
        (307, Some("/d".to_string()), String::new()),
        (200, None, json!([{"id": 1, "price": 2}]).to_string()),
    ];
    let policies = json!({ "rate_limit": { "per_second": 5, "burst": 1 } });
    let (outcome, seen) = server.run_source("/a", answers, policies);
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/a", "/b", "/c", "/d"]);
    let source = outcome.source("s");
    assert_eq!(source["status"], "complete");
    assert_eq!(n(source, "requests"), 1, "one attempt, however many hops");
    assert_eq!(outcome.records.len(), 1);
    assert!(
        n(&source["waits_ms"], "rate_limit") >= 550,
        "{}",
        source["waits_ms"]
    );
}

/// The wait for a redirect hop's token is the rate limit's time, not the
/// server's: at 2 requests/s a hop waits 0.5 s, longer than this attempt's
/// whole `connect_ms + read_ms`, and the page still arrives.
#[test]
fn a_redirect_hop_waiting_for_its_token_is_not_a_timeout() {
    let server = Scripted::new();
    let answers = vec![
        (301, Some(server.url("/final")), String::new()),
        (200, None, json!([{"id": 1, "price": 2}]).to_string()),
    ];
    let policies = json!({ "rate_limit": { "per_second": 2, "burst": 1 },
                           "timeouts": { "connect_ms": 100, "read_ms": 200 } });
    let (outcome, seen) = server.run_source("/a", answers, policies);
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/a", "/final"]);
    let source = outcome.source("s");
    assert_eq!(source["status"], "complete", "{source:#}");
    assert_eq!(outcome.records.len(), 1);
}

/// Schemes are case-insensitive: a server's `HTTP://` Location is followed.
#[test]
fn an_upper_case_scheme_from_a_server_is_followed() {
    let server = Scripted::new();
    let upper = server.url("/final").replacen("http", "HTTP", 1);
    let answers = vec![
        (302, Some(upper), String::new()),
        (200, None, json!([{"id": 1, "price": 2}]).to_string()),
    ];
    let (outcome, seen) = server.run_source("/a", answers, json!({}));
    let paths: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/a", "/final"]);
    assert_eq!(outcome.source("s")["status"], "complete");
    assert_eq!(outcome.records.len(), 1);
}

/// Only http(s) URLs with a valid port are ever requested: a redirect to
/// port 99999 is a page given up (not retried), and a next link to
/// `javascript:` ends the source with `error`. Either way the run is
/// partial and nothing else is lost.
#[test]
fn redirects_and_next_links_to_other_schemes_are_never_followed() {
    let (redirecting, linking) = (Scripted::new(), Scripted::new());
    let (outcome, seen) = std::thread::scope(|s| {
        let redirects = s.spawn(|| {
            // ureq itself would send this to port 80 and retry.
            let location = "http://127.0.0.1:99999/x".to_string();
            redirecting.serve(vec![(302, Some(location), String::new())])
        });
        let links = s.spawn(|| {
            let page = json!({"data": [{"id": 1, "price": 2}], "next": "javascript:alert(1)"});
            linking.serve(vec![(200, None, page.to_string())])
        });
        let config = ingest::Config::parse(
            "test",
            &json!({ "sources": [
                { "name": "s", "url": redirecting.url("/p") },
                { "name": "n", "url": linking.url("/n"), "pagination": { "style": "next_url" } }],
                "retry": { "max_retries": 3, "base_delay_ms": 1, "max_delay_ms": 2 } })
            .to_string(),
        )
        .unwrap();
        let outcome = run(&config);
        (outcome, [redirects.join().unwrap(), links.join().unwrap()])
    });
    assert_eq!(seen.map(|s| s.len()), [1, 1], "one request each");
    assert_eq!(outcome.summary["status"], "partial");
    let redirected = outcome.source("s");
    assert_eq!(n(redirected, "failed_pages"), 1);
    assert_eq!(
        n(redirected, "requests"),
        1,
        "given up at once, not retried"
    );
    assert_eq!(n(&redirected["errors"], "client_error"), 1);
    let linked = outcome.source("n");
    assert_eq!(linked["status"], "error");
    assert_eq!(
        n(linked, "requests"),
        1,
        "the link itself is never requested"
    );
    assert_eq!(n(linked, "failed_pages"), 0);
    assert_eq!(outcome.records.len(), 1);
}

/// A one-connection-per-request HTTP server writing `answers` byte for
/// byte (tiny_http headers are ASCII only); returns its base URL and the
/// request lines it saw. It waits at most 10 s for each request.
fn raw_server(answers: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let waiting = Instant::now();
            let stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if waiting.elapsed() < Duration::from_secs(10) => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return seen,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            seen.push(line.trim_end().to_string());
            while reader.read_line(&mut line).unwrap() > 0 && !line.ends_with("\r\n\r\n") {}
            let mut stream = reader.into_inner();
            stream.write_all(&answer).unwrap();
        }
        seen
    });
    (base, serving)
}

/// An HTTP answer with `extra` header lines (raw bytes) and a JSON body.
fn raw_answer(extra: &[u8], body: &str) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\n".to_vec();
    out.extend_from_slice(extra);
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    out
}

/// Link headers may carry non-ASCII bytes (a UTF-8 `title`, an IRI, even
/// Latin-1): the link is still followed with those bytes percent-encoded,
/// and nothing is lost.
#[test]
fn links_with_non_ascii_text_are_followed() {
    let (base, serving) = raw_server(vec![
        raw_answer(
            "Link: </p2>; rel=\"next\"; title=\"Seite ü\"\r\n".as_bytes(),
            r#"[{"id": 1, "price": 1}]"#,
        ),
        raw_answer(
            "Link: </café>; rel=\"next\"\r\n".as_bytes(),
            r#"[{"id": 2, "price": 1}]"#,
        ),
        raw_answer(
            b"Link: </caf\xE9>; rel=\"next\"\r\n",
            r#"[{"id": 3, "price": 1}]"#,
        ),
        raw_answer(b"", r#"[{"id": 4, "price": 1}]"#),
    ]);
    let config = ingest::Config::parse(
        "test",
        &json!({ "sources": [{ "name": "s", "url": format!("{base}/p1"),
                 "pagination": { "style": "link_header" } }] })
        .to_string(),
    )
    .unwrap();
    let outcome = run(&config);
    let seen = serving.join().unwrap();
    assert_eq!(
        seen,
        [
            "GET /p1 HTTP/1.1",
            "GET /p2 HTTP/1.1",
            "GET /caf%C3%A9 HTTP/1.1",
            "GET /caf%E9 HTTP/1.1",
        ]
    );
    assert_eq!(outcome.source("s")["status"], "complete");
    assert_eq!(outcome.records.len(), 4);
}

/// Numbers JSON allows but a 64-bit float or integer cannot hold do not
/// lose the page: `1e400` is a `bad_price` for its item alone, and an id
/// beyond 64 bits keeps every digit.
#[test]
fn out_of_range_numbers_cost_one_item_not_the_page() {
    let server = Scripted::new();
    let body = r#"[{"id": 1, "price": 1}, {"id": 2, "price": 1e400},
                   {"id": 123456789012345678901234567890, "price": 2.5}]"#;
    let (outcome, _) = server.run_source("/a", vec![(200, None, body.to_string())], json!({}));
    let source = outcome.source("s");
    assert_eq!(source["status"], "complete", "{source:#}");
    assert_eq!(n(source, "failed_pages"), 0);
    assert_eq!(n(source, "items"), 3);
    assert_eq!(n(&source["invalid_reasons"], "bad_price"), 1);
    let keys: Vec<&str> = outcome
        .records
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["s:1", "s:123456789012345678901234567890"]);
}

/// `keep_rejected`: every invalid item is written once to rejected.jsonl,
/// as it came, with its source, its reason and the page it came from; a
/// source without it writes none there.
#[test]
fn rejected_items_are_kept_once_each_with_their_reason_and_page() {
    let server = MockServer::start(
        Scenario::new(11)
            .with(MockSource::new("alpha", Style::Page, 4, 10))
            .with(MockSource::new("beta", Style::Offset, 3, 10)),
    )
    .unwrap();
    let mut doc = server.config_json();
    doc["keep_rejected"] = json!(true);
    doc["sources"][1]["keep_rejected"] = json!(false);
    let config = ingest::Config::parse("test", &doc.to_string()).unwrap();
    let outcome = run(&config);
    let truth = server.truth();
    let alpha = truth.source("alpha").unwrap();
    let mut want: Vec<(String, String)> = Vec::new();
    for page in 1..=alpha.pages.len() {
        for (item, fact) in alpha.items(page).into_iter().zip(alpha.page(page)) {
            if let ItemTruth::Invalid(reason) = fact {
                want.push((reason.to_string(), item.to_string()));
            }
        }
    }
    let rejected = outcome.rejected();
    assert!(!want.is_empty(), "the mock serves invalid items");
    for line in &rejected {
        assert_eq!(line["source"], "alpha", "{line}");
        let page = line["page_url"].as_str().unwrap();
        assert!(page.contains("/alpha/") && page.contains("page="), "{line}");
    }
    let mut got: Vec<(String, String)> = rejected
        .iter()
        .map(|l| {
            (
                l["reason"].as_str().unwrap().to_string(),
                l["item"].to_string(),
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "every invalid item of alpha, once");
    assert_eq!(rejected.len() as u64, n(outcome.source("alpha"), "invalid"));
    assert!(
        n(outcome.source("beta"), "invalid") > 0,
        "beta had some too"
    );
}

/// An item that cannot be parsed on its own although its page could (a
/// lone UTF-16 surrogate escape) is `malformed_item`; the rest of its page
/// is kept, and the page is not lost.
#[test]
fn one_unparsable_item_costs_that_item_only() {
    let body = r#"{"data": [{"id": 1, "price": 1, "name": "\ud800"}, {"id": 2, "price": 2}, {"id": 3, "price": 3}]}"#;
    let server = Scripted::new();
    let (outcome, _) = server.run_source("/p", vec![(200, None, body.to_string())], json!({}));
    let source = outcome.source("s");
    assert_eq!(outcome.exit_code(), 0, "{source:#}");
    assert_eq!(n(source, "items"), 3);
    assert_eq!(n(source, "records"), 2);
    assert_eq!(
        invalid_reasons(source),
        BTreeMap::from([("malformed_item".to_string(), 1)])
    );
    assert_eq!(n(source, "failed_pages"), 0);
}

/// A server that closes a keep-alive connection as the next request
/// arrives on it (what an idle timeout does to a pooled connection): each
/// such request is sent once more at once on a new connection — counted
/// in `resends`, not as a retry or a failed attempt.
#[test]
fn stale_keep_alive_connections_cost_no_retries() {
    use std::io::{BufRead, BufReader, Write};
    const PAGES: usize = 4;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Bounded: the server stops accepting after 10 s whatever happens.
    listener.set_nonblocking(true).unwrap();
    let serving = std::thread::spawn(move || {
        let mut answered = 0;
        let give_up = Instant::now() + Duration::from_secs(10);
        while answered < PAGES && Instant::now() < give_up {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            // The first request on a connection gets its answer; the next
            // one finds the connection closed.
            let mut path = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                if path.is_empty() {
                    path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                }
                line.clear();
            }
            let page: usize = path
                .rsplit('=')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let body = format!(r#"[{{"id": {page}, "price": 1}}]"#);
            let link = if page < PAGES {
                format!("Link: </p?page={}>; rel=\"next\"\r\n", page + 1)
            } else {
                String::new()
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n{link}\r\n",
                body.len()
            );
            let mut stream = stream;
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
            answered += 1;
            // Wait for the next request on this connection, then close.
            line.clear();
            if answered < PAGES {
                let _ = reader.read_line(&mut line);
            }
            drop(stream);
        }
    });
    let config = json!({
        "sources": [{"name": "s", "url": format!("http://127.0.0.1:{port}/p?page=1"),
                     "pagination": {"style": "link_header"}}],
        "rate_limit": {"per_second": 1000, "burst": 50},
        "retry": {"max_retries": 0, "base_delay_ms": 1, "max_delay_ms": 1},
        "timeouts": {"connect_ms": 1000, "read_ms": 2000},
    });
    let config = ingest::Config::parse("test", &config.to_string()).unwrap();
    let outcome = run(&config);
    serving.join().unwrap();
    let source = outcome.source("s");
    assert_eq!(outcome.exit_code(), 0, "{source:#}");
    assert_eq!(n(source, "records"), PAGES as u64);
    assert_eq!(n(source, "retries"), 0);
    assert_eq!(n(&source["errors"], "transport"), 0, "{source:#}");
    assert!(n(source, "resends") >= 1, "{source:#}");
    assert_eq!(
        n(source, "requests"),
        PAGES as u64,
        "resends are not attempts"
    );
}

/// A `has_more` of true is a promise of another page: when the cursor it
/// needs is missing (here the last item of a Stripe-like list has no
/// `id`), the source stops with `error` and says which paths disagree,
/// instead of ending `complete` with the rest of the data never asked
/// for. The pages received are kept.
#[test]
fn has_more_true_without_a_cursor_is_an_error_not_the_end() {
    let server = Scripted::new();
    let page = |items: serde_json::Value, has_more: bool| {
        json!({"object": "list", "data": items, "has_more": has_more}).to_string()
    };
    let answers = vec![
        (
            200,
            None,
            page(
                json!([{"id": "a", "price": 1}, {"id": "b", "price": 2}]),
                true,
            ),
        ),
        (
            200,
            None,
            page(
                json!([{"id": "c", "price": 3}, {"ref": "d", "price": 4}]),
                true,
            ),
        ),
    ];
    let (outcome, seen) = server.run_source(
        "/v1/charges",
        answers,
        json!({"sources": [{"name": "s", "url": server.url("/v1/charges"), "pagination": {
            "style": "cursor", "last_item_path": "id", "param": "starting_after",
            "has_more_path": "has_more"}}]}),
    );
    assert_eq!(
        seen.len(),
        2,
        "no third request: there is no cursor to send"
    );
    assert!(seen[1].0.ends_with("starting_after=b"), "{:?}", seen[1].0);
    let s = outcome.source("s");
    assert_eq!(s["status"], "error", "{s:#}");
    let reason = s["stop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "has_more says there are more pages, but id of the last item has no value"
        ),
        "{reason}"
    );
    assert_eq!(outcome.summary["status"], "partial");
    assert_eq!(n(s, "items"), 4);
    assert_eq!(
        n(s, "items"),
        n(s, "records") + n(s, "invalid") + n(s, "duplicates")
    );
}

/// Static auth (SPEC §11): a bearer token from the environment, HTTP Basic
/// from `user:password@` in the URL (which leaves the URL), an API key in
/// the query; each sent only to the source's origin, none in the summary.
/// A POST source sends its JSON body on every page, and the loop guard
/// tells its pages apart by URL and body.
#[test]
fn static_auth_and_post_bodies_go_to_the_sources_origin_only() {
    std::env::set_var("INGEST_TEST_BEARER", "b3arer-token-value");
    let (home, other) = (Scripted::new(), Scripted::new());
    let page = |id: u32, next: serde_json::Value| {
        json!({"data": [{"id": id, "price": 1}], "next": next}).to_string()
    };
    let port = |s: &Scripted| {
        s.url("")
            .trim_start_matches("http://127.0.0.1:")
            .to_string()
    };
    let cases = [
        (
            json!({"auth": {"type": "bearer", "token": "env:INGEST_TEST_BEARER"}}),
            home.url("/items"),
            ("authorization", "Bearer b3arer-token-value"),
        ),
        (
            json!({}),
            format!("http://ingest:s%3Acret@127.0.0.1:{}/items", port(&home)),
            ("authorization", "Basic aW5nZXN0OnM6Y3JldA=="),
        ),
        (
            json!({"auth": {"type": "api_key", "name": "X-Api-Key", "value": "k3y-in-header"}}),
            home.url("/items"),
            ("x-api-key", "k3y-in-header"),
        ),
    ];
    for (auth, url, (header, value)) in cases {
        let mut source = json!({"name": "s", "url": url, "pagination": {"style": "next_url"},
            "method": "POST", "body": {"query": "{ items }"}});
        source
            .as_object_mut()
            .unwrap()
            .extend(auth.as_object().unwrap().clone());
        let config = json!({"sources": [source]});
        let config = ingest::Config::parse("test", &config.to_string()).unwrap();
        let (outcome, home_seen, other_seen) = std::thread::scope(|s| {
            let h = s.spawn(|| home.serve(vec![(200, None, page(1, json!(other.url("/more"))))]));
            let o = s.spawn(|| other.serve(vec![(200, None, page(2, json!(null)))]));
            let outcome = run(&config);
            (outcome, h.join().unwrap(), o.join().unwrap())
        });
        assert_eq!(home_seen[0].0, "/items", "no userinfo, no key in the URL");
        let sent = &home_seen[0].1;
        assert_eq!(
            sent.get(header).map(String::as_str),
            Some(value),
            "{sent:?}"
        );
        assert_eq!(sent[":method"], "POST");
        assert_eq!(sent[":body"], r#"{"query":"{ items }"}"#);
        assert_eq!(sent["content-type"], "application/json");
        let elsewhere = &other_seen[0].1;
        assert!(
            !elsewhere.contains_key(header),
            "no credential to another origin: {elsewhere:?}"
        );
        assert_eq!(
            elsewhere[":body"], r#"{"query":"{ items }"}"#,
            "the same body"
        );
        let summary = outcome.summary.to_string();
        for secret in ["b3arer-token-value", "s:cret", "s%3Acret", "k3y-in-header"] {
            assert!(!summary.contains(secret), "{secret} in the summary");
        }
        let s = outcome.source("s");
        assert_eq!(
            (n(s, "records"), s["status"].as_str()),
            (2, Some("complete"))
        );
    }
}

/// An API key in the query is set in the start URL and hidden wherever
/// the URL is shown.
#[test]
fn an_api_key_in_the_query_is_sent_and_never_shown() {
    let server = Scripted::new();
    let (outcome, seen) = server.run_source(
        "/items",
        vec![(200, None, json!([{"id": 1, "price": 1}]).to_string())],
        json!({"sources": [{"name": "s", "url": server.url("/items"),
            "auth": {"type": "api_key", "name": "key", "value": "qu3ry-k3y", "in": "query"}}]}),
    );
    assert_eq!(seen[0].0, "/items?key=qu3ry-k3y");
    assert!(!outcome.summary.to_string().contains("qu3ry-k3y"));
    assert_eq!(n(outcome.source("s"), "records"), 1);
}

/// A POST redirected by 307 or 308 is sent again as it was, body and
/// all; by 303 (or 301, 302) it becomes a GET of the target.
#[test]
fn a_redirected_post_keeps_its_body_on_307_and_308_only() {
    for (status, method, body) in [
        (307, "POST", r#"{"q":1}"#),
        (308, "POST", r#"{"q":1}"#),
        (303, "GET", ""),
    ] {
        let server = Scripted::new();
        let page = json!([{"id": 1, "price": 1}]).to_string();
        let (outcome, seen) = server.run_source(
            "/search",
            vec![
                (status, Some(server.url("/search/v2")), String::new()),
                (200, None, page),
            ],
            json!({"sources": [{"name": "s", "url": server.url("/search"),
                "method": "POST", "body": {"q": 1}}]}),
        );
        assert_eq!(seen[1].0, "/search/v2", "{status}");
        assert_eq!(seen[1].1[":method"], method, "{status}");
        assert_eq!(seen[1].1[":body"], body, "{status}");
        assert_eq!(n(outcome.source("s"), "records"), 1, "{status}");
    }
}
