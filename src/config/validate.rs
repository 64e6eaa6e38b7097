//! Walking a parsed config file into a [`Config`], by hand: ingest's
//! schema (SPEC §3), on the JSON-reading toolkit of `json.rs`; a source's
//! `record` is walked by `record.rs`.
//!
//! Every check reports one line, `<file>: <key path>: <problem>`, where the
//! problem reads `expected <what>, found <what>` whenever a value is wrong.
//! Objects are checked for unknown keys before their values, so a typo is
//! reported as a typo rather than as a missing key. Defaults come from the
//! types' `impl Default`; this file only overrides what the file sets.

use serde_json::{Map, Value};

use crate::json::DotPath;
use crate::redact::{is_secret_name, Redactor};
use crate::url::{encode_non_ascii, is_http_url};

use super::json::{child, describe, kind, quoted, read, Obj, Walker};
use super::record::RecordForm;
use super::{
    Auth, Config, ConfigError, CursorFrom, DeadlineFrom, EnvelopePath, Header, Method, Pagination,
    Policies, QueryParam, RateLimit, RetrySettings, Rule, SourceConfig,
};

type Result<T> = std::result::Result<T, ConfigError>;

/// Largest `queue_capacity` accepted (items buffered between threads).
pub const MAX_QUEUE_CAPACITY: u64 = 1_000_000;
/// Largest `batch_size` accepted (items normalized together).
pub const MAX_BATCH_SIZE: u64 = 100_000;

/// The policies, at the top level and in any source (over the top
/// level's): read by `policies`, written by `Policies::to_json` (a test
/// checks that the two agree).
pub(super) const POLICY_KEYS: &[&str] = &[
    "rate_limit",
    "retry",
    "breaker",
    "timeouts",
    "max_pages",
    "max_failed_pages_in_a_row",
    "max_body_bytes",
    "concurrency",
];
/// The run-wide keys, besides the policies.
const TOP_KEYS: &[&str] = &[
    "sources",
    "record",
    "keep_rejected",
    "auth",
    "on_response",
    "queue_capacity",
    "batch_size",
    "deadline_ms",
    "rate_limit_groups",
];
/// A source's own keys, besides the policies.
const SOURCE_KEYS: &[&str] = &[
    "name",
    "url",
    "items_path",
    "unwrap",
    "pagination",
    "fields",
    "record",
    "keep_rejected",
    "headers",
    "query",
    "incremental",
    "auth",
    "method",
    "body",
    "on_response",
    "graphql",
    "rate_limit_group",
    "parent",
    "partitions",
    "emit",
];
/// Each style with the keys it accepts (besides `style`), as in SPEC §3.
const STYLES: &[(&str, &[&str])] = &[
    (
        "page",
        &[
            "param",
            "start",
            "size_param",
            "size",
            "total_pages_path",
            "total_items_path",
            "has_more_path",
            "in",
        ],
    ),
    (
        "offset",
        &[
            "offset_param",
            "start",
            "limit_param",
            "limit",
            "total_path",
            "has_more_path",
            "in",
        ],
    ),
    (
        "cursor",
        &[
            "cursor_path",
            "last_item_path",
            "param",
            "has_more_path",
            "in",
        ],
    ),
    ("next_url", &["next_path"]),
    ("link_header", &[]),
    ("none", &[]),
];
/// Headers that frame a request body: ingest frames its own (a POST's
/// body), and set on a GET they make the server wait for bytes that never
/// come.
const FRAMING_HEADERS: [&str; 2] = ["Content-Length", "Transfer-Encoding"];

/// The most requests of one source in flight (`concurrency`).
const MAX_CONCURRENCY: u64 = 64;

/// Largest pagination `start`: 2^53 − 1, the largest integer that every
/// JSON implementation keeps exactly.
const MAX_START: u64 = (1 << 53) - 1;

/// Parses `text` (the contents of `origin`) into a validated [`Config`].
pub(super) fn parse(origin: &str, text: &str) -> Result<Config> {
    let root = read(origin, text)?;
    Walker {
        origin,
        without_secrets: false,
    }
    .config(&root)
}

/// [`parse`], with `env:` variables that are not set read as `***`: the
/// config's shape, for a catalog, where no request is sent.
pub(super) fn parse_without_secrets(origin: &str, text: &str) -> Result<Config> {
    let root = read(origin, text)?;
    Walker {
        origin,
        without_secrets: true,
    }
    .config(&root)
}

impl Walker<'_> {
    fn config(&self, root: &Value) -> Result<Config> {
        if !root.is_object() {
            return Err(self.mismatch("top level", "an object", root));
        }
        let top = self.object_of("", root, &[TOP_KEYS, POLICY_KEYS])?;
        let policies = self.policies(&top, &Policies::default(), None)?;
        let defaults = SourceDefaults {
            auth: match top.get("auth") {
                Some((p, v)) => Some(self.auth(&p, v, &|p, v| self.credential(p, v))?),
                None => None,
            },
            record: self.record_key(&top)?,
            on_response: match top.get("on_response") {
                Some((p, v)) => self.rules(&p, v)?,
                None => Vec::new(),
            },
            keep_rejected: self.bool(&top, "keep_rejected")?.unwrap_or(false),
            policies,
            top: &top,
        };
        let mut config = Config {
            sources: self.sources(&top, &defaults)?,
            policies,
            rate_limit_groups: self.rate_limit_groups(&top)?,
            ..Config::default()
        };
        for (i, source) in config.sources.iter().enumerate() {
            let Some(group) = &source.rate_limit_group else {
                continue;
            };
            if !config
                .rate_limit_groups
                .iter()
                .any(|(name, _)| name == group)
            {
                let known: Vec<&str> = config
                    .rate_limit_groups
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect();
                return Err(self.error(
                    &format!("sources[{i}].rate_limit_group"),
                    format_args!(
                        "unknown group {} (rate_limit_groups has: {})",
                        quoted(group),
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        // Both are allocated up front; past these bounds a typo would abort
        // the process instead of buffering anything useful.
        set(
            &mut config.queue_capacity,
            self.int(&top, "queue_capacity", 1, MAX_QUEUE_CAPACITY)?
                .map(|n| n as usize),
        );
        set(
            &mut config.batch_size,
            self.int(&top, "batch_size", 1, MAX_BATCH_SIZE)?
                .map(|n| n as usize),
        );
        if let Some(deadline) = self.ms(&top, "deadline_ms")? {
            config.set_deadline(deadline, DeadlineFrom::Config);
        }
        Ok(config)
    }

    /// A `rate_limit` object at `path`, its keys set over `base`.
    fn rate_limit(&self, path: &str, v: &Value, base: RateLimit) -> Result<RateLimit> {
        let mut limit = base;
        let r = self.object(path, v, &["per_second", "burst"])?;
        if let Some((k, v)) = r.get("per_second") {
            limit.per_second = match v.as_f64() {
                Some(n) if n > 0.0 && n.is_finite() => n,
                _ => return Err(self.mismatch(&k, "a number > 0", v)),
            };
        }
        set(&mut limit.burst, self.int(&r, "burst", 1, u64::MAX)?);
        Ok(limit)
    }

    /// The top level's `rate_limit_groups`: a name to a `rate_limit` each
    /// (both keys required: a group has no default to inherit).
    fn rate_limit_groups(&self, top: &Obj<'_>) -> Result<Vec<(String, RateLimit)>> {
        let Some((path, v)) = top.get("rate_limit_groups") else {
            return Ok(Vec::new());
        };
        let map = v
            .as_object()
            .ok_or_else(|| self.mismatch(&path, "an object of group names to rate limits", v))?;
        let mut groups = Vec::with_capacity(map.len());
        for (name, v) in map {
            let p = child(&path, name);
            for key in ["per_second", "burst"] {
                if v.get(key).is_none() {
                    return Err(self.error(
                        &child(&p, key),
                        "expected a value, found nothing (a group's rate limit says both)",
                    ));
                }
            }
            groups.push((
                name.clone(),
                self.rate_limit(&p, v, Policies::default().rate_limit)?,
            ));
        }
        Ok(groups)
    }

    /// The policy keys of `o` (the top level, or a source when `top` is
    /// given) set over `base`, key by key: a source's `"rate_limit":
    /// {"per_second": 1}` keeps the burst it inherits.
    fn policies(&self, o: &Obj, base: &Policies, top: Option<&Obj>) -> Result<Policies> {
        let mut p = *base;
        if let Some((path, v)) = o.get("rate_limit") {
            p.rate_limit = self.rate_limit(&path, v, p.rate_limit)?;
        }
        if let Some((path, v)) = o.get("retry") {
            let r = self.object(&path, v, &["max_retries", "base_delay_ms", "max_delay_ms"])?;
            set(&mut p.retry.max_retries, self.u32(&r, "max_retries", 0)?);
            set(&mut p.retry.base_delay, self.ms(&r, "base_delay_ms")?);
            set(&mut p.retry.max_delay, self.ms(&r, "max_delay_ms")?);
            // Where a delay the object does not set comes from, for the
            // message: the top level's retry, else the default.
            let inherited = |key: &str| match top.and_then(|t| t.map.get("retry")?.get(key)) {
                Some(_) => "the top level's",
                None => "the default",
            };
            self.delays(&r, &p.retry, inherited)?;
        }
        if let Some((path, v)) = o.get("breaker") {
            let b = self.object(&path, v, &["failure_threshold", "cooldown_ms"])?;
            set(
                &mut p.breaker.failure_threshold,
                self.u32(&b, "failure_threshold", 1)?,
            );
            set(&mut p.breaker.cooldown, self.ms(&b, "cooldown_ms")?);
        }
        if let Some((path, v)) = o.get("timeouts") {
            let t = self.object(&path, v, &["connect_ms", "read_ms"])?;
            set(&mut p.timeouts.connect, self.ms(&t, "connect_ms")?);
            set(&mut p.timeouts.read, self.ms(&t, "read_ms")?);
        }
        set(&mut p.max_pages, self.int(o, "max_pages", 1, u64::MAX)?);
        set(
            &mut p.max_failed_pages_in_a_row,
            self.u32(o, "max_failed_pages_in_a_row", 1)?,
        );
        set(
            &mut p.max_body_bytes,
            self.int(o, "max_body_bytes", 1, u64::MAX)?,
        );
        set(
            &mut p.concurrency,
            self.int(o, "concurrency", 1, MAX_CONCURRENCY)?
                .map(|n| n as u32),
        );
        Ok(p)
    }

    /// `max_delay_ms >= base_delay_ms`, on the effective values: blame the
    /// key `retry` set (max when both are set); `inherited` says where a
    /// value it did not set came from.
    fn delays(
        &self,
        retry: &Obj,
        effective: &RetrySettings,
        inherited: impl Fn(&str) -> &'static str,
    ) -> Result<()> {
        let (base, max) = (effective.base_delay, effective.max_delay);
        if max >= base {
            return Ok(());
        }
        let (base_ms, max_ms) = (base.as_millis(), max.as_millis());
        Err(
            match (retry.get("max_delay_ms"), retry.get("base_delay_ms")) {
                (Some((p, _)), Some(_)) => self.error(
                    &p,
                    format_args!("expected a value >= base_delay_ms ({base_ms}), found {max_ms}"),
                ),
                (Some((p, _)), None) => self.error(
                    &p,
                    format_args!(
                        "expected a value >= base_delay_ms ({base_ms}, {}), found {max_ms}",
                        inherited("base_delay_ms")
                    ),
                ),
                (None, _) => self.error(
                    &child(&retry.path, "base_delay_ms"),
                    format_args!(
                        "expected a value <= max_delay_ms ({max_ms}, {}), found {base_ms}",
                        inherited("max_delay_ms")
                    ),
                ),
            },
        )
    }

    fn sources(&self, top: &Obj, defaults: &SourceDefaults) -> Result<Vec<SourceConfig>> {
        let Some((path, v)) = top.get("sources") else {
            return Err(self.error(
                "sources",
                "expected a non-empty array of sources, found nothing (the key is required)",
            ));
        };
        let list = v
            .as_array()
            .ok_or_else(|| self.mismatch(&path, "a non-empty array of sources", v))?;
        if list.is_empty() {
            return Err(self.mismatch(&path, "at least one source", v));
        }
        let mut sources: Vec<SourceConfig> = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let path = format!("sources[{i}]");
            let source = self.source(&path, v, defaults)?;
            if let Some(first) = sources.iter().position(|s| s.name == source.name) {
                return Err(self.error(
                    &child(&path, "name"),
                    format_args!(
                        "duplicate source name {} (first at sources[{first}])",
                        quoted(&source.name)
                    ),
                ));
            }
            sources.push(source);
        }
        self.link_parents(&mut sources)?;
        Ok(sources)
    }

    fn source(&self, path: &str, v: &Value, defaults: &SourceDefaults) -> Result<SourceConfig> {
        let o = self.object_of(path, v, &[SOURCE_KEYS, POLICY_KEYS])?;

        let name_expected = "a name made of A-Z a-z 0-9 _ . - (non-empty)";
        let (p, v) = self.required(&o, "name", name_expected)?;
        let name = match v.as_str() {
            Some(s) if is_source_name(s) => s.to_string(),
            _ => return Err(self.mismatch(&p, name_expected, v)),
        };

        let url = self.source_url(&o)?;
        let raw_url = url.clone();

        let graphql = match o.get("graphql") {
            Some((p, v)) => Some(self.graphql(&p, v)?),
            None => None,
        };
        let items_path = match (o.get("items_path"), &graphql) {
            (Some((p, v)), _) => Some(self.dot_path(&p, v)?),
            (None, Some(g)) => Some(g.items_path.clone()),
            (None, None) => None,
        };
        let item_path = match (o.get("unwrap"), &graphql) {
            (Some((p, v)), _) => Some(self.dot_path(&p, v)?),
            (None, Some(g)) if o.get("items_path").is_none() => g.item_path.clone(),
            _ => None,
        };
        let pagination = match (o.get("pagination"), &graphql) {
            (Some((p, v)), _) => self.pagination(&p, v)?,
            (None, Some(g)) => g.pagination.clone(),
            (None, None) => Pagination::None,
        };
        let (fields, record) = self.source_record(&o, defaults.record.as_ref())?;
        let keep_rejected = self
            .bool(&o, "keep_rejected")?
            .unwrap_or(defaults.keep_rejected);
        let headers = match o.get("headers") {
            Some((p, v)) => self.headers(&p, v)?,
            None => Vec::new(),
        };
        let query = match o.get("query") {
            Some((p, v)) => self.query(&p, v)?,
            None => Vec::new(),
        };
        // Set in the start URL, which every request of `page`, `offset`
        // and `cursor` is derived from.
        let url = query.iter().fold(url, |url, q| {
            crate::url::set_query_param(&url, &q.name, &q.value)
        });
        let (url, auth) = self.source_auth(&o, path, url, defaults)?;
        let (method, body) = self.request_of(&o, graphql.as_ref())?;
        let rate_limit_group = match o.get("rate_limit_group") {
            Some((p, v)) => Some(self.non_empty(&p, v)?.to_string()),
            None => None,
        };
        let params_in_body = match (&graphql, o.get("pagination")) {
            (Some(_), None) => true,
            _ => self.params_in_body(&o, method)?,
        };
        let on_response = match o.get("on_response") {
            Some((p, v)) => self.rules(&p, v)?,
            None => defaults.on_response.clone(),
        };
        let policies = self.policies(&o, &defaults.policies, Some(defaults.top))?;
        let incremental = match o.get("incremental") {
            Some((p, v)) => Some(self.incremental(&p, v)?),
            None => None,
        };
        let partitions = self.partitions(&o)?;
        let emit = self.bool(&o, "emit")?.unwrap_or(true);
        let source = SourceConfig {
            name,
            url,
            items_path,
            item_path,
            pagination,
            fields,
            record,
            keep_rejected,
            headers,
            query,
            policies,
            incremental,
            auth,
            method,
            body,
            on_response,
            params_in_body,
            graphql: graphql.is_some(),
            rate_limit_group,
            partitions,
            emit,
        };
        self.check_placeholders(path, &source, &raw_url)?;
        Ok(source)
    }

    /// A source's method and body: its own keys, else what `graphql`
    /// writes (keys written explicitly win over the shorthand; a GET with
    /// it is refused).
    fn request_of(
        &self,
        o: &Obj<'_>,
        graphql: Option<&Graphql>,
    ) -> Result<(Method, Option<String>)> {
        let Some(g) = graphql else {
            return self.method_and_body(o);
        };
        let method = match o.get("method") {
            Some((p, _)) if self.method_and_body(o)?.0 == Method::Get => {
                return Err(self.error(
                    &p,
                    "expected POST with graphql (a GraphQL query goes in the body of a POST)",
                ))
            }
            _ => Method::Post,
        };
        let body = match o.get("body") {
            Some(_) => self.method_and_body(o)?.1,
            None => Some(g.body.clone()),
        };
        Ok((method, body))
    }

    /// A source's `url`: http(s), non-ASCII percent-encoded, shown
    /// redacted when refused.
    fn source_url(&self, o: &Obj<'_>) -> Result<String> {
        let url_expected = "an http:// or https:// URL with a host and no whitespace";
        let (p, v) = self.required(o, "url", url_expected)?;
        match v.as_str() {
            Some(s) if s.starts_with("https://") && !cfg!(feature = "tls") => {
                let shown = Value::String(Redactor::default().redact_url(s));
                let expected = "an http:// URL (this build has no TLS: build with the default features for https)";
                Err(self.mismatch(&p, expected, &shown))
            }
            // Non-ASCII (`/café`) goes on the wire percent-encoded.
            Some(s) if is_http_url(s) => Ok(encode_non_ascii(s.as_bytes())),
            // The URL may carry a secret query parameter: show it redacted.
            Some(s) => {
                let shown = Value::String(Redactor::default().redact_url(s));
                Err(self.mismatch(&p, url_expected, &shown))
            }
            None => Err(self.mismatch(&p, url_expected, v)),
        }
    }

    /// A source's `auth` (its own, else the URL's `user:password@`, else
    /// the top level's), and its URL without the userinfo and with an
    /// API key that goes in the query.
    fn source_auth(
        &self,
        o: &Obj<'_>,
        path: &str,
        url: String,
        defaults: &SourceDefaults,
    ) -> Result<(String, Option<Auth>)> {
        let own_auth = match o.get("auth") {
            Some((p, v)) => Some(self.auth(&p, v, &|p, v| self.credential(p, v))?),
            None => None,
        };
        // Credentials in the URL are the source's own: they win over the
        // top level's default.
        let (url, auth) = match self.userinfo(path, url, own_auth)? {
            (url, None) => (url, defaults.auth.clone()),
            own => own,
        };
        // An API key in the query is set in the start URL, as `query` is.
        let url = match &auth {
            Some(Auth::ApiKey {
                name,
                value,
                in_query: true,
            }) => crate::url::set_query_param(&url, name, value),
            _ => url,
        };
        Ok((url, auth))
    }

    /// The `graphql` shorthand (SPEC §11): `query` (declaring `$after`),
    /// `variables`, and the `connection`'s dot path under `data`.
    fn graphql(&self, path: &str, v: &Value) -> Result<Graphql> {
        let o = self.object(path, v, &["query", "variables", "connection"])?;
        let (p, q) = self.required(&o, "query", "a GraphQL query declaring $after")?;
        let query = self.non_empty(&p, q)?.to_string();
        let declares_after = query.match_indices("$after").any(|(at, _)| {
            !query[at + "$after".len()..]
                .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        });
        if !declares_after {
            return Err(self.error(
                &p,
                "expected a query that declares $after (query($after: String) { … after: $after … }): \
                 ingest sends each page's cursor as the variable after",
            ));
        }
        let variables = match o.get("variables") {
            Some((_, v)) if v.is_object() => v.clone(),
            Some((p, v)) => return Err(self.mismatch(&p, "an object of variables", v)),
            None => Value::Object(Default::default()),
        };
        let (p, c) = self.required(&o, "connection", "the connection's dot path under data")?;
        let connection = self.dot_path(&p, c)?;
        let under = |rest: &str| -> DotPath {
            format!("data.{connection}.{rest}")
                .parse()
                .expect("dot paths joined by dots are a dot path")
        };
        // A query that selects `edges { node { … } }` and no `nodes`
        // gives each item as its edge's node.
        let edges = !selects(&query, "nodes") && selects(&query, "edges");
        Ok(Graphql {
            body: serde_json::json!({"query": query, "variables": variables}).to_string(),
            items_path: under(if edges { "edges" } else { "nodes" }),
            item_path: edges.then(|| DotPath::root().child("node")),
            pagination: Pagination::Cursor {
                from: CursorFrom::Body(under("pageInfo.endCursor").into()),
                param: "variables.after".into(),
                has_more_path: Some(under("pageInfo.hasNextPage").into()),
            },
        })
    }

    /// A `page`, `offset` or `cursor` pagination's `"in"`: `"query"`
    /// (default) or `"body"`, where its position parameters are dot paths
    /// into the JSON body (`variables.after`) — a POST's.
    fn params_in_body(&self, o: &Obj<'_>, method: Method) -> Result<bool> {
        let Some((p, pagination)) = o.get("pagination") else {
            return Ok(false);
        };
        let path = child(&p, "in");
        match pagination.get("in") {
            None => Ok(false),
            Some(Value::String(s)) if s == "query" => Ok(false),
            Some(Value::String(s)) if s == "body" && method == Method::Post => {
                match o.get("body") {
                    Some((p, b)) if !b.is_object() => Err(self.error(
                        &p,
                        format_args!(
                            "expected a JSON object (the pagination puts its positions in it, \
                             \"in\": \"body\"), found {}",
                            describe(b)
                        ),
                    )),
                    _ => Ok(true),
                }
            }
            Some(Value::String(s)) if s == "body" => Err(self.error(
                &path,
                "expected \"query\" for a GET (positions go in the body of a \"method\": \"POST\" source)",
            )),
            Some(v) => Err(self.mismatch(&path, "\"query\" or \"body\"", v)),
        }
    }

    /// `user:password@` in a source's URL is HTTP Basic (SPEC §11): the
    /// userinfo leaves the URL (never sent or shown in it) and becomes the
    /// source's auth; with an `auth` of its own as well, which one is
    /// meant is unclear, so it is an error.
    fn userinfo(
        &self,
        path: &str,
        url: String,
        auth: Option<Auth>,
    ) -> Result<(String, Option<Auth>)> {
        let Some(span) = crate::url::authority_span(&url) else {
            return Ok((url, auth));
        };
        let Some((userinfo, _host)) = url[span.clone()].rsplit_once('@') else {
            return Ok((url, auth));
        };
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let basic = Auth::Basic {
            username: crate::url::percent_decode(user),
            password: crate::url::percent_decode(password),
        };
        let stripped = format!(
            "{}{}",
            &url[..span.start],
            &url[span.start + userinfo.len() + 1..]
        );
        if auth.is_some() {
            return Err(self.error(
                &child(path, "url"),
                "expected credentials in the URL (user:password@) or in \"auth\", not both",
            ));
        }
        Ok((stripped, Some(basic)))
    }

    /// `method` (GET or POST) and `body` (a JSON value, POST only).
    fn method_and_body(&self, o: &Obj<'_>) -> Result<(Method, Option<String>)> {
        let method = match o.get("method") {
            None => Method::Get,
            Some((_, Value::String(s))) if s.eq_ignore_ascii_case("get") => Method::Get,
            Some((_, Value::String(s))) if s.eq_ignore_ascii_case("post") => Method::Post,
            Some((p, v)) => return Err(self.mismatch(&p, "\"GET\" or \"POST\"", v)),
        };
        let body = match (o.get("body"), method) {
            (None, _) => None,
            (Some((_, v)), Method::Post) => Some(v.to_string()),
            (Some((p, _)), Method::Get) => {
                return Err(self.error(
                    &p,
                    "expected no body with method GET (a body goes with \"method\": \"POST\")",
                ))
            }
        };
        Ok((method, body))
    }

    /// A credential: a string, literal or `env:NAME` (always a secret).
    fn credential(&self, path: &str, v: &Value) -> Result<String> {
        Ok(self.given(path, "secret", v)?.value)
    }

    fn pagination(&self, path: &str, v: &Value) -> Result<Pagination> {
        let map = v
            .as_object()
            .ok_or_else(|| self.mismatch(path, "an object", v))?;
        let names: Vec<&str> = STYLES.iter().map(|(s, _)| *s).collect();
        let style_expected = format!("a style, one of {}", names.join(", "));
        let style_path = child(path, "style");
        let style = match map.get("style") {
            None => {
                return Err(self.error(
                    &style_path,
                    format_args!("expected {style_expected}, found nothing (the key is required)"),
                ))
            }
            Some(Value::String(s)) => s.as_str(),
            Some(v) => return Err(self.mismatch(&style_path, &style_expected, v)),
        };
        let Some((style, keys)) = STYLES.iter().find(|(s, _)| *s == style) else {
            return Err(self.error(
                &style_path,
                format_args!(
                    "unknown style {} (expected one of {})",
                    quoted(style),
                    names.join(", ")
                ),
            ));
        };
        let o = self.style_object(path, map, style, keys)?;
        let text = |key: &str, default: &str| -> Result<String> {
            match o.get(key) {
                Some((p, v)) => Ok(self.non_empty(&p, v)?.to_string()),
                None => Ok(default.to_string()),
            }
        };
        let opt_path = |key: &str| -> Result<Option<EnvelopePath>> {
            o.get(key)
                .map(|(p, v)| self.envelope_path(&p, v))
                .transpose()
        };
        // Starts stay within the integers every JSON tool keeps exactly,
        // far from where counting pages on could overflow.
        let start = |default| Ok(self.int(&o, "start", 0, MAX_START)?.unwrap_or(default));
        // The position parameter and its optional size parameter.
        let positioned = |param_key: &str, default: &str, size_key: &str, value_key: &str| {
            let param = text(param_key, default)?;
            let size = self.pair(&o, size_key, value_key)?;
            self.distinct_params(&o, (param_key, &param), (size_key, &size))?;
            Ok::<_, ConfigError>((param, size))
        };
        Ok(match *style {
            "page" => {
                let (param, size) = positioned("param", "page", "size_param", "size")?;
                Pagination::Page {
                    param,
                    start: start(1)?,
                    size,
                    total_pages_path: opt_path("total_pages_path")?,
                    total_items_path: opt_path("total_items_path")?,
                    has_more_path: opt_path("has_more_path")?,
                }
            }
            "offset" => {
                let (offset_param, limit) =
                    positioned("offset_param", "offset", "limit_param", "limit")?;
                Pagination::Offset {
                    offset_param,
                    start: start(0)?,
                    limit,
                    total_path: opt_path("total_path")?,
                    has_more_path: opt_path("has_more_path")?,
                }
            }
            "cursor" => Pagination::Cursor {
                from: self.cursor_from(&o, path)?,
                param: text("param", "cursor")?,
                has_more_path: opt_path("has_more_path")?,
            },
            "next_url" => Pagination::NextUrl {
                next_path: match o.get("next_path") {
                    Some((p, v)) => self.envelope_path(&p, v)?,
                    None => DotPath::root().child("next").into(),
                },
            },
            "link_header" => Pagination::LinkHeader,
            _ => Pagination::None,
        })
    }

    /// A `cursor` style's `cursor_path` or `last_item_path`: one of them,
    /// not both.
    fn cursor_from(&self, o: &Obj<'_>, path: &str) -> Result<CursorFrom> {
        match (o.get("cursor_path"), o.get("last_item_path")) {
            (Some((p, v)), None) => Ok(CursorFrom::Body(self.envelope_path(&p, v)?)),
            (None, Some((p, v))) => Ok(CursorFrom::LastItem(self.dot_path(&p, v)?)),
            (Some(_), Some(_)) => Err(self.error(
                &child(path, "last_item_path"),
                "expected cursor_path or last_item_path, not both (the cursor comes from the body or from its last item)",
            )),
            (None, None) => Err(self.error(
                &child(path, "cursor_path"),
                "expected a dot path, found nothing (style cursor requires cursor_path, or last_item_path for a cursor taken from the last item)",
            )),
        }
    }

    /// `map` as the object of pagination style `style`, which takes `keys`
    /// besides `style`: a key of another style says which one it belongs to.
    fn style_object<'v>(
        &self,
        path: &str,
        map: &'v Map<String, Value>,
        style: &str,
        keys: &[&str],
    ) -> Result<Obj<'v>> {
        if let Some(key) = map
            .keys()
            .find(|k| *k != "style" && !keys.contains(&k.as_str()))
        {
            let owners: Vec<&str> = STYLES
                .iter()
                .filter(|(_, ks)| ks.contains(&key.as_str()))
                .map(|(s, _)| *s)
                .collect();
            let belongs = if owners.is_empty() {
                String::new()
            } else {
                format!("; it belongs to style {}", owners.join(", "))
            };
            let allowed = if keys.is_empty() {
                "no other keys".to_string()
            } else {
                format!("one of style, {}", keys.join(", "))
            };
            return Err(self.error(
                &child(path, key),
                format_args!("unknown key for style {style} (expected {allowed}{belongs})"),
            ));
        }
        Ok(Obj {
            path: path.to_string(),
            map,
        })
    }

    /// The position parameter and the size parameter must differ: one
    /// query parameter cannot carry both (the page number would be lost).
    fn distinct_params(
        &self,
        o: &Obj,
        (position_key, position): (&str, &str),
        (size_key, size): (&str, &Option<(String, u64)>),
    ) -> Result<()> {
        match size {
            Some((name, _)) if name == position => Err(self.error(
                &child(&o.path, size_key),
                format_args!(
                    "expected a parameter name other than {position_key}'s, found {name:?} for both"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// A parameter name and its value (`size_param` + `size`), which only
    /// make sense together.
    fn pair(&self, o: &Obj, param_key: &str, value_key: &str) -> Result<Option<(String, u64)>> {
        let param = match o.get(param_key) {
            Some((p, v)) => Some(self.non_empty(&p, v)?.to_string()),
            None => None,
        };
        let value = self.int(o, value_key, 1, u64::MAX)?;
        match (param, value) {
            (Some(param), Some(value)) => Ok(Some((param, value))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(self.error(
                &child(&o.path, param_key),
                format_args!("expected {value_key} alongside {param_key} (they go together), found no {value_key}"),
            )),
            (None, Some(_)) => Err(self.error(
                &child(&o.path, value_key),
                format_args!("expected {param_key} alongside {value_key} (they go together), found no {param_key}"),
            )),
        }
    }

    fn headers(&self, path: &str, v: &Value) -> Result<Vec<Header>> {
        let map = v
            .as_object()
            .ok_or_else(|| self.mismatch(path, "an object of header names to string values", v))?;
        let mut headers: Vec<Header> = Vec::with_capacity(map.len());
        for (name, v) in map {
            let p = child(path, name);
            if !is_header_name(name) {
                return Err(self.error(
                    &p,
                    "expected a header name (letters, digits and !#$%&'*+-.^_`|~), found this key",
                ));
            }
            if FRAMING_HEADERS
                .iter()
                .any(|framing| framing.eq_ignore_ascii_case(name))
            {
                return Err(self.error(
                    &p,
                    "expected a header ingest may send (Content-Length and Transfer-Encoding \
                     frame a request body, which ingest frames itself), found this key",
                ));
            }
            if let Some(other) = headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)) {
                return Err(self.error(
                    &p,
                    format_args!(
                        "duplicate header name (names are case-insensitive; also {})",
                        child(path, &other.name)
                    ),
                ));
            }
            let Given {
                value,
                from_env,
                secret,
            } = self.given(&p, name, v)?;
            if value.chars().any(|c| c.is_control() && c != '\t') {
                let what = if from_env {
                    "an environment variable value"
                } else {
                    "a value"
                };
                return Err(self.error(
                    &p,
                    format_args!(
                        "expected a header value without control characters, found {what} with one"
                    ),
                ));
            }
            headers.push(Header {
                name: name.clone(),
                value,
                secret,
            });
        }
        Ok(headers)
    }

    /// A source's `query`: parameter names to string values, each literal
    /// or `env:NAME`.
    fn query(&self, path: &str, v: &Value) -> Result<Vec<QueryParam>> {
        let map = v.as_object().ok_or_else(|| {
            self.mismatch(path, "an object of parameter names to string values", v)
        })?;
        let mut params = Vec::with_capacity(map.len());
        for (name, v) in map {
            let p = child(path, name);
            if name.is_empty() {
                return Err(self.error(&p, "expected a non-empty parameter name, found \"\""));
            }
            let Given { value, secret, .. } = self.given(&p, name, v)?;
            params.push(QueryParam {
                name: name.clone(),
                value,
                secret,
            });
        }
        Ok(params)
    }

    /// The value a header or query parameter `name` is given at `p`: a
    /// string, literal or `env:NAME`. Secret when it comes from the
    /// environment or the name is a secret's; a non-string under a
    /// secret's name is named by its kind only, never shown.
    fn given(&self, p: &str, name: &str, v: &Value) -> Result<Given> {
        let named_secret = is_secret_name(name);
        let Some(raw) = v.as_str() else {
            let found = match named_secret {
                true => kind(v).to_string(),
                false => describe(v),
            };
            return Err(self.error(p, format_args!("expected a string, found {found}")));
        };
        let (value, from_env) = match raw.strip_prefix("env:") {
            Some(var) => (self.env(p, var)?, true),
            None => {
                self.no_inner_env(p, raw)?;
                (raw.to_string(), false)
            }
        };
        Ok(Given {
            value,
            from_env,
            secret: from_env || named_secret,
        })
    }

    /// `"Bearer env:TOKEN"` would be sent as it is written: an `env:`
    /// reference is read only as the whole value. Said with how to write
    /// it instead (the reference is shown, the rest of the value is not:
    /// it may hold a secret).
    fn no_inner_env(&self, p: &str, raw: &str) -> Result<()> {
        let inner = raw
            .match_indices("env:")
            .map(|(at, _)| &raw[at..])
            .find(|rest| {
                rest[4..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        let Some(rest) = inner else {
            return Ok(());
        };
        let reference: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != ',' && *c != ';')
            .collect();
        Err(self.error(
            p,
            format_args!(
                "found {} inside a longer value, which would be sent as written: an env: \
                 reference is read only as the whole value. Put the whole value in the \
                 variable (\"env:NAME\"), or for a token use \"auth\": {{\"type\": \"bearer\", \
                 \"token\": {}}}",
                quoted(&reference),
                quoted(&reference)
            ),
        ))
    }

    /// The value of environment variable `var`, read now. Never echoed.
    fn env(&self, path: &str, var: &str) -> Result<String> {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(self.error(
                path,
                format_args!(
                    "expected env:NAME with NAME made of A-Z a-z 0-9 _, found {}",
                    quoted(&format!("env:{var}"))
                ),
            ));
        }
        if self.without_secrets && std::env::var(var).map_or(true, |v| v.trim().is_empty()) {
            return Ok("***".to_string());
        }
        match std::env::var(var) {
            // Set but empty is as good as missing: an empty token is a
            // mistake to report, not a header to send.
            Ok(value) if value.trim().is_empty() => {
                Err(self.error(path, format_args!("environment variable {var} is empty")))
            }
            Ok(value) => Ok(value),
            Err(std::env::VarError::NotPresent) => {
                Err(self.error(path, format_args!("environment variable {var} is not set")))
            }
            Err(std::env::VarError::NotUnicode(_)) => Err(self.error(
                path,
                format_args!("environment variable {var} is not valid UTF-8"),
            )),
        }
    }

    /// An envelope path, parsed: a dot path into the body, or
    /// `header:NAME[.dot.path]` (SPEC §11).
    fn envelope_path(&self, path: &str, v: &Value) -> Result<EnvelopePath> {
        v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
            self.mismatch(
                path,
                "a dot path like \"meta.total\", or a response header like \"header:X-Total-Count\" or \"header:X-Pagination.total\"",
                v,
            )
        })
    }

    /// A dot path into a body, parsed: non-empty segments joined by `.`.
    pub(super) fn dot_path(&self, path: &str, v: &Value) -> Result<DotPath> {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.mismatch(path, "a dot path like \"pricing.amount\"", v))
    }
}

/// Whether a GraphQL `query` selects `field` (as a whole word).
fn selects(query: &str, field: &str) -> bool {
    query.match_indices(field).any(|(at, _)| {
        let before = query[..at].chars().next_back();
        let after = query[at + field.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

/// What the `graphql` shorthand stands for.
struct Graphql {
    /// `{"query": …, "variables": …}`.
    body: String,
    /// `data.<connection>.nodes`, or `.edges`.
    items_path: DotPath,
    /// `node`, for edges.
    item_path: Option<DotPath>,
    /// A cursor in the body at `variables.after`, from
    /// `pageInfo.endCursor` while `pageInfo.hasNextPage`.
    pagination: Pagination,
}

/// What the top level sets for every source that does not set its own.
struct SourceDefaults<'t, 'v> {
    /// The top-level `auth`, if any; a source's own replaces it whole.
    auth: Option<Auth>,
    /// The top-level `record`, if any; a source's own replaces it whole.
    record: Option<RecordForm>,
    /// The top-level `on_response`; a source's own replaces it whole.
    on_response: Vec<Rule>,
    /// The top-level `keep_rejected`, or false.
    keep_rejected: bool,
    /// The top level's policies, which a source's own keys override one
    /// by one.
    policies: Policies,
    /// The top level itself, to say where an inherited value came from.
    top: &'t Obj<'v>,
}

/// Stores `value` when the file set it.
fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn is_source_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// RFC 9110 token characters.
pub(super) fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// A header's or query parameter's value, as [`Walker::given`] read it.
struct Given {
    value: String,
    /// Read from `env:NAME`.
    from_env: bool,
    /// Never shown: from the environment, or under a secret's name.
    secret: bool,
}
