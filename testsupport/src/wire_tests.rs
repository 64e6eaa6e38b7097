//! Socket-level tests of the whole mock server: every fault as a client
//! sees it on the wire, keep-alive, pagination of each style to its end,
//! determinism, shutdown. They use a tiny raw HTTP/1.1 client on
//! `std::net::TcpStream` (no ureq here), and ephemeral ports only; the
//! client is shared with `oauth_tests.rs` and `graphql_tests.rs`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{FaultKind, MockServer, MockSource, Outcome, Quota, QuotaFamily, Scenario, Style};

#[derive(Debug)]
pub(crate) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

fn connect(server: &MockServer) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn send(s: &mut TcpStream, target: &str) {
    // One write: a head split over several segments waits on Nagle.
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
}

/// Reads one response framed by Content-Length (absent = no body).
fn read_resp(s: &mut TcpStream) -> io::Result<Resp> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}

pub(crate) fn get(server: &MockServer, target: &str) -> Resp {
    let mut s = connect(server);
    send(&mut s, target);
    read_resp(&mut s).unwrap()
}

/// One request with these headers and body on a fresh connection.
pub(crate) fn request(
    server: &MockServer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = connect(server);
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    // One write: a request split over several segments waits on Nagle.
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).unwrap();
    read_resp(&mut s).unwrap()
}

fn one(source: MockSource) -> MockServer {
    MockServer::start(Scenario::new(9).with(source)).unwrap()
}

#[test]
fn keep_alive_connection_serves_requests_one_by_one() {
    let server = one(MockSource::new("a", Style::Page, 2, 3));
    let mut s = connect(&server);
    for (page, status) in [(1, 200), (2, 200), (3, 204), (1, 200)] {
        send(&mut s, &format!("/a/products?page={page}&limit=3"));
        assert_eq!(read_resp(&mut s).unwrap().status, status, "page {page}");
    }
    let log = server.requests();
    let got: Vec<_> = log
        .iter()
        .map(|r| (r.page, r.attempt, r.outcome.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (1, 1, Outcome::Status(200)),
            (2, 1, Outcome::Status(200)),
            (3, 1, Outcome::Status(204)),
            (1, 2, Outcome::Status(200))
        ]
    );
    assert!(log.iter().all(|r| r.source == "a"));
    assert_eq!(log[0].path, "/a/products?page=1&limit=3");
}

#[test]
fn close_gives_eof_without_a_byte_then_retry_succeeds() {
    let server = one(MockSource::new("a", Style::Page, 2, 3).fault(1, 1, FaultKind::Close));
    let mut s = connect(&server);
    send(&mut s, "/a/products?page=1");
    let mut buf = Vec::new();
    assert_eq!(s.read_to_end(&mut buf).unwrap(), 0);
    assert_eq!(get(&server, "/a/products?page=1").status, 200);
    let outcomes: Vec<_> = server.requests().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Closed, Outcome::Status(200)]);
}

#[test]
fn truncate_sends_fewer_body_bytes_than_content_length_then_eof() {
    let server = one(MockSource::new("b", Style::Offset, 2, 4).fault(2, 1, FaultKind::Truncate));
    let mut s = connect(&server);
    send(&mut s, "/b/items?offset=4&limit=4");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"));
    assert!(
        !body.is_empty() && body.len() < len,
        "{} of {len}",
        body.len()
    );
    let full = get(&server, "/b/items?offset=4&limit=4");
    assert_eq!(full.body.len(), len);
    assert_eq!(server.requests()[0].outcome, Outcome::Truncated);
}

#[test]
fn reset_gives_connection_reset() {
    let server = one(MockSource::new("a", Style::Page, 1, 3).fault(1, 1, FaultKind::Reset));
    let mut s = connect(&server);
    send(&mut s, "/a/products?page=1");
    let err = read_resp(&mut s).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    assert_eq!(server.requests()[0].outcome, Outcome::Reset);
    assert_eq!(get(&server, "/a/products?page=1").status, 200);
}

#[test]
fn hang_blocks_only_itself_and_stop_releases_it_promptly() {
    let server = one(MockSource::new("g", Style::Page, 2, 2).fault(1, 0, FaultKind::Hang));
    let mut hung = connect(&server);
    send(&mut hung, "/g/products?page=1");
    let waiter = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let r = hung.read_to_end(&mut buf);
        (r.map(|_| buf.len()).ok(), Instant::now())
    });
    let t = Instant::now();
    assert_eq!(get(&server, "/g/products?page=2").status, 200);
    assert!(t.elapsed() < Duration::from_millis(500));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!waiter.is_finished(), "hang answered early");
    // Two connections: arrival order between them is not fixed.
    let hung_entry = server.requests().into_iter().find(|r| r.page == 1);
    assert_eq!(hung_entry.map(|r| r.outcome), Some(Outcome::Hang));
    let stopped = Instant::now();
    server.stop();
    assert!(
        stopped.elapsed() < Duration::from_secs(1),
        "stop took {:?}",
        stopped.elapsed()
    );
    let (bytes, released) = waiter.join().unwrap();
    assert_eq!(bytes, Some(0), "no response bytes, just EOF");
    assert!(released.duration_since(stopped) < Duration::from_secs(1));
}

#[test]
fn delay_answers_late_without_blocking_others() {
    let delay = Duration::from_millis(400);
    let server = one(MockSource::new("d", Style::Page, 2, 2).fault(1, 1, FaultKind::Delay(delay)));
    let addr = server.addr();
    let slow = std::thread::spawn(move || {
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).unwrap();
        send(&mut s, "/d/products?page=1");
        (read_resp(&mut s).unwrap().status, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    assert_eq!(get(&server, "/d/products?page=2").status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "blocked {:?}",
        t.elapsed()
    );
    let (status, took) = slow.join().unwrap();
    assert_eq!(status, 200);
    assert!(took >= delay, "{took:?}");
}

#[test]
fn http_faults_on_the_wire() {
    let src = MockSource::new("a", Style::Page, 4, 50)
        .fault(1, 1, FaultKind::RetryAfter(429, "1".into()))
        .fault(2, 0, FaultKind::MalformedJson)
        .fault(3, 1, FaultKind::Oversized(300_000))
        .fault(4, 1, FaultKind::NoItems)
        .fault(4, 2, FaultKind::Status(503));
    let server = one(src);
    let r = get(&server, "/a/products?page=1");
    assert_eq!((r.status, r.header("retry-after")), (429, Some("1")));
    assert_eq!(r.json()["status"], 429);
    assert!(serde_json::from_slice::<Value>(&get(&server, "/a/products?page=2").body).is_err());
    let big = get(&server, "/a/products?page=3");
    assert!(big.body.len() >= 300_000);
    assert_eq!(big.json()["data"].as_array().unwrap().len(), 50);
    assert_eq!(
        get(&server, "/a/products?page=4").json(),
        serde_json::json!({"message": "ok"})
    );
    assert_eq!(get(&server, "/a/products?page=4").status, 503);
    assert_eq!(get(&server, "/a/products?page=4").status, 200);
}

#[test]
fn weird_requests_get_answers_not_panics() {
    let server = one(MockSource::new("a", Style::Page, 1, 1));
    let r = get(&server, "/nowhere?x=1");
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (404, Value::from(404))
    );
    assert_eq!(get(&server, "/a/products?page=-1").status, 400);
    let mut s = connect(&server);
    s.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    assert_eq!(read_resp(&mut s).unwrap().status, 400);
    let log = server.requests();
    assert_eq!((log[0].source.as_str(), log[0].page), ("", 0));
    assert_eq!(get(&server, "/a/products").status, 200);
}

#[test]
fn same_seed_same_bodies_across_servers() {
    let a = MockServer::start(Scenario::demo(5, 3, 4)).unwrap();
    let b = MockServer::start(Scenario::demo(5, 3, 4)).unwrap();
    for target in [
        "/alpha/products?page=2",
        "/beta/items?offset=4",
        "/gamma/records",
    ] {
        assert_eq!(get(&a, target).body, get(&b, target).body, "{target}");
    }
    assert_eq!(a.truth(), b.truth());
    // Page 2 has no demo fault at 3 pages, so both answer with data.
    let c = MockServer::start(Scenario::demo(6, 3, 4)).unwrap();
    assert_ne!(
        get(&a, "/alpha/products?page=2").body,
        get(&c, "/alpha/products?page=2").body
    );
}

#[test]
fn config_json_is_a_pretty_printable_config_with_sources_only() {
    let server = MockServer::start(Scenario::clean(1, 2, 3)).unwrap();
    let config = server.config_json();
    assert_eq!(config.as_object().unwrap().len(), 1);
    let text = serde_json::to_string_pretty(&config).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        back["sources"][0]["url"],
        Value::from(server.source_url("alpha"))
    );
    assert_eq!(back["sources"][2]["pagination"]["style"], "cursor");
}

#[test]
fn a_source_ignoring_the_position_repeats_page_one_only_when_asked() {
    let server = one(MockSource::new("a", Style::Page, 2, 3).ignoring_position());
    let first = get(&server, "/a/products?page=1");
    for page in 2..=6 {
        let r = get(&server, &format!("/a/products?page={page}&limit=3"));
        assert_eq!((r.status, &r.body), (200, &first.body), "page {page}");
    }
    // One answer per request: nothing is sent unasked.
    let log = server.requests();
    let pages: Vec<(usize, u32)> = log.iter().map(|r| (r.page, r.attempt)).collect();
    assert_eq!(pages, [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)]);
    assert!(log.iter().all(|r| r.outcome == Outcome::Status(200)));
}

#[test]
fn a_quota_is_announced_on_every_answer_and_refused_over_its_limit() {
    let window = Duration::from_millis(300);
    let quota = Quota::new(QuotaFamily::RateLimit, 2, window);
    let server = one(MockSource::new("a", Style::Page, 5, 1).quota(quota));
    let mut s = connect(&server);
    let started = Instant::now();
    let mut seen = Vec::new();
    for page in 1..=3 {
        send(&mut s, &format!("/a/products?page={page}"));
        let r = read_resp(&mut s).unwrap();
        let reset: f64 = r.header("RateLimit-Reset").unwrap().parse().unwrap();
        assert!(reset > 0.0 && reset <= 0.3, "{reset}");
        assert_eq!(r.header("RateLimit-Limit"), Some("2"));
        seen.push((
            r.status,
            r.header("RateLimit-Remaining").unwrap().to_string(),
        ));
        if r.status == 429 {
            assert_eq!(r.json()["status"], 429);
        }
    }
    assert_eq!(
        seen,
        [(200, "1".into()), (200, "0".into()), (429, "0".into())]
    );
    assert_eq!(server.quota_refusals("a"), 1);
    std::thread::sleep(window.saturating_sub(started.elapsed()) + Duration::from_millis(20));
    send(&mut s, "/a/products?page=3");
    let r = read_resp(&mut s).unwrap();
    assert_eq!(
        (r.status, r.header("RateLimit-Remaining")),
        (200, Some("1"))
    );
    // The refused request was an attempt of its page, and is logged.
    let log: Vec<_> = server
        .requests()
        .iter()
        .map(|r| (r.page, r.attempt, r.outcome.clone()))
        .collect();
    assert_eq!(log[2], (3, 1, Outcome::Status(429)));
    assert_eq!(log[3], (3, 2, Outcome::Status(200)));
}

#[test]
fn a_used_up_github_quota_refuses_with_403_and_an_epoch_reset() {
    let quota = Quota::new(QuotaFamily::GitHub, 5, Duration::from_secs(60))
        .refusing_with(403)
        .used_up();
    let server = one(MockSource::new("g", Style::LinkHeader, 2, 1).quota(quota));
    let r = get(&server, "/g/list");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("X-RateLimit-Remaining"), Some("0"));
    assert_eq!(r.json()["message"], "API rate limit exceeded");
    let reset: u64 = r.header("X-RateLimit-Reset").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((now + 59..=now + 61).contains(&reset), "{reset} vs {now}");
    let r = get(&server, "/g/list");
    assert_eq!(r.status, 403);
    assert_eq!(server.quota_refusals("g"), 2);
}

#[test]
fn the_draft_header_counts_down() {
    let quota = Quota::new(QuotaFamily::Draft, 3, Duration::from_secs(10));
    let server = one(MockSource::new("d", Style::Cursor, 3, 1).quota(quota));
    let r = get(&server, "/d/records");
    assert_eq!(r.header("RateLimit-Policy"), Some("\"default\";q=3;w=10"));
    let v = r.header("RateLimit").unwrap();
    assert!(v.starts_with("\"default\";r=2;t="), "{v}");
    assert!(r.json()["items"].is_array(), "the body is the API's");
}

#[test]
fn totals_in_headers_and_answers_for_response_rules() {
    let scenario = Scenario::new(3)
        .with(MockSource::new("f", Style::XPagination, 3, 2))
        .with(MockSource::new("x", Style::XTotalCount, 3, 2))
        .with(
            MockSource::new("r", Style::Page, 3, 2)
                .past_end(400, r#"{"detail":"page out of range"}"#)
                .fault(2, 1, FaultKind::ok_with_error("try again")),
        );
    let server = MockServer::start(scenario).unwrap();
    let meta = |page: usize| {
        let r = get(&server, &format!("/f/rows?page={page}"));
        (r.json(), r.header("X-Pagination").unwrap().to_string())
    };
    let (first, header) = meta(1);
    assert_eq!(first.as_array().unwrap().len(), 2, "a bare array");
    assert_eq!(
        header,
        r#"{"total":6,"total_pages":3,"first_page":1,"last_page":3,"page":1,"next_page":2}"#
    );
    let (_, last) = meta(3);
    assert_eq!(
        last,
        r#"{"total":6,"total_pages":3,"first_page":1,"last_page":3,"page":3,"previous_page":2}"#
    );
    let (past, header) = meta(4);
    assert_eq!(past, serde_json::json!([]));
    assert_eq!(
        header,
        r#"{"total":6,"total_pages":3,"first_page":1,"last_page":3}"#
    );
    let counted = get(&server, "/x/entries?page=2");
    assert_eq!(counted.header("X-Total-Count"), Some("6"));
    assert_eq!(counted.json().as_array().unwrap().len(), 2);
    assert!(counted.header("X-Pagination").is_none());
    // A 200 that says it failed, once; then the page; past the end, a 400.
    let soft = get(&server, "/r/products?page=2");
    assert_eq!(
        (soft.status, soft.json()),
        (
            200,
            serde_json::json!({"status": "error", "message": "try again"})
        )
    );
    assert_eq!(get(&server, "/r/products?page=2").json()["page"], 2);
    let past = get(&server, "/r/products?page=4");
    assert_eq!(
        (past.status, past.json()),
        (400, serde_json::json!({"detail": "page out of range"}))
    );
    let config = server.config_json();
    assert_eq!(
        config["sources"][0]["pagination"]["total_pages_path"],
        "header:X-Pagination.total_pages"
    );
    assert!(config["sources"][1].get("items_path").is_none());
}

#[test]
fn the_log_keeps_method_headers_and_a_small_body() {
    let server = one(MockSource::new("a", Style::Page, 2, 1));
    let headers = [("X-Trace", "t1"), ("Content-Type", "application/json")];
    let r = request(
        &server,
        "POST",
        "/a/products?page=2",
        &headers,
        br#"{"q":1}"#,
    );
    assert_eq!(r.status, 200, "a source answers any method alike");
    let log = server.requests();
    assert_eq!((log[0].method.as_str(), log[0].page), ("POST", 2));
    assert_eq!(log[0].header("x-trace"), Some("t1"));
    assert_eq!(log[0].body_json(), Some(serde_json::json!({"q": 1})));
    // A body over the peek limit is read and answered, but not logged.
    let big = vec![b'x'; crate::raw::MAX_PEEKED_BODY + 1];
    assert_eq!(
        request(&server, "POST", "/a/products", &[], &big).status,
        200
    );
    assert!(server.requests()[1].body.is_empty());
}
