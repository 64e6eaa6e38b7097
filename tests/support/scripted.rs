//! A scripted HTTP server for the tests whose answers the `testsupport`
//! mocks cannot give: bodies written by the test (a next link that echoes
//! a key, items stamped in the future), and a request log that keeps the
//! headers, so a test can say what a server was sent — credentials
//! included. tiny_http on 127.0.0.1:0; stopped when dropped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query, as sent.
    pub target: String,
    /// Header names lower-cased, values as sent.
    pub headers: BTreeMap<String, String>,
}

impl Seen {
    /// Query parameter `name`, percent-decoded (the first, when repeated).
    pub fn query(&self, name: &str) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| decode(v))
    }
}

/// `%XX` escapes and `+` decoded, as a server reads a query value.
fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let hex = |i: usize| {
        let digit = |b: Option<&u8>| (char::from(*b?)).to_digit(16);
        Some(digit(bytes.get(i))? * 16 + digit(bytes.get(i + 1))?)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(i + 1)) {
            (b'%', Some(b)) => {
                out.push(b as u8);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An answer: status, extra headers, JSON body.
pub type Answer = (u16, Vec<(String, String)>, String);

/// What the server answers for a request target (path and query).
pub type Script = dyn Fn(&str) -> Answer + Send + Sync;

/// A server that answers every request by its script and logs it.
pub struct Scripted {
    base: String,
    log: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    serving: Option<JoinHandle<()>>,
}

impl Scripted {
    /// Starts serving `script` on 127.0.0.1:0.
    pub fn start(script: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Scripted {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let serving = {
            let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
            let script: Box<Script> = Box::new(script);
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(20)) else {
                        continue;
                    };
                    let headers = request
                        .headers()
                        .iter()
                        .map(|h| {
                            let name = h.field.as_str().as_str().to_ascii_lowercase();
                            (name, h.value.to_string())
                        })
                        .collect();
                    let target = request.url().to_string();
                    let (status, extra, body) = script(&target);
                    log.lock().unwrap().push(Seen { target, headers });
                    let mut response = tiny_http::Response::from_string(body)
                        .with_status_code(status)
                        .with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .unwrap(),
                        );
                    for (name, value) in extra {
                        let header =
                            tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes());
                        response.add_header(header.unwrap());
                    }
                    let _ = request.respond(response);
                }
            })
        };
        Scripted {
            base: format!("http://127.0.0.1:{port}"),
            log,
            stop,
            serving: Some(serving),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(serving) = self.serving.take() {
            let _ = serving.join();
        }
    }
}
