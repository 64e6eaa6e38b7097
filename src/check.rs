//! `ingest check`: tries a config on the first page of each source and
//! says what a run would make of it, writing nothing (SPEC §2).
//!
//! Each source's first page is fetched by its own fetcher with the normal
//! policies (limited to one page), and its items are normalized as the
//! processor would: the report shows where the item array was found, the
//! first records exactly as `run` writes them, the invalid items by reason
//! with one example each, the declared fields whose path no item has (and
//! those every item has as null), the keys the items carry (what a user
//! can declare), and the next page a run would follow.
//!
//! It also shows what a run would warn about its pagination (SPEC §6), on
//! this one page: each configured envelope path missing from the page
//! (with the keys the page has), null there (the data ends), or its value;
//! a `link_header` answer without a `Link` header; and the page size the
//! server used against `size`; and which `on_response` rule, if any,
//! matched the first answer. Sources are checked one after another on the
//! caller's thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::config::{Config, Partitions};
use crate::control::RunControl;
use crate::exit_code::ExitCode;
use crate::fetch::auth::Tokens;
use crate::fetch::outcome::{AuthCounts, Envelope, Live, LiveBoard, Seen, SourceStatus};
use crate::fetch::partitions::{Feed, PartitionRun};
use crate::fetch::{client, Fetcher, Shared};
use crate::json::Node;
use crate::partition::Partition;
use crate::queue::{self, Batch, Message};
use crate::record::normalize;
use crate::redact::Redactor;
use crate::text::shorten;

/// Records shown per source.
const SHOWN_RECORDS: usize = 3;
/// Longest example item shown, in characters.
const EXAMPLE_CHARS: usize = 300;

/// What the first page of one source gave.
#[derive(Debug, Clone, Default)]
pub struct SourceCheck {
    /// The source's name.
    pub name: String,
    /// The URL of its first page, shown.
    pub url: String,
    /// The statuses of the answers, in order.
    pub statuses: Vec<u16>,
    /// Why the page could not be read, when it could not.
    pub problem: Option<String>,
    /// Where the item array was found.
    pub items_at: Option<String>,
    /// Items on the page.
    pub items: usize,
    /// Items that are records.
    pub valid: usize,
    /// The first records, as `run` writes them.
    pub records: Vec<String>,
    /// Invalid items by reason: how many, and one example.
    pub invalid: BTreeMap<String, (usize, String)>,
    /// Declared fields whose path no valid item has.
    pub absent: Vec<String>,
    /// Declared fields whose path every valid item has, with no value.
    pub nulls: Vec<String>,
    /// What the page said about the pagination's envelope: each
    /// configured path, the `Link` header, the page size the server used.
    pub envelope: Envelope,
    /// The items' top-level keys, in the order first seen, with how many
    /// items carry each.
    pub keys: Vec<(String, usize)>,
    /// The next page a run would fetch; `None` when the data ends here.
    pub next: Option<String>,
    /// The first `on_response` rule that matched an answer: its index and
    /// the rule as the config writes it.
    pub rule: Option<(usize, String)>,
    /// The first request as it was sent (method, URL, body), secrets
    /// hidden.
    pub request: String,
    /// How the source authenticated, when it does (never a secret).
    pub auth: Option<String>,
    /// The partition tried, for a partitioned source: its values, or why
    /// there was none.
    pub partition: Option<String>,
}

/// Checks every source of `config`.
pub fn check(config: &Config, control: &RunControl) -> Vec<SourceCheck> {
    let mut one_page = config.clone();
    for source in &mut one_page.sources {
        source.policies.max_pages = 1;
    }
    let redactor = Arc::new(config.redactor());
    let agent = client::agent();
    control.set_agent(agent.clone());
    let board: Arc<LiveBoard> = Arc::new(Mutex::new(vec![Live::default(); one_page.sources.len()]));
    let tokens = Arc::new(Tokens::for_config(config));
    let gates = Arc::new(crate::fetch::gate::Gates::for_config(config));
    // Parents first: a child's first partition comes from its parent's
    // first page. Then the reports in config order.
    let mut order: Vec<usize> = (0..one_page.sources.len()).collect();
    order.sort_by_key(|&i| depth(config, i));
    let mut pages: Vec<Vec<Batch>> = vec![Vec::new(); one_page.sources.len()];
    let mut reports: Vec<Option<SourceCheck>> = vec![None; one_page.sources.len()];
    for i in order {
        let shared = Shared {
            agent: agent.clone(),
            control,
            redactor: Arc::clone(&redactor),
            board: Arc::clone(&board),
            tokens: Arc::clone(&tokens),
            gates: Arc::clone(&gates),
        };
        let source = &one_page.sources[i];
        let partition = first_partition(&one_page, i, &pages);
        let mut fetcher = Fetcher::new(i, &one_page, shared, 0).one_page();
        let mut runs = None;
        if let Some(p) = &partition {
            // No partition, no request: never the URL with its braces.
            let list: Vec<Partition> = p.iter().cloned().collect();
            let plan = crate::fetch::partitions::PartitionPlan::default();
            let run = PartitionRun::new(Feed::Listed(Box::new(list.into_iter())), plan, 1);
            fetcher = fetcher.partitioned(Arc::clone(&run));
            runs = Some(run);
        }
        // Room for any first page: nothing consumes while it is fetched.
        let (tx, rx) = queue::bounded(usize::MAX / 2);
        let mut outcome = fetcher.run(tx);
        if let Some(run) = &runs {
            outcome = crate::fetch::SourceOutcome::merged(vec![outcome], run);
        }
        while let Some(message) = rx.try_recv() {
            if let Message::Batch(batch) = message {
                pages[i].push(batch);
            }
        }
        let mut report = report_of(source, &outcome, &redactor);
        if let Some(partition) = &partition {
            report.partition = Some(match partition {
                Some(p) => p.to_string(),
                None => "none: the parent's first page gave no partition (no valid record with a value for every field)".into(),
            });
            let first = partition.as_ref().map(|p| p.filled(source, &source.url));
            report.request = first_request(source, first, &redactor);
        } else {
            report.request = first_request(source, None, &redactor);
        }
        read_items(config, i, &pages[i], &mut report, &redactor);
        reports[i] = Some(report);
    }
    reports.into_iter().flatten().collect()
}

/// How many parents above source `i`.
fn depth(config: &Config, mut i: usize) -> usize {
    let mut depth = 0;
    while let Some(Partitions::Parent(p)) = &config.sources[i].partitions {
        i = p.index;
        depth += 1;
        if depth > config.sources.len() {
            break;
        }
    }
    depth
}

/// The partition `ingest check` tries for source `i`: the first of its
/// list, or the one its parent's first valid record stands for (`None`
/// inside when there is none); `None` for a source that runs once.
fn first_partition(config: &Config, i: usize, pages: &[Vec<Batch>]) -> Option<Option<Partition>> {
    let source = &config.sources[i];
    let parent = match source.partitions.as_ref()? {
        Partitions::Parent(parent) => parent,
        listed => {
            let now = crate::time::epoch_ms(std::time::SystemTime::now());
            return Some(Partition::listed(listed, now, &Default::default()).next());
        }
    };
    let of = &config.sources[parent.index];
    let first = pages[parent.index].iter().find_map(|batch| {
        (0..batch.items.len()).find_map(|k| {
            let element = Node::parse(batch.item(k)).ok()?;
            let item = of.item(&element);
            normalize(&of.name, item, &of.record).ok()?;
            Partition::of_parent(parent, item).ok()
        })
    });
    Some(first)
}

/// What a source's first page said, before its items are read.
fn report_of(
    source: &crate::config::SourceConfig,
    outcome: &crate::fetch::SourceOutcome,
    redactor: &Redactor,
) -> SourceCheck {
    let mut report = SourceCheck {
        name: source.name.clone(),
        url: redactor.shown_url(&source.url),
        statuses: outcome.counts.responses.keys().copied().collect(),
        rule: (outcome.counts.rules.as_ref())
            .and_then(|r| r.first)
            .and_then(|i| Some((i, source.on_response.get(i)?.to_json().to_string()))),
        items_at: outcome.counts.items_at.clone(),
        envelope: outcome.counts.envelope.clone(),
        next: match outcome.status {
            SourceStatus::MaxPages => outcome
                .stopped_at
                .as_ref()
                .map(|r| r.shown(|u| redactor.shown_url(u))),
            _ => None,
        },
        problem: match outcome.status {
            SourceStatus::MaxPages | SourceStatus::Complete => None,
            _ => Some(
                outcome
                    .stop_reason
                    .as_ref()
                    .map_or_else(|| outcome.status.as_str().to_string(), |r| r.to_string()),
            ),
        },
        ..SourceCheck::default()
    };
    if let Some((_, error)) = outcome.failed_pages.first() {
        report.problem = Some(error.clone());
    }
    report.auth = auth_words(source, &outcome.counts.auth);
    report
}

/// Normalizes the page's items as the processor would, into `report`.
fn read_items(
    config: &Config,
    index: usize,
    batches: &[Batch],
    report: &mut SourceCheck,
    redactor: &crate::redact::Redactor,
) {
    let source = &config.sources[index];
    let schema = &source.record;
    // Per field: a value (or a bad one) in some item; present but null.
    let mut valued = vec![false; schema.fields.len()];
    let mut null = vec![false; schema.fields.len()];
    let mut keys: Vec<(String, usize)> = Vec::new();
    for batch in batches {
        for i in 0..batch.items.len() {
            let text = batch.item(i);
            report.items += 1;
            let parsed = Node::parse(text);
            let node = parsed.as_ref().map(|element| source.item(element));
            if let Ok(Node::Object(pairs)) = &node {
                for (key, _) in pairs {
                    match keys.iter_mut().find(|(k, _)| k == key) {
                        Some((_, n)) => *n += 1,
                        None => keys.push((key.to_string(), 1)),
                    }
                }
            }
            let mut result = match &node {
                Ok(node) => normalize(&source.name, node, schema),
                Err(_) => Err(crate::record::schema::InvalidReason::MalformedItem),
            };
            if let (Ok(record), Some(inherited)) = (&mut result, &batch.inherited) {
                record.include = &inherited.include;
                record.scope = inherited.scope.as_deref();
            }
            match result {
                Ok(record) => {
                    report.valid += 1;
                    for (slot, value) in valued.iter_mut().zip(&record.values) {
                        *slot |= value.is_some();
                    }
                    for &i in &record.bad {
                        valued[usize::from(i)] = true;
                    }
                    for &i in &record.nulls {
                        null[usize::from(i)] = true;
                    }
                    if report.records.len() < SHOWN_RECORDS {
                        let mut line = Vec::new();
                        record.write_json(&mut line);
                        report
                            .records
                            .push(String::from_utf8_lossy(&line).into_owned());
                    }
                }
                Err(reason) => {
                    let example = || {
                        let compact = match &node {
                            Ok(node) => {
                                let mut out = Vec::new();
                                node.write_json(&mut out);
                                String::from_utf8_lossy(&out).into_owned()
                            }
                            Err(_) => text.to_string(),
                        };
                        shorten(&redactor.redact_text(&compact), EXAMPLE_CHARS).into_owned()
                    };
                    let entry = report.invalid.entry(schema.reason_name(reason));
                    entry.or_insert_with(|| (0, example())).0 += 1;
                }
            }
        }
    }
    if !schema.product && report.valid > 0 {
        for ((field, valued), null) in schema.fields.iter().zip(valued).zip(null) {
            match (valued, null) {
                (true, _) => {}
                (false, true) => report.nulls.push(field.name.clone()),
                (false, false) => report.absent.push(field.name.clone()),
            }
        }
    }
    report.keys = keys;
}

/// The exit code of a check: 0 when every source gave at least one valid
/// record, 3 otherwise.
pub fn exit_code(reports: &[SourceCheck]) -> ExitCode {
    match reports.iter().all(|r| r.valid > 0) {
        true => ExitCode::Complete,
        false => ExitCode::Partial,
    }
}

/// The first request of `source` as a run sends it (for a partitioned
/// source, `filled` for its first partition): the method, the URL and the
/// body (shortened) when it is not a GET, secrets hidden.
fn first_request(
    source: &crate::config::SourceConfig,
    filled: Option<crate::partition::Filled>,
    redactor: &Redactor,
) -> String {
    let (url, body) = match filled {
        Some(f) => (f.url, f.body),
        None => (source.url.clone(), source.body.clone()),
    };
    let request = crate::fetch::paginate::Paginator::new(&url, &source.pagination)
        .sending(source.method, body, source.params_in_body)
        .request();
    let url = redactor.shown_url(&request.url);
    match &request.body {
        None => format!("{} {url}", request.method.as_str()),
        Some(body) => format!(
            "{} {url} {}",
            request.method.as_str(),
            shorten(&redactor.redact_text(body), EXAMPLE_CHARS)
        ),
    }
}

/// How `source` authenticated, in words that hold no secret.
fn auth_words(source: &crate::config::SourceConfig, counts: &AuthCounts) -> Option<String> {
    use crate::config::Auth;
    Some(match source.auth.as_ref()? {
        Auth::Bearer { .. } => "a bearer token, sent to this source's origin only".into(),
        Auth::Basic { username, .. } => {
            format!("HTTP Basic as {username}, sent to this source's origin only")
        }
        Auth::ApiKey {
            name,
            in_query: true,
            ..
        } => format!("an API key in the query ({name}=***)"),
        Auth::ApiKey { name, .. } => format!("an API key in the {name} header"),
        Auth::OAuth2(o) => match counts.lifetime {
            Some(life) => format!(
                "oauth2 ({}): a token fetched from {} in {} request(s), valid {} s",
                o.grant.as_str(),
                o.token_url,
                counts.token_requests,
                life.as_secs()
            ),
            None if counts.token_requests > 0 => format!(
                "oauth2 ({}): {} request(s) to {}; the token is valid until a 401 (no expires_in)",
                o.grant.as_str(),
                counts.token_requests,
                o.token_url
            ),
            None => format!("oauth2 ({}): no token (see the problem)", o.grant.as_str()),
        },
    })
}

/// The report as a person reads it.
pub fn render(reports: &[SourceCheck]) -> String {
    let mut out = String::new();
    for r in reports {
        let statuses: Vec<String> = r.statuses.iter().map(u16::to_string).collect();
        out += &format!("{}  {}\n", r.name, r.url);
        out += &format!("  request    {}\n", r.request);
        if let Some(partition) = &r.partition {
            out += &format!("  partition  {partition}\n");
        }
        if let Some(auth) = &r.auth {
            out += &format!("  auth       {auth}\n");
        }
        out += &format!(
            "  status     {}\n",
            match statuses.is_empty() {
                true => "no answer".to_string(),
                false => statuses.join(", "),
            }
        );
        if let Some((i, rule)) = &r.rule {
            out += &format!("  rule       on_response[{i}] matched: {rule}\n");
        }
        if let Some(problem) = &r.problem {
            out += &format!("  problem    {problem}\n");
        }
        if let Some(at) = &r.items_at {
            let at = if at.is_empty() { "the body itself" } else { at };
            out += &format!("  items      {} at {at}\n", r.items);
        }
        if r.items > 0 {
            out += &format!("  records    {} valid of {}", r.valid, r.items);
            out += if r.records.is_empty() {
                "\n"
            } else {
                ", the first as run writes them:\n"
            };
            for line in &r.records {
                out += &format!("    {line}\n");
            }
        }
        for (reason, (n, example)) in &r.invalid {
            out += &format!("  invalid    {n} {reason}, e.g. {example}\n");
        }
        if !r.absent.is_empty() {
            out += &format!(
                "  absent     declared, but in no item: {}\n",
                r.absent.join(", ")
            );
        }
        if !r.nulls.is_empty() {
            out += &format!(
                "  null       declared, and null in every item: {}\n",
                r.nulls.join(", ")
            );
        }
        if !r.keys.is_empty() {
            let keys: Vec<String> = r.keys.iter().map(|(k, n)| format!("{k} ({n})")).collect();
            out += &format!("  keys       {}\n", keys.join(", "));
        }
        out += &render_pagination(r);
        out.push('\n');
    }
    out
}

/// The envelope paths as the page had them, the `Link` header, the page
/// size, and the next page with why there is none.
fn render_pagination(r: &SourceCheck) -> String {
    let e = &r.envelope;
    let mut out = String::new();
    for p in &e.paths {
        let place = if p.in_header { "answer" } else { "page" };
        let what = match &p.first {
            Seen::Absent => format!("not in the {place} ({})", e.where_words(p)),
            Seen::Null => "null".to_string(),
            Seen::Value(text) => text.clone(),
        };
        out += &format!("  envelope   {} `{}`: {what}\n", p.key, p.path);
    }
    if e.link_headers == Some(0) {
        let keys = e.keys_words();
        out += &format!("  envelope   link_header: no `Link` header in the answer ({keys})\n");
    }
    // One page: judged when the data goes on past it.
    let page_size = e.page_size.or(e.last_page_size);
    if let Some((asked, sent)) = page_size.filter(|_| r.next.is_some()) {
        out += &match sent.cmp(&asked) {
            std::cmp::Ordering::Equal => format!("  page size  {sent} per page, as asked\n"),
            std::cmp::Ordering::Less => {
                format!("  page size  the server sent {sent} per page, asked for {asked}\n")
            }
            std::cmp::Ordering::Greater => format!(
                "  page size  the server sent {sent} per page, asked for {asked}: \
                 pages are counted by what it sent\n"
            ),
        };
    }
    // The pointer a run follows: a missing one is not the end of data.
    let pointer = e
        .paths
        .iter()
        .find(|p| matches!(p.key, "next_path" | "cursor_path"));
    let none = match pointer.map(|p| (&p.first, p)) {
        Some((Seen::Absent, p)) if p.in_header => {
            format!("none: {} `{}` is not in the answer", p.key, p.path)
        }
        Some((Seen::Absent, p)) => format!("none: {} `{}` is not in the page", p.key, p.path),
        Some((Seen::Null, p)) => format!("none ({} is null): the data ends with this page", p.path),
        _ if e.link_headers == Some(0) => "none: the answer carried no `Link` header".into(),
        _ => "none: the data ends with this page".into(),
    };
    match &r.next {
        Some(next) => out += &format!("  next page  {next}\n"),
        None if r.problem.is_none() => out += &format!("  next page  {none}\n"),
        None => {}
    }
    out
}
