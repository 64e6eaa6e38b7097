//! A fixed latency per answer ([`crate::Scenario::latency`],
//! [`crate::MockSource::latency`]): requests in flight at once wait it out
//! together, not in turn, and the request log tells how many the server
//! held at once ([`crate::MockServer::peak_in_flight`]). Bounds are
//! generous (a loaded 2-core machine must pass): a latency is a lower
//! bound, and "together" is checked against a fraction of "in turn".

use std::io::Read;
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::wire_tests::get;
use crate::{MockServer, MockSource, Outcome, Scenario, Style};

#[test]
fn requests_in_flight_at_once_wait_out_one_latency_together() {
    const N: usize = 8;
    let latency = Duration::from_millis(200);
    let scenario = Scenario::new(1)
        .with(MockSource::new("a", Style::Page, N, 2))
        .latency(latency);
    let server = Arc::new(MockServer::start(scenario).unwrap());
    let start = Arc::new(Barrier::new(N));
    let began = Instant::now();
    let clients: Vec<_> = (1..=N)
        .map(|page| {
            let (server, start) = (Arc::clone(&server), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let t = Instant::now();
                let r = get(&server, &format!("/a/products?page={page}"));
                (r.status, t.elapsed())
            })
        })
        .collect();
    for c in clients {
        let (status, took) = c.join().unwrap();
        assert_eq!(status, 200);
        assert!(took >= latency, "answered after {took:?}");
    }
    let total = began.elapsed();
    assert!(
        total < Duration::from_millis(1000),
        "{N} requests of {latency:?} took {total:?}: served in turn?"
    );
    let log = server.requests();
    assert_eq!(log.len(), N);
    for r in &log {
        let held = r.finished.unwrap() - r.at;
        assert!(held >= latency, "held {held:?}");
        assert_eq!(r.outcome, Outcome::Status(200));
    }
    // Fewer than 2 at once would have taken N latencies.
    let peak = server.peak_in_flight("a");
    assert!((2..=N).contains(&peak), "peak {peak}");
}

#[test]
fn a_source_s_own_latency_wins_and_only_sources_wait() {
    let slow = Duration::from_millis(500);
    let scenario = Scenario::new(1)
        .with(MockSource::new("fast", Style::Page, 1, 1).latency(Duration::ZERO))
        .with(MockSource::new("slow", Style::Page, 1, 1))
        .latency(slow);
    let server = MockServer::start(scenario).unwrap();
    for target in ["/fast/products", "/slow/products", "/nowhere"] {
        get(&server, target);
    }
    let held: Vec<(String, bool)> = server
        .requests()
        .iter()
        .map(|r| (r.source.clone(), r.finished.unwrap() - r.at >= slow))
        .collect();
    let want = [("fast", false), ("slow", true), ("", false)];
    let want: Vec<(String, bool)> = want.iter().map(|(s, b)| (s.to_string(), *b)).collect();
    assert_eq!(held, want);
    // One connection, one request at a time: never two in flight.
    assert_eq!(server.peak_in_flight("slow"), 1);
    assert_eq!(server.peak_in_flight("nobody"), 0);
}

#[test]
fn a_stop_during_the_latency_closes_the_connection_promptly() {
    let scenario = Scenario::new(1)
        .with(MockSource::new("a", Style::Page, 1, 1))
        .latency(Duration::from_secs(30));
    let server = MockServer::start(scenario).unwrap();
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::io::Write::write_all(&mut s, b"GET /a/products HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    // Wait until the server holds the request.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.requests()[0].outcome, Outcome::Pending);
    assert_eq!(server.peak_in_flight("a"), 1, "pending counts as in flight");
    let stopped = Instant::now();
    server.stop();
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    assert!(read.is_err() || buf.is_empty(), "no answer: {buf:?}");
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopped.elapsed()
    );
}
