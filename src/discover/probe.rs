//! The few requests `ingest discover` makes, through the run's own client.
//!
//! A [`Probe`] sends at most [`MAX_REQUESTS`] GETs through the same
//! [`Client`] a fetcher uses (its redirects, timeouts, body limit, and
//! headers sent only to the configured origin), each after a token of a
//! bucket of rate 1/s and burst 1 whose waits go through the
//! [`RunControl`] (the deadline, Ctrl-C). It does not retry: a failed
//! answer is what the user is told about. Each [`Answer`] keeps what the
//! detection reads: the status, the headers, the `Link` next target, the
//! final URL and the body's text.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, RateLimit};
use crate::control::{RunControl, Stop};
use crate::fetch::client::{self, Client, Exchange};
use crate::fetch::headers::Headers;
use crate::fetch::rate_limit::TokenBucket;
use crate::fetch::request::Request;
use crate::redact::Redactor;

/// Requests `ingest discover` may make: the first page and two tries of a
/// second one.
pub const MAX_REQUESTS: usize = 3;

/// One answer, as the detection reads it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The URL asked for.
    pub url: String,
    /// The URL that answered, after redirects (relative links resolve
    /// against it).
    pub final_url: String,
    /// The HTTP status.
    pub status: u16,
    /// The response headers, names lowercased.
    pub headers: Headers,
    /// Whether the answer had a `Link` header at all.
    pub link_header: bool,
    /// The `Link: rel="next"` target, resolved.
    pub link_next: Option<String>,
    /// The body's text (empty for a 204).
    pub body: String,
}

/// Why a request gave no answer to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoAnswer {
    /// The request budget is spent.
    Spent,
    /// The deadline passed or the user interrupted.
    Stopped(Stop),
    /// The request failed (no answer, or a status other than 2xx), in
    /// words that hold no secret.
    Failed(String),
}

/// Sends discovery's requests, politely.
pub struct Probe<'a> {
    client: Client,
    bucket: TokenBucket,
    control: &'a RunControl,
    redactor: Arc<Redactor>,
    /// Requests sent so far.
    sent: usize,
}

impl<'a> Probe<'a> {
    /// A probe for the one source of `config`, one request per `interval`.
    pub fn new(config: &Config, control: &'a RunControl, interval: Duration) -> Self {
        let redactor = Arc::new(config.redactor());
        let agent = client::agent();
        control.set_agent(agent.clone());
        let per_second = 1.0 / interval.as_secs_f64().max(0.001);
        Probe {
            client: Client::new(agent, &config.sources[0], Arc::clone(&redactor)),
            bucket: TokenBucket::new(RateLimit {
                per_second,
                burst: 1,
            }),
            control,
            redactor,
            sent: 0,
        }
    }

    /// Requests left.
    pub fn left(&self) -> usize {
        MAX_REQUESTS - self.sent
    }

    /// `url` as it may be shown: secrets hidden.
    pub fn shown(&self, url: &str) -> String {
        self.redactor.shown_url(url)
    }

    /// `text` as it may be shown: secrets hidden.
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact_text(text)
    }

    /// GETs `url` once, after a token; a 2xx answer, or why there is none.
    pub fn get(&mut self, url: &str) -> Result<Answer, NoAnswer> {
        self.send(url, Request::get(url))
    }

    /// POSTs the JSON `body` to `url` once (a GraphQL query), as `get`.
    pub fn post(&mut self, url: &str, body: String) -> Result<Answer, NoAnswer> {
        let request = Request {
            method: crate::config::Method::Post,
            body: Some(body),
            ..Request::get(url)
        };
        self.send(url, request)
    }

    /// Sends `request` once, after a token.
    fn send(&mut self, url: &str, request: Request) -> Result<Answer, NoAnswer> {
        if self.sent >= MAX_REQUESTS {
            return Err(NoAnswer::Spent);
        }
        self.bucket.take(self.control).map_err(NoAnswer::Stopped)?;
        let time_left = self.control.time_left().map_err(NoAnswer::Stopped)?;
        self.sent += 1;
        // A redirect hop is a request too: the three are the server's count.
        let (bucket, control) = (&self.bucket, self.control);
        let mut sent = self.sent;
        let exchange = self.client.send(&request, time_left, || {
            if sent >= MAX_REQUESTS {
                return false;
            }
            sent += 1;
            bucket.take(control).is_ok()
        });
        self.sent = sent;
        self.read(url, exchange)
    }

    /// The answer of `exchange`, or why it is none.
    fn read(&self, url: &str, exchange: Exchange) -> Result<Answer, NoAnswer> {
        let status = exchange.status;
        let body = match exchange.body {
            Ok(body) => body.unwrap_or_default(),
            Err(e) => {
                let said = exchange
                    .error_body
                    .map(|b| format!(": {}", crate::text::shorten(&self.redact(b.trim()), 200)))
                    .unwrap_or_default();
                let what = match status {
                    Some(status) => format!("the server answered {status}{said}"),
                    None => format!("no answer: {}", self.redact(&e.to_string())),
                };
                return Err(NoAnswer::Failed(what));
            }
        };
        Ok(Answer {
            url: url.to_string(),
            final_url: exchange.final_url,
            status: status.unwrap_or(200),
            headers: exchange.headers,
            link_header: exchange.link_header,
            link_next: exchange.link_next,
            body,
        })
    }
}
