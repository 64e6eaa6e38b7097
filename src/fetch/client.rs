//! One HTTP attempt: send, receive within budget, read at most
//! `max_body_bytes`, parse JSON, and classify what went wrong.
//!
//! The agent is shared by every source (clones share one connection pool)
//! so that one `shutdown()` cuts every in-flight request on Ctrl-C. Status
//! codes never become errors inside ureq: the fetcher needs the headers of
//! a 429 (`Retry-After`) and of a failed page (`Link`). Secret headers
//! are sent only to the origin of the source's configured URL, never to
//! another host a next link points to.

use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::Agent;

use crate::config::{Config, SourceConfig};
use crate::error::AttemptError;
use crate::fetch::{page, url};

/// Bytes read from an error answer so its connection can be reused.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// The agent every source's client clones.
pub fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("ingest/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// What one attempt produced.
#[derive(Debug)]
pub struct Exchange {
    /// The status, when an answer arrived.
    pub status: Option<u16>,
    /// Send to end of body, when a whole answer arrived.
    pub latency: Option<Duration>,
    /// The answer's `Retry-After` value, if any.
    pub retry_after: Option<String>,
    /// The answer's `Link` rel="next" target, if any (unresolved).
    pub link_next: Option<String>,
    /// The parsed body (`None` for 204 No Content), or why there is none.
    pub body: Result<Option<Value>, AttemptError>,
}

/// Sends one source's requests.
#[derive(Debug, Clone)]
pub struct Client {
    agent: Agent,
    /// Configured headers, with whether each value is a secret.
    headers: Vec<(String, String, bool)>,
    /// Origin of the source's URL: secrets are sent there only.
    origin: String,
    connect: Duration,
    read: Duration,
    max_body_bytes: u64,
}

impl Client {
    /// A client for `source` under `config`'s timeouts and limits.
    pub fn new(agent: Agent, config: &Config, source: &SourceConfig) -> Self {
        Self {
            agent,
            headers: source
                .headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone(), h.secret))
                .collect(),
            origin: url::origin(&source.url),
            connect: config.timeouts.connect,
            read: config.timeouts.read,
            max_body_bytes: config.max_body_bytes,
        }
    }

    /// GETs `url`, spending at most `time_left`: connecting within
    /// `connect_ms`, and the whole attempt within `connect_ms + read_ms`.
    pub fn get(&self, url: &str, time_left: Duration) -> Exchange {
        let budget = time_left.min(self.connect + self.read);
        let mut request = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(budget))
            .timeout_connect(Some(self.connect.min(budget)))
            .timeout_recv_response(Some(self.read.min(budget)))
            .timeout_recv_body(Some(self.read.min(budget)))
            .build();
        // A next link may point anywhere; credentials stay with the origin
        // they were configured for.
        let same_origin = url::origin(url) == self.origin;
        for (name, value, secret) in &self.headers {
            if same_origin || !secret {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let sent = Instant::now();
        let mut response = match request.call() {
            Ok(r) => r,
            Err(e) => return Exchange::failed(classify(e)),
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let link_next = page::next_link(
            headers
                .get_all("link")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let ok = (200..300).contains(&status);
        let limit = if ok {
            self.max_body_bytes
        } else {
            ERROR_BODY_LIMIT
        };
        let bytes = response.body_mut().with_config().limit(limit).read_to_vec();
        let latency = bytes.is_ok().then(|| sent.elapsed());
        let body = match bytes {
            _ if !ok => Err(AttemptError::Status(status)),
            Ok(_) if status == 204 => Ok(None),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| AttemptError::MalformedJson(e.to_string())),
            Err(e) => Err(classify(e)),
        };
        Exchange {
            status: Some(status),
            latency,
            retry_after,
            link_next,
            body,
        }
    }
}

impl Exchange {
    fn failed(error: AttemptError) -> Self {
        Self {
            status: None,
            latency: None,
            retry_after: None,
            link_next: None,
            body: Err(error),
        }
    }
}

/// Maps ureq's errors onto the taxonomy.
fn classify(e: ureq::Error) -> AttemptError {
    use ureq::Error as E;
    match e {
        E::Timeout(t) => AttemptError::Timeout(match t {
            ureq::Timeout::Connect | ureq::Timeout::Resolve => "connect",
            ureq::Timeout::Global => "budget",
            _ => "read",
        }),
        E::BodyExceedsLimit(n) => AttemptError::BodyTooLarge(n),
        E::TooManyRedirects => AttemptError::Redirect("too many redirects".into()),
        E::RedirectFailed => AttemptError::Redirect("redirect failed".into()),
        // A 3xx that cannot be followed is a 3xx left after redirects.
        E::Protocol(
            e @ (ureq_proto::Error::NoLocationHeader | ureq_proto::Error::BadLocationHeader(_)),
        ) => AttemptError::Redirect(e.to_string()),
        E::BadUri(detail) => AttemptError::BadUrl(detail),
        E::Http(detail) => AttemptError::BadUrl(detail.to_string()),
        E::StatusCode(code) => AttemptError::Status(code),
        other => AttemptError::Transport(other.to_string()),
    }
}
