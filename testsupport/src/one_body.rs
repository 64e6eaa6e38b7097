//! One fixed body for every request: the huge single page that memory
//! measurements need, which the scenario mock is not built for (it renders
//! each page through tiny_http and relays it whole, and `serve-mock` caps a
//! page at 10,000 items for its users).
//!
//! [`OneBody`] binds 127.0.0.1:0 and answers every request on a connection
//! of its own: it reads the request head, writes `200 OK` with a
//! `Content-Length` and the body, and closes; the guard stops its thread
//! when dropped. [`products_body`] makes such a body: `{"data":[..]}` of
//! distinct, valid products of about 100 bytes each.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the idle accept loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(5);
/// Largest request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Bound on reading a request head and on writing the answer, so that a
/// client that stalls cannot keep the guard from stopping.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves one body on 127.0.0.1 until dropped.
pub struct OneBody {
    addr: SocketAddr,
    /// Set by `drop`, read by the accept loop.
    stop: Arc<AtomicBool>,
    /// Bodies written whole; written by the accept loop, read by `served`.
    served: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl OneBody {
    /// Starts serving `body` (as `application/json`) on an ephemeral port.
    pub fn start(body: impl Into<Arc<[u8]>>) -> io::Result<OneBody> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let body = body.into();
        let thread = {
            let (stop, served) = (Arc::clone(&stop), Arc::clone(&served));
            std::thread::Builder::new()
                .name("one-body".into())
                .spawn(move || accept_loop(&listener, &body, &stop, &served))?
        };
        Ok(OneBody {
            addr,
            stop,
            served,
            thread: Some(thread),
        })
    }

    /// The URL to request (any path gets the same body).
    pub fn url(&self) -> String {
        format!("http://{}/page", self.addr)
    }

    /// How many times the body has been written whole.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for OneBody {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, body: &[u8], stop: &AtomicBool, served: &AtomicUsize) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(stream, body, served) {
                    log::debug!("one-body: answer failed: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
            Err(e) => log::debug!("one-body: accept failed: {e}"),
        }
    }
}

/// Reads one request head, then writes the answer, counts it and closes
/// (in that order: a client that has read to the close sees it counted).
fn answer(mut stream: TcpStream, body: &[u8], served: &AtomicUsize) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > MAX_HEAD {
            return Err(io::ErrorKind::InvalidData.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(status.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    served.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

const NOUNS: [&str; 4] = ["Desk lamp", "Notebook", "Office chair", "USB cable"];
const CATEGORIES: [&str; 4] = ["home", "office", "tools", "kitchen"];

/// `{"data":[..]}` of `count` products with ids 1 to `count`, every one a
/// record under the product schema (no duplicates, nothing invalid), each
/// about 100 bytes (100,000 of them make 10.2 MB). The same `count` gives
/// the same bytes.
pub fn products_body(count: usize) -> String {
    let mut body = String::with_capacity(count * 104 + 16);
    body.push_str("{\"data\":[");
    for n in 1..=count {
        if n > 1 {
            body.push(',');
        }
        let cents = 100 + (n * 7919) % 150_000;
        body.push_str(&format!(
            "{{\"id\":{n},\"name\":\"{} {n}\",\"price\":{}.{:02},\"currency\":\"USD\",\
             \"category\":\"{}\",\"stock\":{}}}",
            NOUNS[n % NOUNS.len()],
            cents / 100,
            cents % 100,
            CATEGORIES[n % CATEGORIES.len()],
            n % 500,
        ));
    }
    body.push_str("]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_body_is_json_with_distinct_ids_of_about_100_bytes() {
        let body = products_body(1000);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let items = doc["data"].as_array().unwrap();
        assert_eq!(items.len(), 1000);
        let ids: std::collections::BTreeSet<u64> =
            items.iter().map(|i| i["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        let per_item = body.len() / 1000;
        assert!((90..=110).contains(&per_item), "{per_item} bytes per item");
    }

    #[test]
    fn every_request_gets_the_whole_body_then_a_close() {
        let server = OneBody::start(b"{\"data\":[]}".to_vec()).unwrap();
        let addr = server
            .url()
            .trim_start_matches("http://")
            .replace("/page", "");
        for _ in 0..2 {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut got = String::new();
            s.read_to_string(&mut got).unwrap();
            assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
            assert!(got.contains("Content-Length: 11\r\n"), "{got}");
            assert!(got.ends_with("\r\n\r\n{\"data\":[]}"), "{got}");
        }
        assert_eq!(server.served(), 2);
    }
}
