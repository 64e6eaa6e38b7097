//! Measurement 4: the normalizer alone, on the demo's three item shapes.
//!
//! Items come from an in-process `testsupport::MockServer` (the `clean`
//! scenario, 3 × 100 pages × 100 items = 30 000 items, with the invalid
//! items and duplicates it always carries), fetched once with the baseline
//! walker. Each pass normalizes every item with `ingest::normalize::normalize`
//! and its source's field config; passes repeat for at least `MIN_TIME`.
//! One thread is a plain loop; "all threads" is rayon's global pool (one
//! thread per core), as the processor uses it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ingest::config::Config;
use ingest::normalize::normalize;
use rayon::prelude::*;
use serde_json::{json, Value};
use testsupport::{MockServer, Scenario};

use crate::pacing::round;
use crate::walk;

const MIN_TIME: Duration = Duration::from_secs(2);

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

/// Runs `pass` until `MIN_TIME` has passed; returns items per second.
fn rate(n_items: usize, mut pass: impl FnMut() -> usize) -> (f64, usize) {
    let start = Instant::now();
    let (mut passes, mut valid) = (0usize, 0);
    while passes == 0 || start.elapsed() < MIN_TIME {
        valid = black_box(pass());
        passes += 1;
    }
    (
        (passes * n_items) as f64 / start.elapsed().as_secs_f64(),
        valid,
    )
}

pub fn measure() -> Value {
    let (config, items) = items();
    let one = |&(source, ref value): &(usize, Value)| {
        let s = &config.sources[source];
        normalize(&s.name, black_box(value), &s.fields).is_ok()
    };
    let (single, valid) = rate(items.len(), || items.iter().filter(|i| one(i)).count());
    let (all, valid_par) = rate(items.len(), || items.par_iter().filter(|i| one(i)).count());
    assert_eq!(valid, valid_par, "parallel and sequential disagree");
    json!({
        "items_per_s_one_thread": round(single, 0),
        "items_per_s_all_threads": round(all, 0),
        "threads": rayon::current_num_threads(),
        "items": items.len(),
        "valid_items": valid,
    })
}
