//! The raw TCP front: the socket clients actually talk to.
//!
//! Why: tiny_http cannot close, truncate or reset a connection from a
//! handler (a dropped request becomes a 500, a short body just stalls), and
//! a sleeping handler blocks its loop. So each `MockServer` listens with a
//! plain `std::net::TcpListener` and runs one thread per client connection
//! that handles every request on it in turn (keep-alive works):
//!
//! 1. *peek* the request head and a small body (not consumed yet: a GraphQL
//!    request's page is in its body, and a `Reset` must find it unread),
//!    route it, count the attempt and log it (method, headers and body
//!    too); a request without its source's credentials (`auth.rs`) or over
//!    its source's quota (`quota.rs`) is refused here, and every other
//!    answer gets the quota headers;
//! 2. `Reset`: drop the socket with the request still unread, so the kernel
//!    sends RST; `Close`: consume the request, then FIN without a byte;
//!    `Hang`: wait for the server's stop, then close; `Delay`: wait, then
//!    go on normally;
//! 3. otherwise forward the request to the tiny_http backend on a fresh
//!    loopback connection (`Connection: close`, attempt in a header), read
//!    the whole response, wait out the source's latency (in this
//!    connection's thread, so requests in flight at once wait together,
//!    not in turn), and relay it with a `Content-Length` on the kept
//!    connection; `Truncate` relays the head and half the body, then FIN.
//!
//! tiny_http thus renders every source's response; the front owns sockets
//! and time — quotas, credentials, and the OAuth2 token endpoint, whose
//! tokens expire (`oauth.rs`), answered here through the same faults.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::api::{Answer, Endpoint, Request, Routed, ATTEMPT_HEADER};
use crate::fault::{self, FaultKind};
use crate::quota::{Admission, Quota};
use crate::server::{Gate, Outcome, Shared};

/// How often idle loops look at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest request body accepted (requests are GETs; this is a guard).
const MAX_BODY: usize = 1024 * 1024;
/// Largest body peeked before routing (and logged): a GraphQL query's.
/// Well under a loopback socket's receive buffer, which must hold it all.
pub(crate) const MAX_PEEKED_BODY: usize = 32 * 1024;
/// Time allowed for a started request head to arrive completely.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on writes to a client that stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on the backend's answer (it renders in memory, so this is slack).
const BACKEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the accept loop; it ends, after joining its connection threads,
/// once the stop flag is set.
pub(crate) fn spawn_front(
    listener: TcpListener,
    shared: Arc<Shared>,
    backend: SocketAddr,
) -> io::Result<JoinHandle<()>> {
    // Non-blocking accept polled against the stop flag: no self-connect
    // trick needed to wake it, and it cannot get stuck.
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("mock-front".into())
        .spawn(move || accept_loop(&listener, &shared, backend))
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, backend: SocketAddr) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stopping() {
        match listener.accept() {
            Ok((stream, _)) => {
                conns.retain(|c| !c.is_finished());
                let shared = Arc::clone(shared);
                let spawned = std::thread::Builder::new()
                    .name("mock-conn".into())
                    .spawn(move || serve_connection(stream, &shared, backend));
                match spawned {
                    Ok(handle) => conns.push(handle),
                    Err(e) => log::warn!("mock front: cannot spawn connection thread: {e}"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => {
                log::debug!("mock front: accept failed: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq)]
struct Head {
    len: usize,
    method: String,
    target: String,
    /// The client wants the connection closed after this exchange.
    close: bool,
    content_length: usize,
    /// Every header, in order, as sent.
    headers: Vec<(String, String)>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses `bytes[..len]` as a request head; `None` if it is not HTTP/1.x.
fn parse_head(bytes: &[u8], len: usize) -> Option<Head> {
    let text = std::str::from_utf8(&bytes[..len]).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    let mut close = version == "HTTP/1.0";
    let mut content_length = 0;
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        headers.push((name.to_string(), value.to_string()));
        if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            close = v.contains("close") || (close && !v.contains("keep-alive"));
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return None; // request bodies are never chunked here
        }
    }
    Some(Head {
        len,
        method: method.to_string(),
        target: target.to_string(),
        close,
        content_length,
        headers,
    })
}

enum Peeked {
    /// A request head, and its body when it has one of at most
    /// [`MAX_PEEKED_BODY`] bytes (else empty); nothing consumed yet.
    Head(Head, Vec<u8>),
    Bad,
    Gone,
}

/// Waits for a complete request head, and a small body, without
/// consuming them.
fn peek_request(stream: &TcpStream, shared: &Shared) -> Peeked {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut started: Option<Instant> = None;
    loop {
        if shared.stopping() {
            return Peeked::Gone;
        }
        match stream.peek(&mut buf) {
            Ok(0) => return Peeked::Gone,
            Ok(n) => {
                if let Some(pos) = find(&buf[..n], b"\r\n\r\n") {
                    let Some(head) = parse_head(&buf, pos + 4) else {
                        return Peeked::Bad;
                    };
                    return match peek_body(stream, shared, &head) {
                        Some(body) => Peeked::Head(head, body),
                        None => Peeked::Gone,
                    };
                }
                if n == buf.len() {
                    return Peeked::Bad;
                }
                // Part of a head: peek returns at once, so pace the retries.
                if started.get_or_insert_with(Instant::now).elapsed() > HEAD_TIMEOUT {
                    return Peeked::Gone;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if is_transient(&e) => {}
            Err(_) => return Peeked::Gone,
        }
    }
}

/// The body of the request `head` heads, peeked (empty when it is larger
/// than [`MAX_PEEKED_BODY`]); `None` if it does not all arrive in time.
fn peek_body(stream: &TcpStream, shared: &Shared, head: &Head) -> Option<Vec<u8>> {
    if head.content_length == 0 || head.content_length > MAX_PEEKED_BODY {
        return Some(Vec::new());
    }
    let mut buf = vec![0u8; head.len + head.content_length];
    let deadline = Instant::now() + HEAD_TIMEOUT;
    while !shared.stopping() && Instant::now() < deadline {
        match stream.peek(&mut buf) {
            Ok(0) => return None,
            Ok(n) if n == buf.len() => return Some(buf.split_off(head.len)),
            // Part of it: peek returns at once, so pace the retries.
            Ok(_) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) if is_transient(&e) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Handles the requests of one client connection until it closes, a
/// connection fault ends it, or the server stops.
fn serve_connection(mut stream: TcpStream, shared: &Shared, backend: SocketAddr) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(POLL)))
        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
        .and_then(|()| stream.set_nodelay(true));
    if let Err(e) = setup {
        log::debug!("mock front: socket setup failed: {e}");
        return;
    }
    loop {
        let (head, peeked) = match peek_request(&stream, shared) {
            Peeked::Head(head, body) => (head, body),
            Peeked::Gone => return,
            Peeked::Bad => {
                let _ = write_answer(&mut stream, 400, &[], b"{\"error\":\"bad request\"}", true);
                return;
            }
        };
        if !serve_request(&mut stream, shared, backend, &head, &peeked) {
            return;
        }
    }
}

/// One request on its way through the front.
struct Exchange<'a> {
    head: &'a Head,
    routed: Routed,
    /// Its index in the request log.
    index: usize,
    attempt: u32,
}

/// Handles one request, whose head (and small body) `stream` still
/// holds; whether the connection goes on. The phases: route and log, the
/// gate, connection faults, the answer, delivery.
fn serve_request(
    stream: &mut TcpStream,
    shared: &Shared,
    backend: SocketAddr,
    head: &Head,
    peeked: &[u8],
) -> bool {
    let req = Request {
        method: &head.method,
        target: &head.target,
        headers: &head.headers,
        body: peeked,
    };
    let routed = shared.mounted.route_request(&req);
    let (index, attempt) = shared.arrive(&routed, &req);
    let latency = routed
        .source()
        .map_or(Duration::ZERO, |i| shared.mounted.scenario.latency_of(i));
    let admission = match shared.gate(&routed, &req) {
        // Refused at the gate: no fault applies, the latency does.
        Gate::Refused(answer) => return refuse(stream, shared, head, index, &answer, latency),
        Gate::Pass(admission) => admission,
    };
    let ex = Exchange {
        head,
        routed,
        index,
        attempt,
    };
    let fault = connection_fault(shared, &ex.routed, attempt);
    if fault == Some(FaultKind::Reset) {
        // Unread request bytes + close = RST on Linux and the BSDs.
        shared.finish(index, Outcome::Reset);
        return false;
    }
    let Ok(body) = consume_request(stream, head) else {
        shared.finish(index, Outcome::Closed);
        return false;
    };
    if !outlive(stream, shared, index, fault.as_ref()) {
        return false;
    }
    let req = Request { body: &body, ..req };
    let Some(mut response) = render(stream, shared, backend, &ex, &req) else {
        return false;
    };
    let quota = ex
        .routed
        .source()
        .and_then(|i| shared.mounted.scenario.sources[i].quota.as_ref());
    if let (
        Some(q),
        Some(Admission::Allowed {
            remaining,
            resets_at,
        }),
    ) = (quota, admission)
    {
        response.headers.extend(announced(q, remaining, resets_at));
    }
    if !linger(stream, shared, index, latency) {
        return false;
    }
    deliver(
        stream,
        shared,
        &ex,
        &response,
        fault == Some(FaultKind::Truncate),
    )
}

/// Carries out a connection fault that comes before any answer (close,
/// hang, delay); whether the request is still to be answered.
fn outlive(stream: &TcpStream, shared: &Shared, index: usize, fault: Option<&FaultKind>) -> bool {
    match fault {
        Some(FaultKind::Close) => {
            shared.finish(index, Outcome::Closed);
            let _ = stream.shutdown(Shutdown::Both);
            false
        }
        Some(FaultKind::Hang) => {
            shared.finish(index, Outcome::Hang);
            shared.wait_for_stop(None);
            let _ = stream.shutdown(Shutdown::Both);
            false
        }
        Some(FaultKind::Delay(d)) if shared.wait_for_stop(Some(*d)) => {
            shared.finish(index, Outcome::Closed);
            false
        }
        _ => true,
    }
}

/// The answer: the token endpoint's, or the backend's. `None` when the
/// backend failed: a 502 is written (or, stopping, nothing) and the
/// connection ends.
fn render(
    stream: &mut TcpStream,
    shared: &Shared,
    backend: SocketAddr,
    ex: &Exchange,
    req: &Request,
) -> Option<Answer> {
    if ex.routed.endpoint == Endpoint::Token {
        return Some(shared.token_answer(req, ex.attempt));
    }
    match forward(backend, ex.head, ex.attempt, req.body) {
        Ok(answer) => Some(answer),
        Err(_) if shared.stopping() => {
            shared.finish(ex.index, Outcome::Closed);
            None
        }
        Err(e) => {
            log::warn!("mock front: backend failed: {e}");
            let body = fault::error_body(502);
            shared.finish(ex.index, Outcome::Status(502));
            let _ = write_answer(stream, 502, &[], body.as_bytes(), true);
            None
        }
    }
}

/// Writes the answer (only half its body, then FIN, when `truncate`);
/// whether the connection goes on.
fn deliver(
    stream: &mut TcpStream,
    shared: &Shared,
    ex: &Exchange,
    response: &Answer,
    truncate: bool,
) -> bool {
    if truncate {
        shared.finish(ex.index, Outcome::Truncated);
        let _ = write_truncated(stream, response);
        let _ = stream.shutdown(Shutdown::Both);
        return false;
    }
    // Logged before writing: a client that reads the answer and then
    // looks at the log must see the outcome.
    shared.finish(ex.index, Outcome::Status(response.status));
    let close = ex.head.close;
    let written = if ex.head.method.eq_ignore_ascii_case("HEAD") {
        write_head(stream, response, close)
    } else {
        write_answer(
            stream,
            response.status,
            &response.headers,
            &response.body,
            close,
        )
    };
    if written.is_err() || close {
        let _ = stream.shutdown(Shutdown::Both);
        return false;
    }
    true
}

/// Waits out a source's latency before its answer is written, in this
/// connection's own thread (so other connections go on meanwhile);
/// whether the answer is still to be written (not when the server
/// stopped: the connection is closed instead).
fn linger(stream: &TcpStream, shared: &Shared, index: usize, latency: Duration) -> bool {
    if latency.is_zero() || !shared.wait_for_stop(Some(latency)) {
        return true;
    }
    shared.finish(index, Outcome::Closed);
    let _ = stream.shutdown(Shutdown::Both);
    false
}

/// Writes the gate's refusal of a request, after the source's latency;
/// whether the connection goes on.
fn refuse(
    stream: &mut TcpStream,
    shared: &Shared,
    head: &Head,
    index: usize,
    answer: &Answer,
    latency: Duration,
) -> bool {
    if consume_request(stream, head).is_err() {
        shared.finish(index, Outcome::Closed);
        return false;
    }
    if !linger(stream, shared, index, latency) {
        return false;
    }
    shared.finish(index, Outcome::Status(answer.status));
    let written = write_answer(
        stream,
        answer.status,
        &answer.headers,
        &answer.body,
        head.close,
    );
    if written.is_err() || head.close {
        let _ = stream.shutdown(Shutdown::Both);
        return false;
    }
    true
}

/// The connection-level fault this attempt of the routed request gets.
fn connection_fault(shared: &Shared, routed: &Routed, attempt: u32) -> Option<FaultKind> {
    let scenario = &shared.mounted.scenario;
    let kind = match routed.endpoint {
        Endpoint::Source(i) => scenario.sources[i].fault_for(routed.page, attempt),
        Endpoint::Token => scenario.oauth2.as_ref()?.fault_for(attempt),
        Endpoint::Unknown => None,
    };
    kind.filter(|f| f.is_connection_level()).cloned()
}

/// The quota headers of an answer written now.
pub(crate) fn announced(
    quota: &Quota,
    remaining: u32,
    resets_at: Instant,
) -> Vec<(String, String)> {
    let reset = resets_at.saturating_duration_since(Instant::now());
    quota.headers(remaining, reset, SystemTime::now())
}

/// Reads the peeked head and any body off the socket.
fn consume_request(stream: &mut TcpStream, head: &Head) -> io::Result<Vec<u8>> {
    if head.content_length > MAX_BODY {
        return Err(io::Error::other("request body too large"));
    }
    let mut skip = vec![0u8; head.len];
    read_fully(stream, &mut skip)?;
    let mut body = vec![0u8; head.content_length];
    read_fully(stream, &mut body)?;
    Ok(body)
}

/// `read_exact` that tolerates the short poll read timeout, bounded.
fn read_fully(stream: &mut TcpStream, mut buf: &mut [u8]) -> io::Result<()> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    while !buf.is_empty() {
        match stream.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if is_transient(&e) && Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends the request to tiny_http and reads its whole answer (its
/// headers except the hop-by-hop and framing ones, which the front sets).
fn forward(backend: SocketAddr, head: &Head, attempt: u32, body: &[u8]) -> io::Result<Answer> {
    let mut s = TcpStream::connect_timeout(&backend, BACKEND_TIMEOUT)?;
    s.set_read_timeout(Some(BACKEND_TIMEOUT))?;
    s.set_write_timeout(Some(BACKEND_TIMEOUT))?;
    let request = format!(
        "{} {} HTTP/1.1\r\nHost: {backend}\r\nConnection: close\r\n{ATTEMPT_HEADER}: {attempt}\r\nContent-Length: {}\r\n\r\n",
        head.method,
        head.target,
        body.len()
    );
    s.write_all(request.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let end = find(&raw, b"\r\n\r\n").ok_or_else(|| io::Error::other("backend sent no head"))?;
    let text = std::str::from_utf8(&raw[..end]).map_err(io::Error::other)?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other("backend sent a bad status line"))?;
    let mut headers = Vec::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let skip = [
                "connection",
                "content-length",
                "transfer-encoding",
                "keep-alive",
            ];
            if skip.iter().any(|h| k.eq_ignore_ascii_case(h)) {
                if k.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(io::Error::other("backend answered chunked"));
                }
                continue;
            }
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
    Ok(Answer {
        status,
        headers,
        body: raw.split_off(end + 4),
    })
}

fn head_bytes(
    status: u16,
    headers: &[(String, String)],
    length: Option<usize>,
    close: bool,
) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", fault::reason(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = length {
        out.push_str(&format!("Content-Length: {n}\r\n"));
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Writes a full answer framed by `Content-Length` (none for 1xx/204/304).
fn write_answer(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    let bodyless = status < 200 || status == 204 || status == 304;
    let mut out = head_bytes(status, headers, (!bodyless).then_some(body.len()), close);
    if !bodyless {
        out.extend_from_slice(body);
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// The head of an answer to HEAD: the length the body would have.
fn write_head(stream: &mut TcpStream, r: &Answer, close: bool) -> io::Result<()> {
    stream.write_all(&head_bytes(r.status, &r.headers, Some(r.body.len()), close))
}

/// Head with the full `Content-Length`, then at most half the body.
fn write_truncated(stream: &mut TcpStream, r: &Answer) -> io::Result<()> {
    let body: &[u8] = if r.body.len() >= 2 { &r.body } else { b"{}" };
    let mut out = head_bytes(r.status, &r.headers, Some(body.len()), false);
    out.extend_from_slice(&body[..body.len() / 2]);
    stream.write_all(&out)?;
    stream.flush()
}

/// A read that found nothing yet (non-blocking, timed out, interrupted):
/// worth trying again.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads_and_connection_semantics() {
        let raw = b"GET /a/products?page=2 HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\n";
        let h = parse_head(raw, raw.len()).unwrap();
        assert_eq!(
            (h.method.as_str(), h.target.as_str(), h.close),
            ("GET", "/a/products?page=2", false)
        );
        let raw = b"GET / HTTP/1.0\r\n\r\n";
        assert!(parse_head(raw, raw.len()).unwrap().close);
        let raw = b"GET / HTTP/1.1\r\nconnection: close\r\ncontent-length: 3\r\n\r\n";
        let h = parse_head(raw, raw.len()).unwrap();
        assert!(h.close && h.content_length == 3);
        for bad in [
            &b"hello\r\n\r\n"[..],
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET / SPDY\r\n\r\n",
            b"GET / HTTP/1.1\r\nnocolon\r\n\r\n",
        ] {
            assert!(parse_head(bad, bad.len()).is_none());
        }
    }

    #[test]
    fn heads_carry_length_except_when_told_not_to() {
        let h = String::from_utf8(head_bytes(204, &[], None, true)).unwrap();
        assert_eq!(h, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        let h = String::from_utf8(head_bytes(200, &[("A".into(), "b".into())], Some(5), false))
            .unwrap();
        assert_eq!(h, "HTTP/1.1 200 OK\r\nA: b\r\nContent-Length: 5\r\n\r\n");
    }
}
