//! `ingest discover URL` (SPEC §14): from an API never seen to a config
//! for it, from evidence, checked on a second page before it is printed.
//!
//! [`plan`] turns the command line into a one-source [`Config`] to probe
//! with (secrets resolved, so that the requests work and the redactor
//! knows them) and the source as it will be printed (secrets as `env:`
//! references, never values). [`discover`] then asks the API at most
//! three times, one request a second (`probe.rs`): the first page, whose
//! items and envelope say how to ask for the next (`detect.rs`), then the
//! second page by the best guess and, when that repeats the first, by
//! the next guess. The items seen become a typed `record` (`schema.rs`).
//! Each step is said on stderr; what the user gets is the exit code and,
//! when one could be established, the config.

mod detect;
mod graphql;
mod numbers;
mod probe;
mod schema;
mod secrets;

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::config::{Config, ConfigError};
use crate::control::{RunControl, Stop};
use crate::exit_code::ExitCode;
use crate::json::DotPath;

use detect::{Items, Kind, Trial};
use probe::{Answer, NoAnswer, Probe};

/// Query parameters that set a page's size, moved into `pagination`.
const SIZE_PARAMS: [&str; 9] = [
    "limit",
    "per_page",
    "perPage",
    "page_size",
    "pageSize",
    "size",
    "max_results",
    "maxResults",
    "count",
];

/// What `ingest discover` was asked.
#[derive(Debug, Clone)]
pub struct DiscoverArgs {
    /// The URL of the first page.
    pub url: String,
    /// The source's name; default: the URL's last path segment.
    pub name: Option<String>,
    /// `--header` names and values, as given.
    pub headers: Vec<(String, String)>,
    /// `--query` names and values, as given.
    pub query: Vec<(String, String)>,
    /// `--items-path`, as given.
    pub items_path: Option<String>,
    /// `--graphql`: the query of a GraphQL API (declaring `$after`).
    pub graphql: Option<String>,
    /// Time between requests. Defaults to 1 s (SPEC §14).
    pub interval: Duration,
}

/// A discovery ready to ask the API.
#[derive(Debug)]
pub struct Plan {
    /// The one-source config the requests are made with.
    pub probe: Config,
    /// The source as it will be printed (name, url, headers, query).
    source: Map<String, Value>,
    /// `--items-path`, parsed.
    items_path: Option<DotPath>,
    /// What to tell about the secrets given as values.
    secret_notes: Vec<String>,
    interval: Duration,
    /// The GraphQL query, for a GraphQL API.
    graphql: Option<String>,
}

/// Reads the command line into a [`Plan`]; `Err` is a usage error.
pub fn plan(args: &DiscoverArgs) -> Result<Plan, ConfigError> {
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.url));
    let items_path = match &args.items_path {
        None => None,
        Some(p) => Some(p.parse::<DotPath>().map_err(|_| {
            ConfigError(format!(
                "--items-path: expected a dot path like data.items, found {p:?}"
            ))
        })?),
    };
    let given = secrets::Given::read(&name, &args.url, &args.headers, &args.query);
    let mut probe_source = json!({"name": name, "url": given.url});
    let mut source = Map::new();
    source.insert("name".into(), json!(name));
    source.insert("url".into(), json!(given.url));
    if !given.headers.is_empty() {
        probe_source["headers"] = given.probe_headers();
        source.insert("headers".into(), given.printed_headers());
    }
    if !given.query.is_empty() {
        probe_source["query"] = given.probe_query();
        source.insert("query".into(), given.printed_query());
    }
    if let Some(query) = &args.graphql {
        // Checked as a config checks it (it must declare $after); the
        // connection is what discover finds.
        probe_source["graphql"] = json!({"query": query, "connection": "data"});
    }
    let probe = Config::parse(
        "the command line",
        &json!({"sources": [probe_source]}).to_string(),
    )
    .map_err(|e| ConfigError(e.0.replace("sources[0].graphql.query", "--graphql")))?;
    Ok(Plan {
        probe,
        source,
        items_path,
        secret_notes: given.notes,
        interval: args.interval,
        graphql: args.graphql.clone(),
    })
}

/// The source name a URL suggests: its last path segment, in the
/// characters a name may hold.
fn default_name(url: &str) -> String {
    let (base, _, _) = crate::url::pieces(url);
    let path = base.splitn(4, '/').nth(3).unwrap_or("");
    let segment = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("api");
    let name: String = segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.trim_matches('.').is_empty() {
        true => "api".into(),
        false => name,
    }
}

/// What discovery ends with.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The config, when one could be established.
    pub config: Option<Value>,
    /// The exit code: 0 printed, 3 none established, 130 interrupted.
    pub code: ExitCode,
}

impl Discovered {
    fn none(code: ExitCode) -> Self {
        Discovered { config: None, code }
    }
}

/// Asks the API and writes its config, saying why on `say` (a line each).
pub fn discover(plan: &Plan, control: &RunControl, say: &mut dyn FnMut(&str)) -> Discovered {
    if let Some(query) = &plan.graphql {
        return graphql::discover(plan, query, control, say);
    }
    let mut probe = Probe::new(&plan.probe, control, plan.interval);
    let url = plan.probe.sources[0].url.clone();
    say(&format!(
        "discover: asking {} (at most {} requests, one per {} ms)",
        probe.shown(&url),
        probe::MAX_REQUESTS,
        plan.interval.as_millis()
    ));
    let first = match probe.get(&url) {
        Ok(answer) => answer,
        Err(no) => return unanswered(no, control.is_interrupted(), say),
    };
    let (body, items) = match read_first(&first, plan.items_path.as_ref()) {
        Ok(found) => found,
        Err(why) => {
            say(&format!("discover: {why}"));
            say("discover: no config written");
            return Discovered::none(ExitCode::Partial);
        }
    };
    let at = match items.path.to_string() {
        p if p.is_empty() => "the body itself (an array)".to_string(),
        p if items.by_lookup => format!("`{p}`"),
        p => format!("`{p}` (the largest array of objects)"),
    };
    say(&format!("items: {} at {at}", items.items.len()));
    let trials = detect::trials(&first, &body, &items);
    let (trial, second) = match verify(&mut probe, &first, &items, trials, say) {
        Ok(found) => found,
        Err(code) => return Discovered::none(code),
    };
    let mut sample = items.items.clone();
    sample.extend(second);
    let inferred = schema::infer(&sample);
    for note in &inferred.notes {
        say(note);
    }
    let mut source = plan.source.clone();
    if !items.path.to_string().is_empty() {
        source.insert("items_path".into(), json!(items.path.to_string()));
    }
    let pagination = sized(
        trial.pagination,
        &mut source,
        items.items.len(),
        trial.next.is_some(),
        say,
    );
    source.insert("pagination".into(), pagination);
    source.insert("record".into(), inferred.record);
    let config = json!({"sources": [Value::Object(source)]});
    if keyed(&config, &sample) == 0 {
        say("discover: no sampled item makes a record (nothing in them is an id ingest can key them by): the config would keep nothing; no config written");
        return Discovered::none(ExitCode::Partial);
    }
    for note in &plan.secret_notes {
        say(note);
    }
    say("discover: next, `ingest check --config FILE` on the config printed, then `ingest run`");
    Discovered {
        config: Some(config),
        code: ExitCode::Complete,
    }
}

/// How many of `sample` the one source of `config` makes records of:
/// what `ingest check` will say of the config printed.
fn keyed(config: &Value, sample: &[Value]) -> usize {
    let Ok(parsed) = Config::parse_without_secrets("discover", &config.to_string()) else {
        return 0;
    };
    let source = &parsed.sources[0];
    sample
        .iter()
        .filter(|item| {
            let text = item.to_string();
            crate::json::Node::parse(&text).is_ok_and(|node| {
                crate::record::normalize(&source.name, &node, &source.record).is_ok()
            })
        })
        .count()
}

/// A `page` guess that starts at 1 on a first URL without the page
/// parameter: whether `page=1` is that first page or the one after it
/// (the API counts from 0), asked with the request left; a run that
/// started at the wrong number would lose the first page and end
/// `complete`.
fn first_page_number(
    probe: &mut Probe,
    first: &Answer,
    items: &Items,
    mut trial: Trial,
    say: &mut dyn FnMut(&str),
) -> Trial {
    let param = match (&trial.param, trial.pagination["style"].as_str()) {
        (Some(param), Some("page")) if trial.pagination["start"] == 1 => param.clone(),
        _ => return trial,
    };
    if crate::url::pieces(&first.url).1.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some(param.as_str()))
    }) {
        return trial;
    }
    if probe.left() == 0 {
        say(&format!("pagination: no request left to check that `{param}=1` is the first page (an API counting from 0 would lose it: check `start`)"));
        return trial;
    }
    let one = crate::url::set_query_param(&first.url, &param, "1");
    let Ok(answer) = probe.get(&one) else {
        say(&format!(
            "pagination: `{param}=1` could not be asked: check `start` (0 or 1)"
        ));
        return trial;
    };
    let page: Vec<Value> =
        serde_json::from_str::<Value>(answer.body.trim_start_matches('\u{feff}'))
            .ok()
            .and_then(|body| items.path.get(&body).and_then(Value::as_array).cloned())
            .unwrap_or_default();
    if answer.body == first.body || page == items.items {
        say(&format!(
            "check: `{param}=1` is the first page: pages count from 1"
        ));
    } else {
        say(&format!(
            "check: `{param}=1` is not the first page: pages count from 0 (`start`: 0)"
        ));
        trial.pagination["start"] = json!(0);
    }
    trial
}

/// Says why a request gave nothing to read, and the exit code it makes.
fn unanswered(no: NoAnswer, interrupted: bool, say: &mut dyn FnMut(&str)) -> Discovered {
    let no = match no {
        // An interrupt cuts a request short as a failure would.
        NoAnswer::Failed(_) if interrupted => NoAnswer::Stopped(Stop::Interrupted),
        no => no,
    };
    let (what, code) = match no {
        NoAnswer::Stopped(Stop::Interrupted) => ("interrupted".to_string(), ExitCode::Interrupted),
        NoAnswer::Stopped(Stop::Deadline) => ("the deadline passed".to_string(), ExitCode::Partial),
        NoAnswer::Spent => ("no request left".to_string(), ExitCode::Partial),
        NoAnswer::Failed(what) => (what, ExitCode::Partial),
    };
    say(&format!("discover: {what}; no config written"));
    Discovered::none(code)
}

/// The first answer's body and items, or why it has none to learn from.
fn read_first(first: &Answer, items_path: Option<&DotPath>) -> Result<(Value, Items), String> {
    let content_type = first.headers.get("content-type").unwrap_or("none");
    let text = first.body.trim_start_matches('\u{feff}').trim_start();
    if text.is_empty() {
        return Err(format!(
            "the answer ({}) has no body: no items to learn from",
            first.status
        ));
    }
    if text.starts_with('<') || content_type.contains("html") {
        return Err(format!(
            "the answer is HTML, not JSON (Content-Type: {content_type}): a web page, a login \
             page or documentation? Give the URL of the API's JSON list"
        ));
    }
    let body: Value = serde_json::from_str(text)
        .map_err(|e| format!("the answer is not JSON (Content-Type: {content_type}): {e}"))?;
    let items = detect::find_items(text, &body, items_path)
        .map_err(|what| format!("no item array in the answer: {what}"))?;
    if items.items.is_empty() {
        return Err(format!(
            "the item array at `{}` is empty: nothing to learn the records or the pagination \
             from (try a URL, or --query, that lists something)",
            items.path
        ));
    }
    if !items.items.iter().all(Value::is_object) {
        return Err(format!("the items at `{}` are not all objects", items.path));
    }
    Ok((body, items))
}

/// Checks the trials in order on the second page, within the requests
/// left: the first that holds, with the second page's items. Exit 3 when
/// none does (130 when interrupted).
fn verify(
    probe: &mut Probe,
    first: &Answer,
    items: &Items,
    trials: Vec<Trial>,
    say: &mut dyn FnMut(&str),
) -> Result<(Trial, Vec<Value>), ExitCode> {
    let mut failed: Vec<String> = Vec::new();
    let mut repeated = false;
    let probing = trials.iter().all(|t| t.kind == Kind::Probe);
    for trial in trials {
        say(&format!("pagination: {} → {}", trial.why, trial.pagination));
        let Some(next) = trial.next.clone() else {
            say("pagination: the first page is the last, so the guess could not be checked on a second page");
            return Ok((trial, Vec::new()));
        };
        if probe.left() == 0 {
            break;
        }
        let shown = probe.shown(&next);
        let answer = match probe.get(&next) {
            Ok(answer) => answer,
            Err(NoAnswer::Stopped(stop)) => {
                return Err(unanswered(NoAnswer::Stopped(stop), false, say).code);
            }
            Err(no) => {
                let what = match no {
                    NoAnswer::Failed(what) => what,
                    _ => "no request left".into(),
                };
                failed.push(format!("{shown}: {what}"));
                say(&format!("check: {shown}: {what}"));
                continue;
            }
        };
        let second = serde_json::from_str::<Value>(answer.body.trim_start_matches('\u{feff}'))
            .ok()
            .and_then(|body| items.path.get(&body).and_then(Value::as_array).cloned())
            .unwrap_or_default();
        if answer.body == first.body || (!second.is_empty() && second == items.items) {
            repeated = true;
            let param = trial.param.as_deref().unwrap_or("the next link");
            let what =
                format!("the answer repeats the first page: the server seems to ignore `{param}`");
            say(&format!("check: {shown}: {what}"));
            failed.push(format!("{shown}: {what}"));
            continue;
        }
        if second.is_empty() && trial.kind != Kind::Pointer {
            say(&format!(
                "check: {shown}: no items; the data may end with the first page, so the guess is not confirmed"
            ));
            if trial.kind == Kind::Probe {
                break;
            }
            return Ok((trial, Vec::new()));
        }
        say(&format!(
            "check: {shown}: {} new items: the guess holds",
            second.len()
        ));
        let trial = first_page_number(probe, first, items, trial, say);
        return Ok((trial, second));
    }
    if probing {
        say(&format!(
            "pagination: none — the answers show no sign of another page ({}). If the API has \
             more, pass its page parameter with --query, or edit `pagination`",
            failed.join("; ").chars().take(300).collect::<String>()
        ));
        let none = Trial {
            pagination: json!({"style": "none"}),
            next: None,
            param: None,
            kind: Kind::Probe,
            why: String::new(),
        };
        return Ok((none, Vec::new()));
    }
    match repeated {
        true => say(
            "discover: no working pagination: the second page repeated the first, so the page \
             parameter seems to be wrong (see the API's docs; pass the right one with --query, \
             or give the URL of a page with its parameter)",
        ),
        false => say("discover: no working pagination: the second page could not be fetched"),
    }
    say("discover: no config written");
    Err(ExitCode::Partial)
}

/// `pagination` with the page size the user asked for (a size-like
/// `--query`) moved into it, at what the server actually sent when the
/// first page is full and short of it.
fn sized(
    mut pagination: Value,
    source: &mut Map<String, Value>,
    count: usize,
    more: bool,
    say: &mut dyn FnMut(&str),
) -> Value {
    let style = pagination["style"].as_str().unwrap_or("none").to_string();
    let (param_key, size_key) = match style.as_str() {
        "page" => ("size_param", "size"),
        "offset" => ("limit_param", "limit"),
        _ => return pagination,
    };
    let Some(Value::Object(query)) = source.get_mut("query") else {
        say(&format!(
            "page size: the server's own ({count} items on the first page)"
        ));
        return pagination;
    };
    let Some(name) = SIZE_PARAMS.iter().find(|n| query.contains_key(**n)) else {
        return pagination;
    };
    let asked = query
        .get(*name)
        .and_then(Value::as_str)
        .and_then(|v| v.parse::<usize>().ok());
    let Some(asked) = asked else {
        return pagination;
    };
    query.remove(*name);
    let size = match count < asked && more {
        true => {
            say(&format!(
                "page size: asked for {asked} with `{name}`, the server sent {count}: size {count}"
            ));
            count
        }
        false => {
            say(&format!("page size: {asked}, sent as `{name}`"));
            asked
        }
    };
    pagination[param_key] = json!(name);
    pagination[size_key] = json!(size);
    if query.is_empty() {
        source.remove("query");
    }
    pagination
}
