//! Measurement 4: the normalizer alone, on the demo's three item shapes
//! under the product schema, and on GitHub-like issues under a declared
//! schema of 10 fields of mixed types.
//!
//! Product items come from an in-process `testsupport::MockServer` (the
//! `clean` scenario, 3 × 100 pages × 100 items = 30 000 items, with the
//! invalid items and duplicates it always carries), fetched once with the
//! baseline walker. Issues are the 30 000 a GitHub-like mock serves (300
//! pages × 100), as its truth gives them back (parsed from the served
//! text, numbers with their exact text, as the pipeline parses them); the
//! schema reads integers, strings, a nested path, JSON kept whole and
//! timestamps, so every value type but the product's is exercised. Each
//! pass normalizes every item with `ingest::normalize::normalize` and its
//! source's record schema; passes repeat for at least `MIN_TIME`, in
//! `ROUNDS` rounds, and the best round is reported.
//! One thread is a plain loop; "all threads" is rayon's global pool (one
//! thread per core), as the processor uses it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ingest::Config;
use ingest::{normalize, Node};
use rayon::prelude::*;
use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Shape, Style};

use crate::pacing::round;
use crate::walk;

const MIN_TIME: Duration = Duration::from_secs(1);
/// Rounds per mode; the best is reported (the least disturbed by the
/// rest of the machine), all of them are kept in the JSON.
const ROUNDS: usize = 3;

fn items() -> (Config, Vec<(usize, Value)>) {
    let server = MockServer::start(Scenario::clean(42, 100, 100)).expect("start mock");
    let doc = server.config_json();
    let config = Config::parse("bench config", &doc.to_string()).expect("mock config");
    let agent = walk::agent();
    let mut items = Vec::new();
    for (i, source) in doc["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .enumerate()
    {
        walk::walk(&agent, source, |v| items.push((i, v)));
    }
    (config, items)
}

/// Runs `pass` until `MIN_TIME` has passed, `ROUNDS` times; returns the
/// items per second of each round and the valid count of one pass.
fn rate(n_items: usize, mut pass: impl FnMut() -> usize) -> (Vec<f64>, usize) {
    let mut rates = Vec::new();
    let mut valid = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut passes = 0usize;
        while passes == 0 || start.elapsed() < MIN_TIME {
            valid = black_box(pass());
            passes += 1;
        }
        rates.push((passes * n_items) as f64 / start.elapsed().as_secs_f64());
    }
    (rates, valid)
}

fn best(rates: &[f64]) -> f64 {
    rates.iter().copied().fold(0.0, f64::max)
}

/// GitHub-like issues and a config declaring 10 fields for them.
fn issues() -> (Config, Vec<(usize, Value)>) {
    const PAGES: usize = 300;
    let gh = MockSource::new("gh", Style::LinkHeader, PAGES, 100).shape(Shape::GithubIssues);
    let server = MockServer::start(Scenario::new(42).with(gh)).expect("start mock");
    let mut doc = server.config_json();
    doc["sources"][0]["record"] = json!({
        "id": "id",
        "fields": {
            "number": { "path": "number", "type": "integer", "required": true },
            "title": { "path": "title", "type": "string" },
            "state": { "path": "state", "type": "string", "required": true },
            "author": { "path": "user.login", "type": "string" },
            "labels": { "path": "labels", "type": "json" },
            "comments": { "path": "comments", "type": "integer" },
            "created_at": { "path": "created_at", "type": "timestamp" },
            "updated_at": { "path": "updated_at", "type": "timestamp" },
            "closed_at": { "path": "closed_at", "type": "timestamp" },
            "pull_request": { "path": "pull_request", "type": "json" }
        }
    });
    let config = Config::parse("bench config", &doc.to_string()).expect("declared config");
    assert_eq!(config.sources[0].record.fields.len(), 10);
    let truth = server.truth();
    let gh = truth.source("gh").expect("gh truth");
    let items = (1..=PAGES)
        .flat_map(|page| gh.items(page))
        .map(|item| (0, item))
        .collect();
    (config, items)
}

pub fn measure() -> Value {
    let mut report = measure_items(items());
    report["declared"] = measure_items(issues());
    let declared = &report["declared"];
    assert_eq!(
        declared["valid_items"], declared["items"],
        "every issue is a record under the declared schema"
    );
    report
}

/// The rates of normalizing `items`, each by its source's schema in `config`.
/// Items are held as the processor holds them: parsed from their text
/// into nodes (the parse is the pipeline's cost, not the normalizer's).
fn measure_items((config, values): (Config, Vec<(usize, Value)>)) -> Value {
    let texts: Vec<(usize, String)> = values.iter().map(|(s, v)| (*s, v.to_string())).collect();
    let items: Vec<(usize, Node<'_>)> = texts
        .iter()
        .map(|(s, t)| (*s, Node::parse(t).expect("an item parses")))
        .collect();
    let one = |&(source, ref node): &(usize, Node<'_>)| {
        let s = &config.sources[source];
        normalize(&s.name, black_box(node), &s.record).is_ok()
    };
    let (mut single, valid) = rate(items.len(), || items.iter().filter(|i| one(i)).count());
    let (all, valid_par) = rate(items.len(), || items.par_iter().filter(|i| one(i)).count());
    // Once more after the parallel rounds: the first rounds of a process
    // run slower (see the README), and order should not decide the result.
    single.extend(rate(items.len(), || items.iter().filter(|i| one(i)).count()).0);
    assert_eq!(valid, valid_par, "parallel and sequential disagree");
    json!({
        "items_per_s_one_thread": round(best(&single), 0),
        "items_per_s_all_threads": round(best(&all), 0),
        "rounds_one_thread": single.iter().map(|r| round(*r, 0)).collect::<Vec<_>>(),
        "rounds_all_threads": all.iter().map(|r| round(*r, 0)).collect::<Vec<_>>(),
        "threads": rayon::current_num_threads(),
        "items": items.len(),
        "valid_items": valid,
    })
}
