//! The validated run configuration.
//!
//! A config file is JSON (SPEC §3). It is read into a `serde_json::Value` and
//! walked by hand rather than deserialized with derive, because every error
//! must name the file, the key path (`sources[1].pagination.cursor_path`),
//! what was expected and what was found — and because `pagination` keys
//! depend on the style. The result is a [`Config`] whose values are already
//! in their runtime types (durations, enums); worker threads never see raw
//! JSON config. The walk lives in `validate.rs` (and, for the `record`
//! schemas, `record.rs`), on the generic JSON-reading toolkit of `json.rs`;
//! this file holds the types, their defaults, and the redacted view written
//! to `summary.config`.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::json::DotPath;
use crate::record::schema::{FieldPaths, RecordSchema};
use crate::redact::Redactor;

mod auth;
mod envelope;
mod fanout;
mod incremental;
mod json;
mod record;
mod rules;
mod validate;

pub use auth::{Auth, Grant, OAuth2};
pub use envelope::EnvelopePath;
pub use fanout::{placeholders, Parent, Partitions, WindowEnd, WINDOW_END, WINDOW_START};
pub use incremental::Incremental;
pub use rules::{Action, Rule};

#[cfg(test)]
mod tests;

/// Everything a run needs to know, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The APIs to ingest from, in file order. At least one.
    pub sources: Vec<SourceConfig>,
    /// The top level's policies: the default of every source, key by key,
    /// where the source sets none of its own (each source's effective
    /// values are its `SourceConfig::policies`).
    pub policies: Policies,
    /// Capacity, in items, of the channel between fetchers and processor.
    /// Defaults to 100.
    pub queue_capacity: usize,
    /// Items normalized together in one parallel chunk. Defaults to 50.
    pub batch_size: usize,
    /// Wall-clock budget of the whole run, from process start.
    /// Defaults to 60 s.
    pub deadline: Duration,
    /// Where `deadline` came from. Defaults to the default.
    pub deadline_from: DeadlineFrom,
    /// Rate limits shared by the sources that name them (their
    /// `rate_limit_group`), in file order. Defaults to none.
    pub rate_limit_groups: Vec<(String, RateLimit)>,
}

/// How politely and how patiently one source is fetched (SPEC §3, §4):
/// the keys a source may set for itself, each over the top level's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policies {
    /// The source's token bucket. Defaults to 5 requests/s, burst 5.
    pub rate_limit: RateLimit,
    /// How often and how patiently a page is retried. Defaults to 3
    /// retries, 500 ms base delay, 4 s cap.
    pub retry: RetrySettings,
    /// When the source's circuit breaker opens and for how long. Defaults
    /// to 3 failures, 15 s cooldown.
    pub breaker: BreakerPolicy,
    /// Per-request connect and read budgets. Defaults to 3 s and 8 s.
    pub timeouts: Timeouts,
    /// Pages the source may request before it stops with `max_pages`.
    /// Defaults to 10 000.
    pub max_pages: u64,
    /// Pages given up one after another before the source stops with
    /// `error`. Defaults to 3.
    pub max_failed_pages_in_a_row: u32,
    /// Largest response body accepted, in bytes. Defaults to 10 MiB.
    pub max_body_bytes: u64,
    /// Requests of the source in flight at once, all through its one
    /// bucket, breaker and quota (SPEC §13): a partitioned source walks
    /// this many partitions at once. 1 to 64. Defaults to 1.
    pub concurrency: u32,
}

/// One API to ingest from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// Unique name, `[A-Za-z0-9_.-]+`; the prefix of every record key.
    pub name: String,
    /// The first page's URL (http or https), with `query` applied: what
    /// the source requests first, and what every pagination style that
    /// derives its requests from it (`page`, `offset`, `cursor`) keeps.
    pub url: String,
    /// Dot path to the item array in a page body; `None` auto-detects.
    pub items_path: Option<DotPath>,
    /// Dot path, in each element of that array, to the item itself (a
    /// GraphQL edge's `node`); `None`: the element is the item.
    pub item_path: Option<DotPath>,
    /// How to find the next page. Defaults to [`Pagination::None`].
    pub pagination: Pagination,
    /// Per-field dot-path overrides of the product schema (the `fields`
    /// shorthand); empty for a declared schema.
    pub fields: FieldPaths,
    /// How items become records: the source's own `record`, else the
    /// top-level one, else the product schema (with `fields`).
    pub record: RecordSchema,
    /// Whether invalid items are written to `rejected.jsonl`. Defaults to
    /// the top-level `keep_rejected`, which defaults to false.
    pub keep_rejected: bool,
    /// Extra request headers, in file order, `env:` values already read.
    pub headers: Vec<Header>,
    /// Extra query parameters, in file order, `env:` values already read;
    /// already set in `url`, replacing parameters of the same name.
    pub query: Vec<QueryParam>,
    /// What makes the source incremental (SPEC §9), if it is.
    pub incremental: Option<Incremental>,
    /// How its requests authenticate (SPEC §11): the source's own `auth`,
    /// else the top level's, else none (`user:password@` in `url` is
    /// Basic).
    pub auth: Option<Auth>,
    /// The method of every request. Defaults to GET.
    pub method: Method,
    /// The JSON body of every request (POST only), written out once.
    pub body: Option<String>,
    /// What an answer means before SPEC §4 says (SPEC §11): the source's
    /// own `on_response`, else the top level's. Defaults to none.
    pub on_response: Vec<Rule>,
    /// The pagination's position parameters go into the body, at their
    /// dot paths, instead of the query (`"in": "body"`).
    pub params_in_body: bool,
    /// Given by the `graphql` shorthand: answers are read for GraphQL's
    /// `errors`.
    pub graphql: bool,
    /// The shared rate limit it also takes a token of, if any (a name of
    /// the top level's `rate_limit_groups`).
    pub rate_limit_group: Option<String>,
    /// The source's effective policies: its own keys over the top level's.
    pub policies: Policies,
    /// What the source runs once per (SPEC §12): `parent` records, a list
    /// of values, or time windows. Defaults to none: it runs once.
    pub partitions: Option<Partitions>,
    /// Its records are written. Defaults to true; false for a parent
    /// fetched only for its children.
    pub emit: bool,
}

/// An extra request header.
#[derive(Clone, PartialEq)]
pub struct Header {
    /// Header name as written in the config.
    pub name: String,
    /// Header value, with an `env:NAME` reference already resolved.
    pub value: String,
    /// Whether the value must be shown as `***` (an `env:` value or a
    /// sensitive header name).
    pub secret: bool,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.secret { "***" } else { &self.value };
        write!(f, "{}: {}", self.name, value)
    }
}

/// An extra query parameter of a source's requests (`query`).
#[derive(Clone, PartialEq)]
pub struct QueryParam {
    /// Parameter name as written in the config (sent percent-encoded).
    pub name: String,
    /// Parameter value, with an `env:NAME` reference already resolved.
    pub value: String,
    /// Whether the value must be shown as `***` (an `env:` value or a
    /// sensitive parameter name).
    pub secret: bool,
}

impl fmt::Debug for QueryParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.secret { "***" } else { &self.value };
        write!(f, "{}={}", self.name, value)
    }
}

/// The HTTP method of a source's requests. ingest only reads: a POST is
/// a query (a search endpoint, GraphQL), retried like a GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// Every request of a source by default.
    #[default]
    Get,
    /// A query with a JSON body.
    Post,
}

impl Method {
    /// The method as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// How a source moves from one page to the next (SPEC §3 table).
#[derive(Debug, Clone, PartialEq)]
pub enum Pagination {
    /// Page numbers: `param` = `start`, `start + 1`, …
    Page {
        /// Query parameter carrying the page number. Defaults to `page`.
        param: String,
        /// First page number. Defaults to 1.
        start: u64,
        /// Page-size parameter and value, sent together when configured.
        size: Option<(String, u64)>,
        /// Where an answer gives the total page count.
        total_pages_path: Option<EnvelopePath>,
        /// Where an answer gives the total item count: the last page is
        /// ceil(total / page size).
        total_items_path: Option<EnvelopePath>,
        /// Where an answer gives a boolean that is false on the last page.
        has_more_path: Option<EnvelopePath>,
    },
    /// Offsets: `offset_param` = `start`, then + items received.
    Offset {
        /// Query parameter carrying the offset. Defaults to `offset`.
        offset_param: String,
        /// First offset. Defaults to 0.
        start: u64,
        /// Limit parameter and value, sent together when configured.
        limit: Option<(String, u64)>,
        /// Where an answer gives the total item count.
        total_path: Option<EnvelopePath>,
        /// Where an answer gives a boolean that is false on the last page.
        has_more_path: Option<EnvelopePath>,
    },
    /// Opaque cursor taken from each body, or from its last item.
    Cursor {
        /// Where the next cursor is. Required (one of the two keys).
        from: CursorFrom,
        /// Query parameter carrying the cursor. Defaults to `cursor`.
        param: String,
        /// Where an answer gives a boolean that is false on the last page.
        has_more_path: Option<EnvelopePath>,
    },
    /// A next-page URL taken from each answer.
    NextUrl {
        /// Where an answer gives the next URL. Defaults to `next` in the
        /// body.
        next_path: EnvelopePath,
    },
    /// RFC 8288 `Link: <…>; rel="next"` response headers.
    LinkHeader,
    /// One request.
    None,
}

/// Where a `cursor` source finds its next cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum CursorFrom {
    /// `cursor_path`: a dot path in the body, or a response header.
    Body(EnvelopePath),
    /// `last_item_path`: a dot path in the page's last item (Stripe's
    /// `starting_after=<last id>`).
    LastItem(DotPath),
}

/// Token bucket settings, per source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Refill rate in requests per second (> 0, may be fractional).
    /// Defaults to 5.
    pub per_second: f64,
    /// Bucket capacity; the bucket starts full. Defaults to 5.
    pub burst: u64,
}

/// Retry and backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts after a page's first. Defaults to 3.
    pub max_retries: u32,
    /// Backoff before the first retry (upper bound). Defaults to 500 ms.
    pub base_delay: Duration,
    /// Backoff cap. Defaults to 4 s.
    pub max_delay: Duration,
}

/// Circuit breaker settings, per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive retryable failures that open the breaker. Defaults to 3.
    pub failure_threshold: u32,
    /// How long an open breaker sends nothing. Defaults to 15 s.
    pub cooldown: Duration,
}

/// Per-request time budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting (TCP and TLS). Defaults to 3 s.
    pub connect: Duration,
    /// Receiving the whole response, headers and body. Defaults to 8 s.
    pub read: Duration,
}

impl Default for Policies {
    /// Every policy default of SPEC §3, in one place.
    fn default() -> Self {
        Self {
            rate_limit: RateLimit {
                per_second: 5.0,
                burst: 5,
            },
            retry: RetrySettings {
                max_retries: 3,
                base_delay: Duration::from_millis(500),
                max_delay: Duration::from_millis(4000),
            },
            breaker: BreakerPolicy {
                failure_threshold: 3,
                cooldown: Duration::from_millis(15_000),
            },
            timeouts: Timeouts {
                connect: Duration::from_millis(3000),
                read: Duration::from_millis(8000),
            },
            max_pages: 10_000,
            max_failed_pages_in_a_row: 3,
            max_body_bytes: 10 * 1024 * 1024,
            concurrency: 1,
        }
    }
}

impl Default for Config {
    /// Every default of SPEC §3, with no sources.
    fn default() -> Self {
        Self {
            sources: Vec::new(),
            policies: Policies::default(),
            queue_capacity: 100,
            batch_size: 50,
            deadline: Duration::from_millis(60_000),
            deadline_from: DeadlineFrom::Default,
            rate_limit_groups: Vec::new(),
        }
    }
}

/// Which setting the run's deadline came from: a source stopped by it says
/// so, and how to raise it (a bulk run stopped by a default nobody chose
/// must not look like a server's fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineFrom {
    /// Nobody set it: the 60 s default.
    Default,
    /// `deadline_ms` of the config file.
    Config,
    /// `--deadline SECS` on the command line.
    Flag,
    /// `deadline_s` of `ingest tap`'s settings (SPEC §15).
    TapSetting,
}

impl Config {
    /// Sets the run's deadline, from `from`.
    pub fn set_deadline(&mut self, deadline: Duration, from: DeadlineFrom) {
        self.deadline = deadline;
        self.deadline_from = from;
    }

    /// The run's control for a process that started at `started`: its
    /// deadline, said as [`deadline_words`](Self::deadline_words). A
    /// deadline too far for an `Instant` is a century away.
    pub fn control(&self, started: std::time::Instant) -> crate::control::RunControl {
        let deadline = started
            .checked_add(self.deadline)
            .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 86_400));
        crate::control::RunControl::new(deadline).deadline_set_by(self.deadline_words())
    }

    /// The deadline as a stop reason names it: which setting, its value,
    /// and how to raise it.
    pub fn deadline_words(&self) -> String {
        let secs = self.deadline.as_secs_f64();
        match self.deadline_from {
            DeadlineFrom::Default => format!(
                "the default of {secs} s (raise it with --deadline SECS, or deadline_ms in the config)"
            ),
            DeadlineFrom::Config => format!(
                "deadline_ms {} of the config (raise it there, or with --deadline SECS)",
                self.deadline.as_millis()
            ),
            DeadlineFrom::Flag => format!("--deadline {secs} (raise it there)"),
            DeadlineFrom::TapSetting => {
                format!("deadline_s {secs} of the tap's settings (raise it there)")
            }
        }
    }
}

/// A config that cannot be used; its `Display` is the whole message a
/// user sees (file, key path, expected, found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        Self::load_with(path, validate::parse)
    }

    /// [`load`](Self::load), with `env:` variables that are not set read
    /// as `***`: the config's shape for a catalog, where nothing is sent.
    pub fn load_without_secrets(path: &std::path::Path) -> Result<Config, ConfigError> {
        Self::load_with(path, validate::parse_without_secrets)
    }

    fn load_with(
        path: &std::path::Path,
        parse: fn(&str, &str) -> Result<Config, ConfigError>,
    ) -> Result<Config, ConfigError> {
        use std::io::Read;
        let shown = path.display();
        let cannot = |e: std::io::Error| ConfigError(format!("{shown}: cannot read: {e}"));
        // Bounded: `--config /dev/zero` must fail, not fill memory.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
            .map_err(cannot)?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError(format!(
                "{shown}: expected a config file of at most {} MiB",
                MAX_CONFIG_BYTES >> 20
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| ConfigError(format!("{shown}: expected UTF-8 text, found other bytes")))?;
        parse(&shown.to_string(), &text)
    }

    /// Parses and validates config text; `origin` names the file in errors.
    ///
    /// Every error is one line, `<origin>: <key path>: <problem>`, e.g.
    /// `cfg.json: sources[1].pagination.cursor_path: expected a dot path
    /// like "pricing.amount", found 5`. Header values are never shown.
    pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
        validate::parse(origin, text)
    }

    /// [`parse`](Self::parse), with `env:` variables that are not set read
    /// as `***` (for a catalog: nothing is sent).
    pub fn parse_without_secrets(origin: &str, text: &str) -> Result<Config, ConfigError> {
        validate::parse_without_secrets(origin, text)
    }

    /// The redactor for this config's secrets: its secret header values,
    /// its secret `query` parameters (hidden by name and by value), and
    /// the secret query values and passwords of its source URLs.
    pub fn redactor(&self) -> Redactor {
        let secret_headers = self
            .sources
            .iter()
            .flat_map(|s| s.headers.iter().filter(|h| h.secret))
            .map(|h| h.value.clone())
            .chain(
                self.sources
                    .iter()
                    .flat_map(|s| s.auth.iter().flat_map(Auth::secrets)),
            )
            .collect::<Vec<String>>();
        let secret_params = self
            .sources
            .iter()
            .flat_map(|s| s.query.iter().filter(|q| q.secret))
            .map(|q| (q.name.as_str(), q.value.as_str()));
        // A password in a token endpoint's URL is one too.
        let token_urls = self.sources.iter().filter_map(|s| match &s.auth {
            Some(Auth::OAuth2(o)) => Some(o.token_url.as_str()),
            _ => None,
        });
        Redactor::new(
            secret_headers.iter().map(String::as_str),
            secret_params,
            self.sources
                .iter()
                .map(|s| s.url.as_str())
                .chain(token_urls),
        )
    }

    /// The effective config as JSON in the file's own key names, with every
    /// secret shown as `***` (for `summary.config`).
    ///
    /// Every default is written out, so the summary says exactly what ran;
    /// for a config without secrets, parsing this JSON gives back `self`.
    pub fn to_redacted_json(&self) -> Value {
        let redactor = self.redactor();
        let mut out = Map::new();
        out.insert(
            "sources".into(),
            self.sources
                .iter()
                .map(|s| s.to_redacted_json(&redactor))
                .collect(),
        );
        // SPEC §3's order: the run-wide keys among the policies.
        let mut policies = self.policies.to_json().into_iter();
        out.extend(policies.by_ref().take(4));
        out.insert("queue_capacity".into(), json!(self.queue_capacity));
        out.insert("batch_size".into(), json!(self.batch_size));
        out.insert("deadline_ms".into(), json!(ms(self.deadline)));
        out.extend(policies);
        // Written when there are any, so a config without reads as before.
        if !self.rate_limit_groups.is_empty() {
            let groups: Map<String, Value> = self
                .rate_limit_groups
                .iter()
                .map(|(name, r)| {
                    (
                        name.clone(),
                        json!({"per_second": r.per_second, "burst": r.burst}),
                    )
                })
                .collect();
            out.insert("rate_limit_groups".into(), Value::Object(groups));
        }
        Value::Object(out)
    }
}

impl Policies {
    /// The policy keys as a config file writes them, every value given.
    fn to_json(self) -> Map<String, Value> {
        let json = json!({
            "rate_limit": { "per_second": self.rate_limit.per_second, "burst": self.rate_limit.burst },
            "retry": {
                "max_retries": self.retry.max_retries,
                "base_delay_ms": ms(self.retry.base_delay),
                "max_delay_ms": ms(self.retry.max_delay),
            },
            "breaker": {
                "failure_threshold": self.breaker.failure_threshold,
                "cooldown_ms": ms(self.breaker.cooldown),
            },
            "timeouts": { "connect_ms": ms(self.timeouts.connect), "read_ms": ms(self.timeouts.read) },
            "max_pages": self.max_pages,
            "max_failed_pages_in_a_row": self.max_failed_pages_in_a_row,
            "max_body_bytes": self.max_body_bytes,
            "concurrency": self.concurrency,
        });
        match json {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }
}

impl SourceConfig {
    /// The item in an element of a page's item array: the element, or
    /// what `unwrap` names inside it (a GraphQL edge's node); an element
    /// without it is read whole. The one place `run` and `check` unwrap.
    pub fn item<'n, 'a>(&self, element: &'n crate::json::Node<'a>) -> &'n crate::json::Node<'a> {
        match &self.item_path {
            Some(path) => path.get(element).unwrap_or(element),
            None => element,
        }
    }
}

impl SourceConfig {
    fn to_redacted_json(&self, redactor: &Redactor) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        out.insert("url".into(), json!(redactor.redact_url(&self.url)));
        if let Some(items_path) = &self.items_path {
            out.insert("items_path".into(), json!(items_path));
        }
        if let Some(item_path) = &self.item_path {
            out.insert("unwrap".into(), json!(item_path));
        }
        let mut pagination = self.pagination.to_json();
        if self.params_in_body {
            pagination["in"] = json!("body");
        }
        out.insert("pagination".into(), pagination);
        // `fields` is the product schema's shorthand: beside a declared
        // record it would be refused.
        if self.record.product {
            out.insert("fields".into(), self.fields_json());
        }
        out.insert("record".into(), record::record_json(&self.record));
        if let Some(incremental) = &self.incremental {
            out.insert("incremental".into(), incremental.to_json());
        }
        out.insert("keep_rejected".into(), json!(self.keep_rejected));
        // Written when set, so that a GET source's summary reads as before.
        if self.method != Method::Get {
            out.insert("method".into(), json!(self.method.as_str()));
        }
        if let Some(body) = &self.body {
            let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            out.insert("body".into(), body);
        }
        if let Some(auth) = &self.auth {
            out.insert("auth".into(), auth.to_redacted_json());
        }
        if let Some(group) = &self.rate_limit_group {
            out.insert("rate_limit_group".into(), json!(group));
        }
        // Written when set, so that a source that runs once reads as before.
        if let Some(partitions) = &self.partitions {
            let (key, value) = partitions.to_json();
            out.insert(key.into(), value);
        }
        if !self.emit {
            out.insert("emit".into(), json!(false));
        }
        // Written when set, so that a source without rules reads as before.
        if !self.on_response.is_empty() {
            let rules = self.on_response.iter().map(Rule::to_json).collect();
            out.insert("on_response".into(), Value::Array(rules));
        }
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|h| {
                let value = if h.secret { "***" } else { &h.value };
                (h.name.clone(), json!(value))
            })
            .collect();
        out.insert("headers".into(), Value::Object(headers));
        let query: Map<String, Value> = self
            .query
            .iter()
            .map(|q| {
                let value = if q.secret { "***" } else { &q.value };
                (q.name.clone(), json!(value))
            })
            .collect();
        out.insert("query".into(), Value::Object(query));
        out.extend(self.policies.to_json());
        Value::Object(out)
    }

    /// The `fields` shorthand: the product paths this source overrides.
    fn fields_json(&self) -> Value {
        let fields = [
            ("id", &self.fields.id),
            ("name", &self.fields.name),
            ("price", &self.fields.price),
            ("currency", &self.fields.currency),
            ("category", &self.fields.category),
        ];
        let fields: Map<String, Value> = fields
            .into_iter()
            .filter_map(|(key, path)| Some((key.to_string(), json!(path.as_ref()?))))
            .collect();
        Value::Object(fields)
    }
}

impl Pagination {
    /// The style and its effective keys, as a config file writes them.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = Map::new();
        let mut put = |key: &str, value: Value| {
            out.insert(key.to_string(), value);
        };
        match self {
            Pagination::Page {
                param,
                start,
                size,
                total_pages_path,
                total_items_path,
                has_more_path,
            } => {
                put("style", json!("page"));
                put("param", json!(param));
                put("start", json!(start));
                if let Some((size_param, size)) = size {
                    put("size_param", json!(size_param));
                    put("size", json!(size));
                }
                if let Some(path) = total_pages_path {
                    put("total_pages_path", json!(path));
                }
                if let Some(path) = total_items_path {
                    put("total_items_path", json!(path));
                }
                if let Some(path) = has_more_path {
                    put("has_more_path", json!(path));
                }
            }
            Pagination::Offset {
                offset_param,
                start,
                limit,
                total_path,
                has_more_path,
            } => {
                put("style", json!("offset"));
                put("offset_param", json!(offset_param));
                put("start", json!(start));
                if let Some((limit_param, limit)) = limit {
                    put("limit_param", json!(limit_param));
                    put("limit", json!(limit));
                }
                if let Some(path) = total_path {
                    put("total_path", json!(path));
                }
                if let Some(path) = has_more_path {
                    put("has_more_path", json!(path));
                }
            }
            Pagination::Cursor {
                from,
                param,
                has_more_path,
            } => {
                put("style", json!("cursor"));
                match from {
                    CursorFrom::Body(path) => put("cursor_path", json!(path)),
                    CursorFrom::LastItem(path) => put("last_item_path", json!(path)),
                }
                put("param", json!(param));
                if let Some(path) = has_more_path {
                    put("has_more_path", json!(path));
                }
            }
            Pagination::NextUrl { next_path } => {
                put("style", json!("next_url"));
                put("next_path", json!(next_path));
            }
            Pagination::LinkHeader => put("style", json!("link_header")),
            Pagination::None => put("style", json!("none")),
        }
        Value::Object(out)
    }
}

/// A duration as whole milliseconds, the unit of every `_ms` key.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;
